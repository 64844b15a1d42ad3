package provider

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/url"
	"strconv"
	"testing"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authd/authd/storage"
)

// assertionClient is a private_key_jwt client and a way to sign its
// assertions.
type assertionClient struct {
	c    *storage.Client
	sign func(claims map[string]any) string
}

func (e *env) assertionClient(t *testing.T) *assertionClient {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := &josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	c, _ := e.createClient(ClientSpec{GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"},
		TokenEndpointAuthMethod: storage.AuthMethodPrivateKeyJWT, JWKS: jwks})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	return &assertionClient{c: c, sign: func(claims map[string]any) string {
		s, err := jwt.Signed(signer).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}}
}

// claims returns well-formed assertion claims at now, with kv overriding
// (a nil value deletes the claim).
func (a *assertionClient) claims(e *env, now time.Time, jti string, kv ...any) map[string]any {
	return withClaims(map[string]any{"iss": a.c.ID, "sub": a.c.ID, "aud": e.issuer + PathToken, "jti": jti,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}, kv...)
}

// withClaims sets m's claims from the name, value pairs kv (a nil value
// deletes the claim) and returns m.
func withClaims(m map[string]any, kv ...any) map[string]any {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	return m
}

func assertionForm(form url.Values, assertion string) url.Values {
	out := url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	for k, v := range form {
		out[k] = v
	}
	return out
}

// TestClientAssertionTimes: assertions are judged by their times with a
// small leeway and answered invalid_client, never 500; an exp far ahead is
// refused (exp=1e16 overflowed the stored expiry, and the same assertion
// was accepted three times).
func TestClientAssertionTimes(t *testing.T) {
	clock := &testClock{t: time.Now().Truncate(time.Second)}
	e := newEnv(t, withClock(clock))
	a := e.assertionClient(t)
	now := clock.Now()
	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, tc := range []struct {
		name   string
		claims []any
		want   int // 200, or 401 invalid_client
		times  int // how often the same assertion is sent (default 1)
	}{
		{"well-formed", nil, 200, 1},
		{"exp 1e16", []any{"exp", int64(1e16)}, 401, 3},
		{"exp an hour ahead", []any{"exp", now.Add(time.Hour).Unix()}, 401, 1},
		{"exp 10 minutes ahead", []any{"exp", now.Add(10 * time.Minute).Unix()}, 200, 1},
		{"no exp", []any{"exp", nil}, 401, 1},
		{"iat 1s ahead", []any{"iat", now.Add(time.Second).Unix()}, 200, 1},
		{"nbf 1s ahead", []any{"nbf", now.Add(time.Second).Unix()}, 200, 1},
		{"iat 2m ahead", []any{"iat", now.Add(2 * time.Minute).Unix()}, 401, 1},
		{"nbf 2m ahead", []any{"nbf", now.Add(2 * time.Minute).Unix()}, 401, 1},
		{"expired 1s ago", []any{"exp", now.Add(-time.Second).Unix()}, 200, 1},
		{"expired 2m ago", []any{"iat", now.Add(-3 * time.Minute).Unix(), "exp", now.Add(-2 * time.Minute).Unix()}, 401, 1},
		{"replayed", nil, 200, 2}, // the second one: 401, below
		{"no jti", []any{"jti", nil}, 401, 1},
		{"iss is another client", []any{"iss", "someone-else"}, 401, 1},
		{"aud is the issuer only", []any{"aud", e.issuer}, 200, 1},
		{"aud is the issuer in a list", []any{"aud", []string{"https://elsewhere.example", e.issuer}}, 200, 1},
		{"aud is another server", []any{"aud", "https://elsewhere.example"}, 401, 1},
		{"aud is another endpoint", []any{"aud", e.issuer + PathIntrospect}, 401, 1},
		{"aud is the issuer with a slash", []any{"aud", e.issuer + "/"}, 401, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertion := a.sign(a.claims(e, now, "jti-"+tc.name, tc.claims...))
			for i := range tc.times {
				resp := e.post(PathToken, assertionForm(cc, assertion), "", "")
				m := decode(t, resp)
				want := tc.want
				if i > 0 {
					want = 401 // a used assertion is never accepted again
				}
				if resp.StatusCode != want || (want == 401 && m["error"] != "invalid_client") {
					t.Fatalf("attempt %d: %d %v, want %d", i+1, resp.StatusCode, m, want)
				}
			}
		})
	}
	// The jti is remembered as long as the assertion could be accepted:
	// an assertion that expired 1s ago is not accepted again later in the
	// leeway.
	assertion := a.sign(a.claims(e, now, "jti-late", "exp", now.Add(-time.Second).Unix()))
	if resp := e.post(PathToken, assertionForm(cc, assertion), "", ""); resp.StatusCode != 200 {
		t.Fatalf("within the leeway: %d %v", resp.StatusCode, decode(t, resp))
	}
	clock.Advance(20 * time.Second)
	if resp := e.post(PathToken, assertionForm(cc, assertion), "", ""); resp.StatusCode != 401 {
		t.Fatalf("replayed later in the leeway: %d %v, want 401", resp.StatusCode, decode(t, resp))
	}
}

