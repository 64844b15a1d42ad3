package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
)

const testIssuer = "https://issuer.test"

// setKey signs SETs as provider.Provider does: a JWS with typ
// secevent+jwt.
type setKey struct {
	mu   sync.Mutex
	priv *ecdsa.PrivateKey
	sig  jose.Signer
}

func newSETKey(t testing.TB) *setKey {
	k := &setKey{}
	if err := k.rotate(); err != nil {
		t.Fatal(err)
	}
	return k
}

// rotate replaces the key: SETs signed from now on verify only with the
// new one.
func (k *setKey) rotate() error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv},
		(&jose.SignerOptions{}).WithType("secevent+jwt").WithHeader("kid", "k1"))
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.priv, k.sig = priv, sig
	return nil
}

func (k *setKey) public() *ecdsa.PublicKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	return &k.priv.PublicKey
}

func (k *setKey) SignSecurityEvent(claims map[string]any) (string, error) {
	b, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	k.mu.Lock()
	sig := k.sig
	k.mu.Unlock()
	jws, err := sig.Sign(b)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// set is a verified Security Event Token as a receiver reads it.
type set struct {
	Iss    string                    `json:"iss"`
	Aud    string                    `json:"aud"`
	Jti    string                    `json:"jti"`
	Iat    int64                     `json:"iat"`
	Txn    string                    `json:"txn"`
	SubID  map[string]any            `json:"sub_id"`
	Events map[string]map[string]any `json:"events"`
	Header http.Header               `json:"-"`
}

func (s set) event() (string, map[string]any) {
	for uri, body := range s.Events {
		return uri, body
	}
	return "", nil
}

// streamReceiver is an RFC 8935 push endpoint: it verifies each SET's
// signature and typ, and answers what answer says (202 by default).
type streamReceiver struct {
	t      testing.TB
	srv    *httptest.Server
	key    *setKey
	mu     sync.Mutex
	n      int
	answer func(n int) (int, string)
	got    chan set
}

func newStreamReceiver(t testing.TB, key *setKey) *streamReceiver {
	rc := &streamReceiver{t: t, key: key, got: make(chan set, 1000), answer: func(int) (int, string) { return 202, "" }}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if ct := r.Header.Get("Content-Type"); ct != "application/secevent+jwt" {
			t.Errorf("receiver: Content-Type %q", ct)
		}
		jws, err := jose.ParseSignedCompact(string(body), []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Errorf("receiver: not a JWS: %v", err)
			w.WriteHeader(400)
			return
		}
		if typ := jws.Signatures[0].Protected.ExtraHeaders["typ"]; typ != "secevent+jwt" {
			t.Errorf("receiver: typ %v", typ)
		}
		payload, err := jws.Verify(key.public())
		if err != nil {
			t.Errorf("receiver: signature: %v", err)
			w.WriteHeader(400)
			return
		}
		var s set
		if err := json.Unmarshal(payload, &s); err != nil {
			t.Errorf("receiver: claims: %v", err)
		}
		s.Header = r.Header.Clone()
		rc.mu.Lock()
		n := rc.n
		rc.n++
		rc.mu.Unlock()
		code, reply := rc.answer(n)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, reply)
		if code == 202 {
			rc.got <- s
		}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// next waits for the next accepted SET.
func (rc *streamReceiver) next(what string) set {
	rc.t.Helper()
	select {
	case s := <-rc.got:
		return s
	case <-time.After(20 * time.Second):
		rc.t.Fatalf("%s: no SET arrived", what)
	}
	return set{}
}

// none checks that nothing more was accepted once the dispatcher has
// consumed every event.
func (rc *streamReceiver) none(e *env) {
	rc.t.Helper()
	if _, err := e.svc.Dispatch(context.Background()); err != nil {
		rc.t.Fatal(err)
	}
	select {
	case s := <-rc.got:
		uri, _ := s.event()
		rc.t.Fatalf("unexpected SET %s %v", uri, s.SubID)
	default:
	}
}

// fakeTokens maps bearer tokens to clients and scopes.
type fakeTokens map[string]struct {
	client string
	scopes []string
}

func (f fakeTokens) VerifyAccessToken(_ *http.Request, _, token string) (string, []string, error) {
	if v, ok := f[token]; ok {
		return v.client, v.scopes, nil
	}
	return "", nil, errors.New("unknown token")
}

// transmitter serves e's Transmitter; tokens "rp" and "other" manage
// streams of clients rp and other, "reader" only reads rp's.
func (e *env) transmitter() *httptest.Server {
	tokens := fakeTokens{
		"rp":     {"rp", []string{ScopeStreamsManage}},
		"other":  {"other", []string{ScopeStreamsManage}},
		"reader": {"rp", []string{ScopeStreamsRead}},
		"nossf":  {"rp", []string{"users:read"}},
	}
	mux := http.NewServeMux()
	NewTransmitter(e.svc, tokens, testIssuer+"/.well-known/jwks.json", nil).Routes(mux)
	srv := httptest.NewServer(mux)
	e.t.Cleanup(srv.Close)
	return srv
}

// call sends a JSON request and decodes a JSON answer into out.
func ssfCall(t testing.TB, srv *httptest.Server, token, method, path string, body any, out any) *http.Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, raw, err)
		}
	}
	return res
}

