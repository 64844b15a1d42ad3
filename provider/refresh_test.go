package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"gorm.io/gorm"

	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
)

// codeFlow sets up a confidential client with refresh tokens and returns an
// x/oauth2 config plus a function that runs the authorization half for a
// user and exchanges the code. The client lists resourceServerID as an
// allowed introspector of its refresh tokens.
func codeFlow(t *testing.T, e *env) (*oauth2.Config, func(subject string) *oauth2.Token) {
	t.Helper()
	redirect := "http://127.0.0.1:9/callback"
	c, secret := e.createClient(ClientSpec{RedirectURIs: []string{redirect}, Scopes: []string{"openid", "offline_access", "api"},
		AllowedIntrospectors: []string{resourceServerID}})
	cfg := &oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{TokenURL: e.issuer + PathToken, AuthStyle: oauth2.AuthStyleInHeader}}
	return cfg, func(subject string) *oauth2.Token {
		t.Helper()
		verifier := oauth2.GenerateVerifier()
		code := e.authorize(c.ID, redirect, "offline_access api", oauth2.S256ChallengeFromVerifier(verifier), subject)
		tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token although offline_access was granted")
		}
		return tok
	}
}

func refresh(cfg *oauth2.Config, rt string) (*oauth2.Token, error) {
	return cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// TestRefreshRotationAndReuse: each refresh rotates the refresh token and
// revokes the access token issued with the old one; presenting a used
// refresh token revokes the whole family (RFC 9700 §4.14.2).
func TestRefreshRotationAndReuse(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, withDB(dbURL))
		cfg, login := codeFlow(t, e)
		rs, rsSecret := e.resourceServer()
		t1 := login("alice")
		claims := verifyJWT(t, e, t1.AccessToken)
		if claims["sub"] != "alice" || claims["sid"] != "sid-alice" || claims["grant_id"] == nil {
			t.Fatalf("claims: %v", claims)
		}
		code, m := e.introspect(t1.RefreshToken, rs.ID, rsSecret)
		if code != 200 || m["active"] != true || m["token_use"] != "refresh_token" || m["sub"] != "alice" {
			t.Fatalf("introspect refresh token: %d %v", code, m)
		}

		t2, err := refresh(cfg, t1.RefreshToken)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if t2.RefreshToken == t1.RefreshToken || t2.AccessToken == t1.AccessToken {
			t.Fatal("refresh did not rotate")
		}
		if e.active(t1.AccessToken, rs.ID, rsSecret) {
			t.Error("access token of the rotated refresh token is still active")
		}
		if e.active(t1.RefreshToken, rs.ID, rsSecret) {
			t.Error("rotated refresh token is still active")
		}
		if !e.active(t2.AccessToken, rs.ID, rsSecret) || !e.active(t2.RefreshToken, rs.ID, rsSecret) {
			t.Fatal("new tokens inactive")
		}

		// Reuse of t1's refresh token: refused, and the family dies.
		_, err = refresh(cfg, t1.RefreshToken)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("reuse: err = %v, want invalid_grant", err)
		}
		if e.active(t2.AccessToken, rs.ID, rsSecret) || e.active(t2.RefreshToken, rs.ID, rsSecret) {
			t.Fatal("reuse did not revoke the family")
		}
		wantReuse(t, e, 1, "alice", "refresh_token")
		if _, err := refresh(cfg, t2.RefreshToken); err == nil {
			t.Fatal("refresh with a revoked family succeeded")
		}

		// Another user's family is untouched.
		t3 := login("bob")
		if _, err := refresh(cfg, t3.RefreshToken); err != nil {
			t.Fatalf("bob's refresh: %v", err)
		}
	})
}

// TestCodeReplay: a second use of a code fails and revokes what the first
// use issued (RFC 6749 §4.1.2).
func TestCodeReplay(t *testing.T) {
	e := newEnv(t)
	cfg, _ := codeFlow(t, e)
	rs, rsSecret := e.resourceServer()
	verifier := oauth2.GenerateVerifier()
	code := e.authorize(cfg.ClientID, cfg.RedirectURL, "offline_access api", oauth2.S256ChallengeFromVerifier(verifier), "carol")
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err == nil {
		t.Fatal("replayed code was accepted")
	}
	if e.active(tok.AccessToken, rs.ID, rsSecret) || e.active(tok.RefreshToken, rs.ID, rsSecret) {
		t.Fatal("tokens from a replayed code are still active")
	}
	wantReuse(t, e, 1, "carol", "authorization_code")
}

