package login

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/authd/authd/account"
	"github.com/authd/authd/internal/csrf"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/render"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/provider"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
	sqlstore "github.com/authd/authd/storage/sql"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// fixedToken is a CSRF token source for rendering pages directly.
type fixedToken string

func (f fixedToken) Token(http.ResponseWriter, *http.Request) string { return string(f) }

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Errors of the fake account service, and its classifier.
// errBroken stands for an unexpected failure (storage down).
var errBroken = errors.New("fake: database on fire")

// fakeAccounts is a hand-written stand-in for the account service: users
// in memory, the same error contract.
type fakeAccounts struct {
	mu       sync.Mutex
	users    map[string]*fakeUser // by email
	byID     map[string]*fakeUser
	verify   map[string]string // token -> email
	reset    map[string]string // token -> email
	calls    []string          // "Method email-or-id"
	metas    []account.Meta
	fail     error // when set, every call returns it
	profiles []account.ProfileUpdate
}

type fakeUser struct {
	storage.User
	password string
	locked   time.Duration
}

func newFakeAccounts() *fakeAccounts {
	return &fakeAccounts{users: map[string]*fakeUser{}, byID: map[string]*fakeUser{}, verify: map[string]string{}, reset: map[string]string{}}
}

func (f *fakeAccounts) add(id, email, password string, verified bool) *fakeUser {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := &fakeUser{User: storage.User{ID: id, Email: email, EmailVerified: verified, Name: "Ada Lovelace"}, password: password}
	f.users[email], f.byID[id] = u, u
	return u
}

func (f *fakeAccounts) record(call string, m account.Meta) {
	f.calls = append(f.calls, call)
	f.metas = append(f.metas, m)
}

func (f *fakeAccounts) lastMeta() account.Meta {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.metas) == 0 {
		return account.Meta{}
	}
	return f.metas[len(f.metas)-1]
}

func (f *fakeAccounts) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func checkPolicy(pw string) error {
	if len(pw) < 12 {
		return &account.PolicyError{Violations: []password.Violation{{Message: "Use at least 12 characters."}, {Message: "Do not use a password that is easy to guess."}}}
	}
	return nil
}

func (f *fakeAccounts) Register(ctx context.Context, email, password, name string, m account.Meta) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Register "+email, m)
	if f.fail != nil {
		return f.fail
	}
	if err := checkPolicy(password); err != nil {
		return err
	}
	if _, ok := f.users[email]; ok {
		return nil // never reveal
	}
	u := &fakeUser{User: storage.User{ID: "u-" + email, Email: email, Name: name}, password: password}
	f.users[email], f.byID[u.ID] = u, u
	f.verify["verify-"+email] = email
	return nil
}

func (f *fakeAccounts) VerifyEmail(ctx context.Context, token string, m account.Meta) (*storage.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("VerifyEmail", m)
	if f.fail != nil {
		return nil, f.fail
	}
	email, ok := f.verify[token]
	if !ok {
		return nil, account.ErrInvalidToken
	}
	delete(f.verify, token)
	f.users[email].EmailVerified = true
	u := f.users[email].User
	return &u, nil
}

func (f *fakeAccounts) ResendVerification(ctx context.Context, email string, m account.Meta) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ResendVerification "+email, m)
	return f.fail
}

func (f *fakeAccounts) Authenticate(ctx context.Context, email, password string, m account.Meta) (*storage.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Authenticate "+email, m)
	if f.fail != nil {
		return nil, f.fail
	}
	u, ok := f.users[email]
	switch {
	case ok && u.locked > 0:
		return nil, &account.LockedError{RetryAfter: u.locked}
	case !ok || u.password != password:
		return nil, account.ErrInvalidCredentials
	case !u.EmailVerified:
		return nil, account.ErrUnverified
	case u.Disabled:
		return nil, account.ErrDisabled
	}
	c := u.User
	return &c, nil
}

func (f *fakeAccounts) RequestPasswordReset(ctx context.Context, email string, m account.Meta) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RequestPasswordReset "+email, m)
	if f.fail != nil {
		return f.fail
	}
	if _, ok := f.users[email]; ok {
		f.reset["reset-"+email] = email
	}
	return nil
}

func (f *fakeAccounts) CheckResetToken(ctx context.Context, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.reset[token]; !ok {
		return account.ErrInvalidToken
	}
	return nil
}

