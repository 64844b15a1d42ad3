package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"
	"golang.org/x/oauth2"

	"github.com/authd/authd/internal/dpoptest"
	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/storage"
)

// TestFAPI2Profile runs a FAPI 2.0 client through the whole flow the
// profile asks for (private_key_jwt with aud the issuer, PAR with DPoP,
// PKCE S256, a DPoP-bound code exchange) and checks each requirement it
// names against what a careless client would send. The requirement list
// is in fapi.go.
func TestFAPI2Profile(t *testing.T) {
	be := newBrowserEnv(t, withConfig(func(c *Config) { c.Keys.Algorithm = ES256; c.Tokens.AuthorizeCodeTTL = 5 * time.Minute }))
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks := &josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"},
		{Key: rsaKey.Public(), KeyID: "rsa", Algorithm: "RS256", Use: "sig"}}}
	c, _ := be.createClient(ClientSpec{RedirectURIs: []string{"https://rp.example/cb"}, Scopes: []string{"openid", "offline_access"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, TokenEndpointAuthMethod: storage.AuthMethodPrivateKeyJWT,
		JWKS: jwks, AuthSigningAlg: "ES256", Profile: storage.ProfileFAPI2})
	if !c.RequirePAR || !c.RequireDPoP {
		t.Fatalf("a fapi2 client is stored with RequirePAR %v, RequireDPoP %v; want both", c.RequirePAR, c.RequireDPoP)
	}
	es, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	rs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: rsaKey}, (&jose.SignerOptions{}).WithHeader("kid", "rsa"))
	n := 0
	signed := func(s jose.Signer, claims map[string]any) string {
		raw, err := jwt.Signed(s).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	assertion := func(aud any) string {
		n++
		return signed(es, map[string]any{"iss": c.ID, "sub": c.ID, "aud": aud, "jti": fmt.Sprint("a-", n), "exp": time.Now().Add(time.Minute).Unix()})
	}
	dc := dpoptest.New(t, jose.ES256, nil)
	verifier := oauth2.GenerateVerifier()
	request := func(kv ...string) url.Values {
		f := url.Values{"response_type": {"code"}, "redirect_uri": {"https://rp.example/cb"}, "scope": {"openid offline_access"},
			"state": {"state-0123456789"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				f.Del(kv[i])
			} else {
				f.Set(kv[i], kv[i+1])
			}
		}
		return f
	}
	push := func(form url.Values, aud any, proofs ...string) (int, map[string]any) {
		resp := be.postDPoP(PathPAR, assertionForm(form, assertion(aud)), "", "", proofs...)
		return resp.StatusCode, decode(t, resp)
	}
	parURL, tokenURL := be.issuer+PathPAR, be.issuer+PathToken

	// The happy path.
	status, m := push(request(), be.issuer, dc.Proof("POST", parURL, ""))
	if status != 201 {
		t.Fatalf("PAR: %d %v", status, m)
	}
	code := be.codeFor(&rp{cfg: &oauth2.Config{RedirectURL: "https://rp.example/cb"}},
		be.issuer+PathAuthorize+"?"+url.Values{"client_id": {c.ID}, "request_uri": {m["request_uri"].(string)}}.Encode(), "openid", "offline_access")
	sig := be.p.refreshStrategy.(canonicalOpaque).AuthorizeCodeSignature(context.Background(), code)
	stored, err := be.store.GetAuthorizeCodeSession(context.Background(), sig, NewSession(""))
	if err != nil {
		t.Fatal(err)
	}
	if life := time.Until(stored.GetSession().GetExpiresAt(fosite.AuthorizeCode)); life > storage.MaxFAPI2CodeTTL {
		t.Fatalf("the code lives %v (tokens.authorize_code_ttl is 5m), want at most 60s", life)
	}
	exchange := func(code string, aud any, proofs ...string) (int, map[string]any) {
		resp := be.postDPoP(PathToken, assertionForm(url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {"https://rp.example/cb"}, "code_verifier": {verifier}}, assertion(aud)), "", "", proofs...)
		return resp.StatusCode, decode(t, resp)
	}
	other := dpoptest.New(t, jose.ES256, nil)
	if status, m := exchange(code, be.issuer, other.Proof("POST", tokenURL, "")); status != 400 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("the PAR-bound code with another key: %d %v", status, m)
	}
	status, m = exchange(code, be.issuer, dc.Proof("POST", tokenURL, ""))
	if status != 200 || m["token_type"] != "DPoP" {
		t.Fatalf("code exchange: %d %v", status, m)
	}
	idToken, _ := jose.ParseSignedCompact(m["id_token"].(string), []jose.SignatureAlgorithm{jose.ES256})
	if idToken == nil {
		t.Fatal("the ID token is not ES256")
	}

	// What the profile refuses.
	authorizeGet := func(q url.Values) *http.Response {
		q.Set("client_id", c.ID)
		return be.get(be.issuer + PathAuthorize + "?" + q.Encode())
	}
	if resp := authorizeGet(request()); resp.StatusCode != 400 && !strings.Contains(resp.Header.Get("Location"), "error=invalid_request") {
		t.Fatalf("an unpushed authorization request: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	for name, tc := range map[string]struct {
		form   url.Values
		aud    any
		proofs []string
		error  string
	}{
		"no PKCE":                      {request("code_challenge", "", "code_challenge_method", ""), be.issuer, nil, "invalid_request"},
		"no redirect_uri":              {request("redirect_uri", ""), be.issuer, nil, "invalid_request"},
		"assertion aud token endpoint": {request(), tokenURL, nil, "invalid_client"},
		"assertion aud an array":       {request(), []string{be.issuer, tokenURL}, nil, "invalid_client"},
		"DPoP proof signed RS256":      {request(), be.issuer, []string{dpoptest.New(t, jose.RS256, nil).Proof("POST", parURL, "")}, "invalid_dpop_proof"},
	} {
		t.Run(name, func(t *testing.T) {
			status, m := push(tc.form, tc.aud, tc.proofs...)
			if status/100 != 4 || m["error"] != tc.error {
				t.Fatalf("%d %v, want %s", status, m, tc.error)
			}
		})
	}
	// The token endpoint: no DPoP proof, or one signed RS256.
	_, m = push(request(), be.issuer)
	code = be.codeFor(&rp{cfg: &oauth2.Config{RedirectURL: "https://rp.example/cb"}},
		be.issuer+PathAuthorize+"?"+url.Values{"client_id": {c.ID}, "request_uri": {m["request_uri"].(string)}}.Encode(), "openid", "offline_access")
	if status, m := exchange(code, be.issuer); status != 400 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("a code exchange without DPoP: %d %v", status, m)
	}
	if status, m := exchange(code, be.issuer, dpoptest.New(t, jose.RS256, nil).Proof("POST", tokenURL, "")); status != 400 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("a code exchange with an RS256 proof: %d %v", status, m)
	}
	// A request object signed RS256 (a key the client registered).
	object := signed(rs, map[string]any{"iss": c.ID, "aud": be.issuer, "client_id": c.ID, "exp": time.Now().Add(time.Minute).Unix(),
		"jti": "ro-rs256", "response_type": "code", "redirect_uri": "https://rp.example/cb", "scope": "openid"})
	if status, m := push(url.Values{"request": {object}}, be.issuer); status != 400 || m["error"] != "invalid_request_object" {
		t.Fatalf("an RS256 request object: %d %v", status, m)
	}
}

