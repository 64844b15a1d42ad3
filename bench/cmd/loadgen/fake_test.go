package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	fakeClientID     = "bench client/é"
	fakeClientSecret = "s3:cr&t+=%x"
	fakeEmail        = "bench@example.com"
	fakePassword     = "quiet orbit & lantern <42>"
	fakeRedirectURI  = "http://127.0.0.1:9/cb"
)

// fakeOP is a tiny stand-in for authd: discovery, JWKS, token
// (client_credentials, authorization_code with PKCE, refresh_token with
// rotation), introspection, revocation, and the browser side of the
// authorization code flow (authorize, the login form with a CSRF cookie and
// token, resume, consent), with knobs to inject failures. Counters count
// requests served.
type fakeOP struct {
	t   *testing.T
	srv *httptest.Server

	// knobs, set before the run
	failTokenEvery   int64           // every Nth token request gets a 503
	inactiveEvery    int64           // every Nth introspection of a live token says active=false
	ignoreRevocation bool            // revocation "succeeds" but does nothing
	discoverySleep   time.Duration   // delay on discovery responses
	jwksURI          string          // override jwks_uri in discovery
	firstParty       bool            // resume skips consent
	noRotate         bool            // refresh answers with the same refresh token
	failRefreshEvery int64           // every Nth refresh gets a 400 invalid_grant (and spends the token)
	loginSleep       time.Duration   // delay on POST /login (the password hash)
	users            map[string]bool // the addresses that can sign in; nil: fakeEmail only

	discovery, jwks, token, introspect, revoke atomic.Int64
	served503, servedInactive                  atomic.Int64
	badAuth                                    atomic.Int64

	authorize, loginPage, loginPost, resume    atomic.Int64
	consentPage, consentPost, codes, refreshes atomic.Int64
	signedIn, badCSRF, refreshFailed, newCSRF  atomic.Int64

	mu       sync.Mutex
	seq      int64
	tokens   map[string]bool         // token -> revoked
	requests map[string]*fakeAuthReq // authorization requests by id
	sessions map[string]bool         // session cookie values
	issued   map[string]*fakeAuthReq // unexchanged codes
	refresh  map[string]bool         // refresh token -> spent
	consents bool                    // the user consented (one user, one client)
	signins  map[string]int          // successful sign-ins by address
}

// fakeAuthReq is a stored authorization request.
type fakeAuthReq struct {
	form    url.Values
	session string // set by sign-in
}

func newFakeOP(t *testing.T) *fakeOP {
	t.Helper()
	f := &fakeOP{t: t, tokens: map[string]bool{}, requests: map[string]*fakeAuthReq{}, sessions: map[string]bool{},
		issued: map[string]*fakeAuthReq{}, refresh: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", f.handleDiscovery)
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		f.jwks.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1"}]}`)
	})
	mux.HandleFunc("POST /oauth2/token", f.handleToken)
	mux.HandleFunc("POST /oauth2/introspect", f.handleIntrospect)
	mux.HandleFunc("POST /oauth2/revoke", f.handleRevoke)
	mux.HandleFunc("GET /oauth2/authorize", f.handleAuthorize)
	mux.HandleFunc("GET /oauth2/authorize/resume", f.handleResume)
	mux.HandleFunc("GET /login", f.handleLoginPage)
	mux.HandleFunc("POST /login", f.handleLogin)
	mux.HandleFunc("GET /consent", f.handleConsentPage)
	mux.HandleFunc("POST /consent", f.handleConsent)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOP) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	f.discovery.Add(1)
	if f.discoverySleep > 0 {
		time.Sleep(f.discoverySleep)
	}
	base := f.srv.URL
	jwks := base + "/jwks.json"
	if f.jwksURI != "" {
		jwks = f.jwksURI
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"issuer":                 base,
		"authorization_endpoint": base + "/oauth2/authorize",
		"token_endpoint":         base + "/oauth2/token",
		"jwks_uri":               jwks,
		"introspection_endpoint": base + "/oauth2/introspect",
		"revocation_endpoint":    base + "/oauth2/revoke",
	})
}

// authenticated checks HTTP Basic client auth with form-urlencoded
// credentials (RFC 6749 §2.3.1).
func (f *fakeOP) authenticated(w http.ResponseWriter, r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if ok {
		u, err1 := url.QueryUnescape(user)
		p, err2 := url.QueryUnescape(pass)
		if err1 == nil && err2 == nil && u == fakeClientID && p == fakeClientSecret {
			return true
		}
	}
	f.badAuth.Add(1)
	w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprint(w, `{"error":"invalid_client"}`)
	return false
}

func (f *fakeOP) handleToken(w http.ResponseWriter, r *http.Request) {
	n := f.token.Add(1)
	if f.failTokenEvery > 0 && n%f.failTokenEvery == 0 {
		f.served503.Add(1)
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
		return
	}
	if !f.authenticated(w, r) {
		return
	}
	switch r.PostFormValue("grant_type") {
	case "client_credentials":
	case "authorization_code":
		f.exchangeCode(w, r, n)
		return
	case "refresh_token":
		f.rotate(w, r, n)
		return
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	tok := fmt.Sprintf("tok-%d", n)
	f.mu.Lock()
	f.tokens[tok] = false
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": 3600, "scope": r.PostFormValue("scope"),
	})
}