// wantReuse checks the token.reuse_detected audit events (the webhook
// event and the security alert come from them): n of them, the last about
// subject's grant.
func wantReuse(t *testing.T, e *env, n int, subject, grant string) {
	t.Helper()
	evs, err := e.store.ListAuditEvents(context.Background(), storage.AuditFilter{Type: storage.AuditTokenReuse})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n {
		t.Fatalf("%d token.reuse_detected events, want %d", len(evs), n)
	}
	if ev := evs[0]; ev.SubjectID != subject || ev.Details["grant_type"] != grant || ev.ClientID == "" || ev.IP == "" {
		t.Fatalf("reuse event %+v, want subject %s, grant %s, a client and an address", ev, subject, grant)
	}
}

func TestCodeExchangeErrors(t *testing.T) {
	e := newEnv(t)
	cfg, _ := codeFlow(t, e)
	verifier := oauth2.GenerateVerifier()
	challenge := oauth2.S256ChallengeFromVerifier(verifier)
	for _, tc := range []struct {
		name string
		mod  func(form url.Values)
	}{
		{"wrong verifier", func(f url.Values) { f.Set("code_verifier", oauth2.GenerateVerifier()) }},
		{"missing verifier", func(f url.Values) { f.Del("code_verifier") }},
		{"wrong redirect_uri", func(f url.Values) { f.Set("redirect_uri", "http://127.0.0.1:9/other") }},
		{"unknown code", func(f url.Values) { f.Set("code", "nope.nope") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := e.authorize(cfg.ClientID, cfg.RedirectURL, "api", challenge, "dave")
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cfg.RedirectURL}, "code_verifier": {verifier}}
			tc.mod(form)
			resp := e.post(PathToken, form, cfg.ClientID, cfg.ClientSecret)
			m := decode(t, resp)
			if resp.StatusCode != 400 || m["access_token"] != nil {
				t.Fatalf("%d %v, want 400 and no token", resp.StatusCode, m)
			}
		})
	}
}

// TestKeyRotation: a new key made while the server runs (as `authd keys
// rotate` does, from another process) is picked up without a restart; the
// old key keeps verifying its tokens and stays in JWKS.
func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	c, secret := e.ccClient()
	old := e.token(c.ID, secret, "api")
	oldKid := decodeSeg(t, splitJWT(old)[0])["kid"]
	k, err := CreateSigningKey(context.Background(), e.store, e.keyring, ES256, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "new key to sign", func() bool {
		return decodeSeg(t, splitJWT(e.token(c.ID, secret, "api"))[0])["kid"] == k.KID
	})
	fresh := e.token(c.ID, secret, "api")
	if !e.active(old, c.ID, secret) || !e.active(fresh, c.ID, secret) {
		t.Fatal("tokens of the old or new key are inactive after rotation")
	}
	verifyJWT(t, e, old)
	verifyJWT(t, e, fresh)
	if oldKid == k.KID {
		t.Fatal("rotation kept the kid")
	}
}

// TestGrantsQueryNoClient: exchanging a code and refreshing read the stored
// requests' clients from the provider's cache, never from the clients
// table (the cache is warm after the client's first request).
func TestGrantsQueryNoClient(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, withDB(dbURL), withConfig(func(c *Config) { c.Cache.PollInterval = time.Hour }))
		var clientQueries atomic.Int64
		_ = e.store.Gorm().Callback().Query().Before("gorm:query").Register("test:clients", func(db *gorm.DB) {
			if db.Statement.Table == "clients" {
				clientQueries.Add(1)
			}
		})
		cfg, login := codeFlow(t, e)
		login("warm") // the client's first request fills the cache
		before := clientQueries.Load()
		tok := login("alice")
		for range 3 {
			next, err := refresh(cfg, tok.RefreshToken)
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			tok = next
		}
		if n := clientQueries.Load() - before; n != 0 {
			t.Errorf("a code exchange and 3 refreshes queried the clients table %d times, want 0", n)
		}
	})
}

