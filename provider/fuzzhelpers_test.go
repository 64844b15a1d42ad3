package provider

// Fixtures for the fuzz targets in fuzz_test.go: one provider per fuzz
// target (built with testing.TB, so a *testing.F can own it), with fixed
// signing keys and fixed clients, so that seed corpora committed under
// testdata/fuzz can carry genuine credentials and genuinely signed tokens
// for the fuzzer to mutate.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/cache"
	"github.com/authd/authd/storage/memory"
	storesql "github.com/authd/authd/storage/sql"
)

// fuzzIssuer is the issuer of every fuzz provider; fixed so that tokens
// signed for it can be committed as seeds.
const fuzzIssuer = "https://issuer.fuzz.test"

// Claim times of the tokens the fixtures sign: issued 2025-01-01, valid
// until 2100-01-01, so committed seed tokens stay valid.
const (
	fuzzIat = 1735689600
	fuzzExp = 4102444800
)

// Fixed signing keys: the active Ed25519 key (deterministic signatures, so
// the tokens it signs are the same on every run) and a retired ES256 key
// that still verifies.
var (
	fuzzEdKey = ed25519.NewKeyFromSeed(fuzzSeed("authd fuzz ed25519"))
	fuzzESKey = func() *ecdsa.PrivateKey {
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), fuzzSeed("authd fuzz es256"))
		if err != nil {
			panic(err)
		}
		return k
	}()
	// fuzzJWTKey is the key of the private_key_jwt client fuzz-jwt.
	fuzzJWTKey = func() *ecdsa.PrivateKey {
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), fuzzSeed("authd fuzz client assertion es256"))
		if err != nil {
			panic(err)
		}
		return k
	}()
	fuzzEdKID = keyID(fuzzEdKey.Public(), EdDSA)
	fuzzESKID = keyID(fuzzESKey.Public(), ES256)
)

func fuzzSeed(s string) []byte { b := sha256.Sum256([]byte(s)); return b[:] }

// fuzzES256Token is an access token signed once with fuzzESKey (ECDSA
// signatures are randomised, so it is kept as a constant). It verifies for
// fuzzIssuer until 2100. Regenerate with AUTHD_WRITE_FUZZ_SEEDS=1.
const fuzzES256Token = "eyJhbGciOiJFUzI1NiIsImtpZCI6IndiOE5TNklWbUt3S1BRX1IiLCJ0eXAiOiJhdCtqd3QifQ.eyJhdWQiOlsiaHR0cHM6Ly9pc3N1ZXIuZnV6ei50ZXN0Il0sImNsaWVudF9pZCI6ImZ1enotYmFzaWMiLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTczNTY4OTYwMCwiaXNzIjoiaHR0cHM6Ly9pc3N1ZXIuZnV6ei50ZXN0IiwianRpIjoiMDE5NDIxNzYtODAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMGU1Iiwic2NvcGUiOiJhcGkiLCJzdWIiOiJmdXp6LWJhc2ljIn0.3_GnmaZM1hVviiut0xr7JdelMBYqL5SxBXGeYaYCZ5g5aFCMmmv6jcRejDTYCVw3dBlfG18VH_brKYJyv7EYEw"

// fuzzClients are registered in every fuzz provider. Secrets are fixed so
// seeds can present them; "fuzz+odd" needs percent-encoding in HTTP Basic
// (RFC 6749 §2.3.1) and in forms.
var fuzzClients = []ClientSpec{
	{ID: "fuzz-basic", Secret: "fuzz-basic-secret-0123456789abcdefghij", GrantTypes: []string{"client_credentials"}, Scopes: []string{"api", "read"}},
	{ID: "fuzz-post", Secret: "fuzz-post-secret-ABCDEFGHIJ0123456789", GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"},
		TokenEndpointAuthMethod: storage.AuthMethodPost},
	{ID: "fuzz+odd", Secret: "p@ss:w%rd+/= ok&x", GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"}},
	{ID: "fuzz-code", Secret: "fuzz-code-secret-0123456789abcdefghijk", GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{"http://127.0.0.1/cb"}, Scopes: []string{"openid", "offline_access", "api"},
		AllowedIntrospectors: []string{"fuzz-basic"}}, // a resource server of fuzz-code
	{ID: "fuzz-jwt", GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"}, TokenEndpointAuthMethod: storage.AuthMethodPrivateKeyJWT,
		JWKS: &josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{{Key: fuzzJWTKey.Public(), KeyID: "fuzz-jwt-1", Algorithm: "ES256", Use: "sig"}}}},
	{ID: "fuzz-public", Public: true, GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{"http://127.0.0.1/cb"}, Scopes: []string{"openid", "offline_access", "api"}},
}

