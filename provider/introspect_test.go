package provider

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
)

func TestIntrospection(t *testing.T) {
	e := newEnv(t)
	c, secret := e.ccClient()
	rs, rsSecret := e.ccClient() // a resource server
	tok := e.token(c.ID, secret, "api read")

	code, m := e.introspect(tok, rs.ID, rsSecret)
	if code != 200 || m["active"] != true {
		t.Fatalf("introspect: %d %v", code, m)
	}
	for k, want := range map[string]any{"client_id": c.ID, "sub": c.ID, "scope": "api read", "iss": e.issuer, "token_use": "access_token"} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if m["exp"] == nil || m["iat"] == nil || m["jti"] == nil {
		t.Errorf("exp/iat/jti missing: %v", m)
	}

	pub, _ := e.createClient(ClientSpec{Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}})
	for _, tc := range []struct {
		name       string
		form       url.Values
		id, secret string
		want       int
	}{
		{"wrong secret", url.Values{"token": {tok}}, rs.ID, "wrong", 401},
		{"no auth", url.Values{"token": {tok}}, "", "", 401},
		{"public client", url.Values{"token": {tok}, "client_id": {pub.ID}}, "", "", 401},
		{"missing token", url.Values{"scope": {"x"}}, rs.ID, rsSecret, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.post(PathIntrospect, tc.form, tc.id, tc.secret)
			m := decode(t, resp)
			if resp.StatusCode != tc.want || m["error"] == nil || m["active"] != nil {
				t.Fatalf("%d %v, want %d with an OAuth error", resp.StatusCode, m, tc.want)
			}
		})
	}
}

// TestIntrospectionRejectsHostileTokens: every token here must be
// inactive, never an error or a crash.
func TestIntrospectionRejectsHostileTokens(t *testing.T) {
	clock := &testClock{t: time.Now()}
	e := newEnv(t, withClock(clock))
	c, secret := e.ccClient()
	good := e.token(c.ID, secret, "api")
	parts := strings.Split(good, ".")
	header, claims := decodeSeg(t, parts[0]), decodeSeg(t, parts[1])
	kid := header["kid"].(string)

	// A key of the attacker's with the same kid.
	evil, _ := rsa.GenerateKey(rand.Reader, 2048)
	sign := func(hdr map[string]any, cl map[string]any, key any, alg jose.SignatureAlgorithm) string {
		opts := &jose.SignerOptions{}
		for k, v := range hdr {
			opts = opts.WithHeader(jose.HeaderKey(k), v)
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(cl)
		jws, err := s.Sign(b)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := jws.CompactSerialize()
		return out
	}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range claims {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"` + kid + `"}`))
	hs := sign(map[string]any{"typ": "at+jwt", "kid": kid}, claims, []byte(strings.Repeat("k", 32)), jose.HS256)
	cases := map[string]string{
		"forged signature":       sign(map[string]any{"typ": "at+jwt", "kid": kid}, claims, evil, jose.RS256),
		"alg none":               noneHeader + "." + parts[1] + ".",
		"alg none, sig kept":     noneHeader + "." + parts[1] + "." + parts[2],
		"HS256 with any key":     hs,
		"tampered payload":       parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin"}`)) + "." + parts[2],
		"truncated":              parts[0] + "." + parts[1],
		"garbage":                "not a token at all",
		"dots":                   "..",
		"huge":                   strings.Repeat("a", 9000) + ".b.c",
		"refresh-shaped garbage": "abc.def",
	}
	// Tokens we sign with the real key but with wrong claims.
	ks := e.p.keys.Load()
	realSign := func(typ string, cl map[string]any) string {
		b, _ := json.Marshal(cl)
		tok, err := ks.active.sign(typ, b)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cases["wrong typ"] = realSign("JWT", claims)
	cases["wrong issuer"] = realSign(typAccessToken, with("iss", "https://evil.example"))
	cases["no jti"] = realSign(typAccessToken, with("jti", ""))
	cases["issued in the future"] = realSign(typAccessToken, with("iat", clock.Now().Add(time.Hour).Unix()))
	cases["not yet valid"] = realSign(typAccessToken, with("nbf", clock.Now().Add(time.Hour).Unix()))
	cases["expired"] = realSign(typAccessToken, with("exp", clock.Now().Add(-time.Second).Unix()))

	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			code, m := e.introspect(tok, c.ID, secret)
			if code != 200 || m["active"] != false || len(m) != 1 {
				t.Fatalf("introspect(%.60q): %d %v, want 200 {active:false}", tok, code, m)
			}
		})
	}
	if !e.active(good, c.ID, secret) {
		t.Fatal("the genuine token went inactive")
	}
	// fosite stamps exp from the wall clock, which has moved on since the
	// test clock was made: go to one second past the token's own exp.
	clock.Set(time.Unix(int64(claims["exp"].(float64)), 0).Add(time.Second))
	if e.active(good, c.ID, secret) {
		t.Fatal("token still active after it expired")
	}
}

