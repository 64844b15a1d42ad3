package provider

// Fuzz targets for the token parser, the access-token claims codec and the
// token and introspection endpoints. Seed corpora live in
// testdata/fuzz/<FuzzName>/ and run as ordinary tests; regenerate them with
//
//	AUTHD_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds ./provider/
//
// Run a target with, for example,
//
//	go test -run x -fuzz FuzzParseAccessToken -fuzztime 20s ./provider/

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/internal/dpoptest"
	"github.com/authd/authd/internal/secrets"
)

// FuzzParseAccessToken: parsing never panics, and only strings the
// fixtures signed (or the provider issued) ever verify: no tampered,
// re-encoded or re-serialised variant of a genuine token is accepted.
func FuzzParseAccessToken(f *testing.F) {
	e := newFuzzEnv(f)
	for _, name := range fuzzSortedKeys(e.seeds) {
		f.Add(e.seeds[name])
	}
	// Tokens issued at run time (e.at, e.rt) are not added: every fuzz
	// worker builds its own provider and knows only the ones it issued.
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token string) {
		c, err := e.p.parseAccessToken(ctx, token, time.Now())
		if err == nil {
			if !e.signed[token] {
				t.Fatalf("parseAccessToken accepted a token the provider never issued: %q -> %+v", token, c)
			}
			if c.Issuer != fuzzIssuer || c.JTI == "" || c.ClientID == "" {
				t.Fatalf("accepted claims lack required values: %+v", c)
			}
		} else if c != nil {
			t.Fatalf("parseAccessToken returned claims with error %v", err)
		}
		if _, err := e.p.verifyAccessToken(ctx, token); err == nil && !e.signed[token] {
			t.Fatalf("verifyAccessToken accepted a token the provider never issued: %q", token)
		}
		if r := e.p.introspect(ctx, token, "fuzz-code"); r != nil && !e.signed[token] {
			t.Fatalf("introspect found a token the provider never issued active: %q", token)
		}
		// Unverified decoding is only a lookup aid but must never panic.
		_, _ = unverifiedClaims(token)
		_ = accessTokenStrategy{p: e.p}.AccessTokenSignature(ctx, token)
	})
}

// FuzzAccessClaimsJSON round-trips accessClaims with arbitrary extra
// claims: the output is one JSON object without duplicate names, no extra
// claim ever replaces a registered one (in any letter case, since
// encoding/json matches names case-insensitively), and everything else
// survives. Arbitrary input to UnmarshalJSON never panics and re-encodes
// to the same claims.
func FuzzAccessClaimsJSON(f *testing.F) {
	for _, s := range claimsSeeds {
		f.Add(s.iss, s.sub, s.scope, s.exp, s.k1, []byte(s.v1), s.k2, s.v2)
	}
	f.Fuzz(func(t *testing.T, iss, sub, scope string, exp int64, k1 string, v1 []byte, k2, v2 string) {
		var x1 any
		if err := json.Unmarshal(v1, &x1); err != nil {
			x1 = string(v1)
		}
		in := &accessClaims{Issuer: iss, Subject: sub, Audience: []string{iss, "rs"}, Expiry: exp, IssuedAt: exp - 900,
			NotBefore: exp - 1000, JTI: "jti-" + sub, ClientID: "client-" + sub, Scope: scope, SID: "sid", GrantID: "grant",
			AuthTime: 7, ACR: "acr", AMR: []string{"pwd"}, Extra: map[string]any{k1: x1, k2: v2}}
		out, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		checkClaimsObject(t, out, utf8.ValidString(k1) && utf8.ValidString(k2))
		var got accessClaims
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("Unmarshal(%s): %v", out, err)
		}
		if want := normalizedRegistered(t, in); !reflect.DeepEqual(registeredFieldsOf(&got), want) {
			t.Fatalf("registered claims changed in the round trip:\n got %+v\nwant %+v\njson %s", registeredFieldsOf(&got), want, out)
		}
		for k, v := range in.Extra {
			if registeredClaims[k] || shadowsRegistered(k) {
				continue
			}
			if !utf8.ValidString(k) {
				continue // encoding/json rewrites invalid UTF-8 in names
			}
			if g, ok := got.Extra[k]; !ok || !reflect.DeepEqual(g, jsonNormalize(t, v)) {
				t.Fatalf("extra claim %q: got %#v, want %#v (json %s)", k, g, jsonNormalize(t, v), out)
			}
		}
		for k := range got.Extra {
			if registeredClaims[k] || shadowsRegistered(k) {
				t.Fatalf("decoded Extra holds registered claim name %q", k)
			}
		}

		// Arbitrary bytes: never panics; what decodes re-encodes to itself.
		var c accessClaims
		if err := json.Unmarshal(v1, &c); err == nil {
			b, err := json.Marshal(&c)
			if err != nil {
				t.Fatalf("re-Marshal of %q: %v", v1, err)
			}
			checkClaimsObject(t, b, true)
			var c2 accessClaims
			if err := json.Unmarshal(b, &c2); err != nil {
				t.Fatalf("re-Unmarshal of %s: %v", b, err)
			}
			if !reflect.DeepEqual(registeredFieldsOf(&c2), normalizedRegistered(t, &c)) || !reflect.DeepEqual(jsonNormalize(t, c2.Extra), jsonNormalize(t, c.Extra)) {
				t.Fatalf("decode/encode/decode is not stable for %q:\n%+v\n%+v", v1, c, c2)
			}
		}
	})
}

