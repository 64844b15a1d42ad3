package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authd/authd/webhook"
)

// receivedSET is one push (RFC 8935) a receiver got, its signature
// checked against the transmitter's published keys.
type receivedSET struct {
	at     time.Time
	header http.Header
	typ    string
	claims struct {
		Iss    string                    `json:"iss"`
		Aud    string                    `json:"aud"`
		Jti    string                    `json:"jti"`
		Txn    string                    `json:"txn"`
		SubID  map[string]any            `json:"sub_id"`
		Events map[string]map[string]any `json:"events"`
	}
}

// event is the SET's only event.
func (s receivedSET) event() (string, map[string]any) {
	for uri, body := range s.claims.Events {
		return uri, body
	}
	return "", nil
}

// setReceiver is an SSF push receiver: it verifies each SET with go-oidc
// against the issuer's JWKS and answers 202, as RFC 8935 says.
type setReceiver struct {
	t    *testing.T
	srv  *httptest.Server
	keys *oidc.RemoteKeySet
	got  chan receivedSET
}

func newSETReceiver(t *testing.T, jwksURI string) *setReceiver {
	rc := &setReceiver{t: t, keys: oidc.NewRemoteKeySet(context.Background(), jwksURI), got: make(chan receivedSET, 50)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s := receivedSET{at: time.Now(), header: r.Header.Clone()}
		payload, err := rc.keys.VerifySignature(r.Context(), string(body))
		if err != nil {
			t.Errorf("a SET does not verify against the JWKS: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if jws, err := jose.ParseSignedCompact(string(body), []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}); err == nil {
			s.typ, _ = jws.Signatures[0].Protected.ExtraHeaders["typ"].(string)
		}
		if err := json.Unmarshal(payload, &s.claims); err != nil {
			t.Errorf("SET claims: %v", err)
		}
		w.WriteHeader(http.StatusAccepted)
		rc.got <- s
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *setReceiver) next(what string) receivedSET {
	rc.t.Helper()
	select {
	case s := <-rc.got:
		return s
	case <-time.After(30 * time.Second):
		rc.t.Fatalf("%s: no SET arrived", what)
	}
	return receivedSET{}
}

// ssfClient calls the transmitter with a client_credentials token.
type ssfClient struct {
	t    *testing.T
	http *http.Client
}

func (c ssfClient) do(method, u string, body, out any) *http.Response {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, u, res.StatusCode, raw, err)
		}
	}
	return res
}

