package main

// Browser tests: the hosted pages driven through a real headless Chromium
// (chromium_test.go), the way a person uses them, finding fields by their
// labels and buttons by their text (the labels DESIGN.md promises). A
// small relying party on loopback starts each sign-in, exchanges the code
// and verifies the ID token.
//
// Run them with: go test ./cmd/authd -run Browser
// With AUTHD_SCREENSHOTS=1, TestBrowserPages also saves a PNG of every
// page at desktop and phone width into docs/screenshots/.

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authd/authd/internal/mail/smtptest"
)

// e2e is what a browser test runs against: authd serving in process, the
// mail it sends, a relying party registered with it, and a Chromium.
type e2e struct {
	t      *testing.T
	srv    *server
	mail   *smtptest.Server
	rp     *testRP
	chrome *chromium
}

// startE2E starts it all on the database env selects.
func startE2E(t *testing.T, env []string) *e2e {
	t.Helper()
	chrome := startChromium(t) // first: without it, fail at once
	mail := smtptest.Start(t)
	env = append(slices.Clip(env), "AUTHD_MAIL_SMTP_URL="+mail.URL(), "AUTHD_MAIL_FROM=authd <noreply@example.com>")
	srv := startServe(t, env, false)
	return &e2e{t: t, srv: srv, mail: mail, rp: startRP(t, srv), chrome: chrome}
}

// person opens a fresh browser (no cookies) for someone.
func (e *e2e) person(name string) *tab {
	e.t.Helper()
	return e.chrome.newTab(e.t, name)
}

// user creates a verified account with the CLI.
func (e *e2e) user(email, password, name string) {
	e.t.Helper()
	mustRun(e.t, e.srv.env, "users", "create", "--email", email, "--password", password, "--verified", "--name", name)
}

// link waits for the mail to `to` holding a link to path and returns it.
func (e *e2e) link(to, path string) string {
	e.t.Helper()
	msg := e.mail.WaitFor(e.t, func(m smtptest.Message) bool {
		return slices.Contains(m.To, to) && strings.Contains(m.Text, path+"?")
	})
	for _, l := range linkRe.FindAllString(msg.Text, -1) {
		if strings.Contains(l, path+"?") {
			if !strings.HasPrefix(l, e.srv.base+path+"?") {
				e.t.Fatalf("the link %q in the mail to %s is not under the issuer %s", l, to, e.srv.base)
			}
			return l
		}
	}
	e.t.Fatalf("no %s link in the mail to %s:\n%s", path, to, msg.Text)
	return ""
}

// signIn fills the sign-in form the browser shows and sends it.
func signIn(b *tab, email, password string) *network.Response {
	b.t.Helper()
	b.fill("Email", email)
	b.fill("Password", password)
	return b.press("Sign in")
}

// signInToApp goes through the app's sign-in: the login page, consent
// (when asked), and back to the app, which says who signed in.
func (e *e2e) signInToApp(b *tab, email, password string) {
	b.t.Helper()
	resp := b.open(e.rp.base + "/login")
	b.expectPage(resp, 200, "Sign in")
	b.expectText("to continue to Demo App")
	resp = signIn(b, email, password)
	if b.heading() == consentHeading {
		resp = b.press("Allow")
	}
	e.rp.expectSignedIn(b, resp, email)
}

const consentHeading = "Demo App wants to access your account"

// testRP is a relying party: a web app on loopback (addressed as
// localhost, so it is another site than the issuer at 127.0.0.1) using
// golang.org/x/oauth2 with PKCE and go-oidc.
type testRP struct {
	base     string // http://localhost:port
	issuer   string
	clientID string
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	endURL   string // end_session_endpoint

	mu        sync.Mutex
	pending   map[string]rpPending // authorization requests sent, by state
	logins    []rpLogin
	failures  []string // error codes received at /cb
	sentBye   []string // states sent with logout requests
	byes      []string // states received at /bye
	callbacks int
	stray     []string // requests to any other path
}

type rpPending struct{ nonce, verifier string }

type rpLogin struct {
	Email    string `json:"email"`
	Verified bool   `json:"email_verified"`
	Name     string `json:"name"`
	SID      string `json:"sid"`
	raw      string
}

// startRP registers the app with the CLI and starts it.
func startRP(t *testing.T, srv *server) *testRP {
	t.Helper()
	rp := &testRP{issuer: srv.base, pending: map[string]rpPending{}}
	hs := httptest.NewUnstartedServer(rp)
	rp.base = "http://localhost:" + fmt.Sprint(hs.Listener.Addr().(*net.TCPAddr).Port)
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	out := mustRun(t, srv.env, "clients", "create", "--name", "Demo App", "--redirect-uri", rp.base+"/cb",
		"--post-logout-redirect-uri", rp.base+"/bye")
	if err := json.Unmarshal([]byte(out.stdout), &c); err != nil {
		t.Fatalf("clients create: %v\n%s", err, out.stdout)
	}
	prov, err := oidc.NewProvider(context.Background(), srv.base)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := prov.Claims(&meta); err != nil || meta.EndSession == "" {
		t.Fatalf("discovery has no end_session_endpoint (%v)", err)
	}
	rp.clientID, rp.endURL = c.ID, meta.EndSession
	rp.oauth = &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: rp.base + "/cb",
		Endpoint: prov.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	rp.verifier = prov.Verifier(&oidc.Config{ClientID: c.ID})
	hs.Start()
	t.Cleanup(hs.Close)
	return rp
}

