// Package storagetest is the conformance suite every authd storage backend
// must pass: the domain contracts of package storage and the fosite storage
// contracts the provider composes. A backend's own test calls RunTests with
// a factory that hands out fresh, migrated, empty stores.
package storagetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fstorage "github.com/ory/fosite/storage"

	"github.com/authd/authd/storage"
)

// Store is everything a backend implements: authd's own contracts and the
// fosite storage contracts.
type Store interface {
	storage.Clients
	storage.Keys
	storage.Revocations
	storage.Changes
	storage.Tokens
	fosite.ClientManager
	oauth2.CoreStorage
	oauth2.TokenRevocationStorage
	pkce.PKCERequestStorage
	openid.OpenIDConnectRequestStorage
	fstorage.Transactional
}

// Factory returns a fresh, migrated, empty store whose clock is now. It
// registers whatever cleanup the store needs with t.
type Factory func(t *testing.T, now func() time.Time) Store

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that stands at t until moved.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// T0 is where every subtest's clock starts: not UTC and below millisecond
// precision, so that the suite sees backends normalise times.
var T0 = time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("UTC+2", 2*3600))

// ms is how a backend stores t: UTC, millisecond precision.
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// BrowserSession is an OpenID session that belongs to a browser session:
// the store reads the id through BrowserSessionID.
type BrowserSession struct {
	*openid.DefaultSession
	SID string `json:"sid"`
}

// BrowserSessionID returns the browser session id.
func (s *BrowserSession) BrowserSessionID() string { return s.SID }

// env is one subtest's store and clock.
type env struct {
	s     Store
	clock *Clock
	ctx   context.Context
}

func (e *env) now() time.Time { return e.clock.Now() }

// RunTests runs the conformance suite; every subtest gets its own store.
func RunTests(t *testing.T, newStore Factory) {
	setup := func(t *testing.T) *env {
		t.Helper()
		clock := NewClock(T0)
		return &env{s: newStore(t, clock.Now), clock: clock, ctx: context.Background()}
	}
	groups := []struct {
		name  string
		tests []namedTest
	}{
		{"Clients", clientTests},
		{"Keys", keyTests},
		{"Revocations", revocationTests},
		{"Changes", changeTests},
		{"AuthorizeCodes", codeTests},
		{"RefreshTokens", refreshTests},
		{"TokenRevocation", tokenRevocationTests},
		{"PKCE", pkceTests},
		{"OpenIDConnect", oidcTests},
		{"ClientAssertionJWT", jtiTests},
		{"AccessTokens", accessTokenTests},
		{"Transactions", txTests},
		{"Concurrency", concurrencyTests},
		{"DeleteExpired", deleteExpiredTests},
		{"Sessions", sessionTests},
		{"Accounts", accountTests},
		{"Registrations", registrationTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, setup(t)) })
			}
		})
	}
}

type namedTest struct {
	name string
	fn   func(t *testing.T, e *env)
}

// ---------------------------------------------------------------- helpers

func mustNoErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// wantErr checks errors.Is(err, want) for every want.
func wantErr(t *testing.T, what string, err error, wants ...error) {
	t.Helper()
	for _, w := range wants {
		if !errors.Is(err, w) {
			t.Errorf("%s: got error %v, want errors.Is(err, %v)", what, err, w)
		}
	}
}

func testJWKS(t *testing.T) *jose.JSONWebKeySet {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustNoErr(t, "generate ec key", err)
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	mustNoErr(t, "generate ed25519 key", err)
	return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &ec.PublicKey, KeyID: "ec-1", Algorithm: "ES256", Use: "sig"},
		{Key: edPub, KeyID: "ed-1", Algorithm: "EdDSA", Use: "sig"},
	}}
}

// newClient returns a confidential client with every list field set.
func newClient(id string) *storage.Client {
	return &storage.Client{
		ID:                      id,
		Name:                    "Client " + id,
		SecretHash:              []byte("$argon2id$v=19$hash-of-" + id),
		RedirectURIs:            []string{"https://" + id + ".example/cb", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs:  []string{"https://" + id + ".example/bye"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		Scopes:                  []string{"openid", "profile", "offline_access"},
		Audience:                []string{"https://api.example"},
		TokenEndpointAuthMethod: storage.AuthMethodBasic,
	}
}

func mustCreateClient(t *testing.T, e *env, id string) *storage.Client {
	t.Helper()
	c := newClient(id)
	mustNoErr(t, fmt.Sprintf("CreateClient(%q)", id), e.s.CreateClient(e.ctx, c))
	return c
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	mustNoErr(t, "json.Marshal", err)
	return string(b)
}

// clientDiff describes how got differs from want; empty if they match.
// Times are compared as instants and must be UTC at millisecond precision.
func clientDiff(t *testing.T, got, want *storage.Client) string {
	t.Helper()
	var d []string
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{{"CreatedAt", got.CreatedAt, want.CreatedAt}, {"UpdatedAt", got.UpdatedAt, want.UpdatedAt}} {
		if !f.got.Equal(f.want) {
			d = append(d, fmt.Sprintf("%s: got %v, want %v", f.name, f.got, f.want))
		}
		if f.got.Location() != time.UTC || f.got.Nanosecond()%int(time.Millisecond) != 0 {
			d = append(d, fmt.Sprintf("%s: got %v, want UTC at millisecond precision", f.name, f.got))
		}
	}
	if g, w := jsonString(t, got.JWKS), jsonString(t, want.JWKS); g != w {
		d = append(d, fmt.Sprintf("JWKS: got %s, want %s", g, w))
	}
	g, w := *got, *want
	g.CreatedAt, g.UpdatedAt, g.JWKS = time.Time{}, time.Time{}, nil
	w.CreatedAt, w.UpdatedAt, w.JWKS = time.Time{}, time.Time{}, nil
	if !reflect.DeepEqual(g, w) {
		d = append(d, fmt.Sprintf("fields:\n got  %+v\n want %+v", g, w))
	}
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

// newSession returns an OpenID session of subject whose tokens expire
// relative to now; a non-empty sid makes it a BrowserSession.
func newSession(subject, sid string, now time.Time) fosite.Session {
	s := openid.NewDefaultSession()
	s.Subject = subject
	s.Username = subject + "@example"
	s.Claims.Subject = subject
	s.SetExpiresAt(fosite.AuthorizeCode, now.Add(10*time.Minute))
	s.SetExpiresAt(fosite.AccessToken, now.Add(time.Hour))
	s.SetExpiresAt(fosite.RefreshToken, now.Add(30*24*time.Hour))
	if sid != "" {
		return &BrowserSession{DefaultSession: s, SID: sid}
	}
	return s
}

// newRequest returns a request of client with id, granting scopes.
func newRequest(c *storage.Client, id string, sess fosite.Session, now time.Time, granted ...string) *fosite.Request {
	r := fosite.NewRequest()
	r.ID = id
	r.RequestedAt = now.UTC()
	r.Client = c
	r.RequestedScope = fosite.Arguments{"openid", "profile", "offline_access"}
	r.GrantedScope = granted
	r.RequestedAudience = fosite.Arguments{"https://api.example"}
	r.GrantedAudience = fosite.Arguments{"https://api.example"}
	r.Form = url.Values{"redirect_uri": {"https://app.example/cb"}, "scope": {"openid profile"}}
	r.Session = sess
	return r
}

// protoSession is the empty session a caller hands the store to fill.
func protoSession(sid bool) fosite.Session {
	if sid {
		return &BrowserSession{DefaultSession: openid.NewDefaultSession()}
	}
	return openid.NewDefaultSession()
}

func sameStrings(a, b []string) bool { return slices.Equal(a, b) } // nil equals empty

func sameForm(a, b url.Values) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// requestDiff describes how got differs from want; empty if they match.
func requestDiff(got fosite.Requester, want *fosite.Request) string {
	if got == nil {
		return "got nil request"
	}
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s: got %v, want %v", field, g, w)) }
	if got.GetID() != want.ID {
		add("ID", got.GetID(), want.ID)
	}
	if !got.GetRequestedAt().Equal(want.RequestedAt) {
		add("RequestedAt", got.GetRequestedAt(), want.RequestedAt)
	}
	if got.GetClient() == nil || got.GetClient().GetID() != want.Client.GetID() {
		add("Client", got.GetClient(), want.Client.GetID())
	}
	if !sameStrings(got.GetRequestedScopes(), want.RequestedScope) {
		add("RequestedScope", got.GetRequestedScopes(), want.RequestedScope)
	}
	if !sameStrings(got.GetGrantedScopes(), want.GrantedScope) {
		add("GrantedScope", got.GetGrantedScopes(), want.GrantedScope)
	}
	if !sameStrings(got.GetRequestedAudience(), want.RequestedAudience) {
		add("RequestedAudience", got.GetRequestedAudience(), want.RequestedAudience)
	}
	if !sameStrings(got.GetGrantedAudience(), want.GrantedAudience) {
		add("GrantedAudience", got.GetGrantedAudience(), want.GrantedAudience)
	}
	if !sameForm(got.GetRequestForm(), want.Form) {
		add("Form", got.GetRequestForm(), want.Form)
	}
	gs, ws := got.GetSession(), want.Session
	switch {
	case gs == nil:
		add("Session", nil, ws)
	default:
		if gs.GetSubject() != ws.GetSubject() {
			add("Session.Subject", gs.GetSubject(), ws.GetSubject())
		}
		if gs.GetUsername() != ws.GetUsername() {
			add("Session.Username", gs.GetUsername(), ws.GetUsername())
		}
		for _, tt := range []fosite.TokenType{fosite.AuthorizeCode, fosite.AccessToken, fosite.RefreshToken} {
			if g, w := gs.GetExpiresAt(tt), ws.GetExpiresAt(tt); !g.Equal(w) {
				add("Session.ExpiresAt["+string(tt)+"]", g, w)
			}
		}
		if w, ok := ws.(*BrowserSession); ok {
			if g, ok := gs.(*BrowserSession); !ok || g.SID != w.SID {
				add("Session.SID", gs, w.SID)
			}
		}
	}
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

// refreshState reports whether the refresh token sig is "active",
// "inactive" or "missing", failing on any other outcome.
func refreshState(t *testing.T, e *env, sig string) string {
	t.Helper()
	r, err := e.s.GetRefreshTokenSession(e.ctx, sig, protoSession(false))
	switch {
	case err == nil:
		return "active"
	case errors.Is(err, fosite.ErrInactiveToken):
		if r == nil {
			t.Errorf("GetRefreshTokenSession(%q) = nil request with ErrInactiveToken, want the request", sig)
		}
		return "inactive"
	case errors.Is(err, fosite.ErrNotFound):
		return "missing"
	}
	t.Fatalf("GetRefreshTokenSession(%q): unexpected error %v", sig, err)
	return ""
}

func listRevocations(t *testing.T, e *env, since, now time.Time) []storage.Revocation {
	t.Helper()
	got, err := e.s.ListRevocations(e.ctx, since, now)
	mustNoErr(t, fmt.Sprintf("ListRevocations(%v, %v)", since, now), err)
	return got
}

func findRevocation(rs []storage.Revocation, kind storage.RevocationKind, value string) *storage.Revocation {
	for i := range rs {
		if rs[i].Kind == kind && rs[i].Value == value {
			return &rs[i]
		}
	}
	return nil
}

func revocationString(rs []storage.Revocation) string {
	s := "["
	for i, r := range rs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("{%s %s revoked=%s expires=%s}", r.Kind, r.Value,
			r.RevokedAt.Format(time.RFC3339Nano), r.ExpiresAt.Format(time.RFC3339Nano))
	}
	return s + "]"
}

func sameRevocations(got, want []storage.Revocation) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Kind != want[i].Kind || got[i].Value != want[i].Value ||
			!got[i].RevokedAt.Equal(want[i].RevokedAt) || !got[i].ExpiresAt.Equal(want[i].ExpiresAt) {
			return false
		}
	}
	return true
}

func listChanges(t *testing.T, e *env, since time.Time) []storage.Change {
	t.Helper()
	got, err := e.s.ListChanges(e.ctx, since)
	mustNoErr(t, fmt.Sprintf("ListChanges(%v)", since), err)
	return got
}

// changeRefs renders changes as "topic:ref" strings.
func changeRefs(cs []storage.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Topic + ":" + c.Ref
	}
	return out
}