// TestSharedSignalsEndToEnd is a relying party's path to Shared Signals:
// its client gets a token with ssf.manage, discovers the transmitter,
// creates a push stream and verifies it; a person who signed in to it
// has a session ended by an operator and their account disabled, and the
// receiver gets signed session-revoked and account-disabled SETs naming
// them (and nothing about a person who never used it); an operator
// pauses and resumes the stream from the CLI.
func TestSharedSignalsEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env []string) {
		s := startServe(t, env, false)
		ctx := context.Background()
		var c struct {
			ID     string `json:"client_id"`
			Secret string `json:"client_secret"`
		}
		mustRun(t, s.env, "clients", "create", "--name", "Acme Portal", "--redirect-uri", "http://127.0.0.1:9/cb",
			"--grant-type", "authorization_code", "--grant-type", "refresh_token", "--grant-type", "client_credentials",
			"--scope", "openid profile email ssf.manage").decodeJSON(t, &c)
		var ada, bob cliUser
		mustRun(t, s.env, "users", "create", "--email", "ada@example.com", "--password", "a long enough passphrase 42", "--verified").decodeJSON(t, &ada)
		mustRun(t, s.env, "users", "create", "--email", "bob@example.com", "--password", "another long passphrase 43", "--verified").decodeJSON(t, &bob)

		// Ada signs in to the portal and consents; her ID token names her session.
		prov, err := oidc.NewProvider(ctx, s.base)
		if err != nil {
			t.Fatal(err)
		}
		rp := &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: "http://127.0.0.1:9/cb", Endpoint: prov.Endpoint(),
			Scopes: []string{oidc.ScopeOpenID, "email"}}
		verifier := oauth2.GenerateVerifier()
		authURL := rp.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier))
		p := newPerson(t)
		next := p.submit(p.follow(authURL, s.base), "Sign in", url.Values{"email": {"ada@example.com"}, "password": {"a long enough passphrase 42"}})
		allowed := p.submit(p.follow(next.loc, s.base), "Allow", nil)
		cb, _ := url.Parse(p.follow(allowed.loc, s.base).loc)
		tok, err := rp.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		rawID, _ := tok.Extra("id_token").(string)
		idt, err := prov.Verifier(&oidc.Config{ClientID: c.ID}).Verify(ctx, rawID)
		if err != nil {
			t.Fatal(err)
		}
		var idc struct {
			SID string `json:"sid"`
		}
		if err := idt.Claims(&idc); err != nil || idc.SID == "" {
			t.Fatalf("ID token sid: %+v %v", idc, err)
		}

		// The portal's back end discovers the transmitter and creates a stream.
		cc := clientcredentials.Config{ClientID: c.ID, ClientSecret: c.Secret, TokenURL: prov.Endpoint().TokenURL,
			Scopes: []string{webhook.ScopeStreamsManage}}
		api := ssfClient{t, cc.Client(ctx)}
		var meta webhook.Metadata
		if res := api.do("GET", s.base+webhook.PathSSFConfiguration, nil, &meta); res.StatusCode != 200 {
			t.Fatalf("ssf-configuration: %d", res.StatusCode)
		}
		var disc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := prov.Claims(&disc); err != nil {
			t.Fatal(err)
		}
		if meta.Issuer != s.base || meta.JWKSURI != disc.JWKSURI || meta.ConfigurationEndpoint != s.base+webhook.PathStreams ||
			!slices.Contains(meta.DeliveryMethodsSupported, "urn:ietf:rfc:8935") || meta.VerificationEndpoint != s.base+webhook.PathVerify {
			t.Fatalf("transmitter metadata %+v", meta)
		}
		rc := newSETReceiver(t, meta.JWKSURI)
		var sc webhook.StreamConfiguration
		res := api.do("POST", meta.ConfigurationEndpoint, map[string]any{
			"delivery": map[string]any{"method": "urn:ietf:rfc:8935", "endpoint_url": rc.srv.URL + "/ssf",
				"authorization_header": "Bearer receiver-secret"},
			"events_requested": []string{webhook.EventSessionRevoked, webhook.EventCredentialChange, webhook.EventAccountDisabled,
				"https://example.com/not-an-event"},
			"description": "portal sessions"}, &sc)
		if res.StatusCode != http.StatusCreated || sc.Aud != c.ID || len(sc.EventsDelivered) != 3 {
			t.Fatalf("create stream: %d %+v", res.StatusCode, sc)
		}

		// Verification: a SET with the receiver's state.
		if res := api.do("POST", meta.VerificationEndpoint, map[string]any{"stream_id": sc.StreamID, "state": "s-1"}, nil); res.StatusCode != 204 {
			t.Fatalf("verify: %d\n%s", res.StatusCode, s.stderr)
		}
		v := rc.next("verification")
		if uri, body := v.event(); uri != webhook.EventVerification || body["state"] != "s-1" || v.claims.SubID["id"] != sc.StreamID {
			t.Fatalf("verification SET %s %v %v", uri, body, v.claims.SubID)
		}
		if v.typ != "secevent+jwt" || v.claims.Iss != s.base || v.claims.Aud != c.ID || v.claims.Jti == "" ||
			v.header.Get("Content-Type") != "application/secevent+jwt" || v.header.Get("Authorization") != "Bearer receiver-secret" {
			t.Fatalf("verification push: typ %q claims %+v headers %v", v.typ, v.claims, v.header)
		}
		if res := api.do("POST", meta.VerificationEndpoint, map[string]any{"stream_id": sc.StreamID}, nil); res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
			t.Fatalf("second verification at once: %d %v", res.StatusCode, res.Header)
		}

		// An operator ends Ada's session: the portal hears which one.
		key := createKey(t, s.env, "--name", "ops", "--scope", "admin", "--tier", "unlimited")
		ops := newAPIClient(t, s, key.Key)
		start := time.Now()
		if r := ops.do("DELETE", "/api/v1/users/"+ada.ID+"/sessions/"+idc.SID, nil); r.status != 204 {
			t.Fatalf("end session: %d %s", r.status, r.body)
		}
		got := rc.next("session-revoked")
		t.Logf("session ended -> session-revoked SET received: %v (webhooks.poll_interval and jobs.poll_interval at their defaults)", got.at.Sub(start))
		uri, body := got.event()
		session, _ := got.claims.SubID["session"].(map[string]any)
		user, _ := got.claims.SubID["user"].(map[string]any)
		if uri != webhook.EventSessionRevoked || got.claims.SubID["format"] != "complex" || session["id"] != idc.SID ||
			user["format"] != "iss_sub" || user["iss"] != s.base || user["sub"] != idt.Subject || body["initiating_entity"] != "admin" {
			t.Fatalf("session-revoked: %s %v %v", uri, got.claims.SubID, body)
		}

		// Bob never used the portal; Ada's account is disabled.
		mustRun(t, s.env, "users", "disable", bob.ID)
		mustRun(t, s.env, "users", "disable", ada.ID)
		seen := map[string]receivedSET{}
		for range 2 {
			got := rc.next("account disabled")
			uri, _ := got.event()
			seen[uri] = got
		}
		for _, uri := range []string{webhook.EventSessionRevoked, webhook.EventAccountDisabled} {
			if got, ok := seen[uri]; !ok || got.claims.SubID["sub"] != ada.ID || got.claims.Txn == "" {
				t.Fatalf("after disable: %s missing or wrong: %+v", uri, seen)
			}
		}
		// Bob's disable came first: had it been sent, its delivery would exist by now.
		var ds []struct {
			SET struct {
				SubID map[string]any `json:"sub_id"`
			} `json:"set"`
		}
		mustRun(t, s.env, "streams", "deliveries", sc.StreamID).decodeJSON(t, &ds)
		if len(ds) != 4 {
			t.Fatalf("streams deliveries: %d, want 4 (verification, session, disabled x2)", len(ds))
		}
		for _, d := range ds {
			if d.SET.SubID["sub"] == bob.ID {
				t.Fatal("the portal heard of a person who never used it")
			}
		}

		// The operator pauses the stream: the receiver hears so at once,
		// and what happens meanwhile is held until it is enabled again.
		var streams []streamView
		mustRun(t, s.env, "streams", "list", "--client", c.ID).decodeJSON(t, &streams)
		if len(streams) != 1 || streams[0].ID != sc.StreamID || streams[0].Status != "enabled" || !streams[0].Authorization ||
			strings.Contains(mustRun(t, s.env, "streams", "list").stdout, "receiver-secret") {
			t.Fatalf("streams list: %+v", streams)
		}
		mustRun(t, s.env, "streams", "pause", sc.StreamID, "--reason", "maintenance")
		if uri, body := rc.next("paused").event(); uri != webhook.EventStreamUpdated || body["status"] != "paused" || body["reason"] != "maintenance" {
			t.Fatalf("on pause: %s %v", uri, body)
		}
		var st struct{ Status, Reason string }
		api.do("GET", s.base+webhook.PathStreamStatus+"?stream_id="+sc.StreamID, nil, &st)
		if st.Status != "paused" || st.Reason != "maintenance" {
			t.Fatalf("status seen by the receiver: %+v", st)
		}
		mustRun(t, s.env, "users", "enable", ada.ID)
		mustRun(t, s.env, "users", "set-password", ada.ID, "--password", "a brand new passphrase 44")
		if !eventually(30*time.Second, func() bool {
			var held []json.RawMessage
			mustRun(t, s.env, "streams", "deliveries", sc.StreamID, "--status", "held").decodeJSON(t, &held)
			return len(held) == 1
		}) {
			t.Fatal("the credential change is not held while paused")
		}
		mustRun(t, s.env, "streams", "enable", sc.StreamID)
		seen = map[string]receivedSET{}
		for range 2 {
			got := rc.next("after enable")
			uri, _ := got.event()
			seen[uri] = got
		}
		if _, body := seen[webhook.EventStreamUpdated].event(); body["status"] != "enabled" {
			t.Fatalf("after enable: %+v", seen)
		}
		if _, body := seen[webhook.EventCredentialChange].event(); body["credential_type"] != "password" || body["initiating_entity"] != "admin" {
			t.Fatalf("credential-change: %+v", seen)
		}

		// The receiver deletes its stream; nothing more is sent.
		if res := api.do("DELETE", meta.ConfigurationEndpoint+"?stream_id="+sc.StreamID, nil, nil); res.StatusCode != 204 {
			t.Fatalf("delete: %d", res.StatusCode)
		}
		if res := api.do("GET", meta.ConfigurationEndpoint+"?stream_id="+sc.StreamID, nil, nil); res.StatusCode != 404 {
			t.Fatalf("get deleted: %d", res.StatusCode)
		}
		mustFail(t, s.env, 1, []string{"no stream"}, "streams", "get", sc.StreamID)
	})
}

// TestStreamsCLIUsage: the streams command's usage errors exit 2.
func TestStreamsCLIUsage(t *testing.T) {
	env := sqliteEnv(t)
	mustRun(t, env, "migrate", "up")
	for _, args := range [][]string{
		{"streams"}, {"streams", "nope"}, {"streams", "get"}, {"streams", "pause", "--reason", "x"},
		{"streams", "get", "ss_x", "--reason", "x"}, {"streams", "deliveries", "ss_x", "--status", "lost"},
		{"streams", "deliveries", "ss_x", "--limit", "0"}, {"streams", "enable", "ss_x", "extra"},
	} {
		mustFail(t, env, 2, nil, args...)
	}
	mustFail(t, env, 1, []string{"no stream ss_x"}, "streams", "disable", "ss_x")
	if out := mustRun(t, env, "streams", "list").stdout; strings.TrimSpace(out) != "[]" {
		t.Fatalf("streams list on an empty database: %q", out)
	}
}