// rpPage writes a small page.
func rpPage(w http.ResponseWriter, status int, title string, lines ...string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><html lang=en><title>%s</title><h1>%s</h1>", html.EscapeString(title), html.EscapeString(title))
	for _, l := range lines {
		fmt.Fprintf(w, "<p>%s</p>", html.EscapeString(l))
	}
}

func (rp *testRP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch r.URL.Path {
	case "/login": // start signing in; ?prompt=, ?response_mode= and ?ui_locales= are passed on
		state, nonce, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
		rp.mu.Lock()
		rp.pending[state] = rpPending{nonce, verifier}
		rp.mu.Unlock()
		opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
		if p := q.Get("prompt"); p != "" {
			opts = append(opts, oauth2.SetAuthURLParam("prompt", p))
		}
		if m := q.Get("response_mode"); m != "" {
			opts = append(opts, oauth2.SetAuthURLParam("response_mode", m))
		}
		if l := q.Get("ui_locales"); l != "" {
			opts = append(opts, oauth2.SetAuthURLParam("ui_locales", l))
		}
		http.Redirect(w, r, rp.oauth.AuthCodeURL(state, opts...), http.StatusFound)
	case "/cb":
		rp.callback(w, r)
	case "/spa": // a single-page app's call to the revocation endpoint, as client ?client= (with a DPoP header: preflighted)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang=en><title>SPA</title><body><script>
fetch(%q, {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded", "DPoP": "none"},
  body: "token=not-a-token&client_id=" + encodeURIComponent(%q)})
  .then(r => { document.body.dataset.result = "status " + r.status; })
  .catch(e => { document.body.dataset.result = "blocked"; });
</script>`, rp.issuer+"/oauth2/revoke", q.Get("client"))
	case "/spa-dpop", "/spa-dpop-cb": // a single-page app with DPoP (WebCrypto): the code flow, then UserInfo
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang=en><title>DPoP SPA</title><body><script>%s
spa(%q, %q, %q);
</script>`, spaDPoPScript, rp.issuer, q.Get("client"), rp.base+"/spa-dpop-cb")
	case "/logout": // RP-initiated logout; ?hint=1 sends the last ID token as id_token_hint
		state := "bye-" + oauth2.GenerateVerifier()[:8]
		v := url.Values{"client_id": {rp.clientID}, "post_logout_redirect_uri": {rp.base + "/bye"}, "state": {state}}
		rp.mu.Lock()
		rp.sentBye = append(rp.sentBye, state)
		if n := len(rp.logins); n > 0 && q.Get("hint") == "1" {
			v.Set("id_token_hint", rp.logins[n-1].raw)
		}
		rp.mu.Unlock()
		http.Redirect(w, r, rp.endURL+"?"+v.Encode(), http.StatusFound)
	case "/bye":
		rp.mu.Lock()
		rp.byes = append(rp.byes, q.Get("state"))
		rp.mu.Unlock()
		rpPage(w, 200, "Signed out of Demo App", "state: "+q.Get("state"))
	default:
		rp.mu.Lock()
		rp.stray = append(rp.stray, r.URL.String())
		rp.mu.Unlock()
		http.NotFound(w, r)
	}
}

// spaDPoPScript is a browser application written against RFC 9449 and
// RFC 7636 with nothing but WebCrypto and fetch: on /spa-dpop it makes a
// P-256 key and a PKCE verifier, keeps them in sessionStorage and sends
// the browser to authorize (with dpop_jkt); on /spa-dpop-cb it exchanges
// the code with a DPoP proof (a CORS request), then calls UserInfo with
// the DPoP-bound token and a proof carrying ath, and writes what it got
// into document.body.dataset.result.
const spaDPoPScript = `
const b64u = b => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const utf8 = s => new TextEncoder().encode(s);
const sha256 = async s => b64u(await crypto.subtle.digest("SHA-256", utf8(s)));
async function proof(key, jwk, htm, htu, token) {
  const header = {typ: "dpop+jwt", alg: "ES256", jwk: {kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y}};
  const claims = {jti: crypto.randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000)};
  if (token) claims.ath = await sha256(token);
  const input = b64u(utf8(JSON.stringify(header))) + "." + b64u(utf8(JSON.stringify(claims)));
  return input + "." + b64u(await crypto.subtle.sign({name: "ECDSA", hash: "SHA-256"}, key, utf8(input)));
}
async function spa(issuer, client, redirect) {
  const done = r => { document.body.dataset.result = r; };
  try {
    const meta = await (await fetch(issuer + "/.well-known/openid-configuration")).json();
    if (location.pathname === "/spa-dpop") {
      const pair = await crypto.subtle.generateKey({name: "ECDSA", namedCurve: "P-256"}, true, ["sign", "verify"]);
      const priv = await crypto.subtle.exportKey("jwk", pair.privateKey);
      const verifier = b64u(crypto.getRandomValues(new Uint8Array(32)));
      const jkt = await sha256(JSON.stringify({crv: priv.crv, kty: priv.kty, x: priv.x, y: priv.y}));
      sessionStorage.setItem("spa", JSON.stringify({priv, verifier, client}));
      const q = new URLSearchParams({response_type: "code", client_id: client, redirect_uri: redirect, scope: "openid email",
        state: "spa-state-0123456789", code_challenge: await sha256(verifier), code_challenge_method: "S256", dpop_jkt: jkt});
      location.assign(meta.authorization_endpoint + "?" + q);
      return;
    }
    const saved = JSON.parse(sessionStorage.getItem("spa"));
    const key = await crypto.subtle.importKey("jwk", saved.priv, {name: "ECDSA", namedCurve: "P-256"}, false, ["sign"]);
    const code = new URLSearchParams(location.search).get("code");
    const tr = await fetch(meta.token_endpoint, {method: "POST",
      headers: {"Content-Type": "application/x-www-form-urlencoded", "DPoP": await proof(key, saved.priv, "POST", meta.token_endpoint)},
      body: new URLSearchParams({grant_type: "authorization_code", code, redirect_uri: redirect, client_id: saved.client,
        code_verifier: saved.verifier})});
    const tok = await tr.json();
    if (!tr.ok) { done("token " + tr.status + " " + tok.error); return; }
    const ur = await fetch(meta.userinfo_endpoint, {headers: {"Authorization": "DPoP " + tok.access_token,
      "DPoP": await proof(key, saved.priv, "GET", meta.userinfo_endpoint, tok.access_token)}});
    const info = await ur.json();
    const bearer = await fetch(meta.userinfo_endpoint, {headers: {"Authorization": "Bearer " + tok.access_token}});
    done(tok.token_type + " " + ur.status + " " + info.email + " bearer " + bearer.status);
  } catch (e) { done("error " + e); }
}
`