// createStream registers a push stream of client rp to rc.
func (e *env) createStream(srv *httptest.Server, token string, rc *streamReceiver, events ...string) StreamConfiguration {
	e.t.Helper()
	var sc StreamConfiguration
	auth := "Bearer receiver-secret"
	res := ssfCall(e.t, srv, token, "POST", PathStreams, map[string]any{
		"delivery":         map[string]any{"method": deliveryPush, "endpoint_url": rc.srv.URL + "/events", "authorization_header": auth},
		"events_requested": events, "description": "test stream"}, &sc)
	if res.StatusCode != 201 {
		e.t.Fatalf("create stream: %d %+v", res.StatusCode, sc)
	}
	return sc
}

// relate makes user u known to client c: the client exists (first-party
// or not) and, unless firstParty, u consented to it.
func (e *env) relate(u, c string, firstParty bool) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.store.GetUser(ctx, u); errors.Is(err, storage.ErrNotFound) {
		if err := e.store.CreateUser(ctx, &storage.User{ID: u, Email: u + "@example.com"}); err != nil {
			e.t.Fatal(err)
		}
	}
	if _, err := e.store.GetStoredClient(ctx, c); errors.Is(err, storage.ErrNotFound) {
		if err := e.store.CreateClient(ctx, &storage.Client{ID: c, Name: c, FirstParty: firstParty,
			GrantTypes: []string{"client_credentials"}, RedirectURIs: []string{}, Scopes: []string{}}); err != nil {
			e.t.Fatal(err)
		}
	}
	if !firstParty {
		if err := e.store.SaveConsent(ctx, &storage.Consent{UserID: u, ClientID: c, Scopes: []string{"openid"}}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// TestTransmitterConfiguration: the SSF 1.0 metadata names every
// endpoint under the issuer, push delivery and OAuth authorization.
func TestTransmitterConfiguration(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), testConfig(), DefaultAlertConfig())
	srv := e.transmitter()
	var m Metadata
	if res := ssfCall(t, srv, "", "GET", PathSSFConfiguration, nil, &m); res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if m.SpecVersion != "1_0" || m.Issuer != testIssuer || m.JWKSURI != testIssuer+"/.well-known/jwks.json" ||
		m.ConfigurationEndpoint != testIssuer+PathStreams || m.StatusEndpoint != testIssuer+PathStreamStatus ||
		m.VerificationEndpoint != testIssuer+PathVerify || m.AddSubjectEndpoint != testIssuer+PathAddSubject ||
		m.RemoveSubjectEndpoint != testIssuer+PathRemoveSubject || !slices.Equal(m.DeliveryMethodsSupported, []string{deliveryPush}) ||
		len(m.AuthorizationSchemes) != 1 || m.AuthorizationSchemes[0]["spec_urn"] != "urn:ietf:rfc:6749" || m.DefaultSubjects != "ALL" {
		t.Fatalf("metadata %+v", m)
	}
}