// ---------------------------------------------------------------- clients

var clientTests = []namedTest{
	{"RoundTrip", func(t *testing.T, e *env) {
		jwks := testJWKS(t)
		tests := []struct {
			name string
			in   *storage.Client
		}{
			{"confidential with every field", func() *storage.Client {
				c := newClient("full")
				c.FirstParty = true
				c.AccessTokenTTL = 15*time.Minute + 250*time.Millisecond
				c.RefreshTokenTTL = 7 * 24 * time.Hour
				c.JWKSURI = "https://full.example/jwks.json"
				return c
			}()},
			{"private_key_jwt with inline JWKS", func() *storage.Client {
				c := newClient("jwks")
				c.SecretHash = nil
				c.TokenEndpointAuthMethod = storage.AuthMethodPrivateKeyJWT
				c.JWKS = jwks
				return c
			}()},
			{"public minimal", &storage.Client{ID: "public", Name: "Public", Public: true,
				RedirectURIs: []string{"http://127.0.0.1/cb"}, TokenEndpointAuthMethod: storage.AuthMethodNone}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				in := tc.in
				mustNoErr(t, fmt.Sprintf("CreateClient(%+v)", in), e.s.CreateClient(e.ctx, in))
				want := *in
				want.CreatedAt, want.UpdatedAt = ms(e.now()), ms(e.now())
				got, err := e.s.GetStoredClient(e.ctx, in.ID)
				mustNoErr(t, fmt.Sprintf("GetStoredClient(%q)", in.ID), err)
				if d := clientDiff(t, got, &want); d != "" {
					t.Errorf("GetStoredClient(%q) after CreateClient(%+v): %s", in.ID, in, d)
				}
				fc, err := e.s.GetClient(e.ctx, in.ID)
				mustNoErr(t, fmt.Sprintf("GetClient(%q)", in.ID), err)
				sc, ok := fc.(*storage.Client)
				if !ok {
					t.Fatalf("GetClient(%q) = %T, want *storage.Client", in.ID, fc)
				}
				if d := clientDiff(t, sc, &want); d != "" {
					t.Errorf("GetClient(%q): %s", in.ID, d)
				}
			})
		}
	}},
	{"DuplicateID", func(t *testing.T, e *env) {
		mustCreateClient(t, e, "dup")
		dup := newClient("dup")
		dup.Name = "other"
		err := e.s.CreateClient(e.ctx, dup)
		wantErr(t, `second CreateClient("dup")`, err, storage.ErrConflict)
		got, err := e.s.GetStoredClient(e.ctx, "dup")
		mustNoErr(t, `GetStoredClient("dup")`, err)
		if got.Name != "Client dup" {
			t.Errorf(`GetStoredClient("dup").Name = %q after a conflicting create, want "Client dup"`, got.Name)
		}
	}},
	{"Missing", func(t *testing.T, e *env) {
		mustCreateClient(t, e, "present")
		tests := []struct {
			op string
			fn func() error
		}{
			{"GetStoredClient", func() error { _, err := e.s.GetStoredClient(e.ctx, "absent"); return err }},
			{"GetClient", func() error { _, err := e.s.GetClient(e.ctx, "absent"); return err }},
			{"UpdateClient", func() error { return e.s.UpdateClient(e.ctx, newClient("absent")) }},
			{"DeleteClient", func() error { return e.s.DeleteClient(e.ctx, "absent") }},
		}
		for _, tc := range tests {
			t.Run(tc.op, func(t *testing.T) {
				err := tc.fn()
				wantErr(t, tc.op+`("absent")`, err, storage.ErrNotFound, fosite.ErrNotFound)
			})
		}
	}},
	{"ListOrderedByID", func(t *testing.T, e *env) {
		got, err := e.s.ListClients(e.ctx)
		mustNoErr(t, "ListClients on an empty store", err)
		if len(got) != 0 {
			t.Errorf("ListClients on an empty store = %d clients, want 0", len(got))
		}
		in := []string{"m", "b", "z", "a", "c"}
		for _, id := range in {
			mustCreateClient(t, e, id)
		}
		got, err = e.s.ListClients(e.ctx)
		mustNoErr(t, "ListClients", err)
		var ids []string
		for _, c := range got {
			ids = append(ids, c.ID)
			if d := clientDiff(t, c, func() *storage.Client {
				w := newClient(c.ID)
				w.CreatedAt, w.UpdatedAt = ms(e.now()), ms(e.now())
				return w
			}()); d != "" {
				t.Errorf("ListClients entry %q: %s", c.ID, d)
			}
		}
		want := []string{"a", "b", "c", "m", "z"}
		if !slices.Equal(ids, want) {
			t.Errorf("ListClients after creating %v = %v, want %v", in, ids, want)
		}
	}},
	{"Update", func(t *testing.T, e *env) {
		created := ms(e.now())
		mustCreateClient(t, e, "upd")
		e.clock.Advance(time.Minute)
		up := &storage.Client{
			ID: "upd", Name: "Renamed", SecretHash: []byte("new-hash"),
			RedirectURIs: []string{"https://new.example/cb"}, GrantTypes: []string{"authorization_code"},
			Scopes: []string{"openid"}, Public: true, TokenEndpointAuthMethod: storage.AuthMethodNone,
			JWKS: testJWKS(t), AccessTokenTTL: time.Minute, RefreshTokenTTL: time.Hour,
		}
		mustNoErr(t, fmt.Sprintf("UpdateClient(%+v)", up), e.s.UpdateClient(e.ctx, up))
		want := *up
		want.CreatedAt, want.UpdatedAt = created, ms(e.now())
		got, err := e.s.GetStoredClient(e.ctx, "upd")
		mustNoErr(t, `GetStoredClient("upd")`, err)
		if d := clientDiff(t, got, &want); d != "" {
			t.Errorf("GetStoredClient after UpdateClient(%+v): %s", up, d)
		}
	}},
	{"DeleteRemovesTokenState", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "gone")
		other := mustCreateClient(t, e, "stays")
		now := e.now()
		mustNoErr(t, "CreateRefreshTokenSession", e.s.CreateRefreshTokenSession(e.ctx, "rt-gone", "jti-gone",
			newRequest(c, "req-gone", newSession("alice", "", now), now, "openid")))
		mustNoErr(t, "CreateAuthorizeCodeSession", e.s.CreateAuthorizeCodeSession(e.ctx, "code-gone",
			newRequest(c, "req-gone", newSession("alice", "", now), now, "openid")))
		mustNoErr(t, "CreatePKCERequestSession", e.s.CreatePKCERequestSession(e.ctx, "code-gone",
			newRequest(c, "req-gone", newSession("alice", "", now), now, "openid")))
		mustNoErr(t, "CreateRefreshTokenSession", e.s.CreateRefreshTokenSession(e.ctx, "rt-stays", "jti-stays",
			newRequest(other, "req-stays", newSession("alice", "", now), now, "openid")))

		mustNoErr(t, `DeleteClient("gone")`, e.s.DeleteClient(e.ctx, "gone"))
		_, err := e.s.GetStoredClient(e.ctx, "gone")
		wantErr(t, `GetStoredClient("gone") after DeleteClient`, err, storage.ErrNotFound)
		// Re-create the client so a lookup can only fail because the token
		// state itself is gone.
		mustCreateClient(t, e, "gone")
		_, err = e.s.GetRefreshTokenSession(e.ctx, "rt-gone", protoSession(false))
		wantErr(t, "GetRefreshTokenSession of the deleted client's token", err, fosite.ErrNotFound)
		_, err = e.s.GetAuthorizeCodeSession(e.ctx, "code-gone", protoSession(false))
		wantErr(t, "GetAuthorizeCodeSession of the deleted client's code", err, fosite.ErrNotFound)
		_, err = e.s.GetPKCERequestSession(e.ctx, "code-gone", protoSession(false))
		wantErr(t, "GetPKCERequestSession of the deleted client's code", err, fosite.ErrNotFound)
		if st := refreshState(t, e, "rt-stays"); st != "active" {
			t.Errorf("other client's refresh token after DeleteClient(%q) is %s, want active", "gone", st)
		}
	}},
	{"WritesPublishChanges", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "feed")
		c.Name = "Feed 2"
		mustNoErr(t, "UpdateClient", e.s.UpdateClient(e.ctx, c))
		mustNoErr(t, "DeleteClient", e.s.DeleteClient(e.ctx, "feed"))
		_ = e.s.UpdateClient(e.ctx, newClient("absent")) // fails: publishes nothing
		got := changeRefs(listChanges(t, e, time.Time{}))
		want := []string{"client:feed", "client:feed", "client:feed"}
		if !slices.Equal(got, want) {
			t.Errorf("ListChanges after create, update, delete of client %q = %v, want %v", "feed", got, want)
		}
	}},
}

