package provider

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/internal/dpoptest"
	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
)

// deviceAuth is the device authorization response (RFC 8628 §3.2).
type deviceAuth struct {
	DeviceCode, UserCode, VerificationURI, VerificationURIComplete string
	ExpiresIn, Interval                                            float64
}

// startDevice asks for a device authorization as a device does: a public
// client sends its client_id.
func (be *browserEnv) startDevice(clientID, scope string) deviceAuth {
	be.t.Helper()
	resp := be.post(PathDeviceAuthorization, url.Values{"client_id": {clientID}, "scope": {scope}}, "", "")
	m := decode(be.t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		be.t.Fatalf("device authorization: %d %v", resp.StatusCode, m)
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	num := func(k string) float64 { n, _ := m[k].(float64); return n }
	return deviceAuth{DeviceCode: str("device_code"), UserCode: str("user_code"), VerificationURI: str("verification_uri"),
		VerificationURIComplete: str("verification_uri_complete"), ExpiresIn: num("expires_in"), Interval: num("interval")}
}

// pollDevice polls the token endpoint once and returns the status and body.
func (be *browserEnv) pollDevice(clientID, deviceCode string) (int, map[string]any) {
	be.t.Helper()
	resp := be.post(PathToken, url.Values{"grant_type": {GrantDeviceCode}, "device_code": {deviceCode}, "client_id": {clientID}}, "", "")
	return resp.StatusCode, decode(be.t, resp)
}

func (be *browserEnv) expectPoll(clientID, deviceCode string, wantStatus int, wantError string) map[string]any {
	be.t.Helper()
	code, m := be.pollDevice(clientID, deviceCode)
	if code != wantStatus || (wantError != "" && m["error"] != wantError) {
		be.t.Fatalf("poll: got %d %v, want %d %s", code, m, wantStatus, wantError)
	}
	return m
}

// verifyDevice does what the verification page does for userCode: it
// stores the authorization request the sign-in and consent steps work on,
// and returns its id.
func (be *browserEnv) verifyDevice(userCode string) string {
	be.t.Helper()
	code, ok := NormalizeUserCode(userCode)
	if !ok {
		be.t.Fatalf("user code %q does not normalise", userCode)
	}
	d, err := be.store.GetPendingDeviceCode(context.Background(), code, be.clock.Now())
	if err != nil {
		be.t.Fatal(err)
	}
	now := be.clock.Now()
	id := storage.DeviceAuthRequestPrefix + randomID()
	if err := be.store.CreateAuthRequest(context.Background(), &storage.AuthRequest{ID: id, ClientID: d.ClientID,
		Form:      url.Values{"client_id": {d.ClientID}, "scope": {strings.Join(d.Scopes, " ")}, "user_code": {code}},
		CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute)}, 0); err != nil {
		be.t.Fatal(err)
	}
	return id
}

// withT is be reporting to t (a subtest).
func (be *browserEnv) withT(t *testing.T) *browserEnv {
	e := *be.env
	e.t = t
	nb := *be
	nb.env = &e
	return &nb
}

func newDeviceEnv(t *testing.T, dbURL string) (*browserEnv, *testClock) {
	clk := &testClock{}
	clk.Set(time.Now())
	be := newBrowserEnv(t, withDB(dbURL), withClock(clk))
	return be, clk
}