// TestStreamManagement: a receiver creates, reads, updates, replaces and
// deletes its stream, reads and sets its status, asks for a verification
// event (at most once per interval) and adds and removes subjects; it
// never sees another client's stream, and the stream is not a webhook.
func TestStreamManagement(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		cfg := testConfig()
		cfg.Streams.MaxPerClient = 2
		cfg.Streams.MinVerificationInterval = time.Hour
		e := newEnv(t, dbURL, cfg, DefaultAlertConfig())
		srv := e.transmitter()
		rc := newStreamReceiver(t, e.setKey)
		sc := e.createStream(srv, "rp", rc, EventSessionRevoked, EventCredentialChange, "urn:example:unknown")
		if !strings.HasPrefix(sc.StreamID, "ss_") || sc.Iss != testIssuer || sc.Aud != "rp" ||
			!slices.Equal(sc.EventsDelivered, []string{EventCredentialChange, EventSessionRevoked}) || len(sc.EventsRequested) != 3 ||
			!slices.Equal(sc.EventsSupported, StreamEvents) || sc.Delivery.Method != deliveryPush || sc.Delivery.AuthorizationHeader != nil ||
			sc.MinVerificationInterval != 3600 || sc.Description != "test stream" {
			t.Fatalf("created %+v", sc)
		}
		id := sc.StreamID

		var got StreamConfiguration
		if res := ssfCall(t, srv, "reader", "GET", PathStreams+"?stream_id="+id, nil, &got); res.StatusCode != 200 || got.StreamID != id {
			t.Fatalf("get: %d %+v", res.StatusCode, got)
		}
		var list []StreamConfiguration
		if res := ssfCall(t, srv, "rp", "GET", PathStreams, nil, &list); res.StatusCode != 200 || len(list) != 1 {
			t.Fatalf("list: %d %+v", res.StatusCode, list)
		}
		// Another client sees nothing of it, and cannot touch it.
		if res := ssfCall(t, srv, "other", "GET", PathStreams+"?stream_id="+id, nil, nil); res.StatusCode != 404 {
			t.Fatalf("other client get: %d", res.StatusCode)
		}
		if res := ssfCall(t, srv, "other", "GET", PathStreams, nil, &list); res.StatusCode != 200 || len(list) != 0 {
			t.Fatalf("other client list: %+v", list)
		}
		for _, c := range []struct{ method, path string }{{"DELETE", PathStreams + "?stream_id=" + id}, {"GET", PathStreamStatus + "?stream_id=" + id}} {
			if res := ssfCall(t, srv, "other", c.method, c.path, nil, nil); res.StatusCode != 404 {
				t.Fatalf("other client %s %s: %d", c.method, c.path, res.StatusCode)
			}
		}
		if res := ssfCall(t, srv, "other", "POST", PathVerify, map[string]any{"stream_id": id}, nil); res.StatusCode != 404 {
			t.Fatalf("other client verify: %d", res.StatusCode)
		}
		// Nor is it a webhook for the webhook API.
		if _, err := e.svc.Get(context.Background(), id); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("webhook Get of a stream: %v", err)
		}
		if ws, _ := e.svc.List(context.Background(), "", 100); len(ws) != 0 {
			t.Fatalf("webhook List shows %d", len(ws))
		}
		if err := e.svc.Delete(context.Background(), id, "admin"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("webhook Delete of a stream: %v", err)
		}

		// PATCH changes what it names; PUT replaces.
		res := ssfCall(t, srv, "rp", "PATCH", PathStreams, map[string]any{"stream_id": id, "iss": testIssuer, "aud": "rp",
			"events_requested": []string{EventSessionRevoked}}, &got)
		if res.StatusCode != 200 || !slices.Equal(got.EventsDelivered, []string{EventSessionRevoked}) || got.Description != "test stream" {
			t.Fatalf("patch: %d %+v", res.StatusCode, got)
		}
		got = StreamConfiguration{}
		res = ssfCall(t, srv, "rp", "PUT", PathStreams, map[string]any{"stream_id": id,
			"delivery": map[string]any{"method": deliveryPush, "endpoint_url": rc.srv.URL + "/v2"}}, &got)
		if res.StatusCode != 200 || len(got.EventsDelivered) != 0 || got.Description != "" || got.Delivery.EndpointURL != rc.srv.URL+"/v2" {
			t.Fatalf("put: %d %+v", res.StatusCode, got)
		}
		for _, bad := range []map[string]any{
			{"stream_id": id, "iss": "https://elsewhere"},
			{"stream_id": id, "aud": "other"},
			{"stream_id": id, "delivery": map[string]any{"method": "urn:ietf:rfc:8936"}},
			{"events_requested": []string{EventSessionRevoked}},
		} {
			if res := ssfCall(t, srv, "rp", "PATCH", PathStreams, bad, nil); res.StatusCode != 400 {
				t.Fatalf("patch %v: %d, want 400", bad, res.StatusCode)
			}
		}

		// Status.
		var st statusBody
		if res := ssfCall(t, srv, "reader", "GET", PathStreamStatus+"?stream_id="+id, nil, &st); res.StatusCode != 200 || st.Status != "enabled" {
			t.Fatalf("status: %d %+v", res.StatusCode, st)
		}
		if res := ssfCall(t, srv, "rp", "POST", PathStreamStatus, map[string]any{"stream_id": id, "status": "paused", "reason": "maintenance"}, &st); res.StatusCode != 200 ||
			st.Status != "paused" || st.Reason != "maintenance" {
			t.Fatalf("pause: %d %+v", res.StatusCode, st)
		}
		if res := ssfCall(t, srv, "rp", "POST", PathStreamStatus, map[string]any{"stream_id": id, "status": "sleeping"}, nil); res.StatusCode != 400 {
			t.Fatalf("bad status: %d", res.StatusCode)
		}
		if res := ssfCall(t, srv, "reader", "POST", PathStreamStatus, map[string]any{"stream_id": id, "status": "enabled"}, nil); res.StatusCode != 403 {
			t.Fatalf("reader sets status: %d", res.StatusCode)
		}
		ssfCall(t, srv, "rp", "POST", PathStreamStatus, map[string]any{"stream_id": id, "status": "enabled"}, nil)

		// Verification: the receiver gets its state back, signed; a second
		// ask within the interval is refused.
		if res := ssfCall(t, srv, "rp", "POST", PathVerify, map[string]any{"stream_id": id, "state": "s-123"}, nil); res.StatusCode != 204 {
			t.Fatalf("verify: %d", res.StatusCode)
		}
		v := rc.next("verification")
		if uri, body := v.event(); uri != EventVerification || body["state"] != "s-123" || v.Aud != "rp" || v.Iss != testIssuer ||
			v.SubID["format"] != "opaque" || v.SubID["id"] != id || !strings.HasPrefix(v.Jti, "set_") {
			t.Fatalf("verification SET %+v", v)
		}
		if res := ssfCall(t, srv, "rp", "POST", PathVerify, map[string]any{"stream_id": id}, nil); res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
			t.Fatalf("second verify: %d", res.StatusCode)
		}

		// Subjects.
		for _, c := range []struct {
			path    string
			subject map[string]any
			want    int
		}{
			{PathAddSubject, map[string]any{"format": "iss_sub", "iss": testIssuer, "sub": "u1"}, 200},
			{PathRemoveSubject, map[string]any{"format": "email", "email": "nobody@example.com"}, 204},
			{PathRemoveSubject, map[string]any{"format": "iss_sub", "iss": "https://other", "sub": "u1"}, 204},
			{PathAddSubject, map[string]any{"format": "phone_number", "phone_number": "+1"}, 400},
			{PathAddSubject, map[string]any{"format": "iss_sub", "iss": testIssuer}, 400},
			{PathAddSubject, map[string]any{}, 400},
		} {
			if res := ssfCall(t, srv, "rp", "POST", c.path, map[string]any{"stream_id": id, "subject": c.subject}, nil); res.StatusCode != c.want {
				t.Fatalf("%s %v: %d, want %d", c.path, c.subject, res.StatusCode, c.want)
			}
		}

		// A client has at most max_per_client streams.
		e.createStream(srv, "rp", rc)
		if res := ssfCall(t, srv, "rp", "POST", PathStreams, map[string]any{"delivery": map[string]any{"endpoint_url": rc.srv.URL}}, nil); res.StatusCode != 409 {
			t.Fatalf("third stream: %d, want 409", res.StatusCode)
		}

		if res := ssfCall(t, srv, "rp", "DELETE", PathStreams+"?stream_id="+id, nil, nil); res.StatusCode != 204 {
			t.Fatalf("delete: %d", res.StatusCode)
		}
		if res := ssfCall(t, srv, "rp", "GET", PathStreams+"?stream_id="+id, nil, nil); res.StatusCode != 404 {
			t.Fatalf("get deleted: %d", res.StatusCode)
		}
	})
}