// fuzzEnv is a provider for fuzzing, driven in process through its handler.
type fuzzEnv struct {
	tb      testing.TB
	p       *Provider
	h       http.Handler
	store   *storesql.Store
	secrets map[string]string // confidential client id -> secret
	// signed holds every token string the fixtures signed or the provider
	// issued to them: the only strings that may ever verify.
	signed map[string]bool
	// seeds are named tokens for seeding: the signed ones and hostile
	// variants of them.
	seeds map[string]string
	at    string // an access token issued through the token endpoint
	rt    string // a refresh token issued through the code flow
}

// newFuzzEnv builds a provider on SQLite with the fixed keys and clients,
// and issues one access token and one refresh token through the real
// endpoints. It starts no server and no background sync: the fuzz targets
// call the handler directly.
func newFuzzEnv(tb testing.TB) *fuzzEnv {
	tb.Helper()
	ctx := context.Background()
	revoked := memory.NewRevocationSet()
	store, err := storesql.Open(testdb.SQLite(tb), storesql.Options{OnRevoke: revoked.Add})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(ctx, nil); err != nil {
		tb.Fatal(err)
	}
	kr := newTestKeyring(tb)
	now := time.Now()
	addKey := func(priv any, pub any, alg string, retired *time.Time) {
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			tb.Fatal(err)
		}
		sealed, err := kr.Seal(sealPurpose, der)
		if err != nil {
			tb.Fatal(err)
		}
		k := &storage.SigningKey{KID: keyID(pub, alg), Algorithm: alg, SealedPrivate: sealed, CreatedAt: now.Add(-2 * time.Hour), RetiredAt: retired}
		if retired == nil {
			k.CreatedAt = now.Add(-time.Hour)
		}
		if err := store.CreateKey(ctx, k); err != nil {
			tb.Fatal(err)
		}
	}
	retiredAt := now.Add(-time.Hour)
	addKey(fuzzESKey, fuzzESKey.Public(), ES256, &retiredAt)
	addKey(fuzzEdKey, fuzzEdKey.Public(), EdDSA, nil)

	e := &fuzzEnv{tb: tb, store: store, secrets: map[string]string{}, signed: map[string]bool{}, seeds: map[string]string{}}
	hasher := secrets.ClientSecretHasher{Keyring: kr}
	for _, spec := range fuzzClients {
		spec.Name = "fuzz " + spec.ID
		c, secret, err := NewClient(ctx, spec, hasher, 24*time.Hour)
		if err != nil {
			tb.Fatalf("NewClient(%s): %v", spec.ID, err)
		}
		if err := store.CreateClient(ctx, c); err != nil {
			tb.Fatal(err)
		}
		if secret != "" {
			e.secrets[c.ID] = secret
		}
	}

	cfg := DefaultConfig()
	cfg.Issuer = fuzzIssuer
	cfg.Keys.Algorithm = EdDSA
	clients := cache.NewClients(store, cfg.Cache.ClientSize, cfg.Cache.ClientTTL)
	p, err := New(ctx, cfg, Options{Logger: testLogger(tb), Store: store.WithClientLookup(clients.GetStoredClient), Clients: clients,
		Keyring: kr, Revoked: revoked})
	if err != nil {
		tb.Fatal(err)
	}
	if kid := p.keys.Load().active.kid; kid != fuzzEdKID {
		tb.Fatalf("active key %s, want the fixed Ed25519 key %s", kid, fuzzEdKID)
	}
	e.p, e.h = p, p.Handler(nil)

	e.signTokens()
	e.issueTokens()
	return e
}