// callback is the redirect URI: it checks state and iss, exchanges the
// code with the PKCE verifier and verifies the ID token and its nonce.
// The response comes in the query, or posted (response_mode=form_post).
func (rp *testRP) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			rpPage(w, 400, "Bad form", err.Error())
			return
		}
		q = r.PostForm
	}
	rp.mu.Lock()
	rp.callbacks++
	p, ok := rp.pending[q.Get("state")]
	delete(rp.pending, q.Get("state"))
	rp.mu.Unlock()
	switch {
	case !ok:
		rpPage(w, 400, "Unknown state", q.Get("state"))
		return
	case q.Get("iss") != rp.issuer:
		rpPage(w, 400, "Wrong issuer", "iss: "+q.Get("iss"))
		return
	case q.Get("error") != "":
		rp.mu.Lock()
		rp.failures = append(rp.failures, q.Get("error"))
		rp.mu.Unlock()
		rpPage(w, 200, "Sign-in failed", "error: "+q.Get("error"))
		return
	}
	ctx := r.Context()
	tok, err := rp.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		rpPage(w, 502, "Token exchange failed", err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		rpPage(w, 502, "Bad ID token", err.Error())
		return
	}
	if idt.Nonce != p.nonce {
		rpPage(w, 502, "Bad ID token", "nonce "+idt.Nonce)
		return
	}
	var l rpLogin
	if err := idt.Claims(&l); err != nil {
		rpPage(w, 502, "Bad ID token", err.Error())
		return
	}
	l.raw = raw
	rp.mu.Lock()
	rp.logins = append(rp.logins, l)
	rp.mu.Unlock()
	rpPage(w, 200, "Demo App", "signed in as "+l.Email)
}

// lastLogin is the last sign-in the app completed.
func (rp *testRP) lastLogin() (rpLogin, bool) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.logins) == 0 {
		return rpLogin{}, false
	}
	return rp.logins[len(rp.logins)-1], true
}

// expectSignedIn checks that the browser is on the app's callback page
// and that the app signed email in.
func (rp *testRP) expectSignedIn(b *tab, resp *network.Response, email string) {
	b.t.Helper()
	if !strings.HasPrefix(resp.URL, rp.base+"/cb?") {
		b.fatalf("want the app's callback page, got %s (%d)", resp.URL, resp.Status)
	}
	b.expectPage(resp, 200, "Demo App")
	b.expectText("signed in as " + email)
	if l, ok := rp.lastLogin(); !ok || l.Email != email || !l.Verified || l.SID == "" {
		b.fatalf("the app's last sign-in: %+v, want %s, verified, with a sid", l, email)
	}
}

// documents records the HTML documents (not redirects) the browser
// receives while steps run.
func (b *tab) documents(what string, steps ...chromedp.Action[chromedp.Void]) (*network.Response, []string) {
	b.t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	var mu sync.Mutex
	var docs []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*network.EventResponseReceived); ok && ev.Type == network.ResourceTypeDocument {
			mu.Lock()
			docs = append(docs, fmt.Sprintf("%d %s", ev.Response.Status, ev.Response.URL))
			mu.Unlock()
		}
	}); err != nil {
		b.fatalf("listening: %v", err)
	}
	resp := b.navigation(what, steps...)
	cancel()
	mu.Lock()
	defer mu.Unlock()
	return resp, slices.Clone(docs)
}

// header returns a response header, whatever its case.
func header(resp *network.Response, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// pathOf is the path and query of a URL.
func pathOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("URL %q: %v", raw, err)
	}
	return u.RequestURI()
}

