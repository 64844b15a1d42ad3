package provider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"
)

// TestRepeatedParametersRefused: a parameter sent twice is invalid_request
// at every endpoint (RFC 6749 §3.1), and nothing is issued, revoked or
// answered for it; resource and audience may be repeated.
func TestRepeatedParametersRefused(t *testing.T) {
	e := newEnv(t)
	c, secret := e.ccClient()
	multi, multiSecret := e.createClient(ClientSpec{GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"},
		Audience: []string{"https://a.example", "https://b.example"}})
	tok := e.token(c.ID, secret, "api")
	for _, tc := range []struct {
		name, path string
		form       url.Values
	}{
		{"grant_type twice", PathToken, url.Values{"grant_type": {"client_credentials", "client_credentials"}}},
		{"scope twice", PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {"api", "read"}}},
		{"client_id twice", PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID, c.ID}}},
		{"empty and set", PathToken, url.Values{"grant_type": {"", "client_credentials"}}},
		{"token twice at introspection", PathIntrospect, url.Values{"token": {tok, tok}}},
		{"token_type_hint twice", PathIntrospect, url.Values{"token": {tok}, "token_type_hint": {"access_token", "refresh_token"}}},
		{"token twice at revocation", PathRevoke, url.Values{"token": {tok, tok}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.post(tc.path, tc.form, c.ID, secret)
			m := decode(t, resp)
			if resp.StatusCode != 400 || m["error"] != "invalid_request" || !strings.Contains(m["error_description"].(string), "more than once") {
				t.Fatalf("%d %v, want 400 invalid_request", resp.StatusCode, m)
			}
		})
	}
	if !e.active(tok, c.ID, secret) {
		t.Fatal("a refused revocation revoked the token")
	}
	// RFC 8707: one audience per parameter.
	resp := e.post(PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {"api"},
		"audience": {"https://a.example", "https://b.example"}}, multi.ID, multiSecret)
	if m := decode(t, resp); resp.StatusCode != 200 {
		t.Fatalf("two audiences: %d %v", resp.StatusCode, m)
	}
}

// TestRepeatedAuthorizeParameters: at the authorization endpoint a
// repeated parameter is an error redirect to the client, unless it is
// client_id or redirect_uri, which leave no redirect URI to trust: then a
// page says so.
func TestRepeatedAuthorizeParameters(t *testing.T) {
	be := newBrowserEnv(t)
	web, _ := be.createClient(ClientSpec{RedirectURIs: []string{"http://127.0.0.1:9/cb", "https://app.example/cb"}})
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	base := func() url.Values {
		return url.Values{"client_id": {web.ID}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"state-0123456789"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	}
	expectRedirect(t, be.get(be.issuer+PathAuthorize+"?"+base().Encode()), be.issuer+PathLogin)
	for _, k := range []string{"scope", "response_type", "code_challenge", "state", "prompt"} {
		t.Run(k, func(t *testing.T) {
			q := base()
			q.Add(k, q.Get(k))
			if k == "prompt" {
				q["prompt"] = []string{"login", "consent"}
			}
			resp := be.get(be.issuer + PathAuthorize + "?" + q.Encode())
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || resp.StatusCode != 303 || !strings.HasPrefix(loc.String(), "http://127.0.0.1:9/cb?") ||
				loc.Query().Get("error") != "invalid_request" || loc.Query().Get("iss") != be.issuer {
				t.Fatalf("%d Location %q, want an invalid_request redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	for _, k := range []string{"client_id", "redirect_uri"} {
		t.Run(k, func(t *testing.T) {
			q := base()
			q.Add(k, map[string]string{"client_id": web.ID, "redirect_uri": "https://app.example/cb"}[k])
			resp := be.get(be.issuer + PathAuthorize + "?" + q.Encode())
			if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
				t.Fatalf("%d Location %q, want an error page", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

// formPost reads a form_post response page: the form's action and fields,
// checked for the policy that lets it post only there.
func formPost(t *testing.T, be *browserEnv, u string) (string, url.Values) {
	t.Helper()
	resp, err := be.browser.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Location") != "" ||
		!strings.Contains(csp, "form-action http://127.0.0.1:9;") || !strings.Contains(csp, "script-src 'sha256-") ||
		strings.Contains(csp, "unsafe-inline") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("form_post answer %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var action string
	fields := url.Values{}
	for n := range doc.Descendants() {
		attr := func(k string) string {
			for _, a := range n.Attr {
				if a.Key == k {
					return a.Val
				}
			}
			return ""
		}
		switch {
		case n.Type == html.ElementNode && n.Data == "form":
			action = attr("action")
			if attr("method") != "post" {
				t.Fatalf("form method %q", attr("method"))
			}
		case n.Type == html.ElementNode && n.Data == "input" && attr("type") == "hidden":
			fields.Add(attr("name"), attr("value"))
		case n.Type == html.ElementNode && n.Data == "script":
			if n.FirstChild == nil || "'sha256-"+scriptHash(n.FirstChild.Data)+"'" != formPostScriptHash {
				t.Fatal("the page's script is not the one its policy allows")
			}
		}
	}
	return action, fields
}

func scriptHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestFormPostResponseMode: response_mode=form_post (what ASP.NET Core's
// OpenID Connect handler asks for by default) answers with a page that
// posts code, state and iss to the redirect URI, errors too; the code
// redeems as usual; query may be asked for by name; discovery says both.
func TestFormPostResponseMode(t *testing.T) {
	be := newBrowserEnv(t)
	r := be.newRP(ClientSpec{})
	verifier := oauth2.GenerateVerifier()
	authURL := r.cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("response_mode", "form_post"))

	// No session and prompt=none: the error is posted too.
	action, fields := formPost(t, be, authURL+"&prompt=none")
	if action != r.cfg.RedirectURL || fields.Get("error") != "login_required" || fields.Get("state") != "state-0123456789" ||
		fields.Get("iss") != be.issuer {
		t.Fatalf("form_post error: %s %v", action, fields)
	}

	login := expectRedirect(t, be.get(authURL), be.issuer+PathLogin)
	arID := login.Query().Get("ar")
	be.signIn(arID, "alice")
	expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+arID), be.issuer+PathConsent)
	be.consent(arID, true, "openid", "profile", "email", "offline_access")
	action, fields = formPost(t, be, be.issuer+PathResume+"?ar="+arID)
	if action != r.cfg.RedirectURL || fields.Get("code") == "" || fields.Get("state") != "state-0123456789" || fields.Get("iss") != be.issuer {
		t.Fatalf("form_post response: %s %v", action, fields)
	}
	if strings.Contains(action, "code=") {
		t.Fatal("the code is in the URL")
	}
	tok, err := r.cfg.Exchange(context.Background(), fields.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.verifier.Verify(context.Background(), tok.Extra("id_token").(string)); err != nil {
		t.Fatal(err)
	}

	// Signed in and consented: response_mode=query by name redirects.
	q := r.cfg.AuthCodeURL("state-abcdefghij", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("response_mode", "query"))
	if cb := expectRedirect(t, be.get(q), r.cfg.RedirectURL); cb.Query().Get("code") == "" {
		t.Fatalf("query response: %v", cb)
	}
	var meta struct {
		ResponseModes []string `json:"response_modes_supported"`
	}
	res, err := http.Get(be.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&meta); err != nil || !slices.Equal(meta.ResponseModes, []string{"query", "form_post"}) {
		t.Fatalf("response_modes_supported %v (%v)", meta.ResponseModes, err)
	}
}