// TestStreamRequestsRefused: missing and bad tokens, missing scopes,
// hostile bodies and URLs get a clear error and change nothing.
func TestStreamRequestsRefused(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), testConfig(), DefaultAlertConfig())
	srv := e.transmitter()
	rc := newStreamReceiver(t, e.setKey)
	for _, c := range []struct {
		token, method, path string
		body                any
		want                int
	}{
		{"", "GET", PathStreams, nil, 401},
		{"forged", "GET", PathStreams, nil, 401},
		{"nossf", "GET", PathStreams, nil, 403},
		{"reader", "POST", PathStreams, map[string]any{"delivery": map[string]any{"endpoint_url": rc.srv.URL}}, 403},
		{"rp", "POST", PathStreams, `{"delivery":`, 400},
		{"rp", "POST", PathStreams, `{"delivery":{"endpoint_url":"` + rc.srv.URL + `"}} {}`, 400},
		{"rp", "POST", PathStreams, `[]`, 400},
		{"rp", "POST", PathStreams, `{"delivery":{"endpoint_url":"` + strings.Repeat("a", 70<<10) + `"}}`, 413},
		{"rp", "POST", PathStreams, map[string]any{}, 400},
		{"rp", "POST", PathStreams, map[string]any{"delivery": map[string]any{"method": "urn:ietf:rfc:8936"}}, 400},
		{"rp", "POST", PathStreams, map[string]any{"delivery": map[string]any{"endpoint_url": "ftp://example.com/x"}}, 400},
		{"rp", "POST", PathStreams, map[string]any{"delivery": map[string]any{"endpoint_url": "https://user:pw@example.com/x"}}, 400},
		{"rp", "POST", PathStreams, map[string]any{"delivery": map[string]any{"endpoint_url": "https://10.0.0.1/x"}}, 400},
		{"rp", "POST", PathStreams, map[string]any{"delivery": map[string]any{"endpoint_url": rc.srv.URL, "authorization_header": "a\r\nX-Evil: 1"}}, 400},
		{"rp", "POST", PathStreams, map[string]any{"delivery": map[string]any{"endpoint_url": rc.srv.URL}, "events_requested": []string{"a b"}}, 400},
		{"rp", "POST", PathStreams, map[string]any{"delivery": map[string]any{"endpoint_url": rc.srv.URL}, "description": strings.Repeat("d", 501)}, 400},
		{"rp", "DELETE", PathStreams, nil, 400},
		{"rp", "GET", PathStreamStatus, nil, 400},
		{"rp", "POST", PathVerify, map[string]any{}, 400},
		{"rp", "POST", PathVerify, map[string]any{"stream_id": "ss_nope"}, 404},
		{"rp", "GET", PathVerify, nil, 405},
		{"rp", "PATCH", PathStreamStatus, nil, 405},
	} {
		res := ssfCall(t, srv, c.token, c.method, c.path, c.body, nil)
		if res.StatusCode != c.want {
			t.Errorf("%s %s %s %.80v: %d, want %d", c.token, c.method, c.path, c.body, res.StatusCode, c.want)
		}
		if res.StatusCode == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without WWW-Authenticate")
		}
	}
	req, _ := http.NewRequest("POST", srv.URL+PathStreams, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer rp")
	req.Header.Set("Content-Type", "text/plain")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 415 {
		t.Fatalf("text/plain body: %v %v", res, err)
	}
	if sts, _ := e.svc.AllStreams(context.Background(), "", 100); len(sts) != 0 {
		t.Fatalf("refused requests made %d streams", len(sts))
	}
}

