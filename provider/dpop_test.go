package provider

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/authd/authd/internal/dpoptest"
)

// postDPoP posts a form with HTTP Basic auth (id, secret; none when id is
// "") and the given DPoP headers.
func (e *env) postDPoP(path string, form url.Values, id, secret string, proofs ...string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

var ccForm = url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}

// TestDPoPTokenEndpoint: a token request with a valid proof gets a
// DPoP token bound to the proof's key, for every advertised algorithm;
// introspection reports the binding; every bad proof is refused with
// invalid_dpop_proof and issues nothing.
func TestDPoPTokenEndpoint(t *testing.T) {
	clock := &testClock{t: time.Now()}
	e := newEnv(t, withClock(clock))
	c, secret := e.ccClient()
	rs, rsSecret := e.resourceServer()
	tokenURL := e.issuer + PathToken

	for _, alg := range dpopAlgs {
		t.Run(string(alg), func(t *testing.T) {
			dc := dpoptest.New(t, alg, clock.Now)
			resp := e.postDPoP(PathToken, ccForm, c.ID, secret, dc.Proof("POST", tokenURL, ""))
			m := decode(t, resp)
			if resp.StatusCode != 200 || m["token_type"] != "DPoP" {
				t.Fatalf("%d %v, want a DPoP token", resp.StatusCode, m)
			}
			claims, err := unverifiedClaims(m["access_token"].(string))
			if err != nil || claims.dpopKey() != dc.JKT {
				t.Fatalf("cnf %+v (%v), want jkt %s", claims.Cnf, err, dc.JKT)
			}
			_, in := e.introspect(m["access_token"].(string), rs.ID, rsSecret)
			if cnf, _ := in["cnf"].(map[string]any); in["active"] != true || in["token_type"] != "DPoP" || cnf["jkt"] != dc.JKT {
				t.Fatalf("introspection %v, want active DPoP with cnf.JKT", in)
			}
		})
	}

	// Without a proof: a bearer token, as before; with one, no more
	// queries (the jti is recorded in memory or Redis, never the database).
	before := e.queries.Load()
	resp := e.postDPoP(PathToken, ccForm, c.ID, secret)
	if m := decode(t, resp); resp.StatusCode != 200 || !strings.EqualFold(m["token_type"].(string), "bearer") {
		t.Fatalf("no proof: %d %v, want a bearer token", resp.StatusCode, m)
	}
	plain := e.queries.Load() - before
	dc := dpoptest.New(t, jose.ES256, clock.Now)
	before = e.queries.Load()
	if resp := e.postDPoP(PathToken, ccForm, c.ID, secret, dc.Proof("POST", tokenURL, "")); resp.StatusCode != 200 {
		t.Fatalf("with a proof: %d", resp.StatusCode)
	}
	if n := e.queries.Load() - before; n != plain {
		t.Errorf("a DPoP token request ran %d queries, a bearer one %d", n, plain)
	}
	// The htu ignores query and fragment and is compared normalised.
	upper := strings.Replace(tokenURL, "http://", "HTTP://", 1) + "?x=1#f"
	if resp := e.postDPoP(PathToken, ccForm, c.ID, secret, dc.Proof("POST", upper, "")); resp.StatusCode != 200 {
		t.Fatalf("htu with query, fragment and upper-case scheme: %d %v", resp.StatusCode, decode(t, resp))
	}

	other := dpoptest.New(t, jose.ES256, clock.Now)
	replayed := dc.Proof("POST", tokenURL, "")
	if resp := e.postDPoP(PathToken, ccForm, c.ID, secret, replayed); resp.StatusCode != 200 {
		t.Fatalf("first use: %d", resp.StatusCode)
	}
	set := func(k string, v any) dpoptest.Mod { return func(_, c map[string]any) { c[k] = v } }
	del := func(k string) dpoptest.Mod { return func(_, c map[string]any) { delete(c, k) } }
	hdr := func(k string, v any) dpoptest.Mod { return func(h, _ map[string]any) { h[k] = v } }
	withPrivate := func(h, _ map[string]any) {
		priv, _ := json.Marshal(jose.JSONWebKey{Key: dc.Key})
		var jwk map[string]any
		_ = json.Unmarshal(priv, &jwk)
		h["jwk"] = jwk
	}
	otherKey := func(h, _ map[string]any) { // the header names one key, another signs
		pub, _ := json.Marshal(jose.JSONWebKey{Key: other.Key.Public()})
		var jwk map[string]any
		_ = json.Unmarshal(pub, &jwk)
		h["jwk"] = jwk
	}
	weakRSA := dpoptest.New(t, jose.RS256, clock.Now)
	weakRSA.Key, _ = rsa.GenerateKey(rand.Reader, 1024)
	for name, proofs := range map[string][]string{
		"replayed jti":           {replayed},
		"wrong htm":              {dc.Proof("GET", tokenURL, "")},
		"wrong htu":              {dc.Proof("POST", e.issuer+PathIntrospect, "")},
		"htu on another host":    {dc.Proof("POST", "https://evil.example"+PathToken, "")},
		"stale iat":              {dc.Proof("POST", tokenURL, "", set("iat", clock.Now().Add(-2*time.Minute).Unix()))},
		"iat in the future":      {dc.Proof("POST", tokenURL, "", set("iat", clock.Now().Add(5*time.Minute).Unix()))},
		"iat not a number":       {dc.Proof("POST", tokenURL, "", set("iat", "now"))},
		"no iat":                 {dc.Proof("POST", tokenURL, "", del("iat"))},
		"no jti":                 {dc.Proof("POST", tokenURL, "", del("jti"))},
		"jti too long":           {dc.Proof("POST", tokenURL, "", set("jti", strings.Repeat("j", 300)))},
		"no typ":                 {dc.Proof("POST", tokenURL, "", hdr("typ", nil))},
		"typ JWT":                {dc.Proof("POST", tokenURL, "", hdr("typ", "JWT"))},
		"alg none":               {dc.Proof("POST", tokenURL, "", hdr("alg", "none"))},
		"alg HS256":              {dc.Proof("POST", tokenURL, "", hdr("alg", "HS256"))},
		"no jwk":                 {dc.Proof("POST", tokenURL, "", hdr("jwk", nil))},
		"private key in jwk":     {dc.Proof("POST", tokenURL, "", withPrivate)},
		"signed by another key":  {dc.Proof("POST", tokenURL, "", otherKey)},
		"RSA key of 1024 bits":   {weakRSA.Proof("POST", tokenURL, "")},
		"two DPoP headers":       {dc.Proof("POST", tokenURL, ""), dc.Proof("POST", tokenURL, "")},
		"not a JWT":              {"not-a-jwt"},
		"JWS JSON serialization": {`{"payload":"e30","signatures":[]}`},
		"oversized":              {strings.Repeat("A", maxProofLength+1) + ".e30.AA"},
	} {
		t.Run(name, func(t *testing.T) {
			before := e.queries.Load()
			resp := e.postDPoP(PathToken, ccForm, c.ID, secret, proofs...)
			m := decode(t, resp)
			if resp.StatusCode != 400 || m["error"] != "invalid_dpop_proof" {
				t.Fatalf("%d %v, want 400 invalid_dpop_proof", resp.StatusCode, m)
			}
			if n := e.queries.Load() - before; n != 0 {
				t.Errorf("a refused client_credentials request ran %d queries", n)
			}
		})
	}
}

