package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	josev3 "github.com/go-jose/go-jose/v3"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authd/authd/internal/testdb"
)

// TestClientCredentialsFlow drives the token endpoint with x/oauth2 and
// verifies the token against the published JWKS with go-oidc, on both
// SQL backends.
func TestClientCredentialsFlow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, withDB(dbURL))
		c, secret := e.ccClient()
		ctx := context.Background()
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			if style == oauth2.AuthStyleInParams {
				c, secret = e.createClient(ClientSpec{GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"}, TokenEndpointAuthMethod: "client_secret_post"})
			}
			cc := clientcredentials.Config{ClientID: c.ID, ClientSecret: secret, TokenURL: e.issuer + PathToken, Scopes: []string{"api"}, AuthStyle: style}
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatalf("auth style %v: %v", style, err)
			}
			if tok.RefreshToken != "" {
				t.Error("client_credentials issued a refresh token")
			}
			if d := time.Until(tok.Expiry); d < 14*time.Minute || d > 15*time.Minute {
				t.Errorf("expires in %v, want 15m", d)
			}
			claims := verifyJWT(t, e, tok.AccessToken)
			want := map[string]any{"iss": e.issuer, "sub": c.ID, "client_id": c.ID, "scope": "api"}
			for k, v := range want {
				if claims[k] != v {
					t.Errorf("claim %s = %v, want %v", k, claims[k], v)
				}
			}
			if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 900 {
				t.Errorf("exp-iat = %v, want 900", exp-iat)
			}
			if claims["jti"] == "" || claims["aud"] == nil {
				t.Errorf("jti or aud missing: %v", claims)
			}
		}
	})
}

// verifyJWT checks the header and signature against JWKS (go-oidc's remote
// key set, as a resource server would) and returns the claims.
func verifyJWT(t *testing.T, e *env, token string) map[string]any {
	t.Helper()
	parsed, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if typ := parsed.Signatures[0].Protected.ExtraHeaders["typ"]; typ != "at+jwt" {
		t.Errorf("typ = %v, want at+jwt", typ)
	}
	ks := oidc.NewRemoteKeySet(context.Background(), e.issuer+PathJWKS)
	payload, err := ks.VerifySignature(context.Background(), token)
	if err != nil {
		t.Fatalf("verify against JWKS: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestTokenEndpointErrors(t *testing.T) {
	e := newEnv(t)
	c, secret := e.ccClient()
	pub, _ := e.createClient(ClientSpec{Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}})
	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, tc := range []struct {
		name       string
		form       url.Values
		id, secret string
		wantStatus int
		wantError  string
	}{
		{"wrong secret", cc, c.ID, "nope", 401, "invalid_client"},
		{"unknown client", cc, "nobody", "x", 401, "invalid_client"},
		{"no client auth", cc, "", "", 401, "invalid_client"},
		{"scope not registered", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, c.ID, secret, 400, "invalid_scope"},
		{"unsupported grant", url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}, c.ID, secret, 400, "unsupported_grant_type"},
		{"grant not registered", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x.y"}}, c.ID, secret, 400, "unauthorized_client"},
		{"missing grant type", url.Values{"scope": {"api"}}, c.ID, secret, 400, "invalid_request"},
		{"public client", url.Values{"grant_type": {"client_credentials"}, "client_id": {pub.ID}}, "", "", 400, ""},
		{"bad code", url.Values{"grant_type": {"authorization_code"}, "code": {"bogus.code"}, "redirect_uri": {"http://x"}}, c.ID, secret, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.queries.Load()
			resp := e.post(PathToken, tc.form, tc.id, tc.secret)
			m := decode(t, resp)
			if resp.StatusCode != tc.wantStatus || (tc.wantError != "" && m["error"] != tc.wantError) {
				t.Fatalf("POST %v: %d %v, want %d %s", tc.form, resp.StatusCode, m, tc.wantStatus, tc.wantError)
			}
			if m["error"] == nil || m["access_token"] != nil {
				t.Fatalf("want an error and no token, got %v", m)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
			}
			_ = before
		})
	}
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(e.issuer + PathToken + "?grant_type=client_credentials")
		if err != nil {
			t.Fatal(err)
		}
		if m := decode(t, resp); resp.StatusCode != 400 || m["error"] != "invalid_request" {
			t.Fatalf("GET token: %d %v", resp.StatusCode, m)
		}
	})
	t.Run("oversized body", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "pad": {strings.Repeat("a", 200<<10)}}
		resp := e.post(PathToken, form, c.ID, secret)
		m := decode(t, resp)
		if resp.StatusCode != 400 || m["access_token"] != nil {
			t.Fatalf("oversized: %d %v", resp.StatusCode, m)
		}
	})
	t.Run("malformed body", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.issuer+PathToken, strings.NewReader("%zz&&=%"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.ID, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if m := decode(t, resp); resp.StatusCode != 400 || m["error"] != "invalid_request" {
			t.Fatalf("malformed: %d %v", resp.StatusCode, m)
		}
	})
	t.Run("WWW-Authenticate on basic failure", func(t *testing.T) {
		resp := e.post(PathToken, cc, c.ID, "wrong")
		resp.Body.Close()
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
		}
	})
}