// ---------------------------------------------------------------- keys

func keyAt(kid string, created time.Time, retired *time.Time) *storage.SigningKey {
	return &storage.SigningKey{KID: kid, Algorithm: "ES256", SealedPrivate: []byte("sealed-" + kid),
		CreatedAt: created, RetiredAt: retired}
}

func ptr[T any](v T) *T { return &v }

func keyString(ks []*storage.SigningKey) string {
	s := "["
	for i, k := range ks {
		if i > 0 {
			s += ", "
		}
		r := "active"
		if k.RetiredAt != nil {
			r = "retired " + k.RetiredAt.Format(time.RFC3339Nano)
		}
		s += fmt.Sprintf("{%s %s %q created %s %s}", k.KID, k.Algorithm, k.SealedPrivate, k.CreatedAt.Format(time.RFC3339Nano), r)
	}
	return s + "]"
}

func sameKeys(got, want []*storage.SigningKey) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.KID != w.KID || g.Algorithm != w.Algorithm || string(g.SealedPrivate) != string(w.SealedPrivate) ||
			!g.CreatedAt.Equal(w.CreatedAt) || (g.RetiredAt == nil) != (w.RetiredAt == nil) ||
			(g.RetiredAt != nil && !g.RetiredAt.Equal(*w.RetiredAt)) {
			return false
		}
	}
	return true
}

func listKeys(t *testing.T, e *env) []*storage.SigningKey {
	t.Helper()
	ks, err := e.s.ListKeys(e.ctx)
	mustNoErr(t, "ListKeys", err)
	return ks
}

var keyTests = []namedTest{
	{"CreateListNewestFirst", func(t *testing.T, e *env) {
		t0 := ms(e.now())
		in := []*storage.SigningKey{
			keyAt("k-mid", t0.Add(-time.Hour), nil),
			keyAt("k-new", t0, nil),
			keyAt("k-old", t0.Add(-2*time.Hour), ptr(t0.Add(-time.Hour))),
		}
		for _, k := range in {
			mustNoErr(t, "CreateKey("+k.KID+")", e.s.CreateKey(e.ctx, k))
		}
		got := listKeys(t, e)
		want := []*storage.SigningKey{in[1], in[0], in[2]}
		if !sameKeys(got, want) {
			t.Errorf("ListKeys after creating %s\n got  %s\n want %s", keyString(in), keyString(got), keyString(want))
		}
		if refs := changeRefs(listChanges(t, e, time.Time{})); len(refs) != 3 || refs[0] != "keys:k-mid" {
			t.Errorf("ListChanges after 3 CreateKey = %v, want 3 %q changes starting with k-mid", refs, storage.TopicKeys)
		}
	}},
	{"DuplicateKID", func(t *testing.T, e *env) {
		mustNoErr(t, "CreateKey", e.s.CreateKey(e.ctx, keyAt("k1", e.now(), nil)))
		err := e.s.CreateKey(e.ctx, keyAt("k1", e.now().Add(time.Hour), nil))
		wantErr(t, `second CreateKey("k1")`, err, storage.ErrConflict)
	}},
	{"RetireKeepsOneActive", func(t *testing.T, e *env) {
		t0 := ms(e.now())
		earlier := t0.Add(-3 * time.Hour)
		for _, k := range []*storage.SigningKey{
			keyAt("a", t0.Add(-3*time.Hour), nil), keyAt("b", t0.Add(-2*time.Hour), nil),
			keyAt("c", t0.Add(-time.Hour), nil), keyAt("old", t0.Add(-4*time.Hour), &earlier),
		} {
			mustNoErr(t, "CreateKey("+k.KID+")", e.s.CreateKey(e.ctx, k))
		}
		mustNoErr(t, `RetireKeys("c")`, e.s.RetireKeys(e.ctx, "c", t0))
		got := listKeys(t, e)
		want := []*storage.SigningKey{
			keyAt("c", t0.Add(-time.Hour), nil), keyAt("b", t0.Add(-2*time.Hour), &t0),
			keyAt("a", t0.Add(-3*time.Hour), &t0), keyAt("old", t0.Add(-4*time.Hour), &earlier),
		}
		if !sameKeys(got, want) {
			t.Errorf("ListKeys after RetireKeys(keep=c, %v)\n got  %s\n want %s", t0, keyString(got), keyString(want))
		}
		active := 0
		for _, k := range got {
			if k.Active() {
				active++
			}
		}
		if active != 1 {
			t.Errorf("active keys after RetireKeys = %d, want 1", active)
		}
		// Retiring again keeps the earlier retirement times.
		mustNoErr(t, `RetireKeys("c") again`, e.s.RetireKeys(e.ctx, "c", t0.Add(time.Hour)))
		if got := listKeys(t, e); !sameKeys(got, want) {
			t.Errorf("ListKeys after a second RetireKeys\n got  %s\n want %s", keyString(got), keyString(want))
		}
	}},
	{"DeleteRetiredBefore", func(t *testing.T, e *env) {
		t0 := ms(e.now())
		in := []*storage.SigningKey{
			keyAt("active", t0, nil),
			keyAt("recent", t0.Add(-2*time.Hour), ptr(t0.Add(-time.Hour))),
			keyAt("ancient", t0.Add(-3*time.Hour), ptr(t0.Add(-2*time.Hour))),
		}
		for _, k := range in {
			mustNoErr(t, "CreateKey("+k.KID+")", e.s.CreateKey(e.ctx, k))
		}
		tests := []struct {
			before time.Time
			want   []*storage.SigningKey
		}{
			{t0.Add(-3 * time.Hour), in},
			{t0.Add(-90 * time.Minute), in[:2]},
			{t0.Add(time.Hour), in[:1]},
		}
		for _, tc := range tests {
			mustNoErr(t, "DeleteKeysRetiredBefore", e.s.DeleteKeysRetiredBefore(e.ctx, tc.before))
			if got := listKeys(t, e); !sameKeys(got, tc.want) {
				t.Errorf("ListKeys after DeleteKeysRetiredBefore(%v)\n got  %s\n want %s", tc.before, keyString(got), keyString(tc.want))
			}
		}
	}},
}

