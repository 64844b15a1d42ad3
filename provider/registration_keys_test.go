package provider

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestRegistrationPrivateKeyJWT: a client registers its public key and
// authenticates with signed assertions; a JWKS holding a private key is
// refused as at `clients create`.
func TestRegistrationPrivateKeyJWT(t *testing.T) {
	e, rc := newRegistrationEnv(t)
	iat, _ := e.initialToken(InitialTokenSpec{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub := josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	r := rc.register(iat, map[string]any{"client_name": "Signed", "grant_types": []string{"client_credentials"}, "scope": "api",
		"token_endpoint_auth_method": "private_key_jwt", "jwks": pub})
	if r.status != http.StatusCreated || r.str("client_secret") != "" || r.body["client_secret_expires_at"] != nil ||
		r.str("token_endpoint_auth_signing_alg") != "ES256" || r.body["jwks"] == nil {
		t.Fatalf("register private_key_jwt: %d %v", r.status, r.body)
	}
	id := r.str("client_id")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	assertion, err := jwt.Signed(signer).Claims(map[string]any{"iss": id, "sub": id, "aud": e.issuer + PathToken, "jti": "j1",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	resp := e.post(PathToken, assertionForm(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}, assertion), "", "")
	if m := decode(t, resp); resp.StatusCode != http.StatusOK || m["access_token"] == nil {
		t.Fatalf("token with the registered key: %d %v", resp.StatusCode, m)
	}

	private := josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{{Key: key, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	b, _ := json.Marshal(private)
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	bad := rc.register(iat, map[string]any{"client_name": "Leaky", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks": raw})
	if bad.status != http.StatusBadRequest || bad.str("error") != "invalid_client_metadata" {
		t.Errorf("register with a private key in jwks: %d %v, want 400 invalid_client_metadata", bad.status, bad.body)
	}
	none := rc.register(iat, map[string]any{"client_name": "Keyless", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt"})
	if none.status != http.StatusBadRequest || none.str("error") != "invalid_client_metadata" {
		t.Errorf("register private_key_jwt without keys: %d %v, want 400 invalid_client_metadata", none.status, none.body)
	}
}