// TestOneClientAuthMethod: a request authenticates its client one way
// (RFC 6749 §2.3): two methods at once, or a body client_id naming another
// client than the one authenticated, are refused at every endpoint where
// clients authenticate.
func TestOneClientAuthMethod(t *testing.T) {
	e := newEnv(t)
	a := e.assertionClient(t)
	c, secret := e.ccClient()
	other, _ := e.ccClient()
	post, postSecret := e.createClient(ClientSpec{GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"},
		TokenEndpointAuthMethod: storage.AuthMethodPost})
	tok := e.token(c.ID, secret, "api")
	n := 0
	assertion := func() string {
		n++
		return a.sign(a.claims(e, time.Now(), "jti-"+strconv.Itoa(n)))
	}
	for _, ep := range []struct {
		path string
		form url.Values
		ok   int
	}{
		{PathToken, url.Values{"grant_type": {"client_credentials"}}, 200},
		{PathIntrospect, url.Values{"token": {tok}}, 200},
		{PathRevoke, url.Values{"token": {"not-a-token"}}, 200},
	} {
		with := func(kv ...string) url.Values {
			f := url.Values{}
			for k, v := range ep.form {
				f[k] = v
			}
			for i := 0; i < len(kv); i += 2 {
				f.Set(kv[i], kv[i+1])
			}
			return f
		}
		for _, tc := range []struct {
			name       string
			form       url.Values
			id, secret string
			want       int
			wantErr    string
		}{
			{"basic", with(), c.ID, secret, ep.ok, ""},
			{"basic with its own client_id", with("client_id", c.ID), c.ID, secret, ep.ok, ""},
			{"basic with another client_id", with("client_id", other.ID), c.ID, secret, 400, "invalid_request"},
			{"basic and client_secret", with("client_secret", secret), c.ID, secret, 400, "invalid_request"},
			{"basic and an assertion", assertionForm(with(), assertion()), c.ID, secret, 400, "invalid_request"},
			{"post and an assertion", assertionForm(with("client_id", post.ID, "client_secret", postSecret), assertion()), "", "", 400, "invalid_request"},
			{"assertion of another client_id", assertionForm(with("client_id", c.ID), assertion()), "", "", 401, "invalid_client"},
		} {
			t.Run(ep.path+"/"+tc.name, func(t *testing.T) {
				if ep.path == PathIntrospect && tc.name == "post and an assertion" {
					tc.form.Set("token", tok)
				}
				resp := e.post(ep.path, tc.form, tc.id, tc.secret)
				if resp.StatusCode == 200 && ep.path == PathRevoke {
					resp.Body.Close()
				} else if m := decode(t, resp); resp.StatusCode != tc.want || (tc.wantErr != "" && m["error"] != tc.wantErr) {
					t.Fatalf("%d %v, want %d %s", resp.StatusCode, m, tc.want, tc.wantErr)
				}
				if resp.StatusCode != tc.want {
					t.Fatalf("%d, want %d", resp.StatusCode, tc.want)
				}
			})
		}
	}
	// An assertion alone still works at each of them.
	for _, path := range []string{PathToken, PathIntrospect} {
		form := url.Values{"grant_type": {"client_credentials"}, "token": {tok}}
		if resp := e.post(path, assertionForm(form, assertion()), "", ""); resp.StatusCode != 200 {
			t.Errorf("%s with an assertion: %d %v", path, resp.StatusCode, decode(t, resp))
		}
	}
}