// TestFAPI2Registration: a fapi2 client must be confidential, use
// private_key_jwt with PS256, ES256 or EdDSA, and authd's keys must not
// be RS256.
func TestFAPI2Registration(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := &josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	good := ClientSpec{Name: "bank", RedirectURIs: []string{"https://rp.example/cb"}, TokenEndpointAuthMethod: storage.AuthMethodPrivateKeyJWT,
		JWKS: jwks, Profile: storage.ProfileFAPI2}
	hasher := secrets.ClientSecretHasher{Keyring: newTestKeyring(t)}
	ctx := context.Background()
	if _, _, err := NewClient(ctx, good, hasher, time.Hour); err != nil {
		t.Fatalf("a good fapi2 client: %v", err)
	}
	with := func(f func(*ClientSpec)) ClientSpec { s := good; f(&s); return s }
	for name, spec := range map[string]ClientSpec{
		"public":             with(func(s *ClientSpec) { s.Public, s.TokenEndpointAuthMethod, s.JWKS = true, "", nil }),
		"client secret":      with(func(s *ClientSpec) { s.TokenEndpointAuthMethod, s.JWKS = storage.AuthMethodBasic, nil }),
		"RS256 assertions":   with(func(s *ClientSpec) { s.AuthSigningAlg = "RS256" }),
		"an unknown profile": with(func(s *ClientSpec) { s.Profile = "fapi1" }),
	} {
		t.Run(name, func(t *testing.T) {
			var invalid *InvalidClientError
			if _, _, err := NewClient(ctx, spec, hasher, time.Hour); !errors.As(err, &invalid) {
				t.Fatalf("NewClient = %v, want an InvalidClientError", err)
			}
		})
	}
	e := newEnv(t)
	svc := ClientService{Store: e.store, Hasher: hasher, MaxAccessTTL: time.Hour, SigningAlg: RS256}
	var invalid *InvalidClientError
	if _, _, err := svc.Create(ctx, good, "test"); !errors.As(err, &invalid) || !strings.Contains(err.Error(), "keys.algorithm") {
		t.Fatalf("a fapi2 client while keys are RS256: %v", err)
	}
	svc.SigningAlg = EdDSA
	c, _, err := svc.Create(ctx, good, "test")
	if err != nil {
		t.Fatal(err)
	}
	svc.SigningAlg = RS256
	if _, _, err := svc.Update(ctx, c.ID, func(s *ClientSpec) { s.Name = "renamed" }, nil, "test"); !errors.As(err, &invalid) {
		t.Fatalf("updating a fapi2 client while keys are RS256: %v", err)
	}
	if _, _, err := svc.Update(ctx, c.ID, func(s *ClientSpec) { s.Profile = "" }, nil, "test"); err != nil {
		t.Fatalf("leaving the profile: %v", err)
	}
}