// TestStreamEvents: audit events become signed CAEP and RISC events for
// the streams whose receivers may know the user (consent, or a
// first-party client), and that requested them; a removed subject gets
// nothing; a deleted user is announced to the clients it had consented
// to.
func TestStreamEvents(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, testConfig(), DefaultAlertConfig())
		srv := e.transmitter()
		rp := newStreamReceiver(t, e.setKey)
		other := newStreamReceiver(t, e.setKey)
		e.relate("u1", "rp", false)
		e.relate("u2", "other", true) // first-party: hears of every user
		sc := e.createStream(srv, "rp", rp, StreamEvents...)
		e.createStream(srv, "other", other, EventSessionRevoked)

		e.emit(storage.AuditLogout, "u1", map[string]any{"sid": "sess-1"})
		s := rp.next("session-revoked")
		uri, body := s.event()
		user := map[string]any{"format": "iss_sub", "iss": testIssuer, "sub": "u1"}
		if uri != EventSessionRevoked || body["initiating_entity"] != "user" || body["event_timestamp"] == nil ||
			s.SubID["format"] != "complex" || !jsonEqual(s.SubID["user"], user) ||
			!jsonEqual(s.SubID["session"], map[string]any{"format": "opaque", "id": "sess-1"}) || s.Aud != "rp" || s.Txn == "" {
			t.Fatalf("SET %+v", s)
		}
		if s.Header.Get("Authorization") != "Bearer receiver-secret" || s.Header.Get("Accept") != "application/json" ||
			s.Header.Get("webhook-signature") != "" {
			t.Fatalf("push headers %v", s.Header)
		}
		ds := e.waitStream(sc.StreamID, storage.DeliverySucceeded, 1)
		if ds[0].ID != s.Jti || ds[0].EventType != EventSessionRevoked || ds[0].LastStatus != 202 {
			t.Fatalf("delivery %+v", ds[0])
		}
		o := other.next("first-party session-revoked") // first-party: u1 too
		if !jsonEqual(o.SubID["user"], user) || o.Aud != "other" {
			t.Fatalf("first-party SET %+v", o)
		}

		e.emit(storage.AuditPasswordChanged, "u1", nil)
		s = rp.next("credential-change")
		if uri, body := s.event(); uri != EventCredentialChange || body["credential_type"] != "password" ||
			body["change_type"] != "update" || !jsonEqual(s.SubID, user) {
			t.Fatalf("SET %+v", s)
		}

		// u2 never consented to rp: rp hears nothing of it.
		e.emit(storage.AuditSessionRevoked, "u2", map[string]any{"all": true})
		o = other.next("u2 session-revoked")
		if uri, body := o.event(); uri != EventSessionRevoked || body["initiating_entity"] != "system" || o.SubID["sub"] != "u2" {
			t.Fatalf("SET %+v", o)
		}
		rp.none(e)

		// Removed subjects get nothing; added back, they do.
		ssfCall(t, srv, "rp", "POST", PathRemoveSubject, map[string]any{"stream_id": sc.StreamID, "subject": map[string]any{"format": "email", "email": "u1@example.com"}}, nil)
		e.emit(storage.AuditPasswordReset, "u1", nil)
		other.none(e) // not requested by other
		rp.none(e)
		ssfCall(t, srv, "rp", "POST", PathAddSubject, map[string]any{"stream_id": sc.StreamID, "subject": user}, nil)

		// An administrator disables, enables and deletes the account.
		e.emit(storage.AuditUserDisabled, "u1", nil)
		got := map[string]set{}
		for range 2 {
			s := rp.next("disable")
			uri, _ := s.event()
			got[uri] = s
		}
		if _, ok := got[EventAccountDisabled]; !ok || got[EventSessionRevoked].Events[EventSessionRevoked]["initiating_entity"] != "system" ||
			got[EventSessionRevoked].Txn != got[EventAccountDisabled].Txn {
			t.Fatalf("disable SETs %+v", got)
		}
		other.next("disable: first-party session-revoked")
		e.emit(storage.AuditUserEnabled, "u1", nil)
		if uri, _ := rp.next("enable").event(); uri != EventAccountEnabled {
			t.Fatalf("enable: %s", uri)
		}
		if err := e.store.DeleteConsent(context.Background(), "u1", "rp"); err != nil {
			t.Fatal(err)
		}
		e.emit(storage.AuditUserDeleted, "u1", map[string]any{"clients": []any{"rp"}})
		got = map[string]set{}
		for range 2 {
			s := rp.next("purge")
			uri, _ := s.event()
			got[uri] = s
		}
		if _, ok := got[EventAccountPurged]; !ok {
			t.Fatalf("purge SETs %+v", got)
		}
		other.next("purge: first-party session-revoked")
		rp.none(e)
		other.none(e)
	})
}