// FuzzTokenEndpoint posts arbitrary forms, Authorization headers and
// content types to the token endpoint: never a 5xx, always a JSON body,
// and an access token only for a client whose genuine id and secret the
// request carried.
func FuzzTokenEndpoint(f *testing.F) {
	e := newFuzzEnv(f)
	// Oversized bodies are checked in TestFuzzSeedsBehave: as seeds they
	// stall the fuzzer, which minimises every interesting input.
	f.Add([]byte("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="+placeholderAT+"&client_id=fuzz-basic"), "", fuzzFormType)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body []byte, auth, contentType string) {
		auth, ok1 := fuzzHeaderValue(auth)
		contentType, ok2 := fuzzHeaderValue(contentType)
		if !ok1 || !ok2 {
			return
		}
		body = e.expand(body)
		rec := e.serve(PathToken, body, auth, contentType)
		m := checkJSONResponse(t, rec.Code, rec.Body.Bytes())
		at, _ := m["access_token"].(string)
		if rec.Code != 200 && at == "" {
			if _, ok := m["error"].(string); !ok {
				t.Fatalf("%d without an error code: %s", rec.Code, rec.Body)
			}
			return
		}
		if rec.Code != 200 || at == "" {
			t.Fatalf("status %d with access_token %q", rec.Code, at)
		}
		c, err := e.p.verifyAccessToken(ctx, at)
		if err != nil {
			t.Fatalf("issued token does not verify: %v", err)
		}
		if !e.authenticatedAs(c.ClientID, body, auth, contentType) {
			t.Fatalf("token issued to %q although its secret was not presented:\nbody %q\nauth %q\ntype %q", c.ClientID, body, auth, contentType)
		}
		if n := presentedMethods(body, auth, contentType); n > 1 {
			t.Fatalf("token issued to a request with %d client authentication methods:\nbody %q\nauth %q\ntype %q", n, body, auth, contentType)
		}
		if form, err := url.ParseQuery(string(body)); err == nil && refuseRepeated(form) != nil {
			t.Fatalf("token issued to a request that repeats a parameter: %q", body)
		}
	})
}

// FuzzIntrospection posts arbitrary forms, Authorization headers and
// content types to the introspection endpoint: never a 5xx, always a JSON
// body, an answer only for a genuine confidential client, and active only
// for a genuine token.
func FuzzIntrospection(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, auth, contentType string) {
		auth, ok1 := fuzzHeaderValue(auth)
		contentType, ok2 := fuzzHeaderValue(contentType)
		if !ok1 || !ok2 {
			return
		}
		body = e.expand(body)
		rec := e.serve(PathIntrospect, body, auth, contentType)
		m := checkJSONResponse(t, rec.Code, rec.Body.Bytes())
		if rec.Code != 200 {
			if _, ok := m["error"].(string); !ok || m["active"] != nil {
				t.Fatalf("%d without an error code: %s", rec.Code, rec.Body)
			}
			return
		}
		if !e.anyGenuineClient(body, auth, contentType) {
			t.Fatalf("introspection answered without genuine client authentication:\nbody %q\nauth %q\ntype %q\n-> %s", body, auth, contentType, rec.Body)
		}
		if n := presentedMethods(body, auth, contentType); n > 1 {
			t.Fatalf("introspection answered a request with %d client authentication methods:\nbody %q\nauth %q\ntype %q", n, body, auth, contentType)
		}
		switch m["active"] {
		case true:
			if tok := fuzzFormToken(body, contentType); !e.signed[tok] {
				t.Fatalf("introspection says active for a token never issued: %q -> %s", tok, rec.Body)
			}
			// Refresh tokens (all fuzz-code's) only to fuzz-code and the
			// resource server it lists.
			if m["token_use"] == "refresh_token" && !e.authenticatedAs("fuzz-code", body, auth, contentType) &&
				!e.authenticatedAs("fuzz-basic", body, auth, contentType) {
				t.Fatalf("a refresh token introspected by a client neither its own nor allowed:\nbody %q\nauth %q -> %s", body, auth, rec.Body)
			}
		case false:
			if len(m) != 1 {
				t.Fatalf("inactive answer carries more than active: %s", rec.Body)
			}
		default:
			t.Fatalf("answer without active: %s", rec.Body)
		}
	})
}