// TestDPoPRequiredAndNonce: a client registered with RequireDPoP gets
// nothing without a proof; with dpop.require_nonce a proof needs a
// current server nonce, which every answer carries.
func TestDPoPRequiredAndNonce(t *testing.T) {
	clock := &testClock{t: time.Now()}
	e := newEnv(t, withClock(clock), withConfig(func(c *Config) { c.DPoP.RequireNonce = true }))
	c, secret := e.createClient(ClientSpec{GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"}, RequireDPoP: true})
	dc := dpoptest.New(t, jose.ES256, clock.Now)
	tokenURL := e.issuer + PathToken

	resp := e.postDPoP(PathToken, ccForm, c.ID, secret)
	if m := decode(t, resp); resp.StatusCode != 400 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("no proof from a client that requires DPoP: %d %v", resp.StatusCode, m)
	}
	resp = e.postDPoP(PathToken, ccForm, c.ID, secret, dc.Proof("POST", tokenURL, ""))
	nonce := resp.Header.Get("DPoP-Nonce")
	if m := decode(t, resp); resp.StatusCode != 400 || m["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("no nonce: %d %v nonce %q, want use_dpop_nonce with a DPoP-Nonce", resp.StatusCode, m, nonce)
	}
	withNonce := func(n string) dpoptest.Mod { return func(_, c map[string]any) { c["nonce"] = n } }
	resp = e.postDPoP(PathToken, ccForm, c.ID, secret, dc.Proof("POST", tokenURL, "", withNonce(nonce)))
	if m := decode(t, resp); resp.StatusCode != 200 || m["token_type"] != "DPoP" || resp.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("with the nonce: %d %v", resp.StatusCode, m)
	}
	for name, n := range map[string]string{"forged": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "garbage": "x", "long": strings.Repeat("n", 100)} {
		resp := e.postDPoP(PathToken, ccForm, c.ID, secret, dc.Proof("POST", tokenURL, "", withNonce(n)))
		if m := decode(t, resp); resp.StatusCode != 400 || m["error"] != "use_dpop_nonce" {
			t.Fatalf("%s nonce: %d %v", name, resp.StatusCode, m)
		}
	}
	// A nonce stays good for one more window, then not.
	clock.Advance(dpopNonceWindow)
	if resp := e.postDPoP(PathToken, ccForm, c.ID, secret, dc.Proof("POST", tokenURL, "", withNonce(nonce))); resp.StatusCode != 200 {
		t.Fatalf("nonce of the previous window: %d %v", resp.StatusCode, decode(t, resp))
	}
	clock.Advance(dpopNonceWindow)
	resp = e.postDPoP(PathToken, ccForm, c.ID, secret, dc.Proof("POST", tokenURL, "", withNonce(nonce)))
	if m := decode(t, resp); resp.StatusCode != 400 || m["error"] != "use_dpop_nonce" {
		t.Fatalf("nonce two windows old: %d %v", resp.StatusCode, m)
	}
}