// TestStreamPauseAndDisable: a paused stream holds its events until it is
// enabled; an operator's status change is announced with stream-updated;
// a disabled stream drops what it held and gets nothing new.
func TestStreamPauseAndDisable(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, testConfig(), DefaultAlertConfig())
		ctx := context.Background()
		srv := e.transmitter()
		rc := newStreamReceiver(t, e.setKey)
		e.relate("u1", "rp", false)
		sc := e.createStream(srv, "rp", rc, EventSessionRevoked)
		id := sc.StreamID

		ssfCall(t, srv, "rp", "POST", PathStreamStatus, map[string]any{"stream_id": id, "status": "paused"}, nil)
		e.emit(storage.AuditLogout, "u1", nil)
		e.waitStream(id, storage.DeliveryHeld, 1)
		rc.none(e)
		ssfCall(t, srv, "rp", "POST", PathStreamStatus, map[string]any{"stream_id": id, "status": "enabled"}, nil)
		if uri, _ := rc.next("released").event(); uri != EventSessionRevoked {
			t.Fatalf("released %s", uri)
		}
		rc.none(e) // the receiver's own change is not announced to it

		// An operator pauses it: the receiver hears so.
		if _, err := e.svc.SetStreamStatus(ctx, "", id, storage.StreamPaused, "receiver overloaded", "cli"); err != nil {
			t.Fatal(err)
		}
		if uri, body := rc.next("paused").event(); uri != EventStreamUpdated || body["status"] != "paused" || body["reason"] != "receiver overloaded" {
			t.Fatalf("on pause: %s %v", uri, body)
		}
		e.emit(storage.AuditLogout, "u1", nil)
		e.waitStream(id, storage.DeliveryHeld, 1)
		rc.none(e)
		if _, err := e.svc.SetStreamStatus(ctx, "", id, storage.StreamEnabled, "", "cli"); err != nil {
			t.Fatal(err)
		}
		seen := map[string][]map[string]any{}
		for range 2 {
			uri, body := rc.next("after enable").event()
			seen[uri] = append(seen[uri], body)
		}
		if len(seen[EventSessionRevoked]) != 1 || len(seen[EventStreamUpdated]) != 1 || seen[EventStreamUpdated][0]["status"] != "enabled" {
			t.Fatalf("after enable %v", seen)
		}

		// Paused, then disabled: what it held is dropped.
		ssfCall(t, srv, "rp", "POST", PathStreamStatus, map[string]any{"stream_id": id, "status": "paused"}, nil)
		e.emit(storage.AuditLogout, "u1", nil)
		e.waitStream(id, storage.DeliveryHeld, 1)
		ssfCall(t, srv, "rp", "POST", PathStreamStatus, map[string]any{"stream_id": id, "status": "disabled"}, nil)
		e.waitStream(id, storage.DeliveryFailed, 1)
		e.emit(storage.AuditLogout, "u1", nil)
		if res := ssfCall(t, srv, "rp", "POST", PathVerify, map[string]any{"stream_id": id}, nil); res.StatusCode != 400 {
			t.Fatalf("verify a disabled stream: %d", res.StatusCode)
		}
		rc.none(e)
		if ds, _ := e.svc.StreamDeliveries(ctx, storage.DeliveryFilter{WebhookID: id, Status: storage.DeliveryHeld, Limit: 10}); len(ds) != 0 {
			t.Fatalf("%d still held", len(ds))
		}
	})
}