// TestBrowserSignUpAndSignIn is a newcomer's path in a browser, on every
// database: from the app to the login page, "Create account", the mail's
// verification link, sign-in (refused before verifying), consent, and back
// to the app with a verified ID token.
func TestBrowserSignUpAndSignIn(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, env []string) {
		e := startE2E(t, env)
		b := e.person("Grace's browser")
		const email, pw = "Grace.Hopper@Example.com", "a long enough passphrase 42"

		resp := b.open(e.rp.base + "/login")
		b.expectPage(resp, 200, "Sign in")
		b.expectText("to continue to Demo App")
		if n := b.count(`//button[starts-with(normalize-space(), "Continue with")]`); n != 0 {
			t.Errorf("the login page offers %d upstream providers, want none (none is configured)", n)
		}
		b.expectPage(b.follow("Create account"), 200, "Create account")
		b.fill("Email", email)
		b.fill("Password", pw)
		b.fill("Name", "Grace Hopper")
		b.expectPage(b.press("Create account"), 200, "Check your email")
		b.expectText(email)

		// The registration's job makes the account and mails it.
		e.link("grace.hopper@example.com", "/verify-email")

		// Signing in before verifying is refused, with a way to get a new link.
		b.expectPage(b.follow("Back to sign in"), 200, "Sign in")
		b.expectText("to continue to Demo App")
		resp = signIn(b, email, pw)
		b.expectPage(resp, 403, "Sign in")
		b.expectText("Verify your email address first")
		b.button("Send a new verification link")

		// The link from the mail, opened in another tab of the same browser.
		link := e.link("grace.hopper@example.com", "/verify-email")
		mailTab := b.window("Grace's mail tab")
		mailTab.expectPage(mailTab.open(link), 200, "Email address verified")

		// Back in the first tab: the same sign-in goes on.
		if got := b.value("Email"); got != email {
			t.Errorf("the sign-in form kept the email %q, want %q", got, email)
		}
		b.fill("Password", pw)
		b.expectPage(b.press("Sign in"), 200, consentHeading)
		b.expectText("Signed in as grace.hopper@example.com", "Confirm who you are", "See your email address")
		e.rp.expectSignedIn(b, b.press("Allow"), "grace.hopper@example.com")
		if l, _ := e.rp.lastLogin(); l.Name != "Grace Hopper" {
			t.Errorf("ID token name %q, want Grace Hopper", l.Name)
		}
	})
}

// TestBrowserSilentAuthorization: once signed in and consented, prompt=none
// returns a code without showing any page; after logout it returns
// login_required.
func TestBrowserSilentAuthorization(t *testing.T) {
	t.Parallel()
	e := startE2E(t, sqliteEnv(t))
	const email, pw = "linus@example.com", "silent running passphrase 7"
	e.user(email, pw, "Linus")
	b := e.person("Linus's browser")
	e.signInToApp(b, email, pw)
	first, _ := e.rp.lastLogin()

	resp, docs := b.documents("prompt=none", chromedp.Navigate(e.rp.base+"/login?prompt=none"))
	e.rp.expectSignedIn(b, resp, email)
	if len(docs) != 1 || !strings.Contains(docs[0], e.rp.base+"/cb?") {
		t.Errorf("prompt=none showed these pages: %q, want only the app's callback", docs)
	}
	if l, _ := e.rp.lastLogin(); l.SID != first.SID {
		t.Errorf("silent sign-in sid %q, want the session's %q", l.SID, first.SID)
	}

	// RP-initiated logout with the ID token as hint: no confirmation.
	resp, docs = b.documents("logout with id_token_hint", chromedp.Navigate(e.rp.base+"/logout?hint=1"))
	if !strings.HasPrefix(resp.URL, e.rp.base+"/bye?state=bye-") || len(docs) != 1 {
		t.Fatalf("logout with id_token_hint: ended at %s after pages %q, want straight back to the app's /bye", resp.URL, docs)
	}

	resp, docs = b.documents("prompt=none after logout", chromedp.Navigate(e.rp.base+"/login?prompt=none"))
	b.expectPage(resp, 200, "Sign-in failed")
	b.expectText("error: login_required")
	if len(docs) != 1 {
		t.Errorf("prompt=none after logout showed these pages: %q, want only the app's callback", docs)
	}
}

// TestBrowserFormPost: with response_mode=form_post the browser carries
// the code to the app in a POST that authd's page submits by itself (its
// script allowed by hash under the page's policy); no code in any URL.
func TestBrowserFormPost(t *testing.T) {
	t.Parallel()
	e := startE2E(t, sqliteEnv(t))
	const email, pw = "barbara@example.com", "liskov substitution 1987"
	e.user(email, pw, "Barbara Liskov")
	b := e.person("Barbara's browser")
	b.expectPage(b.open(e.rp.base+"/login?response_mode=form_post"), 200, "Sign in")
	signIn(b, email, pw)
	if b.heading() != consentHeading {
		t.Fatalf("want the consent page, got %q", b.heading())
	}
	if resp := b.press("Allow"); strings.Contains(resp.URL, "code=") {
		t.Fatalf("the code is in a URL: %s", resp.URL)
	}
	if !eventually(30*time.Second, func() bool { l, ok := e.rp.lastLogin(); return ok && l.Email == email }) {
		t.Fatalf("the app got no sign-in; the browser is at %s showing %q", b.url(), b.text())
	}
	if u := b.url(); u != e.rp.base+"/cb" {
		t.Errorf("the browser is at %s, want the app's /cb (posted, no query)", u)
	}
	b.expectText("signed in as " + email)
}

