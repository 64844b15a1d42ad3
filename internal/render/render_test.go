package render

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/text/language"

	"github.com/authd/authd/internal/i18n"

	"github.com/authd/authd/internal/telemetry"
)

type fixedToken string

func (f fixedToken) Token(w http.ResponseWriter, r *http.Request) string { return string(f) }

func newRenderer(t *testing.T) (*Renderer, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	rd, err := New(Options{CSRF: fixedToken("tok-123"), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return rd, &logs
}

func render(t *testing.T, rd *Renderer, name string, data any) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r = r.WithContext(telemetry.WithRequestID(r.Context(), "req-abcdefgh"))
	rd.Render(rec, r, http.StatusOK, name, data)
	return rec
}

var loginErrs = Errors{}.Add("email", "Enter your email address.").Add("password", "Incorrect email or password.")

// samples holds data for every page, with errors where the page has forms,
// so the checks below see every branch that matters.
var samples = map[string][]any{
	"login": {
		LoginData{},
		LoginData{ClientName: "Example App", ClientLogo: "https://app.example/logo.png", AuthRequestID: "ar1", Email: "a@example.com", Errors: loginErrs},
		LoginData{Email: "a@example.com", Locked: true, Errors: Errors{}.Add("", "Too many attempts.")},
		LoginData{Email: "a@example.com", Unverified: true, AuthRequestID: "ar1", Errors: Errors{}.Add("", "Verify your email address first.")},
	},
	"register": {
		RegisterData{},
		RegisterData{ClientName: "Example App", AuthRequestID: "ar1", Email: "a@example.com",
			Errors: Errors{}.Add("password", "Use at least 12 characters.").Add("password", "Do not use a common password.")},
	},
	"check_email":     {CheckEmailData{}, CheckEmailData{Email: "a@example.com"}},
	"verify_email":    {VerifyEmailData{Verified: true}, VerifyEmailData{}},
	"forgot_password": {ForgotPasswordData{}, ForgotPasswordData{Sent: true}, ForgotPasswordData{Errors: Errors{}.Add("email", "Enter your email address.")}},
	"reset_password":  {ResetPasswordData{Token: "t"}, ResetPasswordData{Token: "t", Errors: Errors{}.Add("new_password", "Too short.")}},
	"consent": {ConsentData{AuthRequestID: "ar1", ClientName: "Example App", ClientLogo: "https://app.example/logo.png", UserEmail: "a@example.com",
		Scopes: []Scope{{Name: "openid", Description: "Confirm who you are"}, {Name: "custom:read"}}},
		ConsentData{AuthRequestID: "ar1", ClientName: "Living Room TV", UserEmail: "a@example.com", DeviceUserCode: "BCDF-GHJK",
			Scopes: []Scope{{Name: "openid", Description: "Confirm who you are"}}}},
	"account": {
		AccountData{Email: "a@example.com"},
		AccountData{Email: "a@example.com", EmailVerified: true, Name: "A", Phone: "+1 555",
			Errors:   Errors{}.Add("current_password", "Your current password is incorrect."),
			Sessions: []SessionItem{{ID: "s1", Device: i18n.M("%s on %s", "Firefox", "Linux"), IP: "192.0.2.1", LastSeen: time.Unix(0, 0), LastSeenText: i18n.M("just now"), Current: true}, {ID: "s2", Device: i18n.M("%s on %s", "Safari", "iPhone")}},
			Apps:     []AppItem{{ClientID: "c1", ClientName: "Example App", Scopes: []Scope{{Name: "openid"}, {Name: "email"}}}}},
	},
	"signed_out": {SignedOutData{}, SignedOutData{Message: "Bye."}},
	"error":      {ErrorData{Title: "Link expired", Message: "Start again.", Link: &Link{Href: "/login", Text: "Sign in"}}, ErrorData{}},
	"device": {DeviceData{}, DeviceData{UserCode: "BCDF-GHJK", Errors: Errors{}.Add("user_code", "That code is not valid.")},
		DeviceData{Result: "approved"}, DeviceData{Result: "denied"}},
	"logout_confirm": {LogoutConfirmData{ClientName: "Example App", Hidden: map[string]string{"state": "s", "id_token_hint": "eyJ"}}},
}

func TestEveryPageHasSamples(t *testing.T) {
	rd, _ := newRenderer(t)
	names := rd.Names()
	slices.Sort(names)
	for _, n := range names {
		if _, ok := samples[n]; !ok {
			t.Errorf("page %q has no sample data in this test", n)
		}
	}
	for n := range samples {
		if !slices.Contains(names, n) {
			t.Errorf("sample for %q, but there is no such page", n)
		}
	}
}

// TestAccessibility checks every page against the rules the hosted pages
// keep: a language, one h1, labelled inputs, errors tied to their fields,
// unique ids, CSRF tokens in POST forms, and nothing a strict CSP blocks.
func TestAccessibility(t *testing.T) {
	rd, logs := newRenderer(t)
	for name, list := range samples {
		for i, data := range list {
			rec := render(t, rd, name, data)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s #%d: status %d; log:\n%s", name, i, rec.Code, logs)
			}
			doc, err := html.Parse(rec.Body)
			if err != nil {
				t.Fatal(err)
			}
			for _, problem := range checkPage(doc) {
				t.Errorf("%s #%d (%+v): %s", name, i, data, problem)
			}
		}
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// attrOr is n's attribute key, or "".
func attrOr(n *html.Node, key string) string {
	v, _ := attr(n, key)
	return v
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func all(doc *html.Node) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

func checkPage(doc *html.Node) []string {
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	nodes := all(doc)
	ids := map[string]int{}
	labels := map[string]string{}
	h1 := 0
	for _, n := range nodes {
		if id, ok := attr(n, "id"); ok {
			ids[id]++
		}
		if n.Data == "label" {
			if f, ok := attr(n, "for"); ok {
				labels[f] = text(n)
			} else {
				bad("label %q has no for", text(n))
			}
		}
		if n.Data == "h1" {
			h1++
		}
		switch {
		case n.Data == "style", n.Data == "script" && (n.FirstChild != nil || !strings.HasPrefix(attrOr(n, "src"), "/static/")):
			bad("inline <%s> element (blocked by the CSP)", n.Data)
		case n.Data == "button" && strings.Contains(" "+attrOr(n, "class")+" ", " password-toggle "):
			bad("a show-password toggle in the HTML: password.js adds it, so that without JavaScript there is none")
		}
		for _, a := range n.Attr {
			if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
				bad("<%s %s=...> (blocked by the CSP)", n.Data, a.Key)
			}
		}
	}
	for id, c := range ids {
		if c > 1 {
			bad("id %q used %d times", id, c)
		}
	}
	if h1 != 1 {
		bad("%d h1 elements, want 1", h1)
	}
	for _, n := range nodes {
		switch n.Data {
		case "html":
			if l, _ := attr(n, "lang"); l == "" {
				bad("html has no lang")
			}
		case "input":
			typ, _ := attr(n, "type")
			id, _ := attr(n, "id")
			if typ == "hidden" {
				continue
			}
			if id == "" || labels[id] == "" {
				bad("input %v has no label", n.Attr)
			}
			desc, _ := attr(n, "aria-describedby")
			for _, d := range strings.Fields(desc) {
				if ids[d] == 0 {
					bad("input %q: aria-describedby names missing id %q", id, d)
				}
			}
			if inv, _ := attr(n, "aria-invalid"); inv == "true" && !strings.Contains(desc, id+"-error") {
				bad("input %q is invalid but not described by its error", id)
			}
		case "button":
			if text(n) == "" {
				bad("button without text")
			}
		case "form":
			if m, _ := attr(n, "method"); m != "post" {
				bad("form with method %q, want post", m)
				continue
			}
			found := false
			for _, c := range all(n) {
				if nm, _ := attr(c, "name"); c.Data == "input" && nm == CSRFFieldName {
					v, _ := attr(c, "value")
					found = v == "tok-123"
				}
			}
			if !found {
				bad("POST form without the CSRF token")
			}
		case "a":
			if f, ok := attr(n, "href"); ok && strings.HasPrefix(f, "#") && f != "#main" && ids[f[1:]] == 0 {
				bad("link to missing id %q", f)
			}
		case "div":
			if r, _ := attr(n, "role"); r == "alert" && !strings.Contains(text(n), "There is a problem") {
				bad("alert without the summary heading")
			}
		}
	}
	return problems
}

func TestRenderCommonData(t *testing.T) {
	rd, _ := newRenderer(t)
	rec := render(t, rd, "login", LoginData{Page: Page{Lang: "fr-CA", Notice: "Password changed."}})
	if got := rec.Header().Get("Content-Language"); got != "fr" {
		t.Errorf("Content-Language = %q, want fr", got)
	}
	body := rec.Body.String()
	for _, want := range []string{`<html lang="fr">`, `value="tok-123"`, `role="status"`, "Password changed."} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	h := rec.Header()
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "form-action") || !strings.Contains(ContentSecurityPolicy, "script-src 'self';") ||
		strings.Contains(ContentSecurityPolicy, "unsafe-") {
		t.Errorf("CSP %q must not restrict form-action (breaks the redirect to the client), and must allow scripts from 'self' only", ContentSecurityPolicy)
	}

	// A malformed language falls back to English.
	rec = render(t, rd, "login", LoginData{Page: Page{Lang: `"><script>`}})
	if !strings.Contains(rec.Body.String(), `<html lang="en">`) {
		t.Error("malformed lang not replaced by en")
	}

	// The error page shows the request id from the context.
	rec = render(t, rd, "error", ErrorData{Title: "Oops", Message: "It broke."})
	if !strings.Contains(rec.Body.String(), "req-abcdefgh") {
		t.Error("error page lacks the request id")
	}
}

func TestRenderFailures(t *testing.T) {
	rd, logs := newRenderer(t)
	rec := render(t, rd, "nope", nil)
	if rec.Code != http.StatusInternalServerError || !strings.Contains(logs.String(), "no such page") {
		t.Errorf("unknown page: status %d, log %q", rec.Code, logs)
	}
	logs.Reset()
	// Wrong data type for the page: logged, a plain 500, never half a page.
	rec = render(t, rd, "login", ErrorData{})
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "<html") {
		t.Errorf("bad data: status %d, body %q", rec.Code, rec.Body)
	}
}