// TestPrivateKeyJWT authenticates with a signed client assertion (RFC 7523)
// and checks that a replayed assertion is refused.
func TestPrivateKeyJWT(t *testing.T) {
	e := newEnv(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := &josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	c, _ := e.createClient(ClientSpec{GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "private_key_jwt", JWKS: jwks})
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	assertion := func(jti string, aud string) string {
		now := time.Now()
		s, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: c.ID, Subject: c.ID, Audience: jwt.Audience{aud},
			ID: jti, IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	form := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
	}
	a := assertion("jti-1", e.issuer+PathToken)
	if resp := e.post(PathToken, form(a), "", ""); resp.StatusCode != 200 {
		t.Fatalf("private_key_jwt: %d %v", resp.StatusCode, decode(t, resp))
	}
	if resp := e.post(PathToken, form(a), "", ""); resp.StatusCode != 401 {
		t.Fatalf("replayed assertion: %d %v, want 401", resp.StatusCode, decode(t, resp))
	}
	if resp := e.post(PathToken, form(assertion("jti-2", "https://elsewhere/token")), "", ""); resp.StatusCode != 401 {
		t.Fatalf("wrong audience: %d %v, want 401", resp.StatusCode, decode(t, resp))
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: other}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if resp := e.post(PathToken, form(assertion("jti-3", e.issuer+PathToken)), "", ""); resp.StatusCode != 401 {
		t.Fatalf("assertion signed by another key: %d %v, want 401", resp.StatusCode, decode(t, resp))
	}
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	p, err := oidc.NewProvider(context.Background(), e.issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	var claims map[string]any
	if err := p.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"token_endpoint": e.issuer + PathToken, "jwks_uri": e.issuer + PathJWKS,
		"introspection_endpoint": e.issuer + PathIntrospect, "revocation_endpoint": e.issuer + PathRevoke,
	} {
		if claims[k] != want {
			t.Errorf("%s = %v, want %s", k, claims[k], want)
		}
	}
	resp, err := http.Get(e.issuer + PathOAuthMetadata)
	if err != nil {
		t.Fatal(err)
	}
	if m := decode(t, resp); m["issuer"] != e.issuer || m["token_endpoint"] != e.issuer+PathToken {
		t.Errorf("RFC 8414 metadata: %v", m)
	}
	for _, path := range []string{PathDiscovery, PathJWKS} {
		req, _ := http.NewRequest(http.MethodPost, e.issuer+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d, want 405", path, resp.StatusCode)
		}
	}
	// JWKS revalidates with its ETag.
	resp, _ = http.Get(e.issuer + PathJWKS)
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	req, _ := http.NewRequest(http.MethodGet, e.issuer+PathJWKS, nil)
	req.Header.Set("If-None-Match", etag)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if etag == "" || resp.StatusCode != http.StatusNotModified {
		t.Errorf("JWKS ETag %q revalidation: %d, want 304", etag, resp.StatusCode)
	}
}