// TestBrowserSPACORS: a single-page app's fetch to the revocation endpoint
// (preflighted) succeeds from an origin of its client's redirect URIs and
// is blocked by the browser for a client registered elsewhere.
func TestBrowserSPACORS(t *testing.T) {
	t.Parallel()
	e := startE2E(t, sqliteEnv(t))
	var own, other struct {
		ID string `json:"client_id"`
	}
	mustRun(t, e.srv.env, "clients", "create", "--name", "SPA", "--public", "--redirect-uri", e.rp.base+"/spa-cb").decodeJSON(t, &own)
	mustRun(t, e.srv.env, "clients", "create", "--name", "Elsewhere", "--public", "--redirect-uri", "https://elsewhere.example/cb").decodeJSON(t, &other)
	b := e.person("an SPA user's browser")
	for client, want := range map[string]string{own.ID: "status 200", other.ID: "blocked"} {
		b.open(e.rp.base + "/spa?client=" + url.QueryEscape(client))
		var got string
		if !eventually(30*time.Second, func() bool {
			got = eval[string](b, `document.body.dataset.result || ""`)
			return got != ""
		}) || got != want {
			t.Errorf("fetch as client %s: %q, want %q", client, got, want)
		}
	}
}

// TestBrowserLogout: RP-initiated logout without id_token_hint asks first;
// "Sign out" ends the session and returns to the app with its state.
func TestBrowserLogout(t *testing.T) {
	t.Parallel()
	e := startE2E(t, sqliteEnv(t))
	const email, pw = "margaret@example.com", "apollo guidance computer 1969"
	e.user(email, pw, "Margaret Hamilton")
	b := e.person("Margaret's browser")
	// Signing in with the keyboard: Enter in the Password field sends the form.
	b.expectPage(b.open(e.rp.base+"/login"), 200, "Sign in")
	b.fill("Email", email)
	b.fill("Password", pw)
	b.expectPage(b.navigation("pressing Enter in the Password field", chromedp.KeyEvent(kb.Enter)), 200, consentHeading)
	e.rp.expectSignedIn(b, b.press("Allow"), email)

	resp := b.open(e.rp.base + "/logout")
	b.expectPage(resp, 200, "Sign out?")
	if !strings.HasPrefix(resp.URL, e.srv.base+"/oauth2/logout?") {
		t.Errorf("logout confirmation at %s, want the end_session_endpoint", resp.URL)
	}
	b.expectText("Demo App asks to sign you out.")
	b.audit("logout confirmation")
	resp = b.press("Sign out")
	b.expectPage(resp, 200, "Signed out of Demo App")
	u, _ := url.Parse(resp.URL)
	e.rp.mu.Lock()
	sent, byes := slices.Clone(e.rp.sentBye), slices.Clone(e.rp.byes)
	e.rp.mu.Unlock()
	if u.Path != "/bye" || len(sent) != 1 || !slices.Equal(byes, sent) {
		t.Errorf("after Sign out: at %s; the app sent states %q and got back %q, want its /bye with the state it sent", resp.URL, sent, byes)
	}

	// The session is gone: the account page wants a sign-in.
	resp = b.open(e.srv.base + "/account")
	b.expectPage(resp, 200, "Sign in")
	if got := pathOf(t, resp.URL); got != "/login?return_to=%2Faccount" {
		t.Errorf("account page after logout: at %s, want /login?return_to=%%2Faccount", got)
	}
}

// accountSessions counts the sessions the account page lists.
func accountSessions(b *tab) int {
	b.t.Helper()
	return b.count(`//section[h2[normalize-space()="Where you are signed in"]]/ul/li`)
}

