package provider

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// push sends a pushed authorization request with HTTP Basic (id, secret)
// or, with secret "", the client_id in the body.
func (be *browserEnv) push(form url.Values, id, secret string) (int, map[string]any) {
	be.t.Helper()
	if secret == "" && id != "" {
		form.Set("client_id", id)
		id = ""
	}
	resp := be.post(PathPAR, form, id, secret)
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		be.t.Fatalf("PAR answer %d is not JSON: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// TestPushedAuthorizationRequests: a client pushes its authorization
// request (RFC 9126) and gets a request_uri the browser brings once, for
// that client, before it expires; the push is validated as an
// authorization request would be; a client registered with RequirePAR
// may not send its request through the browser.
func TestPushedAuthorizationRequests(t *testing.T) {
	clock := &testClock{t: time.Now()}
	be := newBrowserEnv(t, withClock(clock))
	r := be.newRP(ClientSpec{})
	strict := be.newRP(ClientSpec{RequirePAR: true})
	pub := be.newRP(ClientSpec{Public: true})
	verifier := oauth2.GenerateVerifier()
	request := func(extra ...string) url.Values {
		f := url.Values{"response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "scope": {"openid email"},
			"state": {"state-pushed-12345"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
		for i := 0; i+1 < len(extra); i += 2 {
			f.Set(extra[i], extra[i+1])
		}
		return f
	}
	authorize := func(clientID, requestURI string) string {
		return be.issuer + PathAuthorize + "?" + url.Values{"client_id": {clientID}, "request_uri": {requestURI},
			"state": {"state-from-the-query"}}.Encode()
	}
	errorPage := func(t *testing.T, u string) {
		t.Helper()
		if resp := be.get(u); resp.StatusCode < 400 || resp.Header.Get("Location") != "" {
			t.Fatalf("%d Location %q, want an error page", resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	code, m := be.push(request(), r.client.ID, r.cfg.ClientSecret)
	uri, _ := m["request_uri"].(string)
	if code != 201 || !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || m["expires_in"] != float64(60) {
		t.Fatalf("push: %d %v", code, m)
	}
	errorPage(t, authorize(pub.client.ID, uri)) // another client's request_uri
	login := expectRedirect(t, be.get(authorize(r.client.ID, uri)), be.issuer+PathLogin)
	arID := login.Query().Get("ar")
	be.signIn(arID, "alice")
	be.consent(arID, true, "openid", "email")
	cb := expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+arID), "http://127.0.0.1:9/cb")
	if cb.Query().Get("state") != "state-pushed-12345" {
		t.Fatalf("callback %v: want the pushed state", cb)
	}
	if _, err := r.cfg.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}
	errorPage(t, authorize(r.client.ID, uri)) // used once
	errorPage(t, be.issuer+PathResume+"?ar="+strings.TrimPrefix(uri, "urn:ietf:params:oauth:request_uri:"))

	// Expired.
	_, m = be.push(request(), r.client.ID, r.cfg.ClientSecret)
	clock.Advance(61 * time.Second)
	errorPage(t, authorize(r.client.ID, m["request_uri"].(string)))

	// A public client pushes with its client_id; PKCE is checked at the push.
	if code, m := be.push(request(), pub.client.ID, ""); code != 201 {
		t.Fatalf("public push: %d %v", code, m)
	}
	for name, tc := range map[string]struct {
		form       url.Values
		id, secret string
		status     int
		errorCode  string
	}{
		"no PKCE from a public client": {request("code_challenge", "", "code_challenge_method", ""), pub.client.ID, "", 400, "invalid_request"},
		"no client authentication":     {request(), "", "", 401, "invalid_client"},
		"wrong secret":                 {request(), r.client.ID, "wrong", 401, "invalid_client"},
		"repeated parameter":           {func() url.Values { f := request(); f.Add("scope", "openid"); return f }(), r.client.ID, r.cfg.ClientSecret, 400, "invalid_request"},
		"request_uri pushed":           {request("request_uri", "urn:ietf:params:oauth:request_uri:x"), r.client.ID, r.cfg.ClientSecret, 400, "invalid_request"},
		"unregistered redirect":        {request("redirect_uri", "https://evil.example/cb"), r.client.ID, r.cfg.ClientSecret, 400, "invalid_request"},
		"implicit flow":                {request("response_type", "token"), r.client.ID, r.cfg.ClientSecret, 400, "unsupported_response_type"},
		"another client_id":            {request("client_id", pub.client.ID), r.client.ID, r.cfg.ClientSecret, 400, "invalid_request"},
		"unknown scope":                {request("scope", "openid admin"), r.client.ID, r.cfg.ClientSecret, 400, "invalid_scope"},
	} {
		t.Run(name, func(t *testing.T) {
			code, m := be.push(tc.form, tc.id, tc.secret)
			if code != tc.status || m["error"] != tc.errorCode {
				t.Fatalf("%d %v, want %d %s", code, m, tc.status, tc.errorCode)
			}
		})
	}
	if resp, err := http.Get(be.issuer + PathPAR); err != nil || resp.StatusCode != 400 {
		t.Fatalf("GET the PAR endpoint: %v %v", resp, err)
	}

	// A client that must push may not authorize through the browser alone.
	direct := strict.cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier))
	if u := expectRedirect(t, be.get(direct), "http://127.0.0.1:9/cb"); u.Query().Get("error") != "invalid_request" {
		t.Fatalf("unpushed request of a --require-par client: %v", u)
	}
	_, m = be.push(request(), strict.client.ID, strict.cfg.ClientSecret)
	expectRedirect(t, be.get(authorize(strict.client.ID, m["request_uri"].(string))), be.issuer+PathConsent) // signed in already
}