// TestDPoPCodeFlowAndResources: x/oauth2 with a DPoP transport runs the
// code flow; UserInfo takes the bound token only with a proof by its key
// over that request and token; a public client's refresh token is bound
// to the key, a confidential client's is not.
func TestDPoPCodeFlowAndResources(t *testing.T) {
	be := newBrowserEnv(t)
	dc := dpoptest.New(t, jose.ES256, nil)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: &dpoptest.Transport{C: dc}})
	codeFlow := func(r *rp, extra ...oauth2.AuthCodeOption) (string, string) {
		t.Helper()
		verifier := oauth2.GenerateVerifier()
		return be.codeFor(r, r.cfg.AuthCodeURL("state-0123456789", append(extra, oauth2.S256ChallengeOption(verifier))...),
			"openid", "profile", "email", "offline_access"), verifier
	}
	conf := be.newRP(ClientSpec{})
	code, verifier := codeFlow(conf)
	tok, err := conf.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil || tok.TokenType != "DPoP" {
		t.Fatalf("exchange: %v %+v, want a DPoP token", err, tok)
	}

	userinfo := func(auth string, proofs ...string) (int, string, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, be.issuer+PathUserInfo, nil)
		req.Header.Set("Authorization", auth)
		for _, p := range proofs {
			req.Header.Add("DPoP", p)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), decode(t, resp)
	}
	at, uiURL := tok.AccessToken, be.issuer+PathUserInfo
	if code, _, m := userinfo("DPoP "+at, dc.Proof("GET", uiURL, at)); code != 200 || m["sub"] != "alice" {
		t.Fatalf("UserInfo with the proof: %d %v", code, m)
	}
	// Through a DPoP-aware http.Client, as a resource client would.
	hc := &http.Client{Transport: &dpoptest.Transport{C: dc, Token: at}}
	if resp, err := hc.Get(uiURL); err != nil || resp.StatusCode != 200 {
		t.Fatalf("UserInfo through the transport: %v %v", resp, err)
	}
	other := dpoptest.New(t, jose.ES256, nil)
	bearer := be.token(be.ccClientWithOpenID())
	for name, tc := range map[string]struct {
		auth   string
		proofs []string
		error  string
	}{
		"bound token as bearer":  {"Bearer " + at, nil, "invalid_token"},
		"no proof":               {"DPoP " + at, nil, "invalid_dpop_proof"},
		"proof by another key":   {"DPoP " + at, []string{other.Proof("GET", uiURL, at)}, "invalid_token"},
		"proof without ath":      {"DPoP " + at, []string{dc.Proof("GET", uiURL, "")}, "invalid_dpop_proof"},
		"ath of another token":   {"DPoP " + at, []string{dc.Proof("GET", uiURL, bearer)}, "invalid_dpop_proof"},
		"proof for another URL":  {"DPoP " + at, []string{dc.Proof("GET", be.issuer+PathToken, at)}, "invalid_dpop_proof"},
		"proof for POST":         {"DPoP " + at, []string{dc.Proof("POST", uiURL, at)}, "invalid_dpop_proof"},
		"bearer token with DPoP": {"DPoP " + bearer, []string{dc.Proof("GET", uiURL, bearer)}, "invalid_token"},
	} {
		t.Run(name, func(t *testing.T) {
			code, challenge, m := userinfo(tc.auth, tc.proofs...)
			if code != 401 || m["error"] != tc.error || !strings.HasPrefix(challenge, "DPoP ") ||
				!strings.Contains(challenge, `error="`+tc.error+`"`) || !strings.Contains(challenge, "algs=") {
				t.Fatalf("%d %q %v, want 401 %s with a DPoP challenge", code, challenge, m, tc.error)
			}
		})
	}
	replayed := dc.Proof("GET", uiURL, at)
	userinfo("DPoP "+at, replayed)
	if code, _, m := userinfo("DPoP "+at, replayed); code != 401 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("replayed proof at UserInfo: %d %v", code, m)
	}

	// A confidential client's refresh token is not key-bound: a refresh
	// without a proof gets a bearer token.
	rt := tok.RefreshToken
	resp := be.post(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, conf.client.ID, conf.cfg.ClientSecret)
	if m := decode(t, resp); resp.StatusCode != 200 || !strings.EqualFold(m["token_type"].(string), "bearer") {
		t.Fatalf("confidential refresh without a proof: %d %v", resp.StatusCode, m)
	}

	// A public client's refresh token is bound to the key.
	pub := be.newRP(ClientSpec{Public: true})
	pub.cfg.ClientSecret = ""
	code, verifier = codeFlow(pub)
	tok, err = pub.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil || tok.TokenType != "DPoP" || tok.RefreshToken == "" {
		t.Fatalf("public exchange: %v %+v", err, tok)
	}
	refresh := func(rt string, proofs ...string) (int, map[string]any) {
		resp := be.postDPoP(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {pub.client.ID}}, "", "", proofs...)
		return resp.StatusCode, decode(t, resp)
	}
	tokenURL := be.issuer + PathToken
	if code, m := refresh(tok.RefreshToken); code != 400 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("public refresh without a proof: %d %v", code, m)
	}
	if code, m := refresh(tok.RefreshToken, other.Proof("POST", tokenURL, "")); code != 400 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("public refresh with another key: %d %v", code, m)
	}
	code2, m := refresh(tok.RefreshToken, dc.Proof("POST", tokenURL, ""))
	if code2 != 200 || m["token_type"] != "DPoP" {
		t.Fatalf("public refresh with the key: %d %v", code2, m)
	}
	rs, rsSecret := be.resourceServer()
	_, in := be.introspect(m["access_token"].(string), rs.ID, rsSecret)
	if cnf, _ := in["cnf"].(map[string]any); cnf["jkt"] != dc.JKT {
		t.Fatalf("refreshed access token introspection %v, want cnf.JKT", in)
	}
	// The rotated refresh token stays bound.
	if code, m := refresh(m["refresh_token"].(string), other.Proof("POST", tokenURL, "")); code != 400 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("rotated refresh token with another key: %d %v", code, m)
	}
}