// ---------------------------------------------------------------- revocations

var revocationTests = []namedTest{
	{"AddIsIdempotentUpsert", func(t *testing.T, e *env) {
		t0 := e.now()
		tests := []struct {
			name string
			add  storage.Revocation
			want storage.Revocation // the one entry afterwards
		}{
			{"first", storage.Revocation{Kind: storage.RevokeToken, Value: "jti-1", RevokedAt: t0, ExpiresAt: t0.Add(time.Hour)},
				storage.Revocation{Kind: storage.RevokeToken, Value: "jti-1", RevokedAt: ms(t0), ExpiresAt: ms(t0.Add(time.Hour))}},
			{"same again", storage.Revocation{Kind: storage.RevokeToken, Value: "jti-1", RevokedAt: t0, ExpiresAt: t0.Add(time.Hour)},
				storage.Revocation{Kind: storage.RevokeToken, Value: "jti-1", RevokedAt: ms(t0), ExpiresAt: ms(t0.Add(time.Hour))}},
			{"later", storage.Revocation{Kind: storage.RevokeToken, Value: "jti-1", RevokedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(2 * time.Hour)},
				storage.Revocation{Kind: storage.RevokeToken, Value: "jti-1", RevokedAt: ms(t0.Add(time.Minute)), ExpiresAt: ms(t0.Add(2 * time.Hour))}},
			{"earlier keeps the later times", storage.Revocation{Kind: storage.RevokeToken, Value: "jti-1", RevokedAt: t0.Add(-time.Minute), ExpiresAt: t0.Add(30 * time.Minute)},
				storage.Revocation{Kind: storage.RevokeToken, Value: "jti-1", RevokedAt: ms(t0.Add(time.Minute)), ExpiresAt: ms(t0.Add(2 * time.Hour))}},
		}
		for _, tc := range tests {
			mustNoErr(t, "AddRevocation("+tc.name+")", e.s.AddRevocation(e.ctx, tc.add))
			got := listRevocations(t, e, time.Time{}, t0)
			if want := []storage.Revocation{tc.want}; !sameRevocations(got, want) {
				t.Errorf("%s: ListRevocations after AddRevocation(%s)\n got  %s\n want %s", tc.name,
					revocationString([]storage.Revocation{tc.add}), revocationString(got), revocationString(want))
			}
		}
		// The same value under another kind is another entry.
		other := storage.Revocation{Kind: storage.RevokeGrant, Value: "jti-1", RevokedAt: t0.Add(2 * time.Minute), ExpiresAt: t0.Add(time.Hour)}
		mustNoErr(t, "AddRevocation(grant)", e.s.AddRevocation(e.ctx, other))
		if got := listRevocations(t, e, time.Time{}, t0); len(got) != 2 {
			t.Errorf("ListRevocations after adding kind %q for the same value = %s, want 2 entries", other.Kind, revocationString(got))
		}
	}},
	{"ListFilters", func(t *testing.T, e *env) {
		t0 := ms(e.now())
		r1 := storage.Revocation{Kind: storage.RevokeSubject, Value: "alice", RevokedAt: t0.Add(-2 * time.Hour), ExpiresAt: t0.Add(time.Hour)}
		r2 := storage.Revocation{Kind: storage.RevokeGrant, Value: "req-2", RevokedAt: t0.Add(-time.Hour), ExpiresAt: t0.Add(-time.Minute)}
		r3 := storage.Revocation{Kind: storage.RevokeSession, Value: "sid-3", RevokedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		for _, r := range []storage.Revocation{r3, r1, r2} {
			mustNoErr(t, "AddRevocation", e.s.AddRevocation(e.ctx, r))
		}
		tests := []struct {
			since, now time.Time
			want       []storage.Revocation
		}{
			{time.Time{}, t0, []storage.Revocation{r1, r3}},
			{t0.Add(-2 * time.Hour), t0, []storage.Revocation{r1, r3}},
			{t0.Add(-2*time.Hour + time.Millisecond), t0, []storage.Revocation{r3}},
			{t0.Add(-90 * time.Minute), t0.Add(-2 * time.Minute), []storage.Revocation{r2, r3}},
			{t0.Add(-3 * time.Hour), t0.Add(-time.Minute), []storage.Revocation{r1, r3}}, // expires_at == now is expired
			{t0.Add(time.Millisecond), t0, nil},
			{time.Time{}, t0.Add(time.Hour), nil},
		}
		for _, tc := range tests {
			got := listRevocations(t, e, tc.since, tc.now)
			if !sameRevocations(got, tc.want) {
				t.Errorf("ListRevocations(since=%v, now=%v)\n got  %s\n want %s", tc.since, tc.now, revocationString(got), revocationString(tc.want))
			}
		}
	}},
	{"DeleteExpired", func(t *testing.T, e *env) {
		t0 := ms(e.now())
		for i, exp := range []time.Duration{-time.Hour, -time.Minute, 0, time.Minute, time.Hour} {
			mustNoErr(t, "AddRevocation", e.s.AddRevocation(e.ctx, storage.Revocation{Kind: storage.RevokeToken,
				Value: fmt.Sprintf("jti-%d", i), RevokedAt: t0.Add(-2 * time.Hour), ExpiresAt: t0.Add(exp)}))
		}
		tests := []struct {
			now       time.Time
			want      int64
			remaining int
		}{
			{t0.Add(-2 * time.Hour), 0, 5},
			{t0, 3, 2},
			{t0, 0, 2},
			{t0.Add(2 * time.Hour), 2, 0},
		}
		for _, tc := range tests {
			n, err := e.s.DeleteExpiredRevocations(e.ctx, tc.now)
			mustNoErr(t, "DeleteExpiredRevocations", err)
			if n != tc.want {
				t.Errorf("DeleteExpiredRevocations(%v) = %d, want %d", tc.now, n, tc.want)
			}
			if got := listRevocations(t, e, time.Time{}, time.Time{}); len(got) != tc.remaining {
				t.Errorf("after DeleteExpiredRevocations(%v): %d entries left %s, want %d", tc.now, len(got), revocationString(got), tc.remaining)
			}
		}
	}},
}

// ---------------------------------------------------------------- changes

var changeTests = []namedTest{
	{"PublishListDelete", func(t *testing.T, e *env) {
		t0 := ms(e.now())
		in := []struct{ topic, ref string }{{storage.TopicClient, "c1"}, {storage.TopicKeys, "k1"}, {storage.TopicClient, "c2"}}
		for _, c := range in {
			mustNoErr(t, "PublishChange", e.s.PublishChange(e.ctx, c.topic, c.ref))
			e.clock.Advance(time.Second)
		}
		all := listChanges(t, e, time.Time{})
		if len(all) != 3 {
			t.Fatalf("ListChanges(zero) after 3 publishes = %+v, want 3", all)
		}
		for i, c := range all {
			if c.Topic != in[i].topic || c.Ref != in[i].ref || !c.CreatedAt.Equal(t0.Add(time.Duration(i)*time.Second)) {
				t.Errorf("ListChanges(zero)[%d] = %+v, want %s:%s at %v", i, c, in[i].topic, in[i].ref, t0.Add(time.Duration(i)*time.Second))
			}
			if i > 0 && c.ID <= all[i-1].ID {
				t.Errorf("ListChanges ids not increasing: %d after %d", c.ID, all[i-1].ID)
			}
		}
		sinceTests := []struct {
			since time.Time
			want  []string
		}{
			{t0, []string{"client:c1", "keys:k1", "client:c2"}},
			{t0.Add(time.Second), []string{"keys:k1", "client:c2"}},
			{t0.Add(time.Second + time.Millisecond), []string{"client:c2"}},
			{t0.Add(time.Hour), nil},
		}
		for _, tc := range sinceTests {
			if got := changeRefs(listChanges(t, e, tc.since)); !slices.Equal(got, tc.want) {
				t.Errorf("ListChanges(%v) = %v, want %v", tc.since, got, tc.want)
			}
		}
		deleteTests := []struct {
			before time.Time
			n      int64
			want   []string
		}{
			{t0, 0, []string{"client:c1", "keys:k1", "client:c2"}},
			{t0.Add(time.Second), 1, []string{"keys:k1", "client:c2"}},
			{t0.Add(time.Hour), 2, nil},
		}
		for _, tc := range deleteTests {
			n, err := e.s.DeleteChangesBefore(e.ctx, tc.before)
			mustNoErr(t, "DeleteChangesBefore", err)
			if n != tc.n {
				t.Errorf("DeleteChangesBefore(%v) = %d, want %d", tc.before, n, tc.n)
			}
			if got := changeRefs(listChanges(t, e, time.Time{})); !slices.Equal(got, tc.want) {
				t.Errorf("ListChanges after DeleteChangesBefore(%v) = %v, want %v", tc.before, got, tc.want)
			}
		}
	}},
}

// ---------------------------------------------------------------- authorize codes

var codeTests = []namedTest{
	{"CreateGetInvalidate", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "app")
		now := e.now()
		tests := []struct {
			name string
			req  *fosite.Request
		}{
			{"plain session", newRequest(c, "req-1", newSession("alice", "", now), now, "openid", "profile")},
			{"browser session", newRequest(c, "req-2", newSession("bob", "sid-2", now), now, "openid", "offline_access")},
			{"no scopes no form", func() *fosite.Request {
				r := newRequest(c, "req-3", newSession("carol", "", now), now)
				r.RequestedScope, r.Form = nil, nil
				return r
			}()},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				code := "code-" + tc.req.ID
				mustNoErr(t, "CreateAuthorizeCodeSession", e.s.CreateAuthorizeCodeSession(e.ctx, code, tc.req))
				_, sid := tc.req.Session.(*BrowserSession)
				got, err := e.s.GetAuthorizeCodeSession(e.ctx, code, protoSession(sid))
				mustNoErr(t, "GetAuthorizeCodeSession", err)
				if d := requestDiff(got, tc.req); d != "" {
					t.Errorf("GetAuthorizeCodeSession(%q): %s", code, d)
				}
				mustNoErr(t, "InvalidateAuthorizeCodeSession", e.s.InvalidateAuthorizeCodeSession(e.ctx, code))
				got, err = e.s.GetAuthorizeCodeSession(e.ctx, code, protoSession(sid))
				wantErr(t, "GetAuthorizeCodeSession of a used code", err, fosite.ErrInvalidatedAuthorizeCode)
				if d := requestDiff(got, tc.req); d != "" {
					t.Errorf("GetAuthorizeCodeSession(%q) of a used code must return the request too: %s", code, d)
				}
				err = e.s.InvalidateAuthorizeCodeSession(e.ctx, code)
				wantErr(t, "second InvalidateAuthorizeCodeSession", err, fosite.ErrInvalidatedAuthorizeCode)
			})
		}
	}},
	{"Unknown", func(t *testing.T, e *env) {
		_, err := e.s.GetAuthorizeCodeSession(e.ctx, "no-such-code", protoSession(false))
		wantErr(t, "GetAuthorizeCodeSession(unknown)", err, fosite.ErrNotFound)
		if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
			t.Errorf("GetAuthorizeCodeSession(unknown) = %v, must not be ErrInvalidatedAuthorizeCode", err)
		}
		err = e.s.InvalidateAuthorizeCodeSession(e.ctx, "no-such-code")
		wantErr(t, "InvalidateAuthorizeCodeSession(unknown)", err, fosite.ErrNotFound)
	}},
}