// TestDeviceFlow runs the device authorization grant against a real
// listening server on both databases, the device written against RFC 8628
// with plain net/http and the hosted pages' steps simulated: start, poll
// pending, poll too fast (slow_down, interval + 5 s), sign in, consent,
// tokens (access, refresh, ID), introspection, then the code is spent.
func TestDeviceFlow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		be, clk := newDeviceEnv(t, dbURL)
		tv, _ := be.createClient(ClientSpec{ID: "tv", Public: true, GrantTypes: []string{GrantDeviceCode, "refresh_token"}})
		_, rsSecret := be.resourceServer()

		da := be.startDevice(tv.ID, "openid profile offline_access")
		if len(da.UserCode) != 9 || da.UserCode[4] != '-' || da.VerificationURI != be.issuer+PathDevice ||
			da.VerificationURIComplete != be.issuer+PathDevice+"?user_code="+da.UserCode || da.ExpiresIn != 600 || da.Interval != 5 ||
			!validDeviceCode(da.DeviceCode) {
			t.Fatalf("device authorization response: %+v", da)
		}
		be.expectPoll(tv.ID, da.DeviceCode, 400, "authorization_pending")
		be.expectPoll(tv.ID, da.DeviceCode, 400, "slow_down") // at once: too fast
		clk.Advance(6 * time.Second)                          // past 5 s, but the interval is now 10 s
		be.expectPoll(tv.ID, da.DeviceCode, 400, "slow_down")
		clk.Advance(16 * time.Second) // the interval is 15 s now
		be.expectPoll(tv.ID, da.DeviceCode, 400, "authorization_pending")

		arID := be.verifyDevice(strings.ToLower(da.UserCode))
		expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+arID), be.issuer+PathLogin+"?ar="+arID)
		be.signIn(arID, "alice")
		// Signed in, and even with a stored consent the person confirms.
		if err := be.store.SaveConsent(context.Background(), &storage.Consent{UserID: "alice", ClientID: tv.ID,
			Scopes: []string{"openid", "profile", "offline_access"}}); err != nil {
			t.Fatal(err)
		}
		expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+arID), be.issuer+PathConsent+"?ar="+arID)
		be.consent(arID, true, "openid", "profile", "offline_access")
		expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+arID), be.issuer+PathDeviceDone+"?result=approved")
		// The stored request was used up.
		if resp := be.get(be.issuer + PathResume + "?ar=" + arID); resp.StatusCode != 400 {
			t.Fatalf("resume again: %d", resp.StatusCode)
		}

		clk.Advance(20 * time.Second)
		tok := be.expectPoll(tv.ID, da.DeviceCode, 200, "")
		at, _ := tok["access_token"].(string)
		if at == "" || tok["refresh_token"] == nil || tok["id_token"] == nil || tok["token_type"] != "bearer" ||
			tok["scope"] != "openid profile offline_access" {
			t.Fatalf("token response: %v", tok)
		}
		code, m := be.introspect(at, resourceServerID, rsSecret)
		if code != 200 || m["active"] != true || m["sub"] != "alice" || m["client_id"] != tv.ID {
			t.Fatalf("introspection: %d %v", code, m)
		}
		// The ID token says who and when.
		claims := decodeSeg(t, splitJWT(tok["id_token"].(string))[1])
		if claims["sub"] != "alice" || claims["aud"] == nil || claims["auth_time"] == nil || claims["sid"] == nil || claims["at_hash"] == nil {
			t.Fatalf("ID token claims: %v", claims)
		}
		// The refresh token works.
		resp := be.post(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)},
			"client_id": {tv.ID}}, "", "")
		if m := decode(t, resp); resp.StatusCode != 200 || m["access_token"] == nil {
			t.Fatalf("refresh: %d %v", resp.StatusCode, m)
		}
		// Single use.
		clk.Advance(time.Minute)
		be.expectPoll(tv.ID, da.DeviceCode, 400, "invalid_grant")

		// Audit trail: approval and issuance.
		events, err := be.store.ListAuditEvents(context.Background(), storage.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[storage.AuditType]bool{}
		for _, e := range events {
			seen[e.Type] = true
		}
		if !seen[storage.AuditDeviceApproved] || !seen[storage.AuditDeviceTokens] {
			t.Fatalf("audit events %v lack device.approved or device.token_issued", seen)
		}
	})
}