// codeFor runs authURL through the hosted pages' steps as alice, signing
// in and consenting to scopes when asked, and returns the code.
func (be *browserEnv) codeFor(r *rp, authURL string, scopes ...string) string {
	be.t.Helper()
	resp := be.get(authURL)
	for range 4 {
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode/100 != 3 {
			be.t.Fatalf("%d %q: want a redirect", resp.StatusCode, resp.Header.Get("Location"))
		}
		arID := loc.Query().Get("ar")
		switch {
		case strings.HasPrefix(loc.String(), r.cfg.RedirectURL):
			return loc.Query().Get("code")
		case loc.Path == PathLogin:
			be.signIn(arID, "alice")
		case loc.Path == PathConsent:
			be.consent(arID, true, scopes...)
		default:
			be.t.Fatalf("unexpected redirect to %s", loc)
		}
		resp = be.get(be.issuer + PathResume + "?ar=" + arID)
	}
	be.t.Fatal("no code after four steps")
	return ""
}

// ccClientWithOpenID registers a client_credentials client with the
// openid scope and returns what token needs.
func (e *env) ccClientWithOpenID() (string, string, string) {
	c, secret := e.createClient(ClientSpec{GrantTypes: []string{"client_credentials"}, Scopes: []string{"openid"}})
	return c.ID, secret, "openid"
}

