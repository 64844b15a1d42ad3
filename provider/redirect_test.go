package provider

import (
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/authd/authd/storage"
)

// TestLoopbackRedirectMatching: redirect URIs match exactly for web
// clients, loopback ones included (fosite let every client vary their
// port, and the scheme's case and user info with it); for native clients
// only the port of an http://127.0.0.1 or http://[::1] URI may vary
// (RFC 8252 §7.3). Through the real authorization endpoint: an allowed URI
// goes on to sign-in, any other gets an error page and no redirect.
func TestLoopbackRedirectMatching(t *testing.T) {
	be := newBrowserEnv(t)
	web, _ := be.createClient(ClientSpec{RedirectURIs: []string{"http://127.0.0.1:9/cb", "https://app.example/cb"}})
	native, _ := be.createClient(ClientSpec{Public: true, ApplicationType: storage.ApplicationNative,
		RedirectURIs: []string{"http://127.0.0.1/cb", "http://[::1]/cb?app=1", "com.example.app:/cb"}})
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	authorize := func(clientID, redirect string) string {
		q := url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"state-0123456789"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		return be.issuer + PathAuthorize + "?" + q.Encode()
	}
	for _, tc := range []struct {
		client   *storage.Client
		redirect string
		ok       bool
	}{
		{web, "http://127.0.0.1:9/cb", true},
		{web, "https://app.example/cb", true},
		{web, "http://127.0.0.1:10/cb", false},
		{web, "http://127.0.0.1/cb", false},
		{web, "HTTP://127.0.0.1:9/cb", false},
		{web, "http://user@127.0.0.1:9/cb", false},
		{web, "http://127.0.0.1:9/CB", false},
		{web, "http://localhost:9/cb", false},
		{native, "http://127.0.0.1/cb", true},
		{native, "http://127.0.0.1:51234/cb", true},
		{native, "http://[::1]:6000/cb?app=1", true},
		{native, "com.example.app:/cb", true},
		{native, "http://[::1]:6000/cb", false},       // query differs
		{native, "http://[::1]:6000/cb?app=2", false}, // query differs
		{native, "http://127.0.0.1:51234/CB", false},  // path case
		{native, "http://127.0.0.1:51234/cb/", false}, // path
		{native, "HTTP://127.0.0.1:51234/cb", false},  // scheme case
		{native, "http://u:p@127.0.0.1:51234/cb", false},
		{native, "http://localhost:51234/cb", false}, // not an IP literal
		{native, "http://127.0.0.2:51234/cb", false}, // another host
		{native, "http://[0:0::1]:51234/cb", false},  // another spelling
		{native, "http://127.0.0.1:0/cb", false},
		{native, "http://127.0.0.1:99999/cb", false},
		{native, "https://127.0.0.1:51234/cb", false}, // https was not registered
		{native, "com.example.app:/cb/x", false},
	} {
		name := tc.client.ApplicationType + " " + tc.redirect
		t.Run(name, func(t *testing.T) {
			resp := be.get(authorize(tc.client.ID, tc.redirect))
			if tc.ok {
				expectRedirect(t, resp, be.issuer+PathLogin)
				return
			}
			if resp.StatusCode < 400 || resp.Header.Get("Location") != "" {
				t.Fatalf("%d Location %q, want an error page", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

// TestRedirectURIAllowed pins the matcher on what a URL parser would
// normalise away.
func TestRedirectURIAllowed(t *testing.T) {
	native := &storage.Client{ApplicationType: storage.ApplicationNative, RedirectURIs: []string{"http://127.0.0.1/a%2Fb", "http://127.0.0.1:8080/p"}}
	for raw, want := range map[string]bool{
		"http://127.0.0.1:5/a%2Fb": true,
		"http://127.0.0.1:5/a/b":   false,
		"http://127.0.0.1:5/a%2fb": false,
		"http://127.0.0.1/p":       true, // the registered port does not bind a native app either
		"http://127.0.0.1:/p":      false,
		"http://127.0.0.1:+5/p":    false,
		"http://127.0.0.1:5/p#x":   false,
		"http://127.0.0.1:5":       false,
	} {
		if got := redirectURIAllowed(native, raw); got != want {
			t.Errorf("native, %q: %v, want %v", raw, got, want)
		}
	}
	web := &storage.Client{RedirectURIs: native.RedirectURIs}
	if redirectURIAllowed(web, "http://127.0.0.1:5/a%2Fb") || !redirectURIAllowed(web, "http://127.0.0.1/a%2Fb") {
		t.Error("a client without application_type must match exactly")
	}
}