// TestBrowserAccountPage: the account page in use: profile, password,
// sessions on two browsers, and revoking an application's access.
func TestBrowserAccountPage(t *testing.T) {
	t.Parallel()
	e := startE2E(t, sqliteEnv(t))
	const email, pw1, pw2 = "ada@example.com", "analytical engine notes 1843", "difference engine number 2"
	e.user(email, pw1, "Ada Lovelace")
	a := e.person("Ada's laptop")
	e.signInToApp(a, email, pw1) // consents to Demo App

	resp := a.open(e.srv.base + "/account")
	a.expectPage(resp, 200, "Your account")
	a.expectText(email, "Demo App")
	a.audit("account")
	if got := a.value("Name"); got != "Ada Lovelace" {
		t.Errorf("Name on the account page: %q, want Ada Lovelace", got)
	}

	// Profile.
	a.fill("Name", "Ada King")
	a.expectPage(a.press("Save"), 200, "Your account")
	a.expectText("Your profile has been saved.")
	if got := a.value("Name"); got != "Ada King" {
		t.Errorf("Name after saving: %q, want Ada King", got)
	}

	// Password: the old one stops working, the new one works.
	a.fill("Current password", pw1)
	a.fill("New password", pw2)
	a.expectPage(a.press("Change password"), 200, "Your account")
	a.expectText("Your password has been changed.")
	phone := e.person("Ada's phone")
	phone.expectPage(phone.open(e.srv.base+"/account"), 200, "Sign in")
	phone.expectPage(signIn(phone, email, pw1), 401, "Sign in")
	phone.expectText("Incorrect email or password.")
	resp = signIn(phone, email, pw2)
	phone.expectPage(resp, 200, "Your account")

	// Two sessions; sign the other one out.
	a.expectPage(a.open(e.srv.base+"/account"), 200, "Your account")
	if n := accountSessions(a); n != 2 {
		t.Fatalf("the account page lists %d sessions after signing in on a second browser, want 2", n)
	}
	other := a.one(`//section[h2[normalize-space()="Where you are signed in"]]/ul/li[not(.//*[normalize-space()="this device"])]//button[normalize-space()="Sign out"]`,
		`"Sign out" button of the other session`)
	a.expectPage(a.click(other, "Sign out of the other session"), 200, "Your account")
	a.expectText("That device has been signed out.")
	if n := accountSessions(a); n != 1 {
		t.Errorf("sessions listed after signing the other out: %d, want 1", n)
	}
	phone.expectPage(phone.open(e.srv.base+"/account"), 200, "Sign in")

	// Revoke the application: the next authorization asks for consent again.
	app := a.one(`//section[h2[normalize-space()="Applications with access"]]//li[.//strong[normalize-space()="Demo App"]]//button[normalize-space()="Revoke"]`,
		`"Revoke" button of Demo App`)
	a.expectPage(a.click(app, "Revoke Demo App"), 200, "Your account")
	a.expectText("The application no longer has access to your account.", "No applications have access to your account.")
	resp = a.open(e.rp.base + "/login")
	a.expectPage(resp, 200, consentHeading)
	e.rp.expectSignedIn(a, a.press("Allow"), email)
	if l, _ := e.rp.lastLogin(); l.Name != "Ada King" {
		t.Errorf("ID token name after the profile change: %q, want Ada King", l.Name)
	}

	// Sign out everywhere.
	phone.expectPage(signIn(phone, email, pw2), 200, "Your account")
	a.expectPage(a.open(e.srv.base+"/account"), 200, "Your account")
	if n := accountSessions(a); n != 2 {
		t.Errorf("sessions listed: %d, want 2", n)
	}
	a.expectPage(a.press("Sign out everywhere"), 200, "Signed out")
	a.expectPage(a.open(e.srv.base+"/account"), 200, "Sign in")
	phone.expectPage(phone.open(e.srv.base+"/account"), 200, "Sign in")
}