// fuzzClaims are the claims of a well-formed token from the fixtures.
func fuzzClaims(jti string) map[string]any {
	return map[string]any{"iss": fuzzIssuer, "sub": "fuzz-basic", "aud": []string{fuzzIssuer}, "exp": fuzzExp, "iat": fuzzIat,
		"jti": jti, "client_id": "fuzz-basic", "scope": "api"}
}

// signRaw signs payload with the fixed Ed25519 key and the given typ, as
// the provider would, and records the token as signed.
func (e *fuzzEnv) signRaw(typ string, payload []byte) string {
	e.tb.Helper()
	tok, err := fuzzSign(fuzzEdKey, jose.EdDSA, fuzzEdKID, typ, payload)
	if err != nil {
		e.tb.Fatal(err)
	}
	e.signed[tok] = true
	return tok
}

// fuzzSign signs payload as a compact JWS with the given key and headers.
func fuzzSign(key any, alg jose.SignatureAlgorithm, kid, typ string, payload []byte) (string, error) {
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader(jose.HeaderKey("kid"), kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func (e *fuzzEnv) signClaims(typ string, claims map[string]any) string {
	e.tb.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		e.tb.Fatal(err)
	}
	return e.signRaw(typ, b)
}

func claimsWith(claims map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(claims))
	for k, v := range claims {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func fuzzB64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signTokens signs the genuine seed tokens (and hostile payloads under the
// real key), and derives unsigned hostile shapes from them.
func (e *fuzzEnv) signTokens() {
	good := e.signClaims(typAccessToken, fuzzClaims("01942176-8000-7000-8000-0000000000ed"))
	e.seeds["genuine"] = good
	e.seeds["genuine_es256"] = fuzzES256Token
	e.signed[fuzzES256Token] = true
	e.seeds["genuine_extra_claims"] = e.signClaims(typAccessToken, claimsWith(fuzzClaims("01942176-8000-7000-8000-0000000000e0"),
		"roles", []any{"admin", map[string]any{"nested": []any{1, 2, map[string]any{"deep": true}}}}, "tenant", "t1"))
	e.seeds["genuine_application_typ"] = e.signRaw("application/at+jwt", fuzzJSON(fuzzClaims("01942176-8000-7000-8000-0000000000a0")))

	// Signed with the real key, but with claims the provider must refuse.
	base := fuzzClaims("01942176-8000-7000-8000-000000000bad")
	e.seeds["signed_exp_string"] = e.signClaims(typAccessToken, claimsWith(base, "exp", "4102444800"))
	e.seeds["signed_aud_number"] = e.signClaims(typAccessToken, claimsWith(base, "aud", 42))
	e.seeds["signed_iss_object"] = e.signClaims(typAccessToken, claimsWith(base, "iss", map[string]any{"iss": fuzzIssuer}))
	e.seeds["signed_wrong_issuer"] = e.signClaims(typAccessToken, claimsWith(base, "iss", "https://evil.example"))
	e.seeds["signed_no_jti"] = e.signClaims(typAccessToken, claimsWith(base, "jti", nil))
	e.seeds["signed_expired"] = e.signClaims(typAccessToken, claimsWith(base, "exp", fuzzIat+1))
	e.seeds["signed_future_iat"] = e.signClaims(typAccessToken, claimsWith(base, "iat", int64(fuzzExp-10)))
	e.seeds["signed_wrong_typ"] = e.signClaims("JWT", base)
	e.seeds["signed_not_json"] = e.signRaw(typAccessToken, []byte("not json"))
	e.seeds["signed_array"] = e.signRaw(typAccessToken, []byte(`[1,2,3]`))
	// Duplicate claims: encoding/json keeps the last.
	dup := strings.TrimSuffix(string(fuzzJSON(base)), "}") + `,"iss":"https://evil.example"}`
	e.seeds["signed_duplicate_iss"] = e.signRaw(typAccessToken, []byte(dup))
	dup2 := `{"iss":"https://evil.example",` + strings.TrimPrefix(string(fuzzJSON(base)), "{")
	e.seeds["signed_duplicate_iss_first"] = e.signRaw(typAccessToken, []byte(dup2))
	// A registered claim spelled in another case (encoding/json matches
	// names case-insensitively).
	e.seeds["signed_case_folded_client_id"] = e.signRaw(typAccessToken,
		[]byte(strings.TrimSuffix(string(fuzzJSON(base)), "}")+`,"CLIENT_ID":"fuzz-post","ſub":"admin"}`))

	// Unsigned hostile shapes derived from the genuine token.
	parts := strings.Split(good, ".")
	hdr, payload, sig := parts[0], parts[1], parts[2]
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	e.seeds["tampered_header"] = fuzzB64(`{"alg":"EdDSA","kid":"`+fuzzEdKID+`","typ":"JWT"}`) + "." + payload + "." + sig
	e.seeds["tampered_payload"] = hdr + "." + fuzzB64(`{"iss":"`+fuzzIssuer+`","sub":"admin","client_id":"fuzz-basic","jti":"x","exp":4102444800}`) + "." + sig
	e.seeds["tampered_signature"] = hdr + "." + payload + "." + flip(sig, 10)
	e.seeds["tampered_signature_last_char"] = hdr + "." + payload + "." + flip(sig, len(sig)-1)
	e.seeds["signature_non_canonical_base64"] = hdr + "." + payload + "." + sig[:len(sig)-1] + nonCanonicalTail(sig)
	e.seeds["alg_none"] = fuzzB64(`{"alg":"none","kid":"`+fuzzEdKID+`","typ":"at+jwt"}`) + "." + payload + "."
	e.seeds["alg_none_sig_kept"] = fuzzB64(`{"alg":"none","kid":"`+fuzzEdKID+`","typ":"at+jwt"}`) + "." + payload + "." + sig
	e.seeds["alg_es256_with_ed_kid"] = fuzzB64(`{"alg":"ES256","kid":"`+fuzzEdKID+`","typ":"at+jwt"}`) + "." + payload + "." + sig
	e.seeds["alg_eddsa_with_es_kid"] = fuzzB64(`{"alg":"EdDSA","kid":"`+fuzzESKID+`","typ":"at+jwt"}`) + "." + payload + "." + sig
	e.seeds["alg_hs256"] = fuzzB64(`{"alg":"HS256","kid":"`+fuzzEdKID+`","typ":"at+jwt"}`) + "." + payload + "." + fuzzB64(strings.Repeat("k", 32))
	e.seeds["unknown_kid"] = fuzzB64(`{"alg":"EdDSA","kid":"nope","typ":"at+jwt"}`) + "." + payload + "." + sig
	e.seeds["header_wrong_types"] = fuzzB64(`{"alg":["EdDSA"],"kid":7,"typ":{"t":"at+jwt"},"crit":"x"}`) + "." + payload + "." + sig
	e.seeds["header_crit"] = fuzzB64(`{"alg":"EdDSA","kid":"`+fuzzEdKID+`","typ":"at+jwt","crit":["exp"]}`) + "." + payload + "." + sig
	e.seeds["payload_wrong_types"] = hdr + "." + fuzzB64(`{"iss":1,"sub":{"a":[]},"aud":42,"exp":"soon","iat":true,"jti":null,"client_id":[1]}`) + "." + sig
	e.seeds["payload_duplicate_claims"] = hdr + "." + fuzzB64(`{"iss":"x","iss":"`+fuzzIssuer+`","exp":1,"exp":4102444800,"jti":"a","client_id":"b"}`) + "." + sig
	e.seeds["payload_deeply_nested"] = hdr + "." + fuzzB64(strings.Repeat(`{"a":`, 900)+"1"+strings.Repeat("}", 900)) + "." + sig
	e.seeds["whitespace_inside"] = hdr + "\n." + payload + " ." + sig
	e.seeds["whitespace_around"] = " \t" + good + "\r\n"
	e.seeds["padded_base64"] = hdr + "==." + payload + "." + sig
	e.seeds["jws_json_serialization"] = `{"protected":"` + hdr + `","payload":"` + payload + `","signature":"` + sig + `"}`
	e.seeds["jws_json_with_dots"] = `{"protected":"` + hdr + `","payload":"` + payload + `","signature":"` + sig + `","header":{"x":"a.b.c"}}`
	e.seeds["two_parts"] = hdr + "." + payload
	e.seeds["four_parts"] = good + "." + sig
	e.seeds["dots"] = ".."
	e.seeds["empty"] = ""
	e.seeds["non_base64"] = "!!!.@@@.###"
	e.seeds["non_utf8"] = "\xff\xfe.\x00\x01.\x80"
	e.seeds["huge"] = strings.Repeat("A", maxTokenLength+1) + ".b.c"
	e.seeds["just_under_limit"] = hdr + "." + payload + "." + sig + strings.Repeat("A", maxTokenLength-len(good)-1)
	e.seeds["payload_null"] = hdr + "." + fuzzB64("null") + "." + sig
}

// nonCanonicalTail returns a last character for a base64url segment that
// decodes to the same bytes as its real last character, with the unused
// low bits set (RFC 4648 §3.5 says encoders zero them).
func nonCanonicalTail(seg string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	var unused int
	switch len(seg) % 4 {
	case 2:
		unused = 4
	case 3:
		unused = 2
	default:
		return seg[len(seg)-1:]
	}
	return string(alphabet[last|(1<<unused-1)])
}

func fuzzJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// issueTokens gets an access token by client_credentials and a refresh
// token by the code flow, through the real handler.
func (e *fuzzEnv) issueTokens() {
	e.tb.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}
	code, m := e.do(PathToken, []byte(form.Encode()), fuzzBasic("fuzz-basic", e.secrets["fuzz-basic"]), fuzzFormType)
	if code != 200 {
		e.tb.Fatalf("client_credentials: %d %v", code, m)
	}
	e.at = m["access_token"].(string)
	e.signed[e.at] = true

	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	q := url.Values{"response_type": {"code"}, "client_id": {"fuzz-code"}, "redirect_uri": {"http://127.0.0.1/cb"},
		"scope": {"offline_access api"}, "state": {"state-123456789"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	req := httptest.NewRequest(http.MethodGet, fuzzIssuer+"/oauth2/authorize?"+q.Encode(), nil)
	ctx := req.Context()
	ar, err := e.p.oauth2.NewAuthorizeRequest(ctx, req)
	if err != nil {
		e.tb.Fatalf("NewAuthorizeRequest: %v", fosite.ErrorToRFC6749Error(err).WithExposeDebug(true).GetDescription())
	}
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	sess := NewSession("fuzz-user")
	sess.SID = "sid-fuzz-user"
	resp, err := e.p.oauth2.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		e.tb.Fatalf("NewAuthorizeResponse: %v", fosite.ErrorToRFC6749Error(err).WithExposeDebug(true).GetDescription())
	}
	form = url.Values{"grant_type": {"authorization_code"}, "code": {resp.GetCode()}, "redirect_uri": {"http://127.0.0.1/cb"}, "code_verifier": {verifier}}
	code, m = e.do(PathToken, []byte(form.Encode()), fuzzBasic("fuzz-code", e.secrets["fuzz-code"]), fuzzFormType)
	if code != 200 || m["refresh_token"] == nil {
		e.tb.Fatalf("code exchange: %d %v", code, m)
	}
	e.rt = m["refresh_token"].(string)
	e.signed[m["access_token"].(string)] = true
	e.signed[e.rt] = true
}

const fuzzFormType = "application/x-www-form-urlencoded"

func fuzzBasic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// do POSTs body to path through the handler and decodes the JSON answer
// (nil when it is not JSON).
func (e *fuzzEnv) do(path string, body []byte, auth, contentType string) (int, map[string]any) {
	rec := e.serve(path, body, auth, contentType)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m
}

func (e *fuzzEnv) serve(path string, body []byte, auth, contentType string) *httptest.ResponseRecorder {
	req := newFuzzRequest(path, body, auth, contentType)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func newFuzzRequest(path string, body []byte, auth, contentType string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// Placeholders seeds may use for tokens only known at run time.
const (
	placeholderAT = "{{AT}}"
	placeholderRT = "{{RT}}"
)

func (e *fuzzEnv) expand(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte(placeholderAT), []byte(url.QueryEscape(e.at)))
	return bytes.ReplaceAll(b, []byte(placeholderRT), []byte(url.QueryEscape(e.rt)))
}

// fuzzAssertion is a client assertion of fuzz-jwt with claims over the
// well-formed ones (a nil value deletes the claim).
func fuzzAssertion(tb testing.TB, kv ...any) string {
	tb.Helper()
	now := time.Now()
	claims := claimsWith(map[string]any{"iss": "fuzz-jwt", "sub": "fuzz-jwt", "aud": fuzzIssuer + PathToken,
		"jti": rand.Text(), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}, kv...)
	tok, err := fuzzSign(fuzzJWTKey, jose.ES256, "fuzz-jwt-1", "JWT", fuzzJSON(claims))
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// presentedMethods counts the client authentication methods a request
// carries (RFC 6749 §2.3: at most one may be used): an Authorization
// header with the Basic scheme, a client_secret, a client assertion.
func presentedMethods(body []byte, auth, contentType string) int {
	req := newFuzzRequest("/", body, auth, contentType)
	n := 0
	if _, _, ok := req.BasicAuth(); ok {
		n++
	}
	_ = req.ParseMultipartForm(1 << 20)
	form := req.PostForm
	if req.MultipartForm != nil {
		form = url.Values(req.MultipartForm.Value)
	}
	if len(form["client_secret"]) > 0 {
		n++
	}
	if len(form["client_assertion"]) > 0 || len(form["client_assertion_type"]) > 0 {
		n++
	}
	return n
}

// fuzzHeaderValue returns v as a server would see it, and false when a client
// could not send it at all (net/http refuses control characters other than
// tab in header values; surrounding blanks are trimmed).
func fuzzHeaderValue(v string) (string, bool) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return "", false
		}
	}
	return strings.Trim(v, " \t"), true
}

// presentedCredentials returns every client id and secret a request
// carries, decoded every way the server might decode them (HTTP Basic
// with and without percent-decoding; url-encoded and multipart bodies).
func presentedCredentials(body []byte, auth, contentType string) (ids, secrets map[string]bool) {
	ids, secrets = map[string]bool{}, map[string]bool{}
	req := newFuzzRequest("/", body, auth, contentType)
	if u, p, ok := req.BasicAuth(); ok {
		ids[u], secrets[p] = true, true
		if uu, err := url.QueryUnescape(u); err == nil {
			ids[uu] = true
		}
		if pp, err := url.QueryUnescape(p); err == nil {
			secrets[pp] = true
		}
	}
	_ = req.ParseMultipartForm(1 << 20)
	for _, v := range req.PostForm["client_id"] {
		ids[v] = true
	}
	for _, v := range req.PostForm["client_secret"] {
		secrets[v] = true
	}
	if req.MultipartForm != nil {
		for _, v := range req.MultipartForm.Value["client_id"] {
			ids[v] = true
		}
		for _, v := range req.MultipartForm.Value["client_secret"] {
			secrets[v] = true
		}
	}
	return ids, secrets
}

// authenticatedAs reports whether the request presented the genuine
// secret of client id.
func (e *fuzzEnv) authenticatedAs(id string, body []byte, auth, contentType string) bool {
	ids, secrets := presentedCredentials(body, auth, contentType)
	secret, ok := e.secrets[id]
	return ok && ids[id] && secrets[secret]
}

// anyGenuineClient reports whether the request presented the genuine id
// and secret of some confidential client.
func (e *fuzzEnv) anyGenuineClient(body []byte, auth, contentType string) bool {
	ids, secrets := presentedCredentials(body, auth, contentType)
	for id, secret := range e.secrets {
		if ids[id] && secrets[secret] {
			return true
		}
	}
	return false
}

// fuzzFormToken returns the token parameter as the introspection handler
// reads it (url-encoded body only).
func fuzzFormToken(body []byte, contentType string) string {
	req := newFuzzRequest("/", body, "", contentType)
	if err := req.ParseForm(); err != nil {
		return ""
	}
	return req.PostForm.Get("token")
}