// TestStreamReceiverErrors: an RFC 8935 error answer ends the delivery
// at once (invalid_key is retried: the receiver may refresh its keys, and
// each attempt is signed with the key active then);
// 410 Gone disables the stream, and its status says why.
func TestStreamReceiverErrors(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, testConfig(), DefaultAlertConfig())
		srv := e.transmitter()
		rc := newStreamReceiver(t, e.setKey)
		e.relate("u1", "rp", false)
		id := e.createStream(srv, "rp", rc, EventSessionRevoked).StreamID

		rc.answer = func(n int) (int, string) {
			switch n {
			case 0:
				return 400, `{"err":"invalid_request","description":"not for us"}`
			case 1:
				// The receiver does not know the key: authd has rotated
				// meanwhile, and the retry is signed with the new one.
				if err := e.setKey.rotate(); err != nil {
					t.Error(err)
				}
				return 400, `{"err":"invalid_key"}`
			case 2:
				return 202, ""
			}
			return 410, ""
		}
		e.emit(storage.AuditLogout, "u1", nil)
		failed := e.waitStream(id, storage.DeliveryFailed, 1)
		if failed[0].Attempts != 1 {
			t.Fatalf("invalid_request: %d attempts, want 1", failed[0].Attempts)
		}
		e.emit(storage.AuditLogout, "u1", nil)
		rc.next("after invalid_key")
		ok := e.waitStream(id, storage.DeliverySucceeded, 1)
		if ok[0].Attempts != 2 {
			t.Fatalf("invalid_key: %d attempts, want 2", ok[0].Attempts)
		}
		e.emit(storage.AuditLogout, "u1", nil)
		e.waitStream(id, storage.DeliveryFailed, 2)
		var st statusBody
		ssfCall(t, srv, "rp", "GET", PathStreamStatus+"?stream_id="+id, nil, &st)
		if st.Status != "disabled" || !strings.Contains(st.Reason, "410") {
			t.Fatalf("status %+v", st)
		}
		// Enabled again by its receiver, it gets events again.
		rc.answer = func(int) (int, string) { return 202, "" }
		ssfCall(t, srv, "rp", "POST", PathStreamStatus, map[string]any{"stream_id": id, "status": "enabled"}, nil)
		e.emit(storage.AuditLogout, "u1", nil)
		rc.next("re-enabled")
	})
}

