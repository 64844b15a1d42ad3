package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const (
	sessionCookie = "rp_session"
	loginCookie   = "rp_login" // the state of the sign-in under way, binding the callback to this browser
	loginTTL      = 10 * time.Minute
)

// app is the relying party: the OAuth 2.0 client, the ID token verifier
// and the server-side sessions.
type app struct {
	log        *slog.Logger
	oauth      *oauth2.Config
	verifier   *oidc.IDTokenVerifier
	endSession string // authd's end_session_endpoint, from discovery
	baseURL    string
	secure     bool // cookies get the Secure flag (the base URL is https)

	mu       sync.Mutex
	pending  map[string]pendingLogin // by state; guarded by mu
	sessions map[string]*session     // by session id; guarded by mu
}

// pendingLogin is what /login remembers for /callback.
type pendingLogin struct {
	nonce    string
	verifier string // PKCE code verifier
	expires  time.Time
}

// session is a signed-in user: the tokens stay here, never in the browser.
type session struct {
	token     *oauth2.Token
	rawID     string         // the latest ID token, for id_token_hint
	claims    map[string]any // of the latest verified ID token
	refreshed int            // how many times the tokens were refreshed
}

// newApp discovers the issuer (OpenID Connect Discovery 1.0) and builds
// the client.
func newApp(ctx context.Context, c config, log *slog.Logger) (*app, error) {
	p, err := oidc.NewProvider(ctx, c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", c.Issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("read discovery: %w", err)
	}
	base := strings.TrimSuffix(c.BaseURL, "/")
	return &app{
		log: log,
		oauth: &oauth2.Config{
			ClientID:     c.ClientID,
			ClientSecret: c.ClientSecret,
			Endpoint:     p.Endpoint(),
			RedirectURL:  base + "/callback",
			Scopes:       []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
		},
		verifier:   p.Verifier(&oidc.Config{ClientID: c.ClientID}),
		endSession: meta.EndSession,
		baseURL:    base,
		secure:     strings.HasPrefix(base, "https://"),
		pending:    map[string]pendingLogin{},
		sessions:   map[string]*session{},
	}, nil
}

// Handler routes the pages. State-changing routes are POST only and
// refused cross-origin (http.CrossOriginProtection), besides the
// SameSite=Lax cookies.
func (a *app) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("POST /refresh", a.refresh)
	mux.HandleFunc("POST /logout", a.logout)
	return http.NewCrossOriginProtection().Handler(mux)
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	s := a.session(r)
	data := map[string]any{"SignedIn": s != nil}
	if s != nil {
		a.mu.Lock()
		claims, _ := json.MarshalIndent(s.claims, "", "  ")
		data["Claims"] = string(claims)
		data["Expiry"] = s.token.Expiry.UTC().Format(time.RFC3339)
		data["Refreshed"] = s.refreshed
		data["CanRefresh"] = s.token.RefreshToken != ""
		a.mu.Unlock()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := homePage.Execute(w, data); err != nil {
		a.log.ErrorContext(r.Context(), "render home", "err", err)
	}
}

// login starts the authorization code flow with a fresh state, nonce and
// PKCE verifier.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	a.mu.Lock()
	now := time.Now()
	for k, p := range a.pending { // forget abandoned sign-ins
		if now.After(p.expires) {
			delete(a.pending, k)
		}
	}
	a.pending[state] = pendingLogin{nonce: nonce, verifier: verifier, expires: now.Add(loginTTL)}
	a.mu.Unlock()
	a.setCookie(w, loginCookie, state, int(loginTTL.Seconds()))
	http.Redirect(w, r, a.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// callback checks the state against this browser's cookie, exchanges the
// code with the PKCE verifier and verifies the ID token and its nonce.
func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, err := r.Cookie(loginCookie)
	state := q.Get("state")
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 {
		http.Error(w, "sign-in not started in this browser (state mismatch); start again at /login", http.StatusBadRequest)
		return
	}
	a.setCookie(w, loginCookie, "", -1)
	a.mu.Lock()
	p, ok := a.pending[state]
	delete(a.pending, state)
	a.mu.Unlock()
	if !ok || time.Now().After(p.expires) {
		http.Error(w, "sign-in expired; start again at /login", http.StatusBadRequest)
		return
	}
	if e := q.Get("error"); e != "" {
		// http.Error answers text/plain with nosniff, so the echoed
		// parameters cannot inject markup.
		http.Error(w, "authd answered "+e+": "+q.Get("error_description"), http.StatusForbidden)
		return
	}
	tok, err := a.oauth.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		a.fail(w, r, "exchange the code", err)
		return
	}
	rawID, claims, err := a.verifyIDToken(r.Context(), tok)
	if err != nil {
		a.fail(w, r, "verify the ID token", err)
		return
	}
	if n, _ := claims["nonce"].(string); subtle.ConstantTimeCompare([]byte(n), []byte(p.nonce)) != 1 {
		a.fail(w, r, "verify the ID token", errors.New("nonce mismatch"))
		return
	}
	id := rand.Text()
	a.mu.Lock()
	a.sessions[id] = &session{token: tok, rawID: rawID, claims: claims}
	a.mu.Unlock()
	a.setCookie(w, sessionCookie, id, 0)
	http.Redirect(w, r, a.baseURL+"/", http.StatusSeeOther)
}