// ---------------------------------------------------------------- refresh tokens

var refreshTests = []namedTest{
	{"CreateGetRoundTrip", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "app")
		now := e.now()
		tests := []struct {
			name string
			sig  string
			req  *fosite.Request
		}{
			{"openid session", "rt-1", newRequest(c, "req-1", newSession("alice", "", now), now, "openid", "profile")},
			{"browser session offline", "rt-2", newRequest(c, "req-2", newSession("bob", "sid-b", now), now, "openid", "offline_access")},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				mustNoErr(t, "CreateRefreshTokenSession", e.s.CreateRefreshTokenSession(e.ctx, tc.sig, "jti-"+tc.sig, tc.req))
				_, sid := tc.req.Session.(*BrowserSession)
				got, err := e.s.GetRefreshTokenSession(e.ctx, tc.sig, protoSession(sid))
				mustNoErr(t, fmt.Sprintf("GetRefreshTokenSession(%q)", tc.sig), err)
				if d := requestDiff(got, tc.req); d != "" {
					t.Errorf("GetRefreshTokenSession(%q): %s", tc.sig, d)
				}
			})
		}
		_, err := e.s.GetRefreshTokenSession(e.ctx, "no-such-token", protoSession(false))
		wantErr(t, "GetRefreshTokenSession(unknown)", err, fosite.ErrNotFound)
	}},
	{"Rotate", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "app")
		now := e.now()
		req := newRequest(c, "req-1", newSession("alice", "", now), now, "openid")
		mustNoErr(t, "CreateRefreshTokenSession", e.s.CreateRefreshTokenSession(e.ctx, "rt-old", "jti-old", req))

		wantErr(t, "RotateRefreshToken with another request id", e.s.RotateRefreshToken(e.ctx, "req-other", "rt-old"), fosite.ErrNotFound)
		wantErr(t, "RotateRefreshToken(unknown)", e.s.RotateRefreshToken(e.ctx, "req-1", "no-such-token"), fosite.ErrNotFound)
		if st := refreshState(t, e, "rt-old"); st != "active" {
			t.Fatalf("refresh token after failed rotations is %s, want active", st)
		}

		mustNoErr(t, "RotateRefreshToken", e.s.RotateRefreshToken(e.ctx, "req-1", "rt-old"))
		got, err := e.s.GetRefreshTokenSession(e.ctx, "rt-old", protoSession(false))
		wantErr(t, "GetRefreshTokenSession of a rotated token", err, fosite.ErrInactiveToken)
		if d := requestDiff(got, req); d != "" {
			t.Errorf("GetRefreshTokenSession of a rotated token must return the request too: %s", d)
		}
		err = e.s.RotateRefreshToken(e.ctx, "req-1", "rt-old")
		wantErr(t, "second RotateRefreshToken of the same token", err, fosite.ErrSerializationFailure)

		// The successor of the same grant is independent.
		mustNoErr(t, "CreateRefreshTokenSession(successor)", e.s.CreateRefreshTokenSession(e.ctx, "rt-new", "jti-new", req))
		if st := refreshState(t, e, "rt-new"); st != "active" {
			t.Errorf("successor token is %s, want active", st)
		}
	}},
	{"RotateRevokesAccessToken", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "app")
		now := e.now()
		tests := []struct {
			name      string
			jti       string
			accessExp time.Time // zero: the session has no access token expiry
			wantRev   bool
		}{
			{"live access token", "jti-live", now.Add(time.Hour), true},
			{"expired access token", "jti-expired", now.Add(-time.Second), false},
			{"access token expiring now", "jti-now", now, false},
			{"no access jti", "", now.Add(time.Hour), false},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				sess := newSession("alice", "", now).(*openid.DefaultSession)
				sess.SetExpiresAt(fosite.AccessToken, tc.accessExp)
				reqID, sig := fmt.Sprintf("req-%d", i), fmt.Sprintf("rt-%d", i)
				mustNoErr(t, "CreateRefreshTokenSession", e.s.CreateRefreshTokenSession(e.ctx, sig, tc.jti,
					newRequest(c, reqID, sess, now, "openid")))
				mustNoErr(t, "RotateRefreshToken", e.s.RotateRefreshToken(e.ctx, reqID, sig))
				got := listRevocations(t, e, time.Time{}, now)
				r := findRevocation(got, storage.RevokeToken, tc.jti)
				switch {
				case tc.wantRev && r == nil:
					t.Errorf("after RotateRefreshToken of a token issued with access jti %q expiring %v: revocations %s, want a %q entry for it",
						tc.jti, tc.accessExp, revocationString(got), storage.RevokeToken)
				case tc.wantRev && (!r.RevokedAt.Equal(ms(now)) || !r.ExpiresAt.Equal(ms(tc.accessExp))):
					t.Errorf("revocation of %q = %s, want revoked %v expiring %v", tc.jti, revocationString([]storage.Revocation{*r}), ms(now), ms(tc.accessExp))
				case !tc.wantRev && tc.jti != "" && r != nil:
					t.Errorf("after RotateRefreshToken with access jti %q expiring %v: got revocation %s, want none",
						tc.jti, tc.accessExp, revocationString([]storage.Revocation{*r}))
				}
			})
		}
		if got := listRevocations(t, e, time.Time{}, now); len(got) != 1 {
			t.Errorf("revocations after all rotations = %s, want exactly one", revocationString(got))
		}
	}},
	{"Delete", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "app")
		now := e.now()
		mustNoErr(t, "CreateRefreshTokenSession", e.s.CreateRefreshTokenSession(e.ctx, "rt-1", "jti-1",
			newRequest(c, "req-1", newSession("alice", "", now), now, "openid")))
		mustNoErr(t, "DeleteRefreshTokenSession", e.s.DeleteRefreshTokenSession(e.ctx, "rt-1"))
		if st := refreshState(t, e, "rt-1"); st != "missing" {
			t.Errorf("refresh token after DeleteRefreshTokenSession is %s, want missing", st)
		}
	}},
}