// FuzzStreamRequest: no body makes the stream endpoints fail with a
// server error.
func FuzzStreamRequest(f *testing.F) {
	for _, s := range []string{`{}`, `{"delivery":{"endpoint_url":"http://127.0.0.1:1/x"},"events_requested":["a"]}`,
		`{"stream_id":"ss_x","status":"paused"}`, `{"stream_id":"x","subject":{"format":"email","email":"a@b"}}`, `null`, `{"delivery":null}`} {
		f.Add(s)
	}
	e := newEnv(f, testdb.SQLite(f), testConfig(), DefaultAlertConfig())
	srv := e.transmitter()
	f.Fuzz(func(t *testing.T, body string) {
		for _, c := range []struct{ method, path string }{{"POST", PathStreams}, {"PATCH", PathStreams}, {"PUT", PathStreams},
			{"POST", PathStreamStatus}, {"POST", PathAddSubject}, {"POST", PathRemoveSubject}, {"POST", PathVerify}} {
			if res := ssfCall(t, srv, "other", c.method, c.path, body, nil); res.StatusCode >= 500 {
				t.Fatalf("%s %s %q: %d", c.method, c.path, body, res.StatusCode)
			}
		}
	})
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// waitStream polls a stream's deliveries until n have status.
func (e *env) waitStream(id, status string, n int) []*storage.WebhookDelivery {
	e.t.Helper()
	return e.waitListed(e.svc.StreamDeliveries, id, status, n)
}
