package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authd/authd/internal/mail/smtptest"
)

// person is a browser without JavaScript: a cookie jar, redirects
// followed by hand so each step can be checked.
type person struct {
	t      *testing.T
	client *http.Client
}

func newPerson(t *testing.T) *person {
	jar, _ := cookiejar.New(nil)
	return &person{t: t, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is a fetched response with its body.
type page struct {
	status int
	loc    string
	body   string
	url    string
}

func (p *person) do(req *http.Request) page {
	p.t.Helper()
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	loc := resp.Header.Get("Location")
	if loc != "" {
		if u, err := req.URL.Parse(loc); err == nil {
			loc = u.String()
		}
	}
	return page{status: resp.StatusCode, loc: loc, body: string(b), url: req.URL.String()}
}

func (p *person) get(u string) page {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return p.do(req)
}

// follow GETs u and every redirect on the issuer until a page or a
// redirect off the issuer (to the client).
func (p *person) follow(u, issuer string) page {
	p.t.Helper()
	for range 10 {
		pg := p.get(u)
		if pg.loc == "" || !strings.HasPrefix(pg.loc, issuer) {
			return pg
		}
		u = pg.loc
	}
	p.t.Fatalf("too many redirects from %s", u)
	return page{}
}

var (
	formRe   = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRe = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)
	buttonRe = regexp.MustCompile(`<button([^>]*)>\s*([^<]+?)\s*</button>`)
	attrRe   = regexp.MustCompile(`(name|value)="([^"]*)"`)
)

// submit finds the form holding the button labelled button, fills its
// hidden fields plus fields, and posts it as a browser would (same-origin).
func (p *person) submit(pg page, button string, fields url.Values) page {
	p.t.Helper()
	for _, m := range formRe.FindAllStringSubmatch(pg.body, -1) {
		labels := buttonRe.FindAllStringSubmatch(m[2], -1)
		i := slices.IndexFunc(labels, func(l []string) bool { return html.UnescapeString(l[2]) == button })
		if i < 0 {
			continue
		}
		form := url.Values{}
		var name, value string // the clicked button's own name=value, as browsers send it
		for _, a := range attrRe.FindAllStringSubmatch(labels[i][1], -1) {
			if a[1] == "name" {
				name = html.UnescapeString(a[2])
			} else {
				value = html.UnescapeString(a[2])
			}
		}
		if name != "" {
			form.Set(name, value)
		}
		for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
			form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		for k, v := range fields {
			form[k] = v
		}
		base, _ := url.Parse(pg.url)
		action, _ := base.Parse(html.UnescapeString(m[1]))
		req, _ := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base.Scheme+"://"+base.Host)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		return p.do(req)
	}
	p.t.Fatalf("no form with a %q button on %s:\n%s", button, pg.url, pg.body)
	return page{}
}

var linkRe = regexp.MustCompile(`https?://[^\s"<>]+`)