// TestDeviceErrors answers each way a device's requests can go wrong with
// the RFC 6749 / RFC 8628 error, changing nothing.
func TestDeviceErrors(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		be, clk := newDeviceEnv(t, dbURL)
		tv, _ := be.createClient(ClientSpec{ID: "tv", Public: true, GrantTypes: []string{GrantDeviceCode}})
		other, _ := be.createClient(ClientSpec{ID: "other-tv", Public: true, GrantTypes: []string{GrantDeviceCode}})
		web, webSecret := be.createClient(ClientSpec{ID: "web", RedirectURIs: []string{"http://127.0.0.1:9/cb"}})

		t.Run("denied at consent: access_denied", func(t *testing.T) {
			be := be.withT(t)
			da := be.startDevice(tv.ID, "openid")
			arID := be.verifyDevice(da.UserCode)
			be.signIn(arID, "alice")
			be.consent(arID, false)
			expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+arID), be.issuer+PathDeviceDone+"?result=denied")
			be.expectPoll(tv.ID, da.DeviceCode, 400, "access_denied")
		})
		t.Run("expired: expired_token", func(t *testing.T) {
			be := be.withT(t)
			da := be.startDevice(tv.ID, "openid")
			arID := be.verifyDevice(da.UserCode)
			clk.Advance(10 * time.Minute)
			be.expectPoll(tv.ID, da.DeviceCode, 400, "expired_token")
			// Nor can it be approved any more.
			be.signIn(arID, "alice")
			be.consent(arID, true, "openid")
			if resp := be.get(be.issuer + PathResume + "?ar=" + arID); resp.StatusCode != 400 {
				t.Fatalf("approving an expired code: %d", resp.StatusCode)
			}
		})
		t.Run("unknown or malformed device code: invalid_grant", func(t *testing.T) {
			be := be.withT(t)
			be.expectPoll(tv.ID, strings.Repeat("A", 43), 400, "invalid_grant")
			be.expectPoll(tv.ID, "not a device code", 400, "invalid_grant")
			be.expectPoll(tv.ID, strings.Repeat("A", 44), 400, "invalid_grant")
			be.expectPoll(tv.ID, "", 400, "invalid_request")
		})
		t.Run("another client's device code: invalid_grant", func(t *testing.T) {
			be := be.withT(t)
			da := be.startDevice(tv.ID, "openid")
			be.expectPoll(other.ID, da.DeviceCode, 400, "invalid_grant")
			be.expectPoll(tv.ID, da.DeviceCode, 400, "authorization_pending") // its own client's poll is unaffected
		})
		t.Run("redeemed twice at once: one wins", func(t *testing.T) {
			be := be.withT(t)
			clk.Advance(time.Minute)
			da := be.startDevice(tv.ID, "openid")
			arID := be.verifyDevice(da.UserCode)
			be.signIn(arID, "alice")
			be.consent(arID, true, "openid")
			expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+arID), be.issuer+PathDeviceDone+"?result=approved")
			var mu sync.Mutex
			codes := map[int]int{}
			var wg sync.WaitGroup
			for range 6 {
				wg.Go(func() {
					code, _ := be.pollDevice(tv.ID, da.DeviceCode)
					mu.Lock()
					codes[code]++
					mu.Unlock()
				})
			}
			wg.Wait()
			if codes[200] != 1 || codes[400] != 5 {
				t.Fatalf("concurrent redemptions answered %v, want one 200 and five 400", codes)
			}
		})
		t.Run("approved in a session that ended since: invalid_grant", func(t *testing.T) {
			be := be.withT(t)
			clk.Advance(time.Minute)
			da := be.startDevice(tv.ID, "openid")
			arID := be.verifyDevice(da.UserCode)
			be.signIn(arID, "alice")
			be.consent(arID, true, "openid")
			expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+arID), be.issuer+PathDeviceDone+"?result=approved")
			sess, err := be.sessions.Current(be.request())
			if err != nil || sess == nil {
				t.Fatalf("current session: %v %v", sess, err)
			}
			if err := be.sessions.End(context.Background(), sess); err != nil {
				t.Fatal(err)
			}
			be.expectPoll(tv.ID, da.DeviceCode, 400, "invalid_grant")
		})
		t.Run("repeated parameter: invalid_request", func(t *testing.T) {
			be := be.withT(t)
			resp := be.post(PathDeviceAuthorization, url.Values{"client_id": {tv.ID}, "scope": {"openid", "profile"}}, "", "")
			if m := decode(t, resp); resp.StatusCode != 400 || m["error"] != "invalid_request" {
				t.Fatalf("device authorization with scope twice: %d %v", resp.StatusCode, m)
			}
			da := be.startDevice(tv.ID, "openid")
			resp = be.post(PathToken, url.Values{"grant_type": {GrantDeviceCode}, "device_code": {da.DeviceCode, da.DeviceCode},
				"client_id": {tv.ID}}, "", "")
			if m := decode(t, resp); resp.StatusCode != 400 || m["error"] != "invalid_request" {
				t.Fatalf("token request with device_code twice: %d %v", resp.StatusCode, m)
			}
		})
		t.Run("client without the grant: unauthorized_client", func(t *testing.T) {
			be := be.withT(t)
			resp := be.post(PathDeviceAuthorization, url.Values{"scope": {"openid"}}, web.ID, webSecret)
			if m := decode(t, resp); resp.StatusCode != 400 || m["error"] != "unauthorized_client" {
				t.Fatalf("device authorization by a client without the grant: %d %v", resp.StatusCode, m)
			}
			da := be.startDevice(tv.ID, "openid")
			resp = be.post(PathToken, url.Values{"grant_type": {GrantDeviceCode}, "device_code": {da.DeviceCode}}, web.ID, webSecret)
			if m := decode(t, resp); resp.StatusCode != 400 || m["error"] != "unauthorized_client" {
				t.Fatalf("token request by a client without the grant: %d %v", resp.StatusCode, m)
			}
		})
		t.Run("bad client or input", func(t *testing.T) {
			be := be.withT(t)
			for _, c := range []struct {
				name      string
				form      url.Values
				wantCode  int
				wantError string
			}{
				{"unknown client", url.Values{"client_id": {"nobody"}}, 401, "invalid_client"},
				{"no client", url.Values{"scope": {"openid"}}, 401, "invalid_client"},
				{"scope the client may not ask for", url.Values{"client_id": {tv.ID}, "scope": {"admin"}}, 400, "invalid_scope"},
				{"oversized scope", url.Values{"client_id": {tv.ID}, "scope": {strings.Repeat("openid ", 200)}}, 400, "invalid_request"},
				{"oversized body", url.Values{"client_id": {tv.ID}, "x": {strings.Repeat("x", 70<<10)}}, 400, "invalid_request"},
			} {
				resp := be.post(PathDeviceAuthorization, c.form, "", "")
				if m := decode(t, resp); resp.StatusCode != c.wantCode || m["error"] != c.wantError {
					t.Errorf("%s: got %d %v, want %d %s", c.name, resp.StatusCode, m, c.wantCode, c.wantError)
				}
			}
			req, _ := http.NewRequest(http.MethodGet, be.issuer+PathDeviceAuthorization+"?client_id=tv", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if m := decode(t, resp); resp.StatusCode != 400 || m["error"] != "invalid_request" {
				t.Errorf("GET: got %d %v, want invalid_request", resp.StatusCode, m)
			}
		})
	})
}