func decodeSeg(t *testing.T, seg string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestIntrospectionMakesNoQueries counts SQL statements: JWT introspection,
// client authentication included, must not touch the database, whether
// the token is active, revoked or forged.
func TestIntrospectionMakesNoQueries(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, withDB(dbURL), withConfig(func(c *Config) { c.Cache.PollInterval = time.Hour }))
		c, secret := e.ccClient()
		tok := e.token(c.ID, secret, "api")
		revoked := e.token(c.ID, secret, "api")
		if resp := e.post(PathRevoke, url.Values{"token": {revoked}}, c.ID, secret); resp.StatusCode != 200 {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
		e.active(tok, c.ID, secret) // warm the client cache
		before := e.queries.Load()
		for range 50 {
			if !e.active(tok, c.ID, secret) {
				t.Fatal("token inactive")
			}
			if e.active(revoked, c.ID, secret) {
				t.Fatal("revoked token active")
			}
			if e.active(tok[:len(tok)-4]+"AAAA", c.ID, secret) {
				t.Fatal("forged token active")
			}
		}
		if n := e.queries.Load() - before; n != 0 {
			t.Fatalf("150 introspections ran %d SQL statements, want 0", n)
		}
	})
}

func TestRevocation(t *testing.T) {
	e := newEnv(t)
	c, secret := e.ccClient()
	other, otherSecret := e.ccClient()
	tok := e.token(c.ID, secret, "api")

	// Another client cannot revoke it (RFC 7009 §2.1); the answer does not say so.
	resp := e.post(PathRevoke, url.Values{"token": {tok}}, other.ID, otherSecret)
	resp.Body.Close()
	if resp.StatusCode != 200 || !e.active(tok, c.ID, secret) {
		t.Fatalf("revocation by another client: %d, active=%v; want 200 and still active", resp.StatusCode, e.active(tok, c.ID, secret))
	}
	for _, tc := range []struct {
		name       string
		form       url.Values
		id, secret string
		want       int
	}{
		{"unauthenticated", url.Values{"token": {tok}}, "", "", 400},
		{"wrong secret", url.Values{"token": {tok}}, c.ID, "nope", 401},
		{"empty body", url.Values{}, c.ID, secret, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.post(PathRevoke, tc.form, tc.id, tc.secret)
			m := decode(t, resp)
			if resp.StatusCode != tc.want || m["error"] == nil {
				t.Fatalf("%d %v, want %d with an error", resp.StatusCode, m, tc.want)
			}
			if !e.active(tok, c.ID, secret) {
				t.Fatal("a refused revocation revoked the token")
			}
		})
	}
	// Unknown and malformed tokens: 200, nothing happens (RFC 7009 §2.2).
	for _, junk := range []string{"junk", "a.b.c", "x.y", strings.Repeat("z", 5000)} {
		resp := e.post(PathRevoke, url.Values{"token": {junk}}, c.ID, secret)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("revoke %.20q: %d, want 200", junk, resp.StatusCode)
		}
	}
	resp = e.post(PathRevoke, url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, c.ID, secret)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if e.active(tok, c.ID, secret) {
		t.Fatal("revoked token still active")
	}
	// Idempotent.
	resp = e.post(PathRevoke, url.Values{"token": {tok}}, c.ID, secret)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("second revoke: %d", resp.StatusCode)
	}
}

