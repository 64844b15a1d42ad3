package login

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/render"
)

func TestLoginWithAuthRequest(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	ar := e.authRequest("ar-login-1", url.Values{"login_hint": {"ada@example.com"}, "ui_locales": {"ja en"}})
	b := e.browser()

	r := b.get("/login?ar=" + ar)
	wantStatus(t, r, http.StatusOK)
	wantLabels(t, r.body, []string{"Email", "Password"}, []string{"Sign in"}, []string{"Create account", "Forgot password?"})
	wantBody(t, r, `<html lang="en">`, "Example App", `value="ada@example.com"`, `href="/register?ar=ar-login-1"`)
	golden(t, "login", r.body)

	r = b.post("/login", url.Values{"ar": {ar}, "email": {"ada@example.com"}, "password": {"correct horse battery"}})
	wantRedirect(t, r, "/oauth2/authorize/resume?ar="+ar)
	if b.cookie("authd_session") == "" {
		t.Error("no session cookie after sign-in")
	}
	got := e.getAuthRequest(ar)
	if got.SessionID == "" || !got.LoginAt.Equal(t0) {
		t.Errorf("auth request after sign-in: SessionID %q LoginAt %v; want a session and %v", got.SessionID, got.LoginAt, t0)
	}
	sessions, err := e.sessions.List(t.Context(), "u1")
	if err != nil || len(sessions) != 1 || sessions[0].ID != got.SessionID {
		t.Fatalf("sessions of u1 = %v, %v; want the one in the auth request", sessions, err)
	}
	if s := sessions[0]; len(s.AMR) != 1 || s.AMR[0] != "pwd" {
		t.Errorf("session AMR = %v, want [pwd]", s.AMR)
	}
	m := e.accounts.lastMeta()
	if m.ClientID != "app" || m.IP != "127.0.0.1" || m.RequestID != "test-request-0002" || !strings.Contains(m.UserAgent, "Firefox") {
		t.Errorf("Authenticate meta = %+v", m)
	}
	// The provider takes it from here.
	r = b.get(r.location)
	wantBody(t, r, "resumed "+ar)
}

func TestLoginWithoutAuthRequest(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	b := e.browser()

	r := b.get("/login")
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, `<html lang="en">`)
	if strings.Contains(r.body, "to continue to") {
		t.Error("login without a request names a client")
	}
	r = b.post("/login", url.Values{"email": {"ada@example.com"}, "password": {"correct horse battery"}})
	wantRedirect(t, r, "/account")

	// Signed in already: /login goes on, to return_to when it is local.
	wantRedirect(t, b.get("/login"), "/account")
	wantRedirect(t, b.get("/login?return_to=%2Faccount%3Ftab%3D1"), "/account?tab=1")
	wantRedirect(t, b.get("/login?return_to=https%3A%2F%2Fevil.example"), "/account")
}

func TestLoginErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(e *env)
		email    string
		password string
		status   int
		want     []string
		golden   string
		retry    string // Retry-After, for 429
	}{
		{name: "wrong password", email: "ada@example.com", password: "nope", status: http.StatusUnauthorized,
			want: []string{"Incorrect email or password.", `aria-invalid="true" aria-describedby="password-error"`, `value="ada@example.com"`}, golden: "login_error"},
		{name: "unknown email", email: "nobody@example.com", password: "nope", status: http.StatusUnauthorized,
			want: []string{"Incorrect email or password."}},
		{name: "locked", setup: func(e *env) { e.accounts.users["ada@example.com"].locked = 14*time.Minute + 10*time.Second },
			email: "ada@example.com", password: "correct horse battery", status: http.StatusTooManyRequests,
			want: []string{"Too many attempts. Try again in 15 minutes, or reset your password.", `<a href="/forgot-password?ar=ar-err">Reset your password</a>`}, golden: "login_locked", retry: "850"},
		{name: "locked for a second", setup: func(e *env) { e.accounts.users["ada@example.com"].locked = 800 * time.Millisecond },
			email: "ada@example.com", password: "correct horse battery", status: http.StatusTooManyRequests,
			want: []string{"Too many attempts. Try again in 1 second, or reset your password."}, retry: "1"},
		{name: "locked for seconds", setup: func(e *env) { e.accounts.users["ada@example.com"].locked = 12 * time.Second },
			email: "ada@example.com", password: "correct horse battery", status: http.StatusTooManyRequests,
			want: []string{"Too many attempts. Try again in 12 seconds, or reset your password."}, retry: "12"},
		{name: "unverified", setup: func(e *env) { e.accounts.users["ada@example.com"].EmailVerified = false },
			email: "ada@example.com", password: "correct horse battery", status: http.StatusForbidden,
			want: []string{"Verify your email address first.", `action="/verify-email/resend"`, "Send a new verification link"}, golden: "login_unverified"},
		{name: "disabled", setup: func(e *env) { e.accounts.users["ada@example.com"].Disabled = true },
			email: "ada@example.com", password: "correct horse battery", status: http.StatusForbidden,
			want: []string{"This account is disabled."}},
		{name: "empty fields", email: "", password: "", status: http.StatusBadRequest,
			want: []string{"Enter your email address.", "Enter your password.", `href="#email"`, `href="#password"`}, golden: "login_empty"},
		{name: "service down", setup: func(e *env) { e.accounts.fail = errBroken },
			email: "ada@example.com", password: "correct horse battery", status: http.StatusInternalServerError,
			want: []string{"Something went wrong", "test-request-0002"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
			if tc.setup != nil {
				tc.setup(e)
			}
			ar := e.authRequest("ar-err", nil)
			b := e.browser()
			b.get("/login?ar=" + ar)
			r := b.post("/login", url.Values{"ar": {ar}, "email": {tc.email}, "password": {tc.password}})
			wantStatus(t, r, tc.status)
			wantBody(t, r, tc.want...)
			if strings.Contains(r.body, tc.password) && tc.password != "" {
				t.Error("the page echoes the password")
			}
			if b.cookie("authd_session") != "" {
				t.Error("a failed sign-in set a session cookie")
			}
			if got := e.getAuthRequest(ar); got.SessionID != "" || !got.LoginAt.IsZero() {
				t.Errorf("a failed sign-in changed the auth request: %+v", got)
			}
			if tc.golden != "" {
				golden(t, tc.golden, r.body)
			}
			if tc.status == http.StatusTooManyRequests && r.header.Get("Retry-After") != tc.retry {
				t.Errorf("Retry-After = %q, want %s", r.header.Get("Retry-After"), tc.retry)
			}
		})
	}
}

// TestLoginDoesNotRevealAccounts: a wrong password and an unknown email
// give the same page.
func TestLoginDoesNotRevealAccounts(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	page := func(email string) string {
		b := e.browser()
		b.get("/login")
		r := b.post("/login", url.Values{"email": {email}, "password": {"wrong"}})
		return csrfRE.ReplaceAllString(strings.ReplaceAll(r.body, email, "EMAIL"), "")
	}
	if a, b := page("ada@example.com"), page("nobody@example.com"); a != b {
		t.Errorf("pages differ:\n%s\n---\n%s", a, b)
	}
}

func TestAuthRequestProblems(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	expiring := e.authRequest("ar-expiring", nil)
	e.clock.Advance(31 * time.Minute) // past its 30 minutes
	fresh := e.authRequest("ar-fresh", nil)

	for _, tc := range []struct{ name, ar string }{
		{"unknown", "ar-does-not-exist"},
		{"malformed", "../../etc/passwd"},
		{"too long", strings.Repeat("a", 200)},
		{"expired", expiring},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			r := b.get("/login?ar=" + url.QueryEscape(tc.ar))
			wantStatus(t, r, http.StatusBadRequest)
			wantBody(t, r, "This sign-in has expired", "Go back to the application and start again.")

			// Posting the form with it changes nothing and asks nobody.
			b.get("/login?ar=" + fresh) // a page with a CSRF token
			before := len(e.accounts.callLog())
			r = b.post("/login", url.Values{"ar": {tc.ar}, "email": {"ada@example.com"}, "password": {"correct horse battery"}})
			wantStatus(t, r, http.StatusBadRequest)
			if len(e.accounts.callLog()) != before {
				t.Error("the account service was called for a bad auth request")
			}
			if b.cookie("authd_session") != "" {
				t.Error("a session was started for a bad auth request")
			}
		})
	}
	golden(t, "error_expired", func() string {
		b := e.browser()
		return b.get("/login?ar=nope").body
	}())
}