// ---------------------------------------------------------------- revocation

type tokenSpec struct {
	sig, reqID, subject, sid string
	scopes                   []string
}

func createTokens(t *testing.T, e *env, c *storage.Client, specs []tokenSpec) {
	t.Helper()
	now := e.now()
	for _, s := range specs {
		req := newRequest(c, s.reqID, newSession(s.subject, s.sid, now), now, s.scopes...)
		mustNoErr(t, "CreateRefreshTokenSession("+s.sig+")", e.s.CreateRefreshTokenSession(e.ctx, s.sig, "jti-"+s.sig, req))
	}
}

func checkStates(t *testing.T, e *env, op string, want map[string]string) {
	t.Helper()
	sigs := make([]string, 0, len(want))
	for s := range want {
		sigs = append(sigs, s)
	}
	sort.Strings(sigs)
	for _, sig := range sigs {
		if got := refreshState(t, e, sig); got != want[sig] {
			t.Errorf("after %s: refresh token %q is %s, want %s", op, sig, got, want[sig])
		}
	}
}

var tokenRevocationTests = []namedTest{
	{"RevokeRefreshTokenFamily", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "app")
		createTokens(t, e, c, []tokenSpec{
			{"rt-a1", "grant-a", "alice", "", []string{"openid"}},
			{"rt-a2", "grant-a", "alice", "", []string{"openid", "offline_access"}},
			{"rt-b", "grant-b", "alice", "", []string{"openid"}},
		})
		mustNoErr(t, `RevokeRefreshToken("grant-a")`, e.s.RevokeRefreshToken(e.ctx, "grant-a"))
		checkStates(t, e, `RevokeRefreshToken("grant-a")`, map[string]string{"rt-a1": "inactive", "rt-a2": "inactive", "rt-b": "active"})
		mustNoErr(t, "RevokeRefreshToken(unknown)", e.s.RevokeRefreshToken(e.ctx, "no-such-grant"))
	}},
	{"RevokeAccessTokenRecordsGrant", func(t *testing.T, e *env) {
		now := e.now()
		mustNoErr(t, `RevokeAccessToken("grant-a")`, e.s.RevokeAccessToken(e.ctx, "grant-a"))
		got := listRevocations(t, e, time.Time{}, now)
		r := findRevocation(got, storage.RevokeGrant, "grant-a")
		if r == nil || len(got) != 1 {
			t.Fatalf(`ListRevocations after RevokeAccessToken("grant-a") = %s, want one %q entry`, revocationString(got), storage.RevokeGrant)
		}
		if !r.RevokedAt.Equal(ms(now)) || !r.ExpiresAt.After(now) {
			t.Errorf("grant revocation = %s, want revoked at %v and expiring after it", revocationString(got), ms(now))
		}
	}},
	{"RevokeSubjectTokens", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "app")
		createTokens(t, e, c, []tokenSpec{
			{"rt-alice-1", "g1", "alice", "s1", []string{"openid"}},
			{"rt-alice-off", "g2", "alice", "", []string{"openid", "offline_access"}},
			{"rt-bob", "g3", "bob", "s1", []string{"openid"}},
		})
		now := e.now()
		mustNoErr(t, `RevokeSubjectTokens("alice")`, e.s.RevokeSubjectTokens(e.ctx, "alice"))
		checkStates(t, e, `RevokeSubjectTokens("alice")`, map[string]string{"rt-alice-1": "inactive", "rt-alice-off": "inactive", "rt-bob": "active"})
		got := listRevocations(t, e, time.Time{}, now)
		if r := findRevocation(got, storage.RevokeSubject, "alice"); r == nil || !r.RevokedAt.Equal(ms(now)) || !r.ExpiresAt.After(now) {
			t.Errorf(`ListRevocations after RevokeSubjectTokens("alice") = %s, want a %q entry for alice revoked at %v`, revocationString(got), storage.RevokeSubject, ms(now))
		}
		if err := e.s.RevokeSubjectTokens(e.ctx, ""); err == nil {
			t.Errorf(`RevokeSubjectTokens("") = nil, want an error`)
		}
		checkStates(t, e, `RevokeSubjectTokens("")`, map[string]string{"rt-bob": "active"})
	}},
	{"RevokeClientSubjectTokens", func(t *testing.T, e *env) {
		app := mustCreateClient(t, e, "app")
		other := mustCreateClient(t, e, "other")
		createTokens(t, e, app, []tokenSpec{
			{"rt-alice-app", "g1", "alice", "s1", []string{"openid", "offline_access"}},
			{"rt-bob-app", "g2", "bob", "s1", []string{"openid"}},
		})
		createTokens(t, e, other, []tokenSpec{{"rt-alice-other", "g3", "alice", "s1", []string{"openid"}}})
		now := e.now()
		mustNoErr(t, `RevokeClientSubjectTokens("app", "alice")`, e.s.RevokeClientSubjectTokens(e.ctx, "app", "alice"))
		checkStates(t, e, `RevokeClientSubjectTokens("app", "alice")`,
			map[string]string{"rt-alice-app": "inactive", "rt-bob-app": "active", "rt-alice-other": "active"})
		got := listRevocations(t, e, time.Time{}, now)
		if r := findRevocation(got, storage.RevokeClientSubject, storage.ClientSubjectKey("app", "alice")); r == nil || !r.RevokedAt.Equal(ms(now)) {
			t.Errorf("ListRevocations = %s, want a %q entry for app/alice", revocationString(got), storage.RevokeClientSubject)
		}
		if err := e.s.RevokeClientSubjectTokens(e.ctx, "", "alice"); err == nil {
			t.Error(`RevokeClientSubjectTokens("", "alice") = nil, want an error`)
		}
	}},
	{"RevokeSessionTokens", func(t *testing.T, e *env) {
		specs := []tokenSpec{
			{"rt-s1", "g1", "alice", "s1", []string{"openid"}},
			{"rt-s1-off", "g2", "alice", "s1", []string{"openid", "offline_access"}},
			{"rt-s2", "g3", "alice", "s2", []string{"openid"}},
			{"rt-none", "g4", "alice", "", []string{"openid"}},
		}
		tests := []struct {
			name           string
			sid            string
			includeOffline bool
			want           map[string]string
		}{
			{"online only", "s1", false, map[string]string{"rt-s1": "inactive", "rt-s1-off": "active", "rt-s2": "active", "rt-none": "active"}},
			{"with offline", "s1", true, map[string]string{"rt-s1": "inactive", "rt-s1-off": "inactive", "rt-s2": "active", "rt-none": "active"}},
			{"unknown sid", "s9", true, map[string]string{"rt-s1": "active", "rt-s1-off": "active", "rt-s2": "active", "rt-none": "active"}},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c := mustCreateClient(t, e, fmt.Sprintf("app-%d", i))
				// Each case gets its own signatures in the shared store.
				var sp []tokenSpec
				want := map[string]string{}
				for _, s := range specs {
					s.sig = fmt.Sprintf("%s-%d", s.sig, i)
					s.reqID = fmt.Sprintf("%s-%d", s.reqID, i)
					if s.sid != "" {
						s.sid = fmt.Sprintf("%s-%d", s.sid, i)
					}
					sp = append(sp, s)
				}
				for k, v := range tc.want {
					want[fmt.Sprintf("%s-%d", k, i)] = v
				}
				createTokens(t, e, c, sp)
				sid := fmt.Sprintf("%s-%d", tc.sid, i)
				now := e.now()
				op := fmt.Sprintf("RevokeSessionTokens(%q, includeOffline=%v)", sid, tc.includeOffline)
				mustNoErr(t, op, e.s.RevokeSessionTokens(e.ctx, sid, tc.includeOffline))
				checkStates(t, e, op, want)
				got := listRevocations(t, e, time.Time{}, now)
				if r := findRevocation(got, storage.RevokeSession, sid); r == nil || !r.RevokedAt.Equal(ms(now)) || !r.ExpiresAt.After(now) {
					t.Errorf("ListRevocations after %s = %s, want a %q entry for %q revoked at %v", op, revocationString(got), storage.RevokeSession, sid, ms(now))
				}
			})
		}
		if err := e.s.RevokeSessionTokens(e.ctx, "", true); err == nil {
			t.Errorf(`RevokeSessionTokens("", true) = nil, want an error`)
		}
	}},
}