func (f *fakeAccounts) ResetPassword(ctx context.Context, token, newPassword string, m account.Meta) (*storage.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ResetPassword", m)
	if f.fail != nil {
		return nil, f.fail
	}
	email, ok := f.reset[token]
	if !ok {
		return nil, account.ErrInvalidToken
	}
	if err := checkPolicy(newPassword); err != nil {
		return nil, err
	}
	delete(f.reset, token)
	f.users[email].password = newPassword
	u := f.users[email].User
	return &u, nil
}

func (f *fakeAccounts) ChangePassword(ctx context.Context, userID, current, newPassword string, m account.Meta) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ChangePassword "+userID, m)
	if f.fail != nil {
		return f.fail
	}
	u := f.byID[userID]
	if u.password != current {
		return account.ErrInvalidCredentials
	}
	if err := checkPolicy(newPassword); err != nil {
		return err
	}
	u.password = newPassword
	return nil
}

func (f *fakeAccounts) UpdateProfile(ctx context.Context, userID string, pu account.ProfileUpdate, m account.Meta) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("UpdateProfile "+userID, m)
	if f.fail != nil {
		return f.fail
	}
	if *pu.Name == "Bobby Tables" {
		return &account.InputError{Field: "name", Message: "That name is not allowed."}
	}
	u := f.byID[userID]
	u.Name, u.Picture, u.Locale, u.Phone = *pu.Name, *pu.Picture, *pu.Locale, *pu.Phone
	f.profiles = append(f.profiles, pu)
	return nil
}

// GetUser makes the fake the Users lookup too.
func (f *fakeAccounts) GetUser(ctx context.Context, id string) (*storage.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.byID[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	c := u.User
	return &c, nil
}

// fakeTokens records revocations.
type fakeTokens struct {
	mu      sync.Mutex
	revoked []string // "client subject"
	fail    error
}

func (f *fakeTokens) RevokeClientSubjectTokens(ctx context.Context, clientID, subject string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.revoked = append(f.revoked, clientID+" "+subject)
	return nil
}

// fakeAudit records events.
type fakeAudit struct {
	mu     sync.Mutex
	events []storage.AuditEvent
	fail   error // when set, appending fails with it
}

func (f *fakeAudit) AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.events = append(f.events, e)
	return nil
}

func (f *fakeAudit) types() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		out = append(out, string(e.Type))
	}
	return out
}

// fakeHints verifies the id_token_hints it was told of, as the provider
// verifies ID tokens it signed; anything else is not an ID token.
type fakeHints struct {
	mu    sync.Mutex
	hints map[string]*provider.IDTokenHint
}

func (f *fakeHints) add(raw string, h *provider.IDTokenHint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hints[raw] = h
}

func (f *fakeHints) VerifyIDTokenHint(_ context.Context, raw, clientID string) (*provider.IDTokenHint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.hints[raw]
	if !ok {
		return nil, provider.ErrNotIDToken
	}
	if clientID != "" && clientID != h.ClientID {
		return nil, errors.New("client_id does not match the id_token_hint")
	}
	return h, nil
}

