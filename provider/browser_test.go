package provider

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
)

// fakeUsers is an in-memory UserLookup.
type fakeUsers struct {
	mu    sync.Mutex
	users map[string]*storage.User
	fail  error // when set, every lookup returns it
}

func (f *fakeUsers) GetUser(_ context.Context, id string) (*storage.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	u, ok := f.users[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	cp := *u
	return &cp, nil
}

// fakeErrors records the error pages the provider showed.
type fakeErrors struct {
	mu    sync.Mutex
	title string // the last one's; "" when none was shown
}

func (f *fakeErrors) RenderError(w http.ResponseWriter, _ *http.Request, status int, title, _ string, _ ...any) {
	f.mu.Lock()
	f.title = title
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte("<!doctype html><title>error</title>"))
}

func (f *fakeErrors) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.title
}

type fakeNotifier struct {
	mu   sync.Mutex
	sent []string // clientID|uri|token
}

func (f *fakeNotifier) EnqueueBackchannelLogout(_ context.Context, clientID, uri, tok string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, clientID+"|"+uri+"|"+tok)
	return nil
}

// browserEnv is an env with the browser endpoints and a person's browser.
type browserEnv struct {
	*env
	sessions *session.Manager
	users    *fakeUsers
	errors   *fakeErrors
	notifier *fakeNotifier
	browser  *http.Client // cookie jar, no redirects followed
}

func newBrowserEnv(t *testing.T, opts ...envOption) *browserEnv {
	t.Helper()
	be := &browserEnv{users: &fakeUsers{users: map[string]*storage.User{}}, errors: &fakeErrors{}, notifier: &fakeNotifier{}}
	var sessions *session.Manager
	e := newEnv(t, append(opts, withBrowser(func(store Store, p *Provider) *Browser {
		sessions = session.New(session.DefaultConfig(), session.Options{Store: store.(session.Store), Logger: testLogger(t), OnEnd: p.SessionEnded})
		return &Browser{Sessions: sessions, Users: be.users, Errors: be.errors, Logout: be.notifier}
	}))...)
	be.env, be.sessions = e, sessions
	jar, _ := cookiejar.New(nil)
	be.browser = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	be.users.users["alice"] = &storage.User{ID: "alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice",
		Organization: "ACME", Department: "R&D", EmployeeID: "42", UpdatedAt: time.Now()}
	return be
}