// TestFAPI2RefusedWithRS256Keys: a FAPI 2.0 client registered while the
// active key is RS256 (keys.algorithm changed without a rotation) is not
// served: its tokens would carry an algorithm FAPI 2.0 forbids.
func TestFAPI2RefusedWithRS256Keys(t *testing.T) {
	be := newBrowserEnv(t) // RS256 keys
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := &josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	c, _ := be.createClient(ClientSpec{RedirectURIs: []string{"https://rp.example/cb"}, Scopes: []string{"openid"},
		TokenEndpointAuthMethod: storage.AuthMethodPrivateKeyJWT, JWKS: jwks, Profile: storage.ProfileFAPI2})
	es, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	assertion, _ := jwt.Signed(es).Claims(map[string]any{"iss": c.ID, "sub": c.ID, "aud": be.issuer, "jti": "a-1",
		"exp": time.Now().Add(time.Minute).Unix()}).Serialize()
	verifier := oauth2.GenerateVerifier()
	form := url.Values{"response_type": {"code"}, "redirect_uri": {"https://rp.example/cb"}, "scope": {"openid"}, "state": {"state-0123456789"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	resp := be.postDPoP(PathPAR, assertionForm(form, assertion), "", "")
	if m := decode(t, resp); resp.StatusCode != 500 || m["error"] != "server_error" || !strings.Contains(m["error_description"].(string), "keys rotate") {
		t.Fatalf("PAR for a FAPI 2.0 client with RS256 keys: %d %v", resp.StatusCode, m)
	}
}