func TestOpenRedirects(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	for _, tc := range []struct{ returnTo, want string }{
		{"/account", "/account"},
		{"/account?tab=sessions", "/account?tab=sessions"},
		{"https://evil.example/", "/account"},
		{"http:evil.example", "/account"},
		{"//evil.example", "/account"},
		{"///evil.example", "/account"},
		{"/\\evil.example", "/account"},
		{"\\\\evil.example", "/account"},
		{"/%2F%2Fevil.example", "/account"},
		{"javascript:alert(1)", "/account"},
		{"/\tevil", "/account"},
		{" /account", "/account"},
		{"account", "/account"},
		{"/login", "/account"},
		{"/user@evil.example", "/user@evil.example"}, // a path on this host, harmless
	} {
		t.Run(tc.returnTo, func(t *testing.T) {
			b := e.browser()
			b.get("/login?return_to=" + url.QueryEscape(tc.returnTo))
			r := b.post("/login", url.Values{"email": {"ada@example.com"}, "password": {"correct horse battery"}, "return_to": {tc.returnTo}})
			wantRedirect(t, r, tc.want)
		})
	}
}

func TestSafeReturnTo(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"/account":                     "/account",
		"/a/b?c=d#e":                   "/a/b?c=d#e",
		"//x":                          "",
		"/\\x":                         "",
		"/%2f%2fx":                     "",
		"https://x/":                   "",
		"/static/style.css":            "",
		"/login?ar=1":                  "",
		"/loginx":                      "/loginx",
		"/a\x00":                       "",
		"/" + strings.Repeat("a", 600): "",
	} {
		if got := safeReturnTo(in); got != want {
			t.Errorf("safeReturnTo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWaitFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    time.Duration
		want string
	}{
		{"nothing left", 0, "1 second"},
		{"negative", -time.Second, "1 second"},
		{"a fraction of a second", 300 * time.Millisecond, "1 second"},
		{"about a second", 1100 * time.Millisecond, "2 seconds"},
		{"exactly one second", time.Second, "1 second"},
		{"seconds round up", 11*time.Second + time.Millisecond, "12 seconds"},
		{"just under a minute", 59 * time.Second, "59 seconds"},
		{"a minute", time.Minute, "1 minute"},
		{"a minute and a bit", 61 * time.Second, "2 minutes"},
		{"lockout", 14*time.Minute + 10*time.Second, "15 minutes"},
		{"just under an hour", 59 * time.Minute, "59 minutes"},
		{"minutes round up to the hour", 59*time.Minute + time.Second, "1 hour"},
		{"an hour", time.Hour, "1 hour"},
		{"an hour and a bit", time.Hour + time.Second, "2 hours"},
		{"a day", 24 * time.Hour, "24 hours"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := waitFor(tc.d).String(); got != tc.want {
				t.Errorf("waitFor(%v) = %q, want %q", tc.d, got, tc.want)
			}
		})
	}
}

func TestSignedOutPage(t *testing.T) {
	e := newEnv(t)
	r := e.browser().get("/signed-out")
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, "You have signed out.", `<a href="/login">Sign in again</a>`)
	golden(t, "signed_out", r.body)
}

// TestProviderPages renders the pages the provider shows itself, as it
// will: the error page and the logout confirmation.
func TestProviderPages(t *testing.T) {
	var logs bytes.Buffer
	rd, err := render.New(render.Options{CSRF: fixedToken("CSRF"), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	show := func(name string, data any) string {
		rec := httptest.NewRecorder()
		req, _ := http.NewRequest(http.MethodGet, "/oauth2/logout", nil)
		rd.Render(rec, req, http.StatusOK, name, data)
		return rec.Body.String()
	}
	page := show("logout_confirm", render.LogoutConfirmData{ClientName: "Example App",
		Hidden: map[string]string{"id_token_hint": "eyJhbGciOi", "post_logout_redirect_uri": "https://app.example/bye", "state": "xyz"}})
	wantLabels(t, page, nil, []string{"Sign out"}, nil)
	golden(t, "logout_confirm", page)
	page = show("error", render.ErrorData{Title: "The application's sign-in request is invalid",
		Message: "The redirect URI is not registered.", RequestID: "req-12345678"})
	golden(t, "error", page)
}