// get fetches u in the browser and returns the response (body closed).
func (be *browserEnv) get(u string) *http.Response {
	be.t.Helper()
	resp, err := be.browser.Get(u)
	if err != nil {
		be.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// request is a request carrying the browser's cookies, to read its
// session with the manager.
func (be *browserEnv) request() *http.Request {
	req := httptest.NewRequest(http.MethodGet, be.issuer, nil)
	for _, c := range be.browser.Jar.Cookies(mustURL(be.issuer)) {
		req.AddCookie(c)
	}
	return req
}

// signIn does what the login page does: start a session in this browser
// and mark the auth request as signed in.
func (be *browserEnv) signIn(arID, userID string) {
	be.t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, be.issuer+PathLogin, nil)
	for _, c := range be.browser.Jar.Cookies(mustURL(be.issuer)) {
		req.AddCookie(c)
	}
	s, err := be.sessions.Start(context.Background(), rec, req, userID, []string{"pwd"}, "")
	if err != nil {
		be.t.Fatal(err)
	}
	be.browser.Jar.SetCookies(mustURL(be.issuer), rec.Result().Cookies())
	if arID != "" {
		ar, err := be.store.GetAuthRequest(context.Background(), arID, time.Now())
		if err != nil {
			be.t.Fatal(err)
		}
		ar.SessionID, ar.LoginAt = s.ID, time.Now()
		if err := be.store.UpdateAuthRequest(context.Background(), ar); err != nil {
			be.t.Fatal(err)
		}
	}
}

// consent does what the consent page does.
func (be *browserEnv) consent(arID string, allow bool, scopes ...string) {
	be.t.Helper()
	ar, err := be.store.GetAuthRequest(context.Background(), arID, time.Now())
	if err != nil {
		be.t.Fatal(err)
	}
	ar.ConsentGiven, ar.ConsentDenied, ar.GrantedScopes = allow, !allow, scopes
	if err := be.store.UpdateAuthRequest(context.Background(), ar); err != nil {
		be.t.Fatal(err)
	}
	if allow {
		if err := be.store.SaveConsent(context.Background(), &storage.Consent{UserID: "alice", ClientID: ar.ClientID, Scopes: scopes}); err != nil {
			be.t.Fatal(err)
		}
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// step follows one redirect and checks where it points.
func expectRedirect(t *testing.T, resp *http.Response, prefix string) *url.URL {
	t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode < 300 || resp.StatusCode >= 400 || !strings.HasPrefix(loc, prefix) {
		t.Fatalf("got %d Location %q, want a redirect to %s…", resp.StatusCode, loc, prefix)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// rp is a relying party: a confidential client with x/oauth2 and go-oidc.
type rp struct {
	client   *storage.Client
	cfg      *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func (be *browserEnv) newRP(spec ClientSpec) *rp {
	be.t.Helper()
	spec.RedirectURIs = []string{"http://127.0.0.1:9/cb"}
	spec.PostLogoutRedirectURIs = []string{"http://127.0.0.1:9/bye"}
	c, secret := be.createClient(spec)
	ctx := oidc.ClientContext(context.Background(), http.DefaultClient)
	prov, err := oidc.NewProvider(ctx, be.issuer)
	if err != nil {
		be.t.Fatal(err)
	}
	return &rp{client: c, verifier: prov.Verifier(&oidc.Config{ClientID: c.ID}),
		cfg: &oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: spec.RedirectURIs[0], Endpoint: prov.Endpoint(),
			Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}}}
}

// TestAuthorizationCodeFlow runs the whole OpenID Connect code flow the
// way a relying party and a browser do, with the hosted pages' steps
// simulated: sign in, consent, code, tokens, ID token, UserInfo, silent
// re-authentication, logout.
func TestAuthorizationCodeFlow(t *testing.T) {
	be := newBrowserEnv(t)
	r := be.newRP(ClientSpec{BackchannelLogoutURI: "http://127.0.0.1:9/backchannel"})
	verifier := oauth2.GenerateVerifier()
	state, nonce := "state-0123456789", "nonce-0123456789"
	authURL := r.cfg.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))

	login := expectRedirect(t, be.get(authURL), be.issuer+PathLogin)
	arID := login.Query().Get("ar")
	be.signIn(arID, "alice")
	consent := expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+arID), be.issuer+PathConsent)
	be.consent(consent.Query().Get("ar"), true, "openid", "profile", "email", "offline_access")
	cb := expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+arID), r.cfg.RedirectURL)
	if cb.Query().Get("state") != state || cb.Query().Get("iss") != be.issuer || cb.Query().Get("code") == "" {
		t.Fatalf("callback %v: want code, state and iss", cb)
	}
	// The stored request is single use.
	resp := be.get(be.issuer + PathResume + "?ar=" + arID)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("resuming a finished request: %d, want 400", resp.StatusCode)
	}

	tok, err := r.cfg.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(context.Background(), rawID)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Nonce != nonce || idt.Subject != "alice" {
		t.Fatalf("ID token nonce %q sub %q", idt.Nonce, idt.Subject)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	var claims struct {
		SID        string         `json:"sid"`
		AuthTime   int64          `json:"auth_time"`
		AMR        []string       `json:"amr"`
		Email      string         `json:"email"`
		Name       string         `json:"name"`
		Enterprise map[string]any `json:"enterprise"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.SID == "" || claims.AuthTime == 0 || len(claims.AMR) == 0 || claims.Email != "alice@example.com" ||
		claims.Name != "Alice" || claims.Enterprise["employee_id"] != "42" {
		t.Fatalf("ID token claims: %+v", claims)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}

	// UserInfo, through go-oidc.
	prov, _ := oidc.NewProvider(context.Background(), be.issuer)
	ui, err := prov.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if ui.Subject != "alice" || ui.Email != "alice@example.com" || !ui.EmailVerified {
		t.Fatalf("userinfo: %+v", ui)
	}

	// Signed in with consent given: the next request is answered at once,
	// even with prompt=none.
	cb2 := expectRedirect(t, be.get(r.cfg.AuthCodeURL("state-abcdefghij", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("prompt", "none"))), r.cfg.RedirectURL)
	if cb2.Query().Get("code") == "" {
		t.Fatalf("silent authorization: %v", cb2)
	}

	// The ID token is a good id_token_hint for logout (which the hosted
	// pages serve); ending the session kills its tokens and the RP hears
	// of it.
	hint, err := be.p.VerifyIDTokenHint(context.Background(), rawID, r.client.ID)
	if err != nil || hint.SID != claims.SID || hint.Subject != "alice" || hint.ClientID != r.client.ID {
		t.Fatalf("VerifyIDTokenHint(ID token) = %+v, %v", hint, err)
	}
	rs, rsSecret := be.ccClient()
	sess, err := be.sessions.Current(be.request())
	if err != nil || sess == nil || sess.ID != claims.SID {
		t.Fatalf("current session: %+v %v", sess, err)
	}
	if err := be.sessions.End(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	if be.active(tok.AccessToken, rs.ID, rsSecret) || be.active(tok.RefreshToken, rs.ID, rsSecret) {
		t.Fatal("tokens of the ended session are still active")
	}
	be.notifier.mu.Lock()
	sent := append([]string(nil), be.notifier.sent...)
	be.notifier.mu.Unlock()
	if len(sent) != 1 || !strings.HasPrefix(sent[0], r.client.ID+"|http://127.0.0.1:9/backchannel|") {
		t.Fatalf("back-channel logout: %v", sent)
	}
	lt := strings.SplitN(sent[0], "|", 3)[2]
	lc := decodeSeg(t, splitJWT(lt)[1])
	if lc["sid"] != claims.SID || lc["aud"] != r.client.ID || lc["events"] == nil || lc["nonce"] != nil {
		t.Fatalf("logout token claims: %v", lc)
	}
	if h := decodeSeg(t, splitJWT(lt)[0]); h["typ"] != "logout+jwt" {
		t.Fatalf("logout token typ: %v", h["typ"])
	}
	// Signed out: prompt=none now fails with login_required, to the client.
	errURL := expectRedirect(t, be.get(r.cfg.AuthCodeURL("state-zzzzzzzzzz", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("prompt", "none"))), r.cfg.RedirectURL)
	if errURL.Query().Get("error") != "login_required" || errURL.Query().Get("iss") != be.issuer {
		t.Fatalf("prompt=none after logout: %v", errURL)
	}
}

func TestAuthorizeErrors(t *testing.T) {
	be := newBrowserEnv(t)
	r := be.newRP(ClientSpec{})
	pub := be.newRP(ClientSpec{Public: true})
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	base := url.Values{"client_id": {r.client.ID}, "redirect_uri": {r.cfg.RedirectURL}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"state-0123456789"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	with := func(mods ...string) string {
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		for i := 0; i+1 < len(mods); i += 2 {
			if mods[i+1] == "" {
				q.Del(mods[i])
			} else {
				q.Set(mods[i], mods[i+1])
			}
		}
		return be.issuer + PathAuthorize + "?" + q.Encode()
	}
	// Errors that must not redirect: an error page instead.
	for name, u := range map[string]string{
		"unknown client":           with("client_id", "nope"),
		"unregistered redirect":    with("redirect_uri", "http://127.0.0.1:9/evil"),
		"redirect prefix trick":    with("redirect_uri", "http://127.0.0.1:9/cb/../evil"),
		"redirect with extra path": with("redirect_uri", "http://127.0.0.1:9/cb/x"),
		"open redirect host":       with("redirect_uri", "https://evil.example/cb"),
		"request object":           with("request", "eyJhbGciOiJub25lIn0.e30."),
		"unknown response_mode":    with("response_mode", "web_message"), // no known way to answer
	} {
		t.Run(name, func(t *testing.T) {
			resp := be.get(u)
			if resp.StatusCode < 400 || resp.Header.Get("Location") != "" {
				t.Fatalf("%d Location %q, want an error page", resp.StatusCode, resp.Header.Get("Location"))
			}
			if be.errors.last() == "" {
				t.Fatal("no error page shown")
			}
		})
	}
	// Errors sent back to the client's registered redirect URI.
	for name, tc := range map[string]struct{ url, want string }{
		"implicit flow":              {with("response_type", "token"), "unsupported_response_type"},
		"hybrid flow":                {with("response_type", "code id_token", "nonce", "nonce-0123456789"), "unsupported_response_type"},
		"plain PKCE":                 {with("code_challenge_method", "plain"), "invalid_request"},
		"unknown scope":              {with("scope", "openid admin"), "invalid_scope"},
		"prompt none with login":     {with("prompt", "none login"), "invalid_request"},
		"bad max_age":                {with("max_age", "-1"), "invalid_request"},
		"response_mode fragment":     {with("response_mode", "fragment"), "unsupported_response_mode"},
		"public client without PKCE": {with("client_id", pub.client.ID, "code_challenge", "", "code_challenge_method", ""), "invalid_request"},
		"prompt none, no session":    {with("prompt", "none"), "login_required"},
	} {
		t.Run(name, func(t *testing.T) {
			u := expectRedirect(t, be.get(tc.url), "http://127.0.0.1:9/cb")
			if u.Query().Get("error") != tc.want || u.Query().Get("state") != "state-0123456789" || u.Query().Get("iss") != be.issuer {
				t.Fatalf("redirect %v, want error=%s with state and iss", u, tc.want)
			}
		})
	}
	t.Run("consent denied", func(t *testing.T) {
		login := expectRedirect(t, be.get(with()), be.issuer+PathLogin)
		ar := login.Query().Get("ar")
		be.signIn(ar, "alice")
		expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+ar), be.issuer+PathConsent)
		be.consent(ar, false)
		u := expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+ar), "http://127.0.0.1:9/cb")
		if u.Query().Get("error") != "access_denied" {
			t.Fatalf("denied: %v", u)
		}
	})
	t.Run("prompt none needs consent", func(t *testing.T) {
		other := be.newRP(ClientSpec{})
		u := expectRedirect(t, be.get(with("client_id", other.client.ID, "prompt", "none")), "http://127.0.0.1:9/cb")
		if u.Query().Get("error") != "consent_required" {
			t.Fatalf("%v, want consent_required", u)
		}
	})
	t.Run("consent does not pass to another user", func(t *testing.T) {
		other := be.newRP(ClientSpec{})
		be.signIn("", "alice")
		consent := expectRedirect(t, be.get(with("client_id", other.client.ID)), be.issuer+PathConsent)
		ar := consent.Query().Get("ar")
		be.consent(ar, true, "openid")
		be.users.mu.Lock()
		be.users.users["mallory"] = &storage.User{ID: "mallory", Email: "m@example.com"}
		be.users.mu.Unlock()
		be.signIn("", "mallory") // the browser's session changes hands before resume
		expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+ar), be.issuer+PathConsent)
	})
	t.Run("tampered resume id", func(t *testing.T) {
		if resp := be.get(be.issuer + PathResume + "?ar=forged"); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%d, want 400", resp.StatusCode)
		}
	})
}

// TestReauthentication: prompt=login and max_age=0 send a signed-in person
// back to the login page; a first-party client skips consent.
func TestReauthentication(t *testing.T) {
	be := newBrowserEnv(t)
	r := be.newRP(ClientSpec{FirstParty: true})
	v := oauth2.GenerateVerifier()
	login := expectRedirect(t, be.get(r.cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(v))), be.issuer+PathLogin)
	be.signIn(login.Query().Get("ar"), "alice")
	expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+login.Query().Get("ar")), r.cfg.RedirectURL) // no consent page

	for _, param := range [][2]string{{"prompt", "login"}, {"max_age", "0"}} {
		login := expectRedirect(t, be.get(r.cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(v),
			oauth2.SetAuthURLParam(param[0], param[1]))), be.issuer+PathLogin)
		be.signIn(login.Query().Get("ar"), "alice")
		cb := expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+login.Query().Get("ar")), r.cfg.RedirectURL)
		tok, err := r.cfg.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatalf("%s: exchange: %v", param[0], err)
		}
		if _, err := r.verifier.Verify(context.Background(), tok.Extra("id_token").(string)); err != nil {
			t.Fatalf("%s: %v", param[0], err)
		}
	}
}

func TestUserInfoErrors(t *testing.T) {
	be := newBrowserEnv(t)
	c, secret := be.ccClient()
	noOpenID := be.token(c.ID, secret, "api")
	// A client_credentials token's subject is the client: no such user.
	oc, osecret := be.createClient(ClientSpec{GrantTypes: []string{"client_credentials"}, Scopes: []string{"openid"}})
	gone := be.token(oc.ID, osecret, "openid")
	for name, tc := range map[string]struct {
		method, auth string
		want         int
		wantError    string // "" for none: RFC 6750 §3.1, no credentials at all
	}{
		"no token":        {"GET", "", 401, ""},
		"garbage token":   {"GET", "Bearer nope", 401, "invalid_token"},
		"wrong scheme":    {"GET", "Basic Zm9vOmJhcg==", 400, "invalid_request"},
		"no openid scope": {"GET", "Bearer " + noOpenID, 403, "insufficient_scope"},
		"no such user":    {"POST", "Bearer " + gone, 401, "invalid_token"},
		"wrong method":    {"PUT", "Bearer " + gone, 405, "invalid_request"},
	} {
		t.Run(name, func(t *testing.T) {
			status, challenge, body := userInfo(t, be.issuer, tc.method, tc.auth)
			if status != tc.want || !strings.HasPrefix(challenge, "Bearer") {
				t.Fatalf("%d %q, want %d with a Bearer challenge", status, challenge, tc.want)
			}
			checkBearerError(t, challenge, body, tc.wantError)
		})
	}
	t.Run("user store down", func(t *testing.T) {
		tok := be.token(oc.ID, osecret, "openid")
		be.users.mu.Lock()
		be.users.fail = errors.New("database down")
		be.users.mu.Unlock()
		defer func() { be.users.mu.Lock(); be.users.fail = nil; be.users.mu.Unlock() }()
		status, challenge, body := userInfo(t, be.issuer, http.MethodGet, "Bearer "+tok)
		if status != http.StatusInternalServerError {
			t.Fatalf("status %d, want 500", status)
		}
		checkBearerError(t, challenge, body, "server_error")
	})
}

// userInfo calls the UserInfo endpoint and returns status, challenge and
// body.
func userInfo(t *testing.T, issuer, method, auth string) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, issuer+PathUserInfo, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if len(body) > 0 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("Content-Type %q, want JSON", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body
}

// checkBearerError checks that an error answer is written as every OAuth
// error is (fosite's JSON) and that the challenge names the same error.
func checkBearerError(t *testing.T, challenge string, body []byte, want string) {
	t.Helper()
	if want == "" {
		if strings.Contains(challenge, "error=") || len(body) > 0 {
			t.Errorf("challenge %q, body %q; want neither an error code nor a body", challenge, body)
		}
		return
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error != want || e.Description == "" {
		t.Errorf("body %q (%v), want {\"error\": %q, \"error_description\": ...}", body, err, want)
	}
	if !strings.Contains(challenge, `error="`+want+`"`) {
		t.Errorf("challenge %q does not name error %q", challenge, want)
	}
}

// TestVerifyIDTokenHint: logout's id_token_hint must be an ID token this
// issuer signed (expired is fine); an access token or a logout token,
// though signed by the same key, is not one (issue: any JWT authd signed
// used to pass), nor is a token with another issuer, a forged signature,
// or an ID token for another client than the request names.
func TestVerifyIDTokenHint(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now()
	sign := func(typ string, claims map[string]any) string {
		t.Helper()
		b, err := json.Marshal(claims)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := e.p.keys.Load().active.sign(typ, b)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	idClaims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": e.issuer, "sub": "alice", "aud": []string{"app"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"sid": "sid-1", "auth_time": now.Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	good := sign("JWT", idClaims(nil))
	if h, err := e.p.VerifyIDTokenHint(ctx, good, ""); err != nil || h.Subject != "alice" || h.SID != "sid-1" || h.ClientID != "app" {
		t.Fatalf("VerifyIDTokenHint(ID token) = %+v, %v", h, err)
	}
	expired := sign("JWT", idClaims(func(c map[string]any) { c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix() }))
	if _, err := e.p.VerifyIDTokenHint(ctx, expired, "app"); err != nil {
		t.Fatalf("an expired ID token is still a hint: %v", err)
	}
	if _, err := e.p.VerifyIDTokenHint(ctx, good, "other"); err == nil || errors.Is(err, ErrNotIDToken) {
		t.Fatalf("hint for another client: %v, want a client mismatch", err)
	}

	c, secret := e.ccClient()
	access := e.token(c.ID, secret, "")
	logout, err := e.p.logoutToken("app", &storage.Session{ID: "sid-1", UserID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	parts := splitJWT(good)
	for name, tok := range map[string]string{
		"access token (typ at+jwt)":     access,
		"logout token (typ logout+jwt)": logout,
		"access-token claims, typ JWT":  sign("JWT", idClaims(func(c map[string]any) { c["client_id"], c["scope"] = "app", "openid" })),
		"logout-token claims, typ JWT":  sign("JWT", idClaims(func(c map[string]any) { c["events"] = map[string]any{backchannelLogoutEvent: map[string]any{}} })),
		"ID token claims, typ at+jwt":   sign(typAccessToken, idClaims(nil)),
		"another issuer":                sign("JWT", idClaims(func(c map[string]any) { c["iss"] = "https://evil.example" })),
		"no subject":                    sign("JWT", idClaims(func(c map[string]any) { delete(c, "sub") })),
		"no audience":                   sign("JWT", idClaims(func(c map[string]any) { delete(c, "aud") })),
		"no iat":                        sign("JWT", idClaims(func(c map[string]any) { delete(c, "iat") })),
		"forged signature":              parts[0] + "." + parts[1] + "." + splitJWT(access)[2],
		"alg none":                      fuzzB64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".",
		"not a JWT":                     "not-a-jwt",
		"oversized":                     strings.Repeat("a", maxTokenLength+1),
	} {
		t.Run(name, func(t *testing.T) {
			if h, err := e.p.VerifyIDTokenHint(ctx, tok, ""); !errors.Is(err, ErrNotIDToken) {
				t.Fatalf("VerifyIDTokenHint = %+v, %v; want ErrNotIDToken", h, err)
			}
		})
	}
}