// ---------------------------------------------------------------- PKCE and OIDC

var pkceTests = []namedTest{
	{"CreateGetDelete", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "app")
		now := e.now()
		req := newRequest(c, "req-1", newSession("alice", "", now), now, "openid")
		req.Form.Set("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
		req.Form.Set("code_challenge_method", "S256")
		mustNoErr(t, "CreatePKCERequestSession", e.s.CreatePKCERequestSession(e.ctx, "pkce-sig", req))
		got, err := e.s.GetPKCERequestSession(e.ctx, "pkce-sig", protoSession(false))
		mustNoErr(t, "GetPKCERequestSession", err)
		if d := requestDiff(got, req); d != "" {
			t.Errorf("GetPKCERequestSession(%q): %s", "pkce-sig", d)
		}
		mustNoErr(t, "DeletePKCERequestSession", e.s.DeletePKCERequestSession(e.ctx, "pkce-sig"))
		_, err = e.s.GetPKCERequestSession(e.ctx, "pkce-sig", protoSession(false))
		wantErr(t, "GetPKCERequestSession after delete", err, fosite.ErrNotFound)
		_, err = e.s.GetPKCERequestSession(e.ctx, "unknown", protoSession(false))
		wantErr(t, "GetPKCERequestSession(unknown)", err, fosite.ErrNotFound)
	}},
}

var oidcTests = []namedTest{
	{"CreateGetDelete", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "app")
		now := e.now()
		req := newRequest(c, "req-1", newSession("alice", "sid-1", now), now, "openid")
		req.Form.Set("nonce", "n-0S6_WzA2Mj")
		mustNoErr(t, "CreateOpenIDConnectSession", e.s.CreateOpenIDConnectSession(e.ctx, "authz-code", req))
		proto := &fosite.Request{Session: protoSession(true)}
		got, err := e.s.GetOpenIDConnectSession(e.ctx, "authz-code", proto)
		mustNoErr(t, "GetOpenIDConnectSession", err)
		if d := requestDiff(got, req); d != "" {
			t.Errorf("GetOpenIDConnectSession(%q): %s", "authz-code", d)
		}
		mustNoErr(t, "DeleteOpenIDConnectSession", e.s.DeleteOpenIDConnectSession(e.ctx, "authz-code"))
		for _, code := range []string{"authz-code", "unknown"} {
			_, err = e.s.GetOpenIDConnectSession(e.ctx, code, &fosite.Request{Session: protoSession(false)})
			wantErr(t, fmt.Sprintf("GetOpenIDConnectSession(%q) of a missing session", code), err, openid.ErrNoSessionFound)
		}
	}},
}

// ---------------------------------------------------------------- client assertion JTIs

var jtiTests = []namedTest{
	{"ReplayProtection", func(t *testing.T, e *env) {
		now := e.now()
		mustNoErr(t, "ClientAssertionJWTValid(unknown)", e.s.ClientAssertionJWTValid(e.ctx, "jti-1"))
		mustNoErr(t, "SetClientAssertionJWT", e.s.SetClientAssertionJWT(e.ctx, "jti-1", now.Add(time.Hour)))
		wantErr(t, "ClientAssertionJWTValid of a used jti", e.s.ClientAssertionJWTValid(e.ctx, "jti-1"), fosite.ErrJTIKnown)
		wantErr(t, "SetClientAssertionJWT of a used jti", e.s.SetClientAssertionJWT(e.ctx, "jti-1", now.Add(time.Hour)), fosite.ErrJTIKnown)
		mustNoErr(t, "ClientAssertionJWTValid(another jti)", e.s.ClientAssertionJWTValid(e.ctx, "jti-2"))
	}},
	{"ExpiredAreForgotten", func(t *testing.T, e *env) {
		now := e.now()
		mustNoErr(t, "SetClientAssertionJWT", e.s.SetClientAssertionJWT(e.ctx, "jti-short", now.Add(time.Minute)))
		mustNoErr(t, "SetClientAssertionJWT", e.s.SetClientAssertionJWT(e.ctx, "jti-long", now.Add(time.Hour)))
		e.clock.Advance(2 * time.Minute)
		tests := []struct {
			jti  string
			want error
		}{{"jti-short", nil}, {"jti-long", fosite.ErrJTIKnown}}
		for _, tc := range tests {
			err := e.s.ClientAssertionJWTValid(e.ctx, tc.jti)
			if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("ClientAssertionJWTValid(%q) two minutes later = %v, want %v", tc.jti, err, tc.want)
			}
		}
		mustNoErr(t, "SetClientAssertionJWT of an expired jti", e.s.SetClientAssertionJWT(e.ctx, "jti-short", e.now().Add(time.Minute)))
		wantErr(t, "ClientAssertionJWTValid after re-use", e.s.ClientAssertionJWTValid(e.ctx, "jti-short"), fosite.ErrJTIKnown)
	}},
}

// ---------------------------------------------------------------- access tokens

var accessTokenTests = []namedTest{
	{"NotStored", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "app")
		now := e.now()
		req := newRequest(c, "req-1", newSession("alice", "", now), now, "openid")
		mustNoErr(t, "CreateAccessTokenSession", e.s.CreateAccessTokenSession(e.ctx, "at-sig", req))
		got, err := e.s.GetAccessTokenSession(e.ctx, "at-sig", protoSession(false))
		wantErr(t, "GetAccessTokenSession", err, fosite.ErrNotFound, storage.ErrNotFound)
		if got != nil {
			t.Errorf("GetAccessTokenSession = %v, want nil", got)
		}
		mustNoErr(t, "DeleteAccessTokenSession", e.s.DeleteAccessTokenSession(e.ctx, "at-sig"))
		mustNoErr(t, "DeleteAccessTokenSession(unknown)", e.s.DeleteAccessTokenSession(e.ctx, "unknown"))
	}},
}

// ---------------------------------------------------------------- transactions

var txTests = []namedTest{
	{"RollbackAndCommit", func(t *testing.T, e *env) {
		tests := []struct {
			name   string
			commit bool
		}{{"rollback discards", false}, {"commit keeps", true}}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				id := "tx-" + fmt.Sprint(tc.commit)
				txCtx, err := e.s.BeginTX(e.ctx)
				mustNoErr(t, "BeginTX", err)
				c := newClient(id)
				if err := e.s.CreateClient(txCtx, c); err != nil {
					_ = e.s.Rollback(txCtx)
					t.Fatalf("CreateClient in tx: %v", err)
				}
				now := e.now()
				if err := e.s.CreateRefreshTokenSession(txCtx, "rt-"+id, "jti", newRequest(c, "req-"+id, newSession("alice", "", now), now, "openid")); err != nil {
					_ = e.s.Rollback(txCtx)
					t.Fatalf("CreateRefreshTokenSession in tx: %v", err)
				}
				if _, err := e.s.GetStoredClient(txCtx, id); err != nil {
					_ = e.s.Rollback(txCtx)
					t.Fatalf("GetStoredClient in the tx that created it: %v", err)
				}
				if tc.commit {
					mustNoErr(t, "Commit", e.s.Commit(txCtx))
				} else {
					mustNoErr(t, "Rollback", e.s.Rollback(txCtx))
				}
				_, err = e.s.GetStoredClient(e.ctx, id)
				wantState, wantChanges := "missing", 0
				if tc.commit {
					mustNoErr(t, "GetStoredClient after Commit", err)
					wantState, wantChanges = "active", 1
				} else {
					wantErr(t, "GetStoredClient after Rollback", err, storage.ErrNotFound)
				}
				if st := refreshState(t, e, "rt-"+id); st != wantState {
					t.Errorf("refresh token written in the tx is %s after %s, want %s", st, tc.name, wantState)
				}
				n := 0
				for _, ch := range listChanges(t, e, time.Time{}) {
					if ch.Ref == id {
						n++
					}
				}
				if n != wantChanges {
					t.Errorf("changes for %q after %s = %d, want %d", id, tc.name, n, wantChanges)
				}
			})
		}
	}},
}