// TestFuzzSeedsBehave pins what the fuzz seeds rely on and what the provider
// must answer for the signed hostile ones.
func TestFuzzSeedsBehave(t *testing.T) {
	e := newFuzzEnv(t)
	accept := map[string]bool{
		"genuine": true, "genuine_es256": true, "genuine_extra_claims": true, "genuine_application_typ": true,
		// encoding/json keeps the last of duplicate names; only the issuer
		// itself could sign such a payload.
		"signed_duplicate_iss_first": true,
	}
	for _, name := range fuzzSortedKeys(e.seeds) {
		tok := e.seeds[name]
		c, err := e.p.parseAccessToken(context.Background(), tok, time.Now())
		if (err == nil) != accept[name] {
			t.Errorf("%s: parseAccessToken err = %v, want accepted=%v", name, err, accept[name])
		}
		if err == nil && c.Extra != nil && name != "genuine_extra_claims" {
			t.Errorf("%s: unexpected extra claims %v", name, c.Extra)
		}
	}
	if c, _ := e.p.parseAccessToken(context.Background(), e.seeds["genuine_extra_claims"], time.Now()); c == nil || c.Extra["tenant"] != "t1" {
		t.Errorf("extra claims not decoded: %+v", c)
	}
	basic := fuzzBasic("fuzz-basic", e.secrets["fuzz-basic"])
	for _, tok := range []string{e.at, e.rt, e.seeds["genuine"], fuzzES256Token} {
		code, m := e.do(PathIntrospect, []byte("token="+url.QueryEscape(tok)), basic, fuzzFormType)
		if code != 200 || m["active"] != true {
			t.Errorf("introspect %.20s…: %d %v", tok, code, m)
		}
	}
	// Other spellings of the genuine refresh token are not it (fosite's
	// base64 decoding alone would skip CR/LF and ignore padding bits).
	key, mac, _ := strings.Cut(e.rt, ".")
	for name, tok := range map[string]string{
		"leading newline": "\n" + e.rt, "CRLF in key": key[:5] + "\r\n" + key[5:] + "." + mac,
		"non-canonical key": key[:len(key)-1] + nonCanonicalTail(key) + "." + mac,
	} {
		if code, m := e.do(PathIntrospect, []byte("token="+url.QueryEscape(tok)), basic, fuzzFormType); code != 200 || m["active"] != false {
			t.Errorf("refresh token, %s: %d %v", name, code, m)
		}
		form := "grant_type=refresh_token&refresh_token=" + url.QueryEscape(tok)
		if code, m := e.do(PathToken, []byte(form), fuzzBasic("fuzz-code", e.secrets["fuzz-code"]), fuzzFormType); code != 400 {
			t.Errorf("refresh grant, %s: %d %v", name, code, m)
		}
	}
	// The committed endpoint seeds reach the success paths.
	introspection, token := introspectionSeeds(e), tokenSeeds(e)
	for _, name := range fuzzSortedKeys(introspection) {
		s := introspection[name]
		code, m := e.do(PathIntrospect, e.expand([]byte(s.body)), s.auth, s.contentType)
		if want := strings.HasPrefix(name, "access_token") || strings.HasPrefix(name, "literal_") || strings.Contains(name, "refresh_token") ||
			name == "code_client_basic"; want != (m["active"] == true) {
			t.Errorf("introspection seed %s: %d %v, want active=%v", name, code, m, want)
		}
	}
	for _, name := range fuzzSortedKeys(token) {
		s := token[name]
		code, m := e.do(PathToken, e.expand([]byte(s.body)), s.auth, s.contentType)
		// Lenient but sound: media type parameters are ignored, and the
		// Basic scheme is case-insensitive (RFC 9110 §11.1).
		lenient := name == "charset_param" || name == "auth_basic_lowercase_scheme"
		if want := strings.HasPrefix(name, "genuine_") || name == "refresh_genuine" || lenient; want != (code == 200) {
			t.Errorf("token seed %s: %d %v, want success=%v", name, code, m, want)
		}
		// A repeated parameter is refused (RFC 6749 §3.1).
		if strings.HasPrefix(name, "duplicate_") && m["error"] != "invalid_request" {
			t.Errorf("token seed %s: %d %v, want invalid_request", name, code, m)
		}
	}
	// The fuzz-jwt fixture authenticates with a fresh assertion, so the
	// assertion seeds are refused for what they carry: invalid_client,
	// every time (an exp of 1e16 was accepted again and again), and two
	// methods at once invalid_request.
	if code, m := e.do(PathToken, []byte("grant_type=client_credentials"+assertionParams(fuzzAssertion(t))), "", fuzzFormType); code != 200 {
		t.Errorf("fuzz-jwt with a fresh assertion: %d %v", code, m)
	}
	for _, name := range []string{"assertion_exp_1e16", "assertion_iat_future"} {
		for i := range 3 {
			if code, m := e.do(PathToken, []byte(token[name].body), "", fuzzFormType); code != 401 || m["error"] != "invalid_client" {
				t.Errorf("token seed %s, attempt %d: %d %v, want 401 invalid_client", name, i+1, code, m)
			}
		}
	}
	for _, name := range []string{"basic_with_other_client_id", "basic_and_assertion", "post_and_assertion"} {
		s := token[name]
		if code, m := e.do(PathToken, []byte(s.body), s.auth, s.contentType); code != 400 || m["error"] != "invalid_request" {
			t.Errorf("token seed %s: %d %v, want 400 invalid_request", name, code, m)
		}
	}
	// Bodies over the limit are refused as requests, not server errors.
	pad := "&pad=" + strings.Repeat("x", maxFormBytes)
	for path, body := range map[string]string{PathToken: "grant_type=client_credentials" + pad, PathIntrospect: "token=" + e.seeds["genuine"] + pad} {
		rec := e.serve(path, []byte(body), basic, fuzzFormType)
		if m := checkJSONResponse(t, rec.Code, rec.Body.Bytes()); rec.Code != 400 || m["error"] != "invalid_request" {
			t.Errorf("%s with %d bytes: %d %v", path, len(body), rec.Code, m)
		}
	}
	// The odd client authenticates only with percent-encoded Basic
	// credentials (RFC 6749 §2.3.1).
	cc := []byte("grant_type=client_credentials")
	if code, m := e.do(PathToken, cc, fuzzBasic("fuzz+odd", e.secrets["fuzz+odd"]), fuzzFormType); code != 200 {
		t.Errorf("odd client, encoded: %d %v", code, m)
	}
	raw := "Basic " + base64.StdEncoding.EncodeToString([]byte("fuzz+odd:"+e.secrets["fuzz+odd"]))
	if code, m := e.do(PathToken, cc, raw, fuzzFormType); code == 200 || m["error"] == nil {
		t.Errorf("odd client, not encoded: %d %v", code, m)
	}
}