// TestBrowserErrorPaths: mistakes and refusals a person meets.
func TestBrowserErrorPaths(t *testing.T) {
	t.Parallel()
	e := startE2E(t, sqliteEnv(t))
	const email, pw = "alan@example.com", "on computable numbers 1936"
	e.user(email, pw, "Alan Turing")

	t.Run("wrong password", func(t *testing.T) {
		b := e.chrome.newTab(t, "Alan's browser")
		b.expectPage(b.open(e.rp.base+"/login"), 200, "Sign in")
		resp := signIn(b, email, "not the password at all")
		b.expectPage(resp, 401, "Sign in")
		if !strings.HasPrefix(resp.URL, e.srv.base+"/login") {
			t.Errorf("after a wrong password the browser is at %s, want the login page", resp.URL)
		}
		b.audit("login with an error")
		// The error is tied to the password field.
		field := b.field("Password")
		if field.AttributeValue("aria-invalid") != "true" {
			t.Errorf("the Password field is not aria-invalid after a wrong password")
		}
		ids := strings.Fields(field.AttributeValue("aria-describedby"))
		var described []string
		for _, id := range ids {
			described = append(described, eval[string](b, fmt.Sprintf(`(document.getElementById(%q) || {innerText: ""}).innerText`, id)))
		}
		if !strings.Contains(strings.Join(described, " "), "Incorrect email or password.") {
			t.Errorf("the Password field is described by %q (%q), want the error Incorrect email or password.", ids, described)
		}
		if b.value("Password") != "" {
			t.Errorf("the password was sent back into the form")
		}
		if n := b.field("Email"); n.AttributeValue("aria-invalid") != "" || b.value("Email") != email {
			t.Errorf("the Email field: aria-invalid %q, value %q; want it unmarked and kept", n.AttributeValue("aria-invalid"), b.value("Email"))
		}
		if n := b.count(`//*[@role="alert"]//a[@href="#password"]`); n != 1 {
			t.Errorf("the error summary has %d links to the Password field, want 1", n)
		}
		// Nothing else changed: not signed in, the app heard nothing, and
		// the same sign-in goes on with the right password.
		other := b.window("Alan's other tab")
		other.expectPage(other.open(e.srv.base+"/account"), 200, "Sign in")
		e.rp.mu.Lock()
		callbacks := e.rp.callbacks
		e.rp.mu.Unlock()
		if callbacks != 0 {
			t.Errorf("the app got %d callbacks after a wrong password, want none", callbacks)
		}
		b.fill("Password", pw)
		b.expectPage(b.press("Sign in"), 200, consentHeading)
	})

	t.Run("unregistered redirect_uri", func(t *testing.T) {
		b := e.chrome.newTab(t, "Alan's browser")
		v := url.Values{"client_id": {e.rp.clientID}, "response_type": {"code"}, "scope": {"openid"},
			"redirect_uri": {e.rp.base + "/evil"}, "state": {"s-0123456789"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		resp := b.open(e.srv.base + "/oauth2/authorize?" + v.Encode())
		if !strings.HasPrefix(resp.URL, e.srv.base+"/oauth2/authorize?") || resp.Status != 400 {
			t.Errorf("authorize with an unregistered redirect_uri: %d at %s, want a 400 page on the issuer", resp.Status, resp.URL)
		}
		if h := b.heading(); h == "" {
			t.Errorf("the error page has no heading")
		}
		b.audit("error")
		e.rp.mu.Lock()
		stray := slices.Clone(e.rp.stray)
		e.rp.mu.Unlock()
		if len(stray) != 0 {
			t.Errorf("the browser went to the unregistered redirect_uri: %q", stray)
		}
	})

	t.Run("deny", func(t *testing.T) {
		b := e.chrome.newTab(t, "Alan's browser")
		b.expectPage(b.open(e.rp.base+"/login"), 200, "Sign in")
		b.expectPage(signIn(b, email, pw), 200, consentHeading)
		resp := b.press("Deny")
		b.expectPage(resp, 200, "Sign-in failed")
		u, _ := url.Parse(resp.URL)
		if u.Path != "/cb" || u.Query().Get("error") != "access_denied" || u.Query().Get("code") != "" {
			t.Errorf("after Deny: at %s, want the app's /cb with error=access_denied", resp.URL)
		}
	})
}

// TestBrowserHeadersAndStyles: what the browser enforces and renders: a
// Content-Security-Policy that runs no inline script, and the stylesheet
// applied (light and dark).
func TestBrowserHeadersAndStyles(t *testing.T) {
	t.Parallel()
	e := startE2E(t, sqliteEnv(t))
	b := e.person("a browser")
	resp := b.open(e.srv.base + "/login")
	b.expectPage(resp, 200, "Sign in")
	checkPageHeaders(t, resp)
	b.audit("login")

	// The policy forbids inline script: one slipped into the page does
	// not run, and the browser reports the violation.
	ran := eval[bool](b, `(() => {
		const s = document.createElement("script");
		s.textContent = "window.inlineRan = true";
		document.body.appendChild(s);
		return window.inlineRan === true;
	})()`)
	if ran {
		t.Errorf("an inline script ran on the login page")
	}
	if !eventually(stepTimeout, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return slices.ContainsFunc(b.console, func(m chromedp.ConsoleMessage) bool {
			return strings.Contains(m.Text, "Content Security Policy")
		})
	}) {
		t.Errorf("the browser reported no Content Security Policy violation for the inline script")
	}
	b.consoleErrors("") // that violation was the point

	// The stylesheet is the page's own, and applied.
	href := eval[string](b, `document.styleSheets.length ? document.styleSheets[0].href : ""`)
	if !strings.HasPrefix(href, e.srv.base+"/static/") {
		t.Errorf("stylesheet %q, want one under %s/static/", href, e.srv.base)
	}
	style := func(xpath, prop string) string {
		return eval[string](b, fmt.Sprintf(`getComputedStyle(document.evaluate(%q, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue).getPropertyValue(%q)`, xpath, prop))
	}
	const signInButton = `//button[normalize-space()="Sign in"]`
	for _, c := range []struct {
		scheme, xpath, prop, want string
	}{
		{"light", "//body", "background-color", "rgb(244, 245, 247)"},
		{"light", signInButton, "background-color", "rgb(11, 87, 208)"},
		{"light", signInButton, "color", "rgb(255, 255, 255)"},
		{"light", `//label[normalize-space()="Email"]`, "display", "block"},
		{"light", `//input[@type="email"]`, "min-height", "44px"},
		{"dark", "//body", "background-color", "rgb(17, 19, 22)"},
		{"dark", signInButton, "background-color", "rgb(138, 180, 248)"},
	} {
		b.colorScheme(c.scheme)
		if got := style(c.xpath, c.prop); got != c.want {
			t.Errorf("%s scheme: %s of %s is %q, want %q (the stylesheet is not applied as written)", c.scheme, c.prop, c.xpath, got, c.want)
		}
	}
}

// checkPageHeaders checks the headers a hosted page carries.
func checkPageHeaders(t *testing.T, resp *network.Response) {
	t.Helper()
	csp := header(resp, "Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	script, ok := directives["script-src"]
	if !ok {
		script = directives["default-src"]
	}
	if script != "'none'" && (script == "" || strings.Contains(script, "'unsafe-inline'") || strings.Contains(script, "'unsafe-eval'") || strings.Contains(script, "*")) {
		t.Errorf("%s: Content-Security-Policy %q allows scripts %q, want none inline", resp.URL, csp, script)
	}
	if directives["frame-ancestors"] != "'none'" || directives["base-uri"] != "'none'" {
		t.Errorf("%s: Content-Security-Policy %q, want frame-ancestors and base-uri 'none'", resp.URL, csp)
	}
	for name, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"Cache-Control":          "no-store",
	} {
		if got := header(resp, name); got != want {
			t.Errorf("%s: %s = %q, want %q", resp.URL, name, got, want)
		}
	}
	if ct := header(resp, "Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: Content-Type %q, want text/html", resp.URL, ct)
	}
}

// viewport is a window size the pages are checked (and captured) at.
type viewport struct {
	name  string
	w, h  int64
	phone bool
}

var viewports = []viewport{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}}

// maxScreenshotBytes keeps the PNGs in docs/screenshots small.
const maxScreenshotBytes = 150 << 10

