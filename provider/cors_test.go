package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/secrets"
)

// TestCORS: a browser application may call the token and revocation
// endpoints from an origin of its redirect URIs, and only from those;
// preflights are answered, credentials never allowed.
func TestCORS(t *testing.T) {
	e := newEnv(t)
	spa, _ := e.createClient(ClientSpec{Public: true, RedirectURIs: []string{"https://spa.example/cb", "http://127.0.0.1:9/cb"}})
	cc, ccSecret := e.ccClient()
	send := func(method, path, origin string, form url.Values, header ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, e.issuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Access-Control-Allow-Credentials") != "" || resp.Header.Get("Access-Control-Allow-Origin") == "*" {
			t.Fatalf("%s %s: credentials or * allowed: %v", method, path, resp.Header)
		}
		return resp
	}
	for _, path := range []string{PathToken, PathRevoke} {
		pre := send(http.MethodOptions, path, "https://spa.example", nil, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "content-type")
		if pre.StatusCode != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "https://spa.example" ||
			!strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), "POST") ||
			!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Content-Type") {
			t.Fatalf("preflight %s: %d %v", path, pre.StatusCode, pre.Header)
		}
	}
	code := url.Values{"grant_type": {"authorization_code"}, "code": {"not-a-code"}, "redirect_uri": {"https://spa.example/cb"},
		"code_verifier": {strings.Repeat("v", 43)}, "client_id": {spa.ID}}
	revoke := url.Values{"token": {"not-a-token"}, "client_id": {spa.ID}}
	for _, tc := range []struct {
		name, path, origin string
		form               url.Values
		status             int
		allowed            bool
	}{
		{"token error readable by the app", PathToken, "https://spa.example", code, 400, true},
		{"revocation", PathRevoke, "https://spa.example", revoke, 200, true},
		{"its loopback origin", PathRevoke, "http://127.0.0.1:9", revoke, 200, true},
		{"another site", PathToken, "https://evil.example", code, 400, false},
		{"another port", PathRevoke, "https://spa.example:8443", revoke, 200, false},
		{"another scheme", PathRevoke, "http://spa.example", revoke, 200, false},
		{"a path is not an origin", PathRevoke, "https://spa.example/cb", revoke, 200, false},
		{"null origin", PathRevoke, "null", revoke, 200, false},
		{"unknown client", PathRevoke, "https://spa.example", url.Values{"token": {"x"}, "client_id": {"nope"}}, 401, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(http.MethodPost, tc.path, tc.origin, tc.form)
			got := resp.Header.Get("Access-Control-Allow-Origin")
			if resp.StatusCode != tc.status || (got == tc.origin) != tc.allowed || (got != "" && got != tc.origin) ||
				!strings.Contains(resp.Header.Get("Vary"), "Origin") {
				t.Fatalf("%d Access-Control-Allow-Origin %q Vary %q, want %d and allowed=%v", resp.StatusCode, got,
					resp.Header.Get("Vary"), tc.status, tc.allowed)
			}
		})
	}
	// A server-side client, authenticated with HTTP Basic, has no web
	// origin; without an Origin there are no CORS headers at all.
	tok := send(http.MethodPost, PathToken, "https://spa.example", url.Values{"grant_type": {"client_credentials"}}, "Authorization", basicAuth(cc.ID, ccSecret))
	if tok.StatusCode != 200 || tok.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("basic client from a browser: %d %v", tok.StatusCode, tok.Header)
	}
	plain := send(http.MethodPost, PathRevoke, "", revoke)
	if plain.Header.Get("Access-Control-Allow-Origin") != "" || plain.Header.Get("Vary") != "" {
		t.Fatalf("no Origin: %v", plain.Header)
	}
}

func basicAuth(id, secret string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return req.Header.Get("Authorization")
}

// TestWebOrigins: registered web origins must be origins as browsers send
// them; they replace the ones derived from the redirect URIs.
func TestWebOrigins(t *testing.T) {
	hasher := secrets.ClientSecretHasher{Keyring: newTestKeyring(t)}
	for _, o := range []string{"https://app.example", "https://app.example:8443", "http://127.0.0.1:3000", "http://[::1]:3000"} {
		if _, _, err := NewClient(context.Background(), ClientSpec{Name: "spa", Public: true, RedirectURIs: []string{"https://app.example/cb"},
			WebOrigins: []string{o}}, hasher, time.Hour); err != nil {
			t.Errorf("web origin %q refused: %v", o, err)
		}
	}
	for _, o := range []string{"app.example", "https://app.example/", "https://app.example/cb", "https://App.example",
		"http://app.example", "https://u@app.example", "https://app.example?x", "https://app.example#x", "*", "null", "ftp://app.example"} {
		_, _, err := NewClient(context.Background(), ClientSpec{Name: "spa", Public: true, RedirectURIs: []string{"https://app.example/cb"},
			WebOrigins: []string{o}}, hasher, time.Hour)
		var invalid *InvalidClientError
		if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "web origin") {
			t.Errorf("web origin %q: %v, want it refused", o, err)
		}
	}

	e := newEnv(t)
	spa, _ := e.createClient(ClientSpec{Public: true, RedirectURIs: []string{"https://spa.example/cb"}, WebOrigins: []string{"https://cdn.example"}})
	for origin, allowed := range map[string]bool{"https://cdn.example": true, "https://spa.example": false} {
		req, _ := http.NewRequest(http.MethodPost, e.issuer+PathRevoke, strings.NewReader(url.Values{"token": {"x"}, "client_id": {spa.ID}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin") == origin; got != allowed {
			t.Errorf("origin %s allowed=%v, want %v", origin, got, allowed)
		}
	}
}