// TestOpenIDConnectFlowEndToEnd is the newcomer's path through a running
// server: a relying party sends a browser to authorize; the person creates
// an account, follows the verification link from the mail, signs in,
// consents; the RP gets an ID token (verified with go-oidc), UserInfo and
// a refresh token; logout ends it all.
func TestOpenIDConnectFlowEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env []string) {
		smtp := smtptest.Start(t)
		logoutTokens := make(chan string, 4)
		backchannel := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			logoutTokens <- r.PostForm.Get("logout_token")
		}))
		t.Cleanup(backchannel.Close)
		env = append(env, "AUTHD_MAIL_SMTP_URL="+smtp.URL(), "AUTHD_MAIL_FROM=authd <noreply@example.com>")
		srv := startServe(t, env, false)
		ctx := context.Background()

		var c struct {
			ID     string `json:"client_id"`
			Secret string `json:"client_secret"`
		}
		out := mustRun(t, srv.env, "clients", "create", "--name", "Demo App", "--redirect-uri", "http://127.0.0.1:9/cb",
			"--post-logout-redirect-uri", "http://127.0.0.1:9/bye", "--backchannel-logout-uri", backchannel.URL+"/logout")
		if err := json.Unmarshal([]byte(out.stdout), &c); err != nil {
			t.Fatal(err)
		}
		prov, err := oidc.NewProvider(ctx, srv.base)
		if err != nil {
			t.Fatal(err)
		}
		rp := &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: "http://127.0.0.1:9/cb", Endpoint: prov.Endpoint(),
			Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}}
		verifier := oauth2.GenerateVerifier()
		authURL := rp.AuthCodeURL("state-0123456789", oidc.Nonce("nonce-0123456789"), oauth2.S256ChallengeOption(verifier))

		p := newPerson(t)
		login := p.follow(authURL, srv.base)
		if login.status != 200 || !strings.Contains(login.body, "Demo App") {
			t.Fatalf("login page: %d\n%s", login.status, login.body)
		}
		// Create an account from the login page's link.
		reg := regexp.MustCompile(`href="([^"]*register[^"]*)"`).FindStringSubmatch(login.body)
		if reg == nil {
			t.Fatalf("no registration link on the login page")
		}
		regURL, _ := url.Parse(login.url)
		regURL, _ = regURL.Parse(html.UnescapeString(reg[1]))
		regPage := p.get(regURL.String())
		const email, pw = "Grace.Hopper@Example.com", "a long enough passphrase 42"
		done := p.submit(regPage, "Create account", url.Values{"email": {email}, "password": {pw}, "name": {"Grace Hopper"}})
		if done.status != 200 && done.status != 303 {
			t.Fatalf("register: %d %s\n%s", done.status, done.loc, done.body)
		}
		// The account is made by the job the registration queued; its mail
		// says it exists.
		msg := smtp.WaitFor(t, func(m smtptest.Message) bool {
			return slices.Contains(m.To, "grace.hopper@example.com") && strings.Contains(m.Text, "verify-email")
		})
		// Signing in before verifying is refused.
		early := p.submit(p.follow(authURL, srv.base), "Sign in", url.Values{"email": {email}, "password": {pw}})
		if early.status == 303 || !strings.Contains(strings.ToLower(early.body), "verify") {
			t.Fatalf("unverified sign-in: %d %s", early.status, early.loc)
		}
		var link string
		for _, l := range linkRe.FindAllString(msg.Text, -1) {
			if strings.Contains(l, "/verify-email?") {
				link = l
			}
		}
		if !strings.HasPrefix(link, srv.base+"/verify-email?") {
			t.Fatalf("verification link %q is not under the issuer; mail:\n%s", link, msg.Text)
		}
		if v := p.get(link); v.status != 200 {
			t.Fatalf("verify: %d\n%s", v.status, v.body)
		}

		// Sign in, consent, code.
		login = p.follow(authURL, srv.base)
		next := p.submit(login, "Sign in", url.Values{"email": {email}, "password": {pw}})
		if next.loc == "" {
			t.Fatalf("sign in: %d\n%s", next.status, next.body)
		}
		consent := p.follow(next.loc, srv.base)
		if !strings.Contains(consent.body, "Demo App") || !strings.Contains(consent.body, "Allow") {
			t.Fatalf("consent page: %d\n%s", consent.status, consent.body)
		}
		allowed := p.submit(consent, "Allow", nil)
		cb := p.follow(allowed.loc, srv.base)
		cbURL, err := url.Parse(cb.loc)
		if err != nil || !strings.HasPrefix(cb.loc, "http://127.0.0.1:9/cb") || cbURL.Query().Get("code") == "" {
			t.Fatalf("callback: %d %q\n%s", cb.status, cb.loc, cb.body)
		}
		if cbURL.Query().Get("state") != "state-0123456789" || cbURL.Query().Get("iss") != srv.base {
			t.Fatalf("callback lacks state or iss: %s", cb.loc)
		}
		tok, err := rp.Exchange(ctx, cbURL.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		rawID, _ := tok.Extra("id_token").(string)
		idt, err := prov.Verifier(&oidc.Config{ClientID: c.ID}).Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		var claims struct {
			Email    string   `json:"email"`
			Verified bool     `json:"email_verified"`
			Name     string   `json:"name"`
			AMR      []string `json:"amr"`
			SID      string   `json:"sid"`
		}
		idt.Claims(&claims)
		if idt.Nonce != "nonce-0123456789" || claims.Email != "grace.hopper@example.com" || !claims.Verified ||
			claims.Name != "Grace Hopper" || !slices.Contains(claims.AMR, "pwd") || claims.SID == "" {
			t.Fatalf("ID token claims: nonce %q %+v", idt.Nonce, claims)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		if ui, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil || ui.Email != claims.Email {
			t.Fatalf("userinfo: %+v %v", ui, err)
		}
		// Signed in and consented: the next authorization is silent.
		silent := p.follow(rp.AuthCodeURL("state-abcdefghij", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none")), srv.base)
		if !strings.Contains(silent.loc, "code=") {
			t.Fatalf("silent authorization: %d %q", silent.status, silent.loc)
		}

		// Logout ends the session and every token issued in it.
		bye := p.follow(srv.base+"/oauth2/logout?"+url.Values{"id_token_hint": {rawID},
			"post_logout_redirect_uri": {"http://127.0.0.1:9/bye"}, "state": {"s"}}.Encode(), srv.base)
		if !strings.HasPrefix(bye.loc, "http://127.0.0.1:9/bye?state=s") {
			t.Fatalf("logout: %d %q\n%s", bye.status, bye.loc, bye.body)
		}
		// The client hears of it on its back-channel, through the job queue.
		select {
		case lt := <-logoutTokens:
			parts := strings.Split(lt, ".")
			if len(parts) != 3 {
				t.Fatalf("logout token %q", lt)
			}
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			var lc struct {
				SID    string         `json:"sid"`
				Aud    any            `json:"aud"`
				Events map[string]any `json:"events"`
			}
			json.Unmarshal(payload, &lc)
			if lc.SID != claims.SID || lc.Events["http://schemas.openid.net/event/backchannel-logout"] == nil {
				t.Fatalf("logout token claims: %s", payload)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no back-channel logout within 10s")
		}
		code, m := srv.postForm("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, c.ID, c.Secret)
		if code != 200 || m["active"] != false {
			t.Fatalf("access token after logout: %d %v", code, m)
		}
		if _, err := rp.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
			t.Fatal("refresh token works after logout")
		}
		after := p.follow(rp.AuthCodeURL("state-zzzzzzzzzz", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none")), srv.base)
		if !strings.Contains(after.loc, "error=login_required") {
			t.Fatalf("prompt=none after logout: %q", after.loc)
		}
	})
}