// env is a running set of pages on a real SQLite store.
type env struct {
	t        *testing.T
	srv      *httptest.Server
	store    *sqlstore.Store
	accounts *fakeAccounts
	tokens   *fakeTokens
	audit    *fakeAudit
	hints    *fakeHints
	clock    *clock
	logs     *bytes.Buffer
	sessions *session.Manager
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

type envOption func(*Config, *render.Options)

// depsOption changes the pages' collaborators (newEnv takes both kinds).
type depsOption func(*Deps)

func newEnv(t *testing.T, opts ...any) *env {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: t0}
	store, err := sqlstore.Open(testdb.SQLite(t), sqlstore.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log, err := telemetry.NewLogger(&logs, "debug", "text")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, accounts: newFakeAccounts(), tokens: &fakeTokens{}, audit: &fakeAudit{},
		hints: &fakeHints{hints: map[string]*provider.IDTokenHint{}}, clock: clk, logs: &logs}
	e.sessions = session.New(session.DefaultConfig(), session.Options{Store: store, Logger: log, Now: clk.Now})
	protector := csrf.New(bytes.Repeat([]byte{42}, 32), false)
	cfg := DefaultConfig()
	topts := render.Options{CSRF: protector, Logger: log}
	var depOpts []depsOption
	for _, o := range opts {
		switch o := o.(type) {
		case envOption:
			o(&cfg, &topts)
		case func(*Config, *render.Options):
			o(&cfg, &topts)
		case depsOption:
			depOpts = append(depOpts, o)
		default:
			t.Fatalf("newEnv: unknown option %T", o)
		}
	}
	renderer, err := render.New(topts)
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{
		Accounts: e.accounts, Sessions: e.sessions, AuthRequests: store, Devices: store, Consents: store,
		Clients: store, Users: e.accounts, Tokens: e.tokens, Audit: e.audit, Tx: store, Renderer: renderer, CSRF: protector,
		IDTokenHints: e.hints, Logger: log, Now: clk.Now,
	}
	for _, o := range depOpts {
		o(&deps)
	}
	pages := New(cfg, deps)
	mux := http.NewServeMux()
	pages.Routes(mux)
	// The provider's resume endpoint, standing in: it only says it was reached.
	mux.HandleFunc("GET /oauth2/authorize/resume", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "resumed "+r.URL.Query().Get("ar"))
	})
	e.srv = httptest.NewServer(telemetry.Middleware(log, telemetry.TrustedProxies{}, mux))
	t.Cleanup(e.srv.Close)

	if err := store.CreateClient(ctx, &storage.Client{ID: "app", Name: "Example App",
		RedirectURIs: []string{"https://app.example/cb"}, PostLogoutRedirectURIs: []string{"https://app.example/bye"},
		GrantTypes:              []string{"authorization_code"},
		TokenEndpointAuthMethod: storage.AuthMethodBasic}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateClient(ctx, &storage.Client{ID: "other", Name: "Other App",
		RedirectURIs: []string{"https://other.example/cb"}, GrantTypes: []string{"authorization_code"},
		TokenEndpointAuthMethod: storage.AuthMethodBasic}); err != nil {
		t.Fatal(err)
	}
	return e
}

// authRequest stores an authorization request for client "app" as the
// provider would, and returns its id.
func (e *env) authRequest(id string, form url.Values) string {
	e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("client_id", "app")
	if form.Get("scope") == "" {
		form.Set("scope", "openid profile email")
	}
	now := e.clock.Now()
	if err := e.store.CreateAuthRequest(context.Background(), &storage.AuthRequest{ID: id, ClientID: "app", Form: form,
		CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute)}, 0); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) getAuthRequest(id string) *storage.AuthRequest {
	e.t.Helper()
	ar, err := e.store.GetAuthRequest(context.Background(), id, e.clock.Now())
	if err != nil {
		e.t.Fatalf("GetAuthRequest(%s): %v", id, err)
	}
	return ar
}

// browser is a client with a cookie jar that behaves like a browser on
// same-origin form posts (Origin, Sec-Fetch-Site) and does not follow
// redirects, so tests see each step.
type browser struct {
	e     *env
	c     *http.Client
	ua    string
	lang  string // Accept-Language, when set
	reqID int
	page  string // the last page fetched with a form
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{e: e, ua: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// response is what a step returned.
type response struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(req *http.Request) response {
	b.e.t.Helper()
	b.reqID++
	req.Header.Set("User-Agent", b.ua)
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	req.Header.Set(telemetry.HeaderRequestID, fmt.Sprintf("test-request-%04d", b.reqID))
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body), header: resp.Header}
	if strings.Contains(r.body, `name="csrf_token"`) {
		b.page = r.body
	}
	return r
}

func (b *browser) get(path string) response {
	b.e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return b.do(req)
}

// post submits form to path as a same-origin browser form would, with the
// CSRF token of the last page fetched (unless form sets csrf_token).
func (b *browser) post(path string, form url.Values) response {
	b.e.t.Helper()
	return b.postWith(path, form, map[string]string{"Origin": b.e.srv.URL, "Sec-Fetch-Site": "same-origin"})
}

