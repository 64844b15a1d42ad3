// Package dpoptest is a DPoP client (RFC 9449) for tests, written against
// the RFC rather than against authd: key pairs of every algorithm authd
// accepts, proofs made by hand (so that tests can also send what no
// library would: alg none, a private key in the header), and an
// http.RoundTripper that proves every request.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Client is a DPoP client: a key pair and proofs made with it, each with
// a fresh jti. Safe for concurrent use.
type Client struct {
	t testing.TB
	// Key is the private key; JKT its public key's RFC 7638 thumbprint
	// (base64url SHA-256), what authd binds tokens to.
	Key  crypto.Signer
	JKT  string
	alg  jose.SignatureAlgorithm
	now  func() time.Time
	next atomic.Int64
}

// New makes a client with a new key for alg (ES256, ES384, RS256, PS256
// or EdDSA), reading the time for iat from now (time.Now when nil).
func New(t testing.TB, alg jose.SignatureAlgorithm, now func() time.Time) *Client {
	t.Helper()
	var key crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.RS256, jose.PS256:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.EdDSA:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil || key == nil {
		t.Fatalf("key for %s: %v", alg, err)
	}
	return FromKey(t, alg, key, now)
}

// FromKey makes a client with key (for alg), for tests that need the same
// key every run.
func FromKey(t testing.TB, alg jose.SignatureAlgorithm, key crypto.Signer, now func() time.Time) *Client {
	t.Helper()
	if now == nil {
		now = time.Now
	}
	jwk := jose.JSONWebKey{Key: key.Public()}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &Client{t: t, Key: key, alg: alg, now: now, JKT: base64.RawURLEncoding.EncodeToString(thumb)}
}

// Mod changes a proof's header or claims before it is signed.
type Mod func(header, claims map[string]any)

// Proof returns a DPoP proof for method and u; with token, its ath.
func (c *Client) Proof(method, u, token string, mods ...Mod) string {
	c.t.Helper()
	n := c.next.Add(1)
	pub, _ := json.Marshal(jose.JSONWebKey{Key: c.Key.Public()})
	var jwk map[string]any
	_ = json.Unmarshal(pub, &jwk)
	header := map[string]any{"typ": "dpop+jwt", "alg": string(c.alg), "jwk": jwk}
	claims := map[string]any{"jti": fmt.Sprintf("jti-%d-%d", n, c.now().UnixNano()), "htm": method, "htu": u,
		"iat": c.now().Unix()}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	for _, m := range mods {
		m(header, claims)
	}
	return c.Sign(header, claims)
}

// Sign makes the compact JWS by hand, so that tests can send what no
// library would (alg none, a header of their choice).
func (c *Client) Sign(header, claims map[string]any) string {
	c.t.Helper()
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	var sig []byte
	var err error
	switch alg, _ := header["alg"].(string); alg {
	case "none":
		return input + "."
	case "ES256", "ES384":
		hash := crypto.SHA256
		if alg == "ES384" {
			hash = crypto.SHA384
		}
		hh := hash.New()
		hh.Write([]byte(input))
		k := c.Key.(*ecdsa.PrivateKey)
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, hh.Sum(nil))
		size := (k.Curve.Params().BitSize + 7) / 8
		sig = append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...)
	case "RS256":
		sum := sha256.Sum256([]byte(input))
		sig, err = rsa.SignPKCS1v15(rand.Reader, c.Key.(*rsa.PrivateKey), crypto.SHA256, sum[:])
	case "PS256":
		sum := sha256.Sum256([]byte(input))
		sig, err = rsa.SignPSS(rand.Reader, c.Key.(*rsa.PrivateKey), crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "EdDSA":
		sig = ed25519.Sign(c.Key.(ed25519.PrivateKey), []byte(input))
	default: // an algorithm the key cannot make: a signature of zeros
		sig = make([]byte, 32)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// Transport adds a DPoP proof to every request: to token requests (as
// x/oauth2's HTTP client) and, with Token, to resource requests, which it
// sends as "Authorization: DPoP <Token>" with the token's ath.
type Transport struct {
	C     *Client
	Token string
}

func (d *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	u := *r.URL
	u.RawQuery = ""
	r.Header.Set("DPoP", d.C.Proof(r.Method, u.String(), d.Token))
	if d.Token != "" {
		r.Header.Set("Authorization", "DPoP "+d.Token)
	}
	return http.DefaultTransport.RoundTrip(r)
}