// checkJSONResponse asserts no 5xx and a JSON object body, and returns it.
func checkJSONResponse(t *testing.T, code int, body []byte) map[string]any {
	t.Helper()
	if code >= 500 {
		t.Fatalf("server error %d: %s", code, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%d response is not a JSON object: %q", code, body)
	}
	return m
}

// checkClaimsObject asserts b is one JSON object whose names are unique
// and none of which is a registered claim spelled differently.
func checkClaimsObject(t *testing.T, b []byte, wantUnique bool) {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", b)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		name := tok.(string)
		if seen[name] && wantUnique {
			t.Fatalf("duplicate claim %q in %s", name, b)
		}
		seen[name] = true
		if shadowsRegistered(name) {
			t.Fatalf("claim %q shadows a registered claim: %s", name, b)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
}

// shadowsRegistered reports whether name is not a registered claim name but
// encoding/json would decode it into one.
func shadowsRegistered(name string) bool {
	if registeredClaims[name] {
		return false
	}
	for r := range registeredClaims {
		if strings.EqualFold(name, r) {
			return true
		}
	}
	return false
}

type registeredFields struct {
	Issuer, Subject, JTI, ClientID, Scope, SID, GrantID, ACR string
	Audience, AMR                                            []string
	Expiry, IssuedAt, NotBefore, AuthTime                    int64
}

func registeredFieldsOf(c *accessClaims) registeredFields {
	return registeredFields{c.Issuer, c.Subject, c.JTI, c.ClientID, c.Scope, c.SID, c.GrantID, c.ACR, c.Audience, c.AMR,
		c.Expiry, c.IssuedAt, c.NotBefore, c.AuthTime}
}

// normalizedRegistered is c's registered claims as they read back from
// JSON (encoding/json replaces invalid UTF-8).
func normalizedRegistered(t *testing.T, c *accessClaims) registeredFields {
	r := registeredFieldsOf(c)
	s := func(v string) string { return jsonNormalize(t, v).(string) }
	ss := func(v []string) []string {
		if v == nil {
			return nil
		}
		out := make([]string, len(v))
		for i := range v {
			out[i] = s(v[i])
		}
		return out
	}
	return registeredFields{s(r.Issuer), s(r.Subject), s(r.JTI), s(r.ClientID), s(r.Scope), s(r.SID), s(r.GrantID), s(r.ACR),
		ss(r.Audience), ss(r.AMR), r.Expiry, r.IssuedAt, r.NotBefore, r.AuthTime}
}

// jsonNormalize returns v as it reads back from JSON into an any.
func jsonNormalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	return x
}

func fuzzSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type claimsSeed struct {
	name, iss, sub, scope string
	exp                   int64
	k1, v1, k2, v2        string
}

// claimsSeeds are FuzzAccessClaimsJSON's seeds: extra claims named like
// registered ones (exactly, in other cases, with Unicode case folds that
// encoding/json honours), odd values and raw payloads for UnmarshalJSON.
var claimsSeeds = []claimsSeed{
	{"plain", "https://issuer.example", "alice", "api read", 1700000000, "roles", `["admin","user"]`, "tenant", "t1"},
	{"registered_iss", "https://issuer.example", "alice", "api", 1700000000, "iss", `"https://evil.example"`, "sub", "mallory"},
	{"registered_upper", "https://issuer.example", "alice", "api", 1700000000, "ISS", `"https://evil.example"`, "SUB", "mallory"},
	{"registered_mixed_case", "https://issuer.example", "alice", "api", 1700000000, "Client_ID", `"victim"`, "Scope", "admin"},
	{"registered_unicode_fold", "https://issuer.example", "alice", "api", 1700000000, "ſub", `"mallory"`, "\u212aid", "x"},
	{"registered_exp_wrong_type", "https://issuer.example", "alice", "api", 1700000000, "exp", `"never"`, "aud", "42"},
	{"nested_objects", "i", "s", "", 0, "nested", `{"a":{"b":[1,{"c":null}]},"iss":"x"}`, "", "empty name"},
	{"raw_payload", "i", "s", "", -1, "x", `{"iss":"i","sub":"s","aud":["a"],"exp":1,"iat":2,"jti":"j","client_id":"c","extra":{"k":[true,1.5,"s"]}}`, "y", "z"},
	{"raw_payload_wrong_types", "i", "s", "", 1, "x", `{"iss":1,"aud":"single","exp":"1"}`, "y", "z"},
	{"raw_payload_duplicates", "i", "s", "", 1, "x", `{"iss":"a","iss":"b","ISS":"c","scope":"s","Scope":"t"}`, "y", "z"},
	{"invalid_utf8", "\xff\xfe", "s\x80", "\xc3", 1, "k\xff", `"\xff"`, "\xfek", "v\xff"},
	{"big_numbers", "i", "s", "", 9223372036854775807, "n", `123456789012345678901234567890`, "f", "1e308"},
	{"not_json_value", "i", "s", "", -9223372036854775808, "raw", `{"unterminated`, "html", "<script>&</script>"},
}

// TestWriteFuzzSeeds writes the seed corpora under testdata/fuzz (and the
// secrets package's). It runs only when AUTHD_WRITE_FUZZ_SEEDS is set.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("AUTHD_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set AUTHD_WRITE_FUZZ_SEEDS=1 to regenerate the fuzz seed corpora")
	}
	es, err := fuzzSign(fuzzESKey, jose.ES256, fuzzESKID, typAccessToken, fuzzJSON(fuzzClaims("01942176-8000-7000-8000-0000000000e5")))
	if err != nil {
		t.Fatal(err)
	}
	e := newFuzzEnv(t)
	if _, err := e.p.parseAccessToken(context.Background(), fuzzES256Token, time.Now()); err != nil {
		t.Fatalf("fuzzES256Token no longer verifies (%v); set it to this fresh one:\n%s", err, es)
	}

	for name, tok := range e.seeds {
		writeCorpus(t, "FuzzParseAccessToken", name, tok)
	}
	for _, s := range claimsSeeds {
		writeCorpus(t, "FuzzAccessClaimsJSON", s.name, s.iss, s.sub, s.scope, s.exp, s.k1, []byte(s.v1), s.k2, s.v2)
	}
	for name, s := range tokenSeeds(e) {
		writeCorpus(t, "FuzzTokenEndpoint", name, []byte(s.body), s.auth, s.contentType)
	}
	for name, s := range introspectionSeeds(e) {
		writeCorpus(t, "FuzzIntrospection", name, []byte(s.body), s.auth, s.contentType)
	}

	// secrets.FuzzClientSecretCompare: its keyring is the master key of
	// all 7s, so the hash of "secret" is fixed.
	kr, err := secrets.NewKeyring(bytes.Repeat([]byte{7}, secrets.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	good, _ := secrets.ClientSecretHasher{Keyring: kr}.Hash(context.Background(), []byte("secret"))
	g := string(good)
	i := strings.LastIndexByte(g, '$')
	prefix, mac := g[:i+1], g[i+1:]
	for name, args := range map[string][2]string{
		"genuine":                {g, "secret"},
		"wrong_secret":           {g, "Secret"},
		"secret_with_nul":        {g, "secret\x00"},
		"mac_non_canonical_tail": {prefix + mac[:len(mac)-1] + nonCanonicalTail(mac), "secret"},
		"mac_with_newline":       {prefix + mac[:20] + "\r\n" + mac[20:], "secret"},
		"mac_padded":             {g + "=", "secret"},
		"mac_std_alphabet":       {prefix + strings.NewReplacer("-", "+", "_", "/").Replace(mac), "secret"},
		"mac_truncated":          {g[:len(g)-2], "secret"},
		"unknown_key":            {"hmac-sha256$AAAAAAAAAAAAAAAA$" + mac, "secret"},
		"extra_field":            {g + "$extra", "secret"},
		"other_scheme":           {"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "secret"},
		"empty":                  {"", ""},
		"non_utf8":               {"hmac-sha256$\xff$\xfe", "\xff"},
	} {
		writeCorpusDir(t, filepath.Join("..", "internal", "secrets", "testdata", "fuzz", "FuzzClientSecretCompare"), name, []byte(args[0]), []byte(args[1]))
	}
}

type endpointSeed struct{ body, auth, contentType string }

func tokenSeeds(e *fuzzEnv) map[string]endpointSeed {
	basic := fuzzBasic("fuzz-basic", e.secrets["fuzz-basic"])
	code := fuzzBasic("fuzz-code", e.secrets["fuzz-code"])
	odd := fuzzBasic("fuzz+odd", e.secrets["fuzz+odd"])
	rawOdd := "Basic " + base64.StdEncoding.EncodeToString([]byte("fuzz+odd:"+e.secrets["fuzz+odd"]))
	post := "client_id=fuzz-post&client_secret=" + url.QueryEscape(e.secrets["fuzz-post"])
	cc := "grant_type=client_credentials"
	return map[string]endpointSeed{
		"genuine_basic":               {cc + "&scope=api+read", basic, fuzzFormType},
		"genuine_post":                {cc + "&scope=api&" + post, "", fuzzFormType},
		"genuine_odd_encoded":         {cc, odd, fuzzFormType},
		"odd_not_percent_encoded":     {cc, rawOdd, fuzzFormType},
		"wrong_secret":                {cc, fuzzBasic("fuzz-basic", "fuzz-basic-secret-0123456789abcdefghiJ"), fuzzFormType},
		"secret_of_other_client":      {cc, fuzzBasic("fuzz-basic", e.secrets["fuzz-post"]), fuzzFormType},
		"post_client_via_basic":       {cc, fuzzBasic("fuzz-post", e.secrets["fuzz-post"]), fuzzFormType},
		"basic_client_via_post":       {cc + "&client_id=fuzz-basic&client_secret=" + url.QueryEscape(e.secrets["fuzz-basic"]), "", fuzzFormType},
		"basic_and_post":              {cc + "&" + post, basic, fuzzFormType},
		"duplicate_client_id":         {cc + "&client_id=fuzz-basic&" + post, "", fuzzFormType},
		"duplicate_grant_type":        {cc + "&grant_type=password&" + post, "", fuzzFormType},
		"refresh_genuine":             {"grant_type=refresh_token&refresh_token=" + placeholderRT, code, fuzzFormType},
		"refresh_public_client":       {"grant_type=refresh_token&refresh_token=" + placeholderRT + "&client_id=fuzz-public", "", fuzzFormType},
		"refresh_other_client":        {"grant_type=refresh_token&refresh_token=" + placeholderRT, basic, fuzzFormType},
		"access_token_as_refresh":     {"grant_type=refresh_token&refresh_token=" + placeholderAT, code, fuzzFormType},
		"code_bogus":                  {"grant_type=authorization_code&code=bogus.code&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&code_verifier=" + strings.Repeat("v", 43), code, fuzzFormType},
		"code_public_no_verifier":     {"grant_type=authorization_code&code=a.b&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&client_id=fuzz-public", "", fuzzFormType},
		"unsupported_grant":           {"grant_type=password&username=a&password=b", basic, fuzzFormType},
		"missing_grant":               {"scope=api", basic, fuzzFormType},
		"no_client_auth":              {cc, "", fuzzFormType},
		"empty_body":                  {"", basic, fuzzFormType},
		"bad_percent_encoding":        {"grant_type=%zz&client_id=%", basic, fuzzFormType},
		"nul_and_control_bytes":       {"grant_type=client_credentials\x00&scope=\x01api", basic, fuzzFormType},
		"scope_invalid_chars":         {cc + "&scope=%22api%5C+%7F", basic, fuzzFormType},
		"audience_param":              {cc + "&audience=https%3A%2F%2Fevil.example&audience=", basic, fuzzFormType},
		"assertion_junk":              {cc + "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c", "", fuzzFormType},
		"auth_bearer":                 {cc, "Bearer " + e.seeds["genuine"], fuzzFormType},
		"auth_basic_not_base64":       {cc, "Basic !!!not-base64", fuzzFormType},
		"auth_basic_no_colon":         {cc, "Basic " + base64.StdEncoding.EncodeToString([]byte("fuzz-basic")), fuzzFormType},
		"auth_basic_empty":            {cc, "Basic ", fuzzFormType},
		"auth_basic_lowercase_scheme": {cc, "basic " + strings.TrimPrefix(basic, "Basic "), fuzzFormType},
		"auth_basic_bad_escape":       {cc, "Basic " + base64.StdEncoding.EncodeToString([]byte("fuzz%zz:%")), fuzzFormType},
		"json_body":                   {`{"grant_type":"client_credentials","client_id":"fuzz-post","client_secret":"` + e.secrets["fuzz-post"] + `"}`, "", "application/json"},
		"no_content_type":             {cc, basic, ""},
		"charset_param":               {cc, basic, fuzzFormType + "; charset=utf-16"},
		"bogus_content_type":          {cc, basic, `"; ;=`},
		"multipart": {"--XX\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--XX\r\n" +
			"Content-Disposition: form-data; name=\"client_id\"\r\n\r\nfuzz-post\r\n--XX\r\nContent-Disposition: form-data; name=\"client_secret\"\r\n\r\n" +
			e.secrets["fuzz-post"] + "\r\n--XX--\r\n", "", "multipart/form-data; boundary=XX"},
		"multipart_no_boundary": {"--XX\r\n", basic, "multipart/form-data"},
		// One client authentication method per request (RFC 6749 §2.3), and
		// a body client_id only of the client authenticated.
		"basic_with_other_client_id": {cc + "&client_id=fuzz-post", basic, fuzzFormType},
		"basic_and_assertion":        {cc + assertionParams(fuzzAssertion(e.tb)), basic, fuzzFormType},
		"post_and_assertion":         {cc + "&" + post + assertionParams(fuzzAssertion(e.tb)), "", fuzzFormType},
		// A genuinely signed assertion whose exp (1e16) overflowed the stored
		// jti expiry: it was accepted again and again.
		"assertion_exp_1e16": {cc + assertionParams(fuzzAssertion(e.tb, "exp", int64(1e16))), "", fuzzFormType},
		// A genuinely signed assertion issued in the future: fosite answered 500.
		"assertion_iat_future": {cc + assertionParams(fuzzAssertion(e.tb, "iat", int64(fuzzExp))), "", fuzzFormType},
	}
}

// assertionParams are the form parameters presenting a client assertion.
func assertionParams(a string) string {
	return "&client_assertion_type=" + url.QueryEscape(clientAssertionType) + "&client_assertion=" + a
}

func introspectionSeeds(e *fuzzEnv) map[string]endpointSeed {
	basic := fuzzBasic("fuzz-basic", e.secrets["fuzz-basic"])
	post := "&client_id=fuzz-post&client_secret=" + url.QueryEscape(e.secrets["fuzz-post"])
	q := url.QueryEscape
	parts := strings.Split(e.seeds["genuine"], ".")
	return map[string]endpointSeed{
		"access_token":               {"token=" + placeholderAT, basic, fuzzFormType},
		"access_token_hint":          {"token=" + placeholderAT + "&token_type_hint=refresh_token", basic, fuzzFormType},
		"refresh_token":              {"token=" + placeholderRT + "&token_type_hint=refresh_token", basic, fuzzFormType},
		"literal_genuine":            {"token=" + q(e.seeds["genuine"]), basic, fuzzFormType},
		"literal_es256":              {"token=" + q(fuzzES256Token) + post, "", fuzzFormType},
		"tampered_payload":           {"token=" + q(e.seeds["tampered_payload"]), basic, fuzzFormType},
		"tampered_signature":         {"token=" + q(e.seeds["tampered_signature"]), basic, fuzzFormType},
		"non_canonical_signature":    {"token=" + q(e.seeds["signature_non_canonical_base64"]), basic, fuzzFormType},
		"plus_is_space":              {"token=" + parts[0] + "+." + parts[1] + "." + parts[2], basic, fuzzFormType},
		"newline_inside":             {"token=" + parts[0] + "%0A." + parts[1] + "." + parts[2], basic, fuzzFormType},
		"jws_json":                   {"token=" + q(e.seeds["jws_json_with_dots"]), basic, fuzzFormType},
		"alg_none":                   {"token=" + q(e.seeds["alg_none"]), basic, fuzzFormType},
		"refresh_tampered":           {"token=" + placeholderRT + "x", basic, fuzzFormType},
		"two_tokens":                 {"token=garbage&token=" + placeholderAT, basic, fuzzFormType},
		"no_token":                   {"token_type_hint=access_token", basic, fuzzFormType},
		"no_client_auth":             {"token=" + placeholderAT, "", fuzzFormType},
		"wrong_secret":               {"token=" + placeholderAT, fuzzBasic("fuzz-basic", "nope"), fuzzFormType},
		"public_client":              {"token=" + placeholderAT + "&client_id=fuzz-public", "", fuzzFormType},
		"code_client_basic":          {"token=" + placeholderRT, fuzzBasic("fuzz-code", e.secrets["fuzz-code"]), fuzzFormType},
		"json_body":                  {`{"token":"` + e.seeds["genuine"] + `"}`, basic, "application/json"},
		"query_style_body":           {"?token=" + placeholderAT, basic, fuzzFormType},
		"huge_token":                 {"token=" + strings.Repeat("A", maxTokenLength+1), basic, fuzzFormType},
		"dots_token":                 {"token=..", basic, fuzzFormType},
		"bad_content_type":           {"token=" + placeholderAT, basic, "text/plain"},
		"basic_with_other_client_id": {"token=" + placeholderAT + "&client_id=fuzz-post", basic, fuzzFormType},
		// Refresh tokens only to their client and its allowed introspectors.
		"refresh_of_other_client": {"token=" + placeholderRT + post, "", fuzzFormType},
		"basic_and_assertion":     {"token=" + placeholderAT + assertionParams(fuzzAssertion(e.tb)), basic, fuzzFormType},
	}
}

func writeCorpus(t *testing.T, target, name string, args ...any) {
	writeCorpusDir(t, filepath.Join("testdata", "fuzz", target), name, args...)
}

// writeCorpusDir writes one seed in the "go test fuzz v1" format.
func writeCorpusDir(t *testing.T, dir, name string, args ...any) {
	t.Helper()
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case string:
			fmt.Fprintf(&b, "string(%s)\n", strconv.Quote(v))
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		case int64:
			fmt.Fprintf(&b, "int64(%d)\n", v)
		default:
			t.Fatalf("unsupported corpus value %T", a)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzDPoPProof feeds arbitrary DPoP headers to the proof check: it
// never panics, and it accepts only what a key holder signed: the signed
// part of a seed (each once: a second use is a replay). Keys, claims and
// the clock are fixed, so every fuzz worker makes the same seeds.
func FuzzDPoPProof(f *testing.F) {
	e := newFuzzEnv(f)
	fixed := time.Unix(1_800_000_000, 0)
	e.p.now = func() time.Time { return fixed }
	htu := e.p.cfg.Issuer + PathToken
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	signed := map[string]bool{} // header.payload of the valid seeds
	for _, dc := range []*dpoptest.Client{
		dpoptest.FromKey(f, jose.EdDSA, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)), e.p.now),
		dpoptest.FromKey(f, jose.ES256, ec, e.p.now),
	} {
		for i, mod := range []dpoptest.Mod{nil, func(_, c map[string]any) { c["iat"] = 1.5e9 }, func(h, _ map[string]any) { h["alg"] = "none" },
			func(_, c map[string]any) { c["htm"] = "GET" }} {
			jti := func(_, c map[string]any) { c["jti"] = fmt.Sprint("seed-", i) }
			p := dc.Proof(http.MethodPost, htu, "", jti)
			if mod != nil {
				p = dc.Proof(http.MethodPost, htu, "", jti, mod)
			} else {
				signed[p[:strings.LastIndexByte(p, '.')]] = true
			}
			f.Add(p)
		}
	}
	f.Add("")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, proof string) {
		r := httptest.NewRequest(http.MethodPost, htu, nil)
		r.Header.Set("DPoP", proof)
		got, err := e.p.checkDPoP(context.Background(), r, htu, "")
		switch {
		case err == nil && got == nil:
			t.Fatalf("no error and no proof for %q", proof)
		case err == nil && !signed[proof[:strings.LastIndexByte(proof, '.')]]:
			t.Fatalf("accepted a proof nobody signed: %q", proof)
		case err != nil && got != nil:
			t.Fatalf("a proof with an error: %v", err)
		}
	})
}