// TestBrowserPages visits every hosted page, checks it at desktop and phone
// width (labels, headings, no sideways scrolling, styles applied, no
// console errors, the page headers) and, with AUTHD_SCREENSHOTS=1, saves
// docs/screenshots/<page>-<desktop|phone>.png.
func TestBrowserPages(t *testing.T) {
	t.Parallel()
	var dir string
	if os.Getenv("AUTHD_SCREENSHOTS") == "1" {
		var err error
		if dir, err = filepath.Abs(filepath.Join("..", "..", "docs", "screenshots")); err != nil {
			t.Fatal(err)
		}
	}
	e := startE2E(t, sqliteEnv(t))
	b := e.person("Katherine's browser")
	b.colorScheme("light")
	var shot []string
	capture := func(page string, resp *network.Response, status int64, heading string) {
		t.Helper()
		b.expectPage(resp, status, heading)
		if strings.HasPrefix(resp.URL, e.srv.base) {
			checkPageHeaders(t, resp)
		}
		for _, v := range viewports {
			b.setViewport(v.w, v.h, v.phone)
			b.audit(page + " at " + v.name + " width")
			if dir != "" {
				name := page + "-" + v.name + ".png"
				if n := b.screenshot(filepath.Join(dir, name), maxScreenshotBytes); n > maxScreenshotBytes {
					t.Errorf("%s is %d KB, want at most %d KB", name, n>>10, maxScreenshotBytes>>10)
				}
				shot = append(shot, name)
			}
		}
		b.setViewport(1280, 800, false)
	}
	const email, pw, pw2 = "katherine@example.com", "orbital mechanics by hand 1962", "friendship seven re-entry"

	capture("login", b.open(e.rp.base+"/login"), 200, "Sign in")
	capture("register", b.follow("Create account"), 200, "Create account")
	b.fill("Email", email)
	b.fill("Password", pw)
	b.fill("Name", "Katherine Johnson")
	capture("check-email", b.press("Create account"), 200, "Check your email")
	capture("verify-email", b.open(e.link(email, "/verify-email")), 200, "Email address verified")

	capture("forgot-password", b.open(e.srv.base+"/forgot-password"), 200, "Reset your password")
	b.fill("Email", email)
	b.expectPage(b.press("Send link"), 200, "Check your email")
	capture("reset-password", b.open(e.link(email, "/reset-password")), 200, "Choose a new password")
	b.fill("New password", pw2)
	resp := b.press("Set new password")
	b.expectPage(resp, 200, "Sign in")
	b.expectText("Your password has been changed. Sign in with your new password.")

	b.expectPage(b.open(e.rp.base+"/login"), 200, "Sign in")
	capture("consent", signIn(b, email, pw2), 200, consentHeading)
	e.rp.expectSignedIn(b, b.press("Allow"), email)
	capture("account", b.open(e.srv.base+"/account"), 200, "Your account")

	capture("logout-confirmation", b.open(e.srv.base+"/oauth2/logout?client_id="+url.QueryEscape(e.rp.clientID)), 200, "Sign out?")
	capture("signed-out", b.press("Sign out"), 200, "Signed out")

	v := url.Values{"client_id": {e.rp.clientID}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {"https://attacker.example/cb"}, "state": {"s-0123456789"}}
	resp = b.open(e.srv.base + "/oauth2/authorize?" + v.Encode())
	h := b.heading()
	if h == "" {
		t.Errorf("the error page has no heading")
	}
	capture("error", resp, 400, h)
	capture("not-found", b.open(e.srv.base+"/no-such-page"), 404, "Page not found")
	b.expectText("If you contact support, quote request ID")

	if dir != "" {
		t.Logf("saved %d screenshots in %s: %s", len(shot), dir, strings.Join(shot, " "))
	}
}

// TestBrowserSPADPoP: a browser application gets DPoP-bound tokens with a
// key WebCrypto made (the code bound to it by dpop_jkt), through CORS,
// and calls UserInfo with them; the same token as a bearer token is
// refused.
func TestBrowserSPADPoP(t *testing.T) {
	t.Parallel()
	e := startE2E(t, sqliteEnv(t))
	const email, pw = "grace@example.com", "cobol compiler 1959 flow-matic"
	e.user(email, pw, "Grace Hopper")
	var c struct {
		ID string `json:"client_id"`
	}
	mustRun(t, e.srv.env, "clients", "create", "--name", "DPoP SPA", "--public", "--redirect-uri", e.rp.base+"/spa-dpop-cb",
		"--scope", "openid", "--scope", "email", "--require-dpop").decodeJSON(t, &c)
	b := e.person("Grace's browser")
	b.open(e.rp.base + "/spa-dpop?client=" + url.QueryEscape(c.ID))
	if !eventually(30*time.Second, func() bool { return b.heading() == "Sign in" }) {
		t.Fatalf("the app did not reach the sign-in page; the browser is at %s showing %q", b.url(), b.text())
	}
	b.expectPage(signIn(b, email, pw), 200, "DPoP SPA wants to access your account")
	b.press("Allow")
	var got string
	if !eventually(30*time.Second, func() bool {
		got = eval[string](b, `document.body && document.body.dataset.result || ""`)
		return got != ""
	}) || got != "DPoP 200 "+email+" bearer 401" {
		t.Fatalf("the SPA got %q, want a DPoP token, UserInfo 200 with the email and a bearer use refused; the browser is at %s", got, b.url())
	}
}
