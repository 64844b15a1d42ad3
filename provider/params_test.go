package provider

import (
	"net/url"
	"strings"
	"testing"

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