// TestDPoPAuthorizationCodeBinding: dpop_jkt in the authorization
// request, or a DPoP proof at the PAR endpoint, binds the code to a key
// (RFC 9449 §10): the exchange must prove it.
func TestDPoPAuthorizationCodeBinding(t *testing.T) {
	be := newBrowserEnv(t)
	r := be.newRP(ClientSpec{})
	dc, other := dpoptest.New(t, jose.ES256, nil), dpoptest.New(t, jose.EdDSA, nil)
	tokenURL := be.issuer + PathToken
	finish := func(authURL string) string { t.Helper(); return be.codeFor(r, authURL, "openid") }
	exchange := func(code, verifier string, proofs ...string) (int, map[string]any) {
		resp := be.postDPoP(PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {r.cfg.RedirectURL}, "code_verifier": {verifier}}, r.client.ID, r.cfg.ClientSecret, proofs...)
		return resp.StatusCode, decode(t, resp)
	}

	verifier := oauth2.GenerateVerifier()
	code := finish(r.cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("dpop_jkt", dc.JKT)))
	if status, m := exchange(code, verifier); status != 400 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("dpop_jkt code without a proof: %d %v", status, m)
	}
	if status, m := exchange(code, verifier, other.Proof("POST", tokenURL, "")); status != 400 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("dpop_jkt code with another key: %d %v", status, m)
	}
	if status, m := exchange(code, verifier, dc.Proof("POST", tokenURL, "")); status != 200 || m["token_type"] != "DPoP" {
		t.Fatalf("dpop_jkt code with its key: %d %v", status, m)
	}

	// A malformed dpop_jkt is refused before anyone signs in.
	resp := be.get(r.cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("dpop_jkt", "short")))
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "invalid_request" {
		t.Fatalf("malformed dpop_jkt: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// PAR with a DPoP proof binds the code to the proof's key.
	verifier = oauth2.GenerateVerifier()
	form := url.Values{"response_type": {"code"}, "redirect_uri": {r.cfg.RedirectURL}, "scope": {"openid"}, "state": {"state-0123456789"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	parResp := be.postDPoP(PathPAR, form, r.client.ID, r.cfg.ClientSecret, dc.Proof("POST", be.issuer+PathPAR, ""))
	pm := decode(t, parResp)
	if parResp.StatusCode != 201 {
		t.Fatalf("PAR with DPoP: %d %v", parResp.StatusCode, pm)
	}
	mismatch := url.Values{}
	for k, v := range form {
		mismatch[k] = v
	}
	mismatch.Set("dpop_jkt", other.JKT)
	if resp := be.postDPoP(PathPAR, mismatch, r.client.ID, r.cfg.ClientSecret, dc.Proof("POST", be.issuer+PathPAR, "")); resp.StatusCode != 400 ||
		decode(t, resp)["error"] != "invalid_dpop_proof" {
		t.Fatalf("PAR with a dpop_jkt of another key: %d", resp.StatusCode)
	}
	code = finish(be.issuer + PathAuthorize + "?" + url.Values{"client_id": {r.client.ID}, "request_uri": {pm["request_uri"].(string)}}.Encode())
	if status, m := exchange(code, verifier, other.Proof("POST", tokenURL, "")); status != 400 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("PAR-bound code with another key: %d %v", status, m)
	}
	if status, m := exchange(code, verifier, dc.Proof("POST", tokenURL, "")); status != 200 || m["token_type"] != "DPoP" {
		t.Fatalf("PAR-bound code with its key: %d %v", status, m)
	}
}

// TestDPoPVerifyAccessToken: the issuer's APIs (admin, SSF) take a
// DPoP-bound client_credentials token only with its proof.
func TestDPoPVerifyAccessToken(t *testing.T) {
	e := newEnv(t)
	c, secret := e.ccClient()
	dc := dpoptest.New(t, jose.ES256, nil)
	resp := e.postDPoP(PathToken, ccForm, c.ID, secret, dc.Proof("POST", e.issuer+PathToken, ""))
	at := decode(t, resp)["access_token"].(string)
	apiURL := e.issuer + "/api/v1/users"
	req := func(proof string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, apiURL, nil)
		if proof != "" {
			r.Header.Set("DPoP", proof)
		}
		return r
	}
	if id, scopes, err := e.p.VerifyAccessToken(req(dc.Proof("GET", apiURL, at)), "DPoP", at); err != nil || id != c.ID || len(scopes) != 1 {
		t.Fatalf("with the proof: %q %v %v", id, scopes, err)
	}
	_, _, err := e.p.VerifyAccessToken(req(""), "Bearer", at)
	var refusal *TokenRefusal
	if !errors.As(err, &refusal) || refusal.Code != "invalid_token" || !strings.HasPrefix(refusal.Challenge("x").Get("WWW-Authenticate"), "DPoP ") {
		t.Fatalf("as a bearer token: %v", err)
	}
	if _, _, err := e.p.VerifyAccessToken(req(dc.Proof("GET", e.issuer+"/api/v1/clients", at)), "DPoP", at); !errors.As(err, &refusal) || refusal.Code != "invalid_dpop_proof" {
		t.Fatalf("proof for another path: %v", err)
	}
}
