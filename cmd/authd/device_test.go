package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

// deviceClient is a device (a TV, a CLI) written against RFC 8628 with
// plain net/http: a public client that asks for a device authorization
// and polls the token endpoint.
type deviceClient struct {
	t        *testing.T
	issuer   string
	clientID string
}

// deviceAuthorization is the answer of RFC 8628 §3.2.
type deviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

func (d *deviceClient) post(endpoint string, form url.Values) (int, map[string]any) {
	d.t.Helper()
	resp, err := http.PostForm(endpoint, form)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		d.t.Fatalf("POST %s: %d %q is not JSON", endpoint, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// start finds the endpoint in discovery (RFC 8628 §4) and asks.
func (d *deviceClient) start(scope string) deviceAuthorization {
	d.t.Helper()
	resp, err := http.Get(d.issuer + "/.well-known/openid-configuration")
	if err != nil {
		d.t.Fatal(err)
	}
	var meta struct {
		DeviceEndpoint string `json:"device_authorization_endpoint"`
	}
	json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta.DeviceEndpoint == "" {
		d.t.Fatal("discovery has no device_authorization_endpoint")
	}
	code, m := d.post(meta.DeviceEndpoint, url.Values{"client_id": {d.clientID}, "scope": {scope}})
	if code != 200 {
		d.t.Fatalf("device authorization: %d %v", code, m)
	}
	raw, _ := json.Marshal(m)
	var da deviceAuthorization
	json.Unmarshal(raw, &da)
	return da
}

// poll makes one token request (RFC 8628 §3.4).
func (d *deviceClient) poll(deviceCode string) (int, map[string]any) {
	d.t.Helper()
	return d.post(d.issuer+"/oauth2/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {deviceCode}, "client_id": {d.clientID}})
}

func (d *deviceClient) expectError(deviceCode, want string) {
	d.t.Helper()
	if code, m := d.poll(deviceCode); code != 400 || m["error"] != want {
		d.t.Fatalf("poll: %d %v, want 400 %s", code, m, want)
	}
}

// TestDeviceFlowEndToEnd: a device on a running server (both databases)
// starts, polls (authorization_pending, then slow_down: the interval is
// set to 10 minutes so that the second poll is early whatever the
// machine's speed), the person approves on the pages with net/http
// (verification page, sign-in, consent), and the device gets tokens the
// resource server's introspection and go-oidc accept; a second device is
// denied at consent.
func TestDeviceFlowEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env []string) {
		srv := startServe(t, append(env, "AUTHD_DEVICE_INTERVAL=10m"), false)
		ctx := context.Background()
		const email, pw = "ada@example.com", "a long enough passphrase 42"
		mustRun(t, srv.env, "users", "create", "--email", email, "--password", pw, "--verified", "--name", "Ada")
		var tv, rs struct {
			ID     string `json:"client_id"`
			Secret string `json:"client_secret"`
		}
		mustRun(t, srv.env, "clients", "create", "--name", "Living Room TV", "--public",
			"--grant-type", "urn:ietf:params:oauth:grant-type:device_code", "--grant-type", "refresh_token").decodeJSON(t, &tv)
		mustRun(t, srv.env, "clients", "create", "--name", "API", "--grant-type", "client_credentials", "--scope", "api").decodeJSON(t, &rs)
		dev := &deviceClient{t: t, issuer: srv.base, clientID: tv.ID}

		da := dev.start("openid profile email offline_access")
		if da.Interval != 600 || da.ExpiresIn != 600 || da.VerificationURI != srv.base+"/device" ||
			da.VerificationURIComplete != srv.base+"/device?user_code="+da.UserCode || len(da.UserCode) != 9 {
			t.Fatalf("device authorization: %+v", da)
		}
		dev.expectError(da.DeviceCode, "authorization_pending")
		dev.expectError(da.DeviceCode, "slow_down")

		// The person opens the link the device shows, and continues.
		p := newPerson(t)
		form := p.get(da.VerificationURIComplete)
		if form.status != 200 || !strings.Contains(form.body, `value="`+da.UserCode+`"`) || !strings.Contains(form.body, ">Device code<") {
			t.Fatalf("verification page: %d\n%s", form.status, form.body)
		}
		next := p.submit(form, "Continue", url.Values{"user_code": {da.UserCode}}) // the prefilled field
		if next.status != 303 {
			t.Fatalf("Continue: %d\n%s", next.status, next.body)
		}
		login := p.follow(next.loc, srv.base)
		if login.status != 200 || !strings.Contains(login.body, "Living Room TV") {
			t.Fatalf("sign-in page: %d %q\n%s", login.status, login.url, login.body)
		}
		next = p.submit(login, "Sign in", url.Values{"email": {email}, "password": {pw}})
		consent := p.follow(next.loc, srv.base)
		if !strings.Contains(consent.body, "Living Room TV") || !strings.Contains(consent.body, da.UserCode) {
			t.Fatalf("consent page: %d\n%s", consent.status, consent.body)
		}
		done := p.follow(p.submit(consent, "Allow", nil).loc, srv.base)
		if done.status != 200 || !strings.Contains(done.body, "You may return to your device") {
			t.Fatalf("result page: %d %q\n%s", done.status, done.url, done.body)
		}

		code, tok := dev.poll(da.DeviceCode)
		if code != 200 || tok["access_token"] == nil || tok["refresh_token"] == nil || tok["id_token"] == nil {
			t.Fatalf("tokens: %d %v", code, tok)
		}
		if code, m := srv.postForm("/oauth2/introspect", url.Values{"token": {tok["access_token"].(string)}}, rs.ID, rs.Secret); code != 200 ||
			m["active"] != true || m["client_id"] != tv.ID || m["sub"] == nil {
			t.Fatalf("introspection: %d %v", code, m)
		}
		prov, err := oidc.NewProvider(ctx, srv.base)
		if err != nil {
			t.Fatal(err)
		}
		idt, err := prov.Verifier(&oidc.Config{ClientID: tv.ID}).Verify(ctx, tok["id_token"].(string))
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		var claims struct {
			Email string   `json:"email"`
			AMR   []string `json:"amr"`
		}
		idt.Claims(&claims)
		if claims.Email != email || len(claims.AMR) == 0 {
			t.Fatalf("ID token claims: %+v", claims)
		}
		dev.expectError(da.DeviceCode, "invalid_grant") // used once

		// A second device; the person, still signed in, denies it.
		da2 := dev.start("openid")
		consent = p.follow(p.submit(p.get(da2.VerificationURI), "Continue", url.Values{"user_code": {strings.ToLower(da2.UserCode)}}).loc, srv.base)
		done = p.follow(p.submit(consent, "Deny", nil).loc, srv.base)
		if !strings.Contains(done.body, "You denied the device access") {
			t.Fatalf("result page after deny: %d\n%s", done.status, done.body)
		}
		dev.expectError(da2.DeviceCode, "access_denied")

		// The audit trail has the approval, the denial and the issuance.
		out := mustRun(t, srv.env, "audit", "list", "--limit", "100").stdout
		for _, want := range []string{"device.approved", "device.denied", "device.token_issued"} {
			if !strings.Contains(out, want) {
				t.Errorf("audit list lacks %s:\n%s", want, out)
			}
		}
	})
}