func (b *browser) postWith(path string, form url.Values, headers map[string]string) response {
	b.e.t.Helper()
	if _, ok := form[csrf.FieldName]; !ok {
		form.Set(csrf.FieldName, csrfToken(b.page))
	}
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

func csrfToken(page string) string {
	if m := csrfRE.FindStringSubmatch(page); m != nil {
		return m[1]
	}
	return ""
}

// cookie returns the browser's cookie name, or "".
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// signIn signs the browser in as email outside any authorization request.
func (b *browser) signIn(email, password string) {
	b.e.t.Helper()
	b.get("/login")
	r := b.post("/login", url.Values{"email": {email}, "password": {password}})
	if r.status != http.StatusSeeOther {
		b.e.t.Fatalf("sign in: status %d, want 303; body:\n%s", r.status, r.body)
	}
}

// wantStatus fails the test unless r has status code.
func wantStatus(t *testing.T, r response, code int) {
	t.Helper()
	if r.status != code {
		t.Fatalf("status = %d, want %d; Location %q; body:\n%s", r.status, code, r.location, r.body)
	}
}

func wantRedirect(t *testing.T, r response, location string) {
	t.Helper()
	if r.status != http.StatusSeeOther || r.location != location {
		t.Fatalf("got %d Location %q, want 303 to %q; body:\n%s", r.status, r.location, location, r.body)
	}
}

func wantBody(t *testing.T, r response, substrings ...string) {
	t.Helper()
	for _, s := range substrings {
		if !strings.Contains(r.body, s) {
			t.Errorf("page lacks %q; page:\n%s", s, r.body)
		}
	}
}

// --- HTML inspection ---

func parse(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func elements(n *html.Node) []*html.Node {
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
	walk(n)
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
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

// labelled returns the control whose <label for> reads exactly label, or
// nil.
func labelled(doc *html.Node, label string) *html.Node {
	all := elements(doc)
	for _, l := range all {
		if l.Data == "label" && textOf(l) == label {
			for _, c := range all {
				if attr(c, "id") == attr(l, "for") && (c.Data == "input" || c.Data == "select" || c.Data == "textarea") {
					return c
				}
			}
		}
	}
	return nil
}

// withText returns the elements named tag whose text is exactly text.
func withText(doc *html.Node, tag, text string) []*html.Node {
	var out []*html.Node
	for _, n := range elements(doc) {
		if n.Data == tag && textOf(n) == text {
			out = append(out, n)
		}
	}
	return out
}

// wantLabels checks that the page has the labelled fields, buttons and
// links the hosted pages promise.
func wantLabels(t *testing.T, page string, fields, buttons, links []string) {
	t.Helper()
	doc := parse(t, page)
	for _, f := range fields {
		if labelled(doc, f) == nil {
			t.Errorf("no field labelled %q", f)
		}
	}
	for _, b := range buttons {
		if len(withText(doc, "button", b)) == 0 {
			t.Errorf("no button %q", b)
		}
	}
	for _, l := range links {
		if len(withText(doc, "a", l)) == 0 {
			t.Errorf("no link %q", l)
		}
	}
}

// wantErrorSummary checks the GOV.UK error summary pattern on page: every
// item about a field links to it (href="#id" of a control on the page)
// and names it by its label; other items are plain text.
func wantErrorSummary(t *testing.T, page string) {
	t.Helper()
	doc := parse(t, page)
	all := elements(doc)
	for _, sum := range all {
		if !strings.Contains(" "+attr(sum, "class")+" ", " error-summary ") {
			continue
		}
		for _, li := range elements(sum) {
			if li.Data != "li" {
				continue
			}
			var link *html.Node
			for _, n := range elements(li) {
				if n.Data == "a" {
					link = n
				}
			}
			if link == nil {
				continue // about the whole form
			}
			id, ok := strings.CutPrefix(attr(link, "href"), "#")
			var label string
			for _, l := range all {
				if l.Data == "label" && attr(l, "for") == id {
					label = textOf(l)
				}
			}
			switch {
			case !ok || id == "":
				t.Errorf("error summary item %q links to %q, want #field-id", textOf(li), attr(link, "href"))
			case label == "":
				t.Errorf("error summary item %q links to #%s, which is no labelled field on the page", textOf(li), id)
			case !strings.Contains(strings.ToLower(textOf(link)), strings.ToLower(label)):
				t.Errorf("error summary item %q does not name its field %q", textOf(link), label)
			}
		}
	}
}

// --- golden files ---

var (
	goldenCSRF = regexp.MustCompile(`name="csrf_token" value="[^"]*"`)
	goldenSID  = regexp.MustCompile(`(session-|name="sid" value=")[A-Za-z0-9_-]{22}`)
)

// golden compares page with testdata/name.html, rewriting it with -update.
// Random values (CSRF tokens, session ids) are replaced by placeholders.
// Every golden page's error summary is checked too (wantErrorSummary).
func golden(t *testing.T, name, page string) {
	t.Helper()
	wantErrorSummary(t, page)
	page = goldenCSRF.ReplaceAllString(page, `name="csrf_token" value="CSRF"`)
	page = goldenSID.ReplaceAllString(page, "${1}SID")
	path := filepath.Join("testdata", name+".html")
	if *update {
		if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./login -update to create it)", err)
	}
	if string(want) != page {
		t.Errorf("page %s differs from %s (run go test ./login -update if the change is intended):\n%s", name, path, page)
	}
}