// TestDeviceDiscovery: the endpoint and the grant are advertised.
func TestDeviceDiscovery(t *testing.T) {
	be := newBrowserEnv(t)
	resp, err := http.Get(be.issuer + PathDiscovery)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, resp)
	grants, _ := m["grant_types_supported"].([]any)
	found := false
	for _, g := range grants {
		found = found || g == GrantDeviceCode
	}
	if m["device_authorization_endpoint"] != be.issuer+PathDeviceAuthorization || !found {
		t.Fatalf("discovery: %v", m)
	}
}

// TestDeviceCORS: a device client running in a browser (a web TV app) may
// call the device authorization endpoint from an origin it registered, as
// at the token endpoint; other origins get no CORS grant.
func TestDeviceCORS(t *testing.T) {
	be := newBrowserEnv(t)
	tv, _ := be.createClient(ClientSpec{ID: "web-tv", Public: true, GrantTypes: []string{GrantDeviceCode},
		WebOrigins: []string{"http://localhost:3000"}})
	call := func(method, origin string) *http.Response {
		req, _ := http.NewRequest(method, be.issuer+PathDeviceAuthorization,
			strings.NewReader(url.Values{"client_id": {tv.ID}, "scope": {"openid"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		if method == http.MethodOptions {
			req.Header.Set("Access-Control-Request-Method", "POST")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := call(http.MethodOptions, "http://localhost:3000"); resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Methods") != "POST" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := call(http.MethodPost, "http://localhost:3000"); resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Errorf("registered origin: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := call(http.MethodPost, "https://evil.example"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("unregistered origin granted: %v", resp.Header)
	}
}

// TestDeviceDPoP: a device that proves a key (RFC 9449) gets DPoP-bound
// tokens for its approval, and its refresh token (a public client's) then
// needs that key.
func TestDeviceDPoP(t *testing.T) {
	be, clk := newDeviceEnv(t, testdb.SQLite(t))
	tv, _ := be.createClient(ClientSpec{ID: "tv", Public: true, GrantTypes: []string{GrantDeviceCode, "refresh_token"}})
	_, rsSecret := be.resourceServer()
	dc := dpoptest.New(t, jose.ES256, clk.Now)
	da := be.startDevice(tv.ID, "openid offline_access")
	arID := be.verifyDevice(da.UserCode)
	be.signIn(arID, "alice")
	be.consent(arID, true, "openid", "offline_access")
	expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+arID), be.issuer+PathDeviceDone+"?result=approved")

	tokenRequest := func(form url.Values, proof bool) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, be.issuer+PathToken, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if proof {
			req.Header.Set("DPoP", dc.Proof(http.MethodPost, be.issuer+PathToken, ""))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, decode(t, resp)
	}
	code, tok := tokenRequest(url.Values{"grant_type": {GrantDeviceCode}, "device_code": {da.DeviceCode}, "client_id": {tv.ID}}, true)
	if code != 200 || tok["token_type"] != "DPoP" {
		t.Fatalf("DPoP device token: %d %v", code, tok)
	}
	_, in := be.introspect(tok["access_token"].(string), resourceServerID, rsSecret)
	if cnf, _ := in["cnf"].(map[string]any); in["active"] != true || cnf["jkt"] != dc.JKT {
		t.Fatalf("introspection %v, want active with cnf.jkt %s", in, dc.JKT)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "client_id": {tv.ID}}
	if code, m := tokenRequest(refresh, false); code != 400 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("refresh without the key: %d %v, want invalid_dpop_proof", code, m)
	}
	if code, m := tokenRequest(refresh, true); code != 200 || m["token_type"] != "DPoP" {
		t.Fatalf("refresh with the key: %d %v", code, m)
	}
}