func (f *fakeOP) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	n := f.introspect.Add(1)
	if !f.authenticated(w, r) {
		return
	}
	f.mu.Lock()
	revoked, known := f.tokens[r.PostFormValue("token")]
	f.mu.Unlock()
	active := known && !revoked
	if active && f.inactiveEvery > 0 && n%f.inactiveEvery == 0 {
		active = false
		f.servedInactive.Add(1)
	}
	w.Header().Set("Content-Type", "application/json")
	if active {
		fmt.Fprint(w, `{"active":true,"client_id":"x","token_type":"Bearer"}`)
	} else {
		fmt.Fprint(w, `{"active":false}`)
	}
}

func (f *fakeOP) handleRevoke(w http.ResponseWriter, r *http.Request) {
	f.revoke.Add(1)
	if !f.authenticated(w, r) {
		return
	}
	if !f.ignoreRevocation {
		f.mu.Lock()
		if _, ok := f.tokens[r.PostFormValue("token")]; ok {
			f.tokens[r.PostFormValue("token")] = true
		}
		f.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}

func (f *fakeOP) nextID(prefix string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	return fmt.Sprintf("%s-%d", prefix, f.seq)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q}`, code)
}

func (f *fakeOP) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	f.authorize.Add(1)
	q := r.URL.Query()
	if q.Get("client_id") != fakeClientID || q.Get("redirect_uri") != fakeRedirectURI {
		http.Error(w, "bad client or redirect_uri", http.StatusBadRequest)
		return
	}
	if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
		q.Get("state") == "" || q.Get("nonce") == "" || q.Get("scope") != "openid offline_access" {
		http.Redirect(w, r, fakeRedirectURI+"?error=invalid_request&state="+url.QueryEscape(q.Get("state")), http.StatusSeeOther)
		return
	}
	id := f.nextID("ar")
	f.mu.Lock()
	f.requests[id] = &fakeAuthReq{form: q}
	f.mu.Unlock()
	http.Redirect(w, r, "/login?ar="+id, http.StatusSeeOther)
}

// csrfToken returns the request's CSRF cookie value, setting a new one
// when there is none; the form token is derived from it.
func (f *fakeOP) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie("fake_csrf"); err == nil {
		return "t." + c.Value
	}
	f.newCSRF.Add(1)
	v := f.nextID("csrf")
	http.SetCookie(w, &http.Cookie{Name: "fake_csrf", Value: v, Path: "/", HttpOnly: true})
	return "t." + v
}

// csrfOK checks a form post the way authd does: same-origin headers, and
// a token bound to the cookie.
func (f *fakeOP) csrfOK(w http.ResponseWriter, r *http.Request) bool {
	c, err := r.Cookie("fake_csrf")
	if err != nil || r.Header.Get("Sec-Fetch-Site") != "same-origin" || r.Header.Get("Origin") != f.srv.URL ||
		r.PostFormValue("csrf_token") != "t."+c.Value {
		f.badCSRF.Add(1)
		http.Error(w, "csrf", http.StatusForbidden)
		return false
	}
	return true
}

// The login page, shaped like authd's: a decoy form first, hidden fields
// with escaped values, a named submit button.
const fakeLoginPage = `<!doctype html><html><body>
<form method="post" action="/verify-email/resend"><input type="hidden" name="csrf_token" value="%[1]s"><button type="submit">Send a new verification link</button></form>
<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="%[1]s">
<input type="hidden" name="ar" value="%[2]s">
<label for="email">Email</label><input id="email" name="email" type="email">
<label for="password">Password</label><input id="password" name="password" type="password">
<div class="actions"><button type="submit" name="do" value="sign&amp;in" class="primary">
  Sign in
</button></div>
</form></body></html>`

func (f *fakeOP) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	f.loginPage.Add(1)
	tok := f.csrfToken(w, r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, fakeLoginPage, html.EscapeString(tok), html.EscapeString(r.URL.Query().Get("ar")))
}

func (f *fakeOP) handleLogin(w http.ResponseWriter, r *http.Request) {
	f.loginPost.Add(1)
	if !f.csrfOK(w, r) {
		return
	}
	if f.loginSleep > 0 {
		time.Sleep(f.loginSleep)
	}
	email := r.PostFormValue("email")
	known := email == fakeEmail
	if f.users != nil {
		known = f.users[email]
	}
	if r.PostFormValue("do") != "sign&in" || !known || r.PostFormValue("password") != fakePassword {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "Incorrect email or password.")
		return
	}
	f.signedIn.Add(1)
	f.mu.Lock()
	if f.signins == nil {
		f.signins = map[string]int{}
	}
	f.signins[email]++
	f.mu.Unlock()
	sid := f.nextID("sess")
	http.SetCookie(w, &http.Cookie{Name: "fake_session", Value: sid, Path: "/", HttpOnly: true})
	ar := r.PostFormValue("ar")
	if ar == "" {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	f.mu.Lock()
	f.sessions[sid] = true
	req := f.requests[ar]
	if req != nil {
		req.session = sid
	}
	f.mu.Unlock()
	if req == nil {
		http.Error(w, "unknown ar", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, "/oauth2/authorize/resume?ar="+url.QueryEscape(ar), http.StatusSeeOther)
}

// flow returns the authorization request named by ar if the browser's
// session signed in for it.
func (f *fakeOP) flow(r *http.Request, ar string) *fakeAuthReq {
	c, err := r.Cookie("fake_session")
	f.mu.Lock()
	defer f.mu.Unlock()
	req := f.requests[ar]
	if err != nil || req == nil || req.session != c.Value {
		return nil
	}
	return req
}

func (f *fakeOP) handleResume(w http.ResponseWriter, r *http.Request) {
	f.resume.Add(1)
	ar := r.URL.Query().Get("ar")
	req := f.flow(r, ar)
	if req == nil {
		http.Error(w, "no such sign-in", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	consented := f.consents
	f.mu.Unlock()
	if !f.firstParty && !consented {
		http.Redirect(w, r, "/consent?ar="+url.QueryEscape(ar), http.StatusSeeOther)
		return
	}
	code := f.nextID("code")
	f.mu.Lock()
	delete(f.requests, ar)
	f.issued[code] = req
	f.mu.Unlock()
	http.Redirect(w, r, fakeRedirectURI+"?"+url.Values{"code": {code}, "state": {req.form.Get("state")}, "iss": {f.srv.URL}}.Encode(), http.StatusSeeOther)
}

func (f *fakeOP) handleConsentPage(w http.ResponseWriter, r *http.Request) {
	f.consentPage.Add(1)
	ar := r.URL.Query().Get("ar")
	if f.flow(r, ar) == nil {
		http.Error(w, "no such sign-in", http.StatusBadRequest)
		return
	}
	tok := f.csrfToken(w, r)
	fmt.Fprintf(w, `<html><body><form method="post" action="/consent"><input type="hidden" name="csrf_token" value="%s">`+
		`<input type="hidden" name="ar" value="%s"><button type="submit" name="action" value="allow">Allow</button>`+
		`<button type="submit" name="action" value="deny">Deny</button></form></body></html>`, tok, ar)
}

func (f *fakeOP) handleConsent(w http.ResponseWriter, r *http.Request) {
	f.consentPost.Add(1)
	if !f.csrfOK(w, r) {
		return
	}
	ar := r.PostFormValue("ar")
	if f.flow(r, ar) == nil || r.PostFormValue("action") != "allow" {
		http.Error(w, "bad consent", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.consents = true
	f.mu.Unlock()
	http.Redirect(w, r, "/oauth2/authorize/resume?ar="+url.QueryEscape(ar), http.StatusSeeOther)
}

// exchangeCode is the authorization_code grant with PKCE S256.
func (f *fakeOP) exchangeCode(w http.ResponseWriter, r *http.Request, n int64) {
	f.codes.Add(1)
	code := r.PostFormValue("code")
	f.mu.Lock()
	req := f.issued[code]
	delete(f.issued, code)
	f.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if req == nil || r.PostFormValue("redirect_uri") != fakeRedirectURI ||
		base64.RawURLEncoding.EncodeToString(sum[:]) != req.form.Get("code_challenge") {
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	f.issueUserTokens(w, n, true)
}

// rotate is the refresh_token grant: a spent token is refused.
func (f *fakeOP) rotate(w http.ResponseWriter, r *http.Request, n int64) {
	k := f.refreshes.Add(1)
	rt := r.PostFormValue("refresh_token")
	f.mu.Lock()
	spent, known := f.refresh[rt]
	if known && !f.noRotate {
		f.refresh[rt] = true
	}
	f.mu.Unlock()
	if !known || spent || (f.failRefreshEvery > 0 && k%f.failRefreshEvery == 0) {
		f.refreshFailed.Add(1)
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	if f.noRotate {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "refresh_token": rt, "token_type": "Bearer"})
		return
	}
	f.issueUserTokens(w, n, false)
}

func (f *fakeOP) issueUserTokens(w http.ResponseWriter, n int64, idToken bool) {
	rt := f.nextID("rt")
	f.mu.Lock()
	f.refresh[rt] = false
	f.mu.Unlock()
	resp := map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "refresh_token": rt, "token_type": "Bearer", "expires_in": 3600}
	if idToken {
		resp["id_token"] = "id." + rt
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// cfg is a quick run against the fake: no warm-up, capped at n iterations,
// with a generous duration that the cap normally ends long before.
func (f *fakeOP) cfg(scenario string, n int64) Config {
	return Config{
		Target:       f.srv.URL,
		Scenario:     scenario,
		ClientID:     fakeClientID,
		ClientSecret: fakeClientSecret,
		Scope:        "api",
		UserEmail:    fakeEmail,
		UserPassword: fakePassword,
		RedirectURI:  fakeRedirectURI,
		AuthScope:    "openid offline_access",
		Conns:        4,
		Duration:     20 * time.Second,
		Timeout:      5 * time.Second,
		MaxRequests:  n,
	}
}
