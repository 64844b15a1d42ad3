package provider

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/authd/authd/storage"
)

// TestRequestObjects: a signed request object (RFC 9101) replaces the
// request's parameters; unsigned, foreign-signed, misaddressed, expired,
// far-future, early and replayed objects are refused on a page (no
// redirect URI can be trusted from an object that does not verify).
func TestRequestObjects(t *testing.T) {
	be := newBrowserEnv(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := &josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	c, _ := be.createClient(ClientSpec{RedirectURIs: []string{"http://127.0.0.1:9/cb"}, TokenEndpointAuthMethod: storage.AuthMethodPrivateKeyJWT, JWKS: jwks})
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	sign := func(k *ecdsa.PrivateKey, claims map[string]any) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jwt.Signed(s).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	n := 0
	object := func(kv ...any) map[string]any {
		n++
		now := time.Now()
		return withClaims(map[string]any{"iss": c.ID, "aud": be.issuer, "client_id": c.ID, "exp": now.Add(5 * time.Minute).Unix(),
			"nbf": now.Unix(), "jti": fmt.Sprint("jti-", n), "response_type": "code", "redirect_uri": "http://127.0.0.1:9/cb",
			"scope": "openid email", "state": "state-from-the-object", "code_challenge": challenge, "code_challenge_method": "S256",
			"max_age": 3600, "claims": map[string]any{"id_token": map[string]any{"email": nil}}}, kv...)
	}
	authorize := func(request string, extra ...string) string {
		q := url.Values{"client_id": {c.ID}, "request": {request}, "scope": {"openid"}, "state": {"state-from-the-query"}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return be.issuer + PathAuthorize + "?" + q.Encode()
	}

	// The object's parameters, not the query's, make the request.
	good := sign(key, object())
	login := expectRedirect(t, be.get(authorize(good)), be.issuer+PathLogin)
	arID := login.Query().Get("ar")
	rec, err := be.store.GetAuthRequest(t.Context(), arID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Form.Get("scope") != "openid email" || rec.Form.Get("max_age") != "3600" || rec.Form.Get("request") != "" ||
		rec.Form.Get("claims") != `{"id_token":{"email":null}}` {
		t.Fatalf("stored request %v", rec.Form)
	}
	be.signIn(arID, "alice")
	be.consent(arID, true, "openid", "email")
	cb := expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+arID), "http://127.0.0.1:9/cb")
	if cb.Query().Get("state") != "state-from-the-object" || cb.Query().Get("code") == "" {
		t.Fatalf("callback %v", cb)
	}

	// A request object pushed (RFC 9126 with RFC 9101), the client
	// authenticating with private_key_jwt (aud: the issuer).
	assertion := sign(key, map[string]any{"iss": c.ID, "sub": c.ID, "aud": be.issuer, "jti": "assertion-1",
		"exp": time.Now().Add(time.Minute).Unix()})
	code, m := be.push(url.Values{"client_assertion_type": {clientAssertionType}, "client_assertion": {assertion},
		"request": {sign(key, object("state", "state-pushed-object"))}}, c.ID, "")
	if code != 201 {
		t.Fatalf("pushed request object: %d %v", code, m)
	}
	pushed := be.issuer + PathAuthorize + "?" + url.Values{"client_id": {c.ID}, "request_uri": {m["request_uri"].(string)}}.Encode()
	if cb := expectRedirect(t, be.get(pushed), "http://127.0.0.1:9/cb"); cb.Query().Get("state") != "state-pushed-object" {
		t.Fatalf("pushed object's callback %v", cb)
	}

	unsigned := func(claims map[string]any) string {
		b, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("a shared secret of 32 bytes ....")}, nil)
		raw, _ := jwt.Signed(b).Claims(claims).Serialize()
		parts := strings.Split(raw, ".")
		return "eyJhbGciOiJub25lIn0." + parts[1] + "."
	}
	now := time.Now()
	for name, u := range map[string]string{
		"replayed":               authorize(good),
		"unsigned (alg none)":    authorize(unsigned(object())),
		"signed by another key":  authorize(sign(other, object())),
		"iss is not the client":  authorize(sign(key, object("iss", "someone"))),
		"aud is not the issuer":  authorize(sign(key, object("aud", "https://elsewhere.example"))),
		"client_id differs":      authorize(sign(key, object("client_id", "other"))),
		"no exp":                 authorize(sign(key, object("exp", nil))),
		"expired":                authorize(sign(key, object("exp", now.Add(-time.Minute).Unix()))),
		"exp two hours ahead":    authorize(sign(key, object("exp", now.Add(2*time.Hour).Unix()))),
		"nbf in the future":      authorize(sign(key, object("nbf", now.Add(5*time.Minute).Unix()))),
		"nested request_uri":     authorize(sign(key, object("request_uri", "https://evil.example/r"))),
		"an array parameter":     authorize(sign(key, object("scope", []string{"openid"}))),
		"not a JWT":              authorize("not-a-jwt"),
		"with request_uri":       authorize(sign(key, object()), "request_uri", "https://evil.example/r"),
		"no client_id beside it": be.issuer + PathAuthorize + "?" + url.Values{"request": {sign(key, object())}}.Encode(),
		"a client without keys":  authorize(sign(key, object()), "client_id", be.newRP(ClientSpec{}).client.ID),
		"request twice":          authorize(good) + "&request=" + url.QueryEscape(good),
	} {
		t.Run(name, func(t *testing.T) {
			resp := be.get(u)
			if resp.StatusCode < 400 || resp.Header.Get("Location") != "" {
				t.Fatalf("%d Location %q, want an error page", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

// TestRequestObjectAlgorithms: request objects and private_key_jwt
// assertions verify with RS256, PS256, ES256 and EdDSA keys.
func TestRequestObjectAlgorithms(t *testing.T) {
	be := newBrowserEnv(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	for _, tc := range []struct {
		alg jose.SignatureAlgorithm
		key crypto.Signer
	}{{jose.RS256, rsaKey}, {jose.PS256, rsaKey}, {jose.ES256, ecKey}, {jose.EdDSA, edKey}} {
		t.Run(string(tc.alg), func(t *testing.T) {
			jwks := &josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{{Key: tc.key.Public(), KeyID: "k1", Algorithm: string(tc.alg), Use: "sig"}}}
			c, _ := be.createClient(ClientSpec{RedirectURIs: []string{"http://127.0.0.1:9/cb"}, TokenEndpointAuthMethod: storage.AuthMethodPrivateKeyJWT, JWKS: jwks})
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: tc.alg, Key: tc.key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			object, err := jwt.Signed(s).Claims(map[string]any{"iss": c.ID, "aud": be.issuer, "client_id": c.ID, "exp": now.Add(time.Minute).Unix(),
				"jti": "ro-" + string(tc.alg), "response_type": "code", "redirect_uri": "http://127.0.0.1:9/cb", "scope": "openid",
				"state": "state-0123456789", "code_challenge": challenge, "code_challenge_method": "S256"}).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			u := be.issuer + PathAuthorize + "?" + url.Values{"client_id": {c.ID}, "request": {object}}.Encode()
			expectRedirect(t, be.get(u), be.issuer+PathLogin)
			assertion, _ := jwt.Signed(s).Claims(map[string]any{"iss": c.ID, "sub": c.ID, "aud": be.issuer, "jti": "as-" + string(tc.alg),
				"exp": now.Add(time.Minute).Unix()}).Serialize()
			resp := be.post(PathIntrospect, url.Values{"token": {"x"}, "client_assertion_type": {clientAssertionType}, "client_assertion": {assertion}}, "", "")
			if m := decode(t, resp); resp.StatusCode != 200 || m["active"] != false {
				t.Fatalf("private_key_jwt with %s: %d %v", tc.alg, resp.StatusCode, m)
			}
		})
	}
}