func TestLogoutConfirmHiddenFields(t *testing.T) {
	rd, _ := newRenderer(t)
	rec := render(t, rd, "logout_confirm", LogoutConfirmData{Hidden: map[string]string{
		"state": `"><b>x`, "id_token_hint": "h", "post_logout_redirect_uri": "https://app.example/bye",
	}})
	body := rec.Body.String()
	if strings.Contains(body, "<b>x") {
		t.Error("hidden value not escaped")
	}
	i, j, k := strings.Index(body, `name="id_token_hint"`), strings.Index(body, `name="post_logout_redirect_uri"`), strings.Index(body, `name="state"`)
	if i < 0 || !(i < j && j < k) {
		t.Errorf("hidden fields missing or not sorted: %d %d %d", i, j, k)
	}
	if !strings.Contains(body, `action="/oauth2/logout"`) || !strings.Contains(body, ">Sign out</button>") {
		t.Error("logout form lacks its action or Sign out button")
	}
}

func TestLang(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""}, {"fr-CA en", "fr-CA"}, {"x en", "en"}, {"de-1996", "de-1996"},
		{"<script>", ""}, {"en--US de", "de"}, {"toolonglanguage", ""}, {"zh-Hant-TW", "zh-Hant-TW"},
	} {
		if got := Lang(tc.in); got != tc.want {
			t.Errorf("Lang(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

var en = i18n.Printer(language.English)

func TestSummaryText(t *testing.T) {
	for _, tc := range []struct {
		name, field, message, want string
	}{
		{"names the field already", "email", "Enter your email address.", "Enter your email address."},
		{"names it in other case", "new_password", "Enter a new password.", "Enter a new password."},
		{"does not name it", "new_password", "Use at least 12 characters.", "New password: Use at least 12 characters."},
		{"names another field only", "current_password", "Enter your new password.", "Current password: Enter your new password."},
		{"the whole form", "", "Too many attempts.", "Too many attempts."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := summaryText(en, FieldError{Field: tc.field, Message: tc.message}); got != tc.want {
				t.Errorf("summaryText(%q, %q) = %q, want %q", tc.field, tc.message, got, tc.want)
			}
		})
	}
}

func TestInputArgs(t *testing.T) {
	for _, args := range [][]any{
		{"name"},
		{"name", "x"},
		{"name", "x", "label", "X", "bogus", "y"},
		{"name", "email", "label", "Email", "required", "yes", "size", 3},
		{"name", "x", "label", "X"},                 // a field the error summary cannot name
		{"name", "email", "label", "Email address"}, // labelled unlike the summary
	} {
		if _, err := newInput(en, args...); err == nil {
			t.Errorf("newInput(%v) = nil error", args)
		}
	}
	in, err := newInput(en, "name", "email", "label", "Email", "errors", []FieldError(nil))
	if err != nil || in.ID != "email" || in.Type != "text" || in.DescribedBy() != "" {
		t.Errorf("newInput defaults = %+v, %v", in, err)
	}
}

func TestBasePath(t *testing.T) {
	rd, err := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BasePath: "/auth/"})
	if err != nil {
		t.Fatal(err)
	}
	if rd.BasePath() != "/auth" {
		t.Errorf("BasePath() = %q, want /auth", rd.BasePath())
	}
	body := render(t, rd, "login", LoginData{AuthRequestID: "a1"}).Body.String()
	for _, want := range []string{`action="/auth/login"`, `href="/auth/forgot-password?ar=a1"`, `href="/auth/register?ar=a1"`, `href="/auth/static/style.css?v=`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if _, err := New(Options{Logger: slog.Default(), BasePath: "auth"}); err == nil {
		t.Error("BasePath without a leading slash accepted")
	}
}