// ---------------------------------------------------------------- concurrency

const racers = 8

// race runs fn from racers goroutines released together and returns their
// errors.
func race(fn func() error) []error {
	errs := make([]error, racers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range racers {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = fn()
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

var concurrencyTests = []namedTest{
	{"RotateRefreshTokenOnce", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "app")
		now := e.now()
		mustNoErr(t, "CreateRefreshTokenSession", e.s.CreateRefreshTokenSession(e.ctx, "rt-hot", "jti-hot",
			newRequest(c, "req-hot", newSession("alice", "", now), now, "openid")))
		errs := race(func() error { return e.s.RotateRefreshToken(e.ctx, "req-hot", "rt-hot") })
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, fosite.ErrSerializationFailure), errors.Is(err, fosite.ErrNotFound):
			default:
				t.Errorf("racer %d: RotateRefreshToken = %v, want nil, ErrSerializationFailure or not found", i, err)
			}
		}
		if ok != 1 {
			t.Errorf("%d concurrent RotateRefreshToken of one token: %d succeeded (%v), want exactly 1", racers, ok, errs)
		}
		if st := refreshState(t, e, "rt-hot"); st != "inactive" {
			t.Errorf("token after concurrent rotation is %s, want inactive", st)
		}
	}},
	{"InvalidateCodeOnce", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "app")
		now := e.now()
		mustNoErr(t, "CreateAuthorizeCodeSession", e.s.CreateAuthorizeCodeSession(e.ctx, "code-hot",
			newRequest(c, "req-hot", newSession("alice", "", now), now, "openid")))
		errs := race(func() error { return e.s.InvalidateAuthorizeCodeSession(e.ctx, "code-hot") })
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, fosite.ErrInvalidatedAuthorizeCode):
			default:
				t.Errorf("racer %d: InvalidateAuthorizeCodeSession = %v, want nil or ErrInvalidatedAuthorizeCode", i, err)
			}
		}
		if ok != 1 {
			t.Errorf("%d concurrent InvalidateAuthorizeCodeSession of one code: %d returned nil (%v), want exactly 1", racers, ok, errs)
		}
	}},
}

// ---------------------------------------------------------------- expiry

var deleteExpiredTests = []namedTest{
	{"RemovesExpiredKeepsLive", func(t *testing.T, e *env) {
		c := mustCreateClient(t, e, "app")
		t0 := e.now()
		past, future := t0.Add(-time.Minute), t0.Add(time.Hour)
		sess := func(exp time.Time) fosite.Session {
			s := newSession("alice", "", t0).(*openid.DefaultSession)
			for _, tt := range []fosite.TokenType{fosite.AuthorizeCode, fosite.AccessToken, fosite.RefreshToken} {
				s.SetExpiresAt(tt, exp)
			}
			return s
		}
		type item struct {
			name   string
			create func(exp time.Time) error
			exists func() bool
		}
		get := func(fn func() error) bool {
			err := fn()
			if err != nil && !errors.Is(err, fosite.ErrNotFound) {
				t.Fatalf("lookup: unexpected error %v", err)
			}
			return err == nil
		}
		var items []item
		for _, tag := range []string{"expired", "live"} {
			items = append(items,
				item{"code-" + tag, func(exp time.Time) error {
					return e.s.CreateAuthorizeCodeSession(e.ctx, "code-"+tag, newRequest(c, "r-code-"+tag, sess(exp), t0, "openid"))
				}, func() bool {
					return get(func() error {
						_, err := e.s.GetAuthorizeCodeSession(e.ctx, "code-"+tag, protoSession(false))
						return err
					})
				}},
				item{"refresh-" + tag, func(exp time.Time) error {
					return e.s.CreateRefreshTokenSession(e.ctx, "rt-"+tag, "jti-"+tag, newRequest(c, "r-rt-"+tag, sess(exp), t0, "openid"))
				}, func() bool {
					return get(func() error { _, err := e.s.GetRefreshTokenSession(e.ctx, "rt-"+tag, protoSession(false)); return err })
				}},
				item{"pkce-" + tag, func(exp time.Time) error {
					return e.s.CreatePKCERequestSession(e.ctx, "pkce-"+tag, newRequest(c, "r-pkce-"+tag, sess(exp), t0, "openid"))
				}, func() bool {
					return get(func() error { _, err := e.s.GetPKCERequestSession(e.ctx, "pkce-"+tag, protoSession(false)); return err })
				}},
				item{"oidc-" + tag, func(exp time.Time) error {
					return e.s.CreateOpenIDConnectSession(e.ctx, "oidc-"+tag, newRequest(c, "r-oidc-"+tag, sess(exp), t0, "openid"))
				}, func() bool {
					return get(func() error {
						_, err := e.s.GetOpenIDConnectSession(e.ctx, "oidc-"+tag, &fosite.Request{Session: protoSession(false)})
						return err
					})
				}},
				item{"jti-" + tag, func(exp time.Time) error {
					// Recorded an hour ago, when it was still valid.
					e.clock.Set(t0.Add(-time.Hour))
					defer e.clock.Set(t0)
					return e.s.SetClientAssertionJWT(e.ctx, "assert-"+tag, exp)
				}, func() bool {
					// Checked an hour ago, when both were still valid: only a
					// deleted row reads as unknown.
					e.clock.Set(t0.Add(-time.Hour))
					defer e.clock.Set(t0)
					return e.s.ClientAssertionJWTValid(e.ctx, "assert-"+tag) != nil
				}},
				item{"revocation-" + tag, func(exp time.Time) error {
					return e.s.AddRevocation(e.ctx, storage.Revocation{Kind: storage.RevokeToken, Value: "rev-" + tag,
						RevokedAt: t0.Add(-time.Hour), ExpiresAt: exp})
				}, func() bool {
					return findRevocation(listRevocations(t, e, time.Time{}, time.Time{}), storage.RevokeToken, "rev-"+tag) != nil
				}},
			)
		}
		// An old change-feed entry and a fresh one.
		e.clock.Set(t0.Add(-2 * time.Hour))
		mustNoErr(t, "PublishChange(old)", e.s.PublishChange(e.ctx, storage.TopicClient, "old"))
		e.clock.Set(t0)
		mustNoErr(t, "PublishChange(new)", e.s.PublishChange(e.ctx, storage.TopicClient, "new"))

		for _, it := range items {
			exp := future
			if strings.HasSuffix(it.name, "-expired") {
				exp = past
			}
			mustNoErr(t, "create "+it.name, it.create(exp))
			if !it.exists() {
				t.Fatalf("%s does not exist right after it was created", it.name)
			}
		}
		n, err := e.s.DeleteExpired(e.ctx, t0)
		mustNoErr(t, "DeleteExpired", err)
		if want := int64(len(items)/2 + 1); n != want {
			t.Errorf("DeleteExpired(%v) = %d, want %d (one expired record of each kind, plus one old change)", t0, n, want)
		}
		for _, it := range items {
			wantExists := strings.HasSuffix(it.name, "-live")
			if got := it.exists(); got != wantExists {
				t.Errorf("after DeleteExpired(%v): %s exists = %v, want %v", t0, it.name, got, wantExists)
			}
		}
		if got := changeRefs(listChanges(t, e, time.Time{})); !slices.Equal(got, []string{"client:app", "client:new"}) {
			t.Errorf("changes after DeleteExpired(%v) = %v, want [client:app client:new]", t0, got)
		}
		n, err = e.s.DeleteExpired(e.ctx, t0)
		mustNoErr(t, "DeleteExpired again", err)
		if n != 0 {
			t.Errorf("second DeleteExpired(%v) = %d, want 0", t0, n)
		}
	}},
}