// refresh trades the refresh token for new tokens (authd rotates the
// refresh token on every use) and verifies the new ID token, if any.
func (a *app) refresh(w http.ResponseWriter, r *http.Request) {
	s := a.session(r)
	if s == nil {
		http.Redirect(w, r, a.baseURL+"/", http.StatusSeeOther)
		return
	}
	a.mu.Lock()
	rt := s.token.RefreshToken
	a.mu.Unlock()
	if rt == "" {
		http.Error(w, "no refresh token: offline_access was not granted", http.StatusBadRequest)
		return
	}
	// A token holding only the refresh token is expired, so the token
	// source refreshes it now.
	tok, err := a.oauth.TokenSource(r.Context(), &oauth2.Token{RefreshToken: rt}).Token()
	if err != nil {
		a.fail(w, r, "refresh the tokens", err)
		return
	}
	var rawID string
	var claims map[string]any
	if _, ok := tok.Extra("id_token").(string); ok {
		if rawID, claims, err = a.verifyIDToken(r.Context(), tok); err != nil {
			a.fail(w, r, "verify the refreshed ID token", err)
			return
		}
	}
	a.mu.Lock()
	s.token = tok
	if rawID != "" {
		s.rawID, s.claims = rawID, claims
	}
	s.refreshed++
	a.mu.Unlock()
	http.Redirect(w, r, a.baseURL+"/", http.StatusSeeOther)
}

// logout forgets the local session and sends the browser to authd's
// end_session_endpoint, which ends the authd session, revokes the tokens
// issued in it and redirects back to post_logout_redirect_uri.
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	var rawID string
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		if s := a.sessions[c.Value]; s != nil {
			rawID = s.rawID
		}
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
	a.setCookie(w, sessionCookie, "", -1)
	if rawID == "" || a.endSession == "" {
		http.Redirect(w, r, a.baseURL+"/", http.StatusSeeOther)
		return
	}
	u, err := url.Parse(a.endSession)
	if err != nil {
		a.fail(w, r, "parse end_session_endpoint", err)
		return
	}
	q := u.Query()
	q.Set("id_token_hint", rawID)
	q.Set("post_logout_redirect_uri", a.baseURL+"/")
	q.Set("client_id", a.oauth.ClientID)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// verifyIDToken checks the ID token's signature, issuer, audience and
// expiry and returns it with its claims.
func (a *app) verifyIDToken(ctx context.Context, tok *oauth2.Token) (string, map[string]any, error) {
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return "", nil, errors.New("the token response has no id_token")
	}
	idt, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		return "", nil, err
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return "", nil, err
	}
	return raw, claims, nil
}

// session returns the signed-in session of the request, or nil.
func (a *app) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[c.Value]
}

// setCookie sets a host-only, HttpOnly, SameSite=Lax cookie (Lax, not
// Strict: the login cookie must come back on authd's redirect to
// /callback). maxAge 0 is a browser-session cookie, -1 deletes it.
func (a *app) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	// #nosec G124 -- Secure is set whenever the base URL is https; on plain-http loopback development a Secure cookie would never come back
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
}

// fail logs the cause (never a token: oauth2 and go-oidc errors carry
// none) and shows a plain message.
func (a *app) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.log.ErrorContext(r.Context(), "could not "+what, "err", err)
	http.Error(w, "could not "+what+"; see the log", http.StatusBadGateway)
}

var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>authd example RP</title></head>
<body>
<h1>authd example relying party</h1>
{{if .SignedIn}}
<p>Signed in. Access token expires {{.Expiry}}; refreshed {{.Refreshed}} times.</p>
<h2>ID token claims</h2>
<pre id="claims">{{.Claims}}</pre>
{{if .CanRefresh}}<form method="post" action="/refresh"><button type="submit">Refresh tokens</button></form>{{end}}
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
{{else}}
<p>Not signed in. <a href="/login">Sign in with authd</a></p>
{{end}}
</body></html>
`))