// TestRevocationAcrossInstances: two servers on one Postgres; a token
// issued by A and revoked on B goes inactive on A within a poll interval.
func TestRevocationAcrossInstances(t *testing.T) {
	dbURL := testdb.Postgres(t)
	kr := newTestKeyring(t)
	a := newEnv(t, withDB(dbURL), withKeyring(kr))
	b := newEnv(t, withDB(dbURL), withKeyring(kr))
	// The issuers differ (two listeners); B must accept A's tokens only if
	// they share the issuer, so compare by revoking through the store.
	c, secret := a.ccClient()
	tok := a.token(c.ID, secret, "api")
	claims := decodeSeg(t, strings.Split(tok, ".")[1])
	if err := b.store.AddRevocation(context.Background(), storage.Revocation{Kind: storage.RevokeToken, Value: claims["jti"].(string),
		RevokedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revocation to reach instance A", func() bool { return !a.active(tok, c.ID, secret) })

	// A client deleted through B stops working on A (client cache invalidated).
	if err := b.store.DeleteClient(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "client deletion to reach instance A", func() bool {
		resp := a.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
		resp.Body.Close()
		return resp.StatusCode == 401
	})
}

func TestRevokeSubjectAndSession(t *testing.T) {
	clock := &testClock{t: time.Now()}
	e := newEnv(t, withClock(clock))
	c, secret := e.ccClient()
	tok := e.token(c.ID, secret, "api")
	clock.Advance(time.Millisecond)
	if err := e.store.RevokeSubjectTokens(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	if e.active(tok, c.ID, secret) {
		t.Fatal("token of a revoked subject still active")
	}
	clock.Advance(time.Millisecond)
	if fresh := e.token(c.ID, secret, "api"); !e.active(fresh, c.ID, secret) {
		t.Fatal("a token issued after the subject revocation is inactive")
	}
}

func TestNewJTI(t *testing.T) {
	at := time.UnixMilli(1795789211123)
	c := &accessClaims{JTI: newJTI(at), IssuedAt: at.Unix()}
	if got := c.issuedAtMs(); got != at.UnixMilli() {
		t.Fatalf("issuedAtMs = %d, want %d", got, at.UnixMilli())
	}
	if a, b := newJTI(at), newJTI(at); a == b {
		t.Fatal("two jtis for one millisecond are equal")
	}
	legacy := &accessClaims{JTI: "not-a-uuid", IssuedAt: 100}
	if got := legacy.issuedAtMs(); got != 100999 {
		t.Fatalf("issuedAtMs of a non-v7 jti = %d, want the end of the iat second", got)
	}
}

// TestRefreshTokenIntrospection: a refresh token is introspected for its
// own client and the resource servers that client lists, and is
// {"active":false} for any other confidential client; access tokens stay
// introspectable by any confidential client (the documented contract).
func TestRefreshTokenIntrospection(t *testing.T) {
	e := newEnv(t)
	cfg, login := codeFlow(t, e) // lists resourceServerID
	rs, rsSecret := e.resourceServer()
	other, otherSecret := e.ccClient()
	unlisted, unlistedSecret := e.createClient(ClientSpec{RedirectURIs: []string{"http://127.0.0.1:9/cb"}})
	tok := login("ivy")
	for _, tc := range []struct {
		name       string
		id, secret string
		refresh    bool
	}{
		{"owner", cfg.ClientID, cfg.ClientSecret, true},
		{"listed resource server", rs.ID, rsSecret, true},
		{"another confidential client", other.ID, otherSecret, false},
		{"another code-flow client", unlisted.ID, unlistedSecret, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, m := e.introspect(tok.RefreshToken, tc.id, tc.secret)
			if code != 200 {
				t.Fatalf("introspect refresh token: %d %v", code, m)
			}
			if tc.refresh {
				if m["active"] != true || m["token_use"] != "refresh_token" || m["client_id"] != cfg.ClientID || m["sub"] != "ivy" {
					t.Fatalf("refresh token for %s: %v, want active", tc.name, m)
				}
			} else if len(m) != 1 || m["active"] != false {
				t.Fatalf("refresh token for %s: %v, want exactly {\"active\":false}", tc.name, m)
			}
			if code, m := e.introspect(tok.AccessToken, tc.id, tc.secret); code != 200 || m["active"] != true {
				t.Fatalf("access token for %s: %d %v, want active", tc.name, code, m)
			}
		})
	}
}