// TestUnknownKidReloadsKeys: a token signed with a key another replica made
// moments ago, before the poller brings it here, is verified after one
// reload of the key set; made-up kids reload it at most once per
// unknownKidReload.
func TestUnknownKidReloadsKeys(t *testing.T) {
	dbURL := testdb.SQLite(t)
	noPoll := func(c *Config) { c.Cache.PollInterval = time.Hour }
	a := newEnv(t, withDB(dbURL), withConfig(noPoll))
	c, secret := a.ccClient()
	k, err := CreateSigningKey(context.Background(), a.store, a.keyring, ES256, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// b starts with the new key; a has not polled it.
	b := newEnv(t, withDB(dbURL), withKeyring(a.keyring), withConfig(func(cfg *Config) { noPoll(cfg); cfg.Issuer = a.issuer }))
	tok := b.token(c.ID, secret, "api")
	if kid := decodeSeg(t, splitJWT(tok)[0])["kid"]; kid != k.KID {
		t.Fatalf("b signed with %v, want the new key %s", kid, k.KID)
	}
	if !a.active(tok, c.ID, secret) {
		t.Fatal("a token of a key made by another replica is inactive before the poll")
	}

	// Made-up kids: inactive, and the key set is reloaded (one query) at
	// most once per unknownKidReload.
	parts := splitJWT(tok)
	header := decodeSeg(t, parts[0])
	before, start := a.queries.Load(), time.Now()
	const n = 30
	for i := range n {
		header["kid"] = fmt.Sprintf("made-up-%d", i)
		h, _ := json.Marshal(header)
		forged := base64.RawURLEncoding.EncodeToString(h) + "." + parts[1] + "." + parts[2]
		if a.active(forged, c.ID, secret) {
			t.Fatalf("a token with the made-up kid %v is active", header["kid"])
		}
	}
	reloads := a.queries.Load() - before
	if most := int64(time.Since(start)/unknownKidReload) + 1; reloads > most {
		t.Errorf("%d introspections of made-up kids ran %d queries in %v, want at most %d", n, reloads, time.Since(start), most)
	}
	if !a.active(tok, c.ID, secret) {
		t.Error("the genuine token is inactive after the flood")
	}
}

// TestSessionEndKeepsOfflineGrants: with session.revoke_offline_on_logout
// off, ending a browser session revokes the access tokens issued in it
// until then, but the offline refresh token that survives mints access
// tokens that stay valid; an authorization code issued in the session and
// not yet redeemed is refused once the session has ended.
func TestSessionEndKeepsOfflineGrants(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		clock := &testClock{t: time.Now()}
		e := newEnv(t, withDB(dbURL), withClock(clock))
		cfg, login := codeFlow(t, e)
		rs, rsSecret := e.ccClient()
		t1 := login("alice")
		verifier := oauth2.GenerateVerifier()
		unspent := e.authorize(cfg.ClientID, cfg.RedirectURL, "offline_access api", oauth2.S256ChallengeFromVerifier(verifier), "alice")

		clock.Advance(time.Second)
		// What session.Manager.End does when revoke_offline_on_logout is off.
		if err := e.store.RevokeSessionTokens(context.Background(), "sid-alice", false); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
		if e.active(t1.AccessToken, rs.ID, rsSecret) {
			t.Error("an access token issued before the session ended is still active")
		}
		t2, err := refresh(cfg, t1.RefreshToken)
		if err != nil {
			t.Fatalf("the offline refresh token no longer works after the session ended: %v", err)
		}
		if claims := verifyJWT(t, e, t2.AccessToken); claims["sid"] != "sid-alice" {
			t.Fatalf("refreshed access token claims: %v", claims)
		}
		if !e.active(t2.AccessToken, rs.ID, rsSecret) {
			t.Error("an access token minted after the session ended, by the refresh token that outlived it, is inactive")
		}
		_, err = cfg.Exchange(context.Background(), unspent, oauth2.VerifierOption(verifier))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("redeeming a code issued in the ended session: %v, want invalid_grant", err)
		}
	})
}
