package provider

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/authd/authd/storage"
)

// DPoP (RFC 9449): a client proves, with a signed proof JWT in the DPoP
// header of each request, that it holds a private key; tokens issued on
// such a request are bound to the key's JWK thumbprint (cnf.jkt, RFC
// 7638), and a bound access token is accepted only with a fresh proof
// by the same key.
const (
	headerDPoP      = "DPoP"
	headerDPoPNonce = "DPoP-Nonce"
	typDPoPProof    = "dpop+jwt"
	tokenTypeDPoP   = "DPoP"
	// maxProofLength bounds a proof: a header with an RSA-4096 JWK and
	// every claim fits in a few KiB.
	maxProofLength = 8 << 10
	// maxJTILength bounds the jti a replay record is kept for.
	maxJTILength = 256
	// dpopNonceWindow is how long a server nonce is fresh: one made in
	// the current window or the one before is accepted.
	dpopNonceWindow = 5 * time.Minute
)

// dpopAlgs are the proof algorithms accepted (asymmetric only, RFC 9449
// §4.3), in the order discovery lists them.
var dpopAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.PS256, jose.RS256}

// dpopAlgNames is dpopAlgs as strings, for discovery and challenges.
func dpopAlgNames() []string {
	out := make([]string, len(dpopAlgs))
	for i, a := range dpopAlgs {
		out[i] = string(a)
	}
	return out
}

// DPoPConfig tunes proof checking.
type DPoPConfig struct {
	// ProofLifetime is how old a proof's iat may be (and how long its jti
	// is remembered); iat may be at most clockSkew in the future.
	ProofLifetime time.Duration `koanf:"proof_lifetime"`
	// RequireNonce makes every proof carry a nonce from a DPoP-Nonce
	// header authd sent (RFC 9449 §8), so a proof cannot be made ahead of
	// time; a proof without one is answered use_dpop_nonce.
	RequireNonce bool `koanf:"require_nonce"`
}

func (c DPoPConfig) validate() error {
	if c.ProofLifetime < 5*time.Second || c.ProofLifetime > 10*time.Minute {
		return fmt.Errorf("dpop.proof_lifetime: must be between 5s and 10m, got %v", c.ProofLifetime)
	}
	return nil
}

// The RFC 9449 error codes (§5, §7.1, §8).
var (
	errInvalidDPoPProof = &fosite.RFC6749Error{ErrorField: "invalid_dpop_proof", CodeField: http.StatusBadRequest,
		DescriptionField: "The DPoP proof is invalid."}
	errUseDPoPNonce = &fosite.RFC6749Error{ErrorField: "use_dpop_nonce", CodeField: http.StatusBadRequest,
		DescriptionField: "The authorization server requires a nonce in the DPoP proof."}
)

// dpopProof is what a checked proof establishes.
type dpopProof struct {
	// JKT is the base64url SHA-256 JWK thumbprint of the proof's key.
	JKT string
	// Alg is the proof's signature algorithm.
	Alg string
}

// allowedFor refuses a proof whose algorithm the client's profile does
// not allow (FAPI 2.0 §5.4).
func (d *dpopProof) allowedFor(c fosite.Client) error {
	if isFAPI2(c) && !slices.Contains(fapiAlgs, d.Alg) {
		return errInvalidDPoPProof.WithHintf("A FAPI 2.0 client's DPoP proofs must be signed with %s (FAPI 2.0 §5.4).", strings.Join(fapiAlgs, ", "))
	}
	return nil
}

// dpopClaims are a proof's claims (RFC 9449 §4.2).
type dpopClaims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   string   `json:"ath"`
	Nonce string   `json:"nonce"`
}

// checkDPoP checks the DPoP proof of r, if it has one, against RFC 9449
// §4.3 for a request to htu (an absolute URL of this issuer) and, at a
// protected resource, for accessToken (ath). It returns nil, nil when r
// has no DPoP header. The jti is recorded last, so a proof refused for
// another reason can still be corrected and sent.
func (p *Provider) checkDPoP(ctx context.Context, r *http.Request, htu, accessToken string) (*dpopProof, error) {
	values := r.Header.Values(headerDPoP)
	switch {
	case len(values) == 0:
		return nil, nil
	case len(values) > 1:
		return nil, errInvalidDPoPProof.WithHint("Send exactly one DPoP header.")
	case len(values[0]) > maxProofLength:
		return nil, errInvalidDPoPProof.WithHint("The DPoP proof is too long.")
	case !canonicalCompactJWS(values[0]):
		return nil, errInvalidDPoPProof.WithHint("The DPoP proof is not a JWS in compact serialization.")
	}
	jws, err := jose.ParseSignedCompact(values[0], dpopAlgs)
	if err != nil {
		return nil, errInvalidDPoPProof.WithHintf("The DPoP proof must be signed with one of %s.", strings.Join(dpopAlgNames(), ", ")).WithWrap(err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errInvalidDPoPProof.WithHint("The DPoP proof must carry exactly one signature.")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, typDPoPProof) {
		return nil, errInvalidDPoPProof.WithHint("The DPoP proof's typ must be dpop+jwt.")
	}
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() {
		return nil, errInvalidDPoPProof.WithHint("The DPoP proof's jwk header must be a public key.")
	}
	if k, ok := jwk.Key.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
		return nil, errInvalidDPoPProof.WithHint("The DPoP proof's RSA key must have at least 2048 bits.")
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return nil, errInvalidDPoPProof.WithHint("The DPoP proof's signature does not verify with its jwk.").WithWrap(err)
	}
	var c dpopClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errInvalidDPoPProof.WithHint("The DPoP proof's claims are malformed.").WithWrap(err)
	}
	now := p.now()
	switch {
	case c.JTI == "" || len(c.JTI) > maxJTILength:
		return nil, errInvalidDPoPProof.WithHintf("The DPoP proof needs a jti of 1 to %d characters.", maxJTILength)
	case c.HTM != r.Method:
		return nil, errInvalidDPoPProof.WithHintf("The DPoP proof's htm must be %s, the method of this request.", r.Method)
	case !sameHTU(c.HTU, htu):
		return nil, errInvalidDPoPProof.WithHintf("The DPoP proof's htu must be %s.", htu)
	case c.IAT == nil:
		return nil, errInvalidDPoPProof.WithHint("The DPoP proof has no iat.")
	}
	iat := time.Unix(int64(*c.IAT), 0)
	if iat.After(now.Add(clockSkew)) || iat.Before(now.Add(-p.cfg.DPoP.ProofLifetime)) {
		return nil, p.dpopStale(fmt.Sprintf("The DPoP proof's iat is outside the accepted window (%v old at most).", p.cfg.DPoP.ProofLifetime))
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if subtle.ConstantTimeCompare([]byte(c.ATH), []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) != 1 {
			return nil, errInvalidDPoPProof.WithHint("The DPoP proof's ath is not the hash of the access token.")
		}
	}
	if p.cfg.DPoP.RequireNonce && !p.freshDPoPNonce(c.Nonce, now) {
		hint := "Retry with the nonce in the DPoP-Nonce header."
		if c.Nonce != "" {
			hint = "The DPoP proof's nonce is not a current one; retry with the nonce in the DPoP-Nonce header."
		}
		return nil, errUseDPoPNonce.WithHint(hint)
	}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, errInvalidDPoPProof.WithHint("The DPoP proof's jwk has no thumbprint.").WithWrap(err)
	}
	jkt := base64.RawURLEncoding.EncodeToString(thumb)
	// A jti is unique per key (RFC 9449 §11.1); remembered until the proof
	// is too old to be accepted anyway.
	first, err := p.oneTime.Use(ctx, "dpop:"+jkt+":"+c.JTI, iat.Add(p.cfg.DPoP.ProofLifetime))
	if err != nil {
		return nil, fosite.ErrServerError.WithHint("Recording the DPoP proof failed.").WithWrap(err)
	}
	if !first {
		return nil, errInvalidDPoPProof.WithHint("The DPoP proof was already used (jti).")
	}
	return &dpopProof{JKT: jkt, Alg: h.Algorithm}, nil
}

// dpopStale refuses a proof made too long ago or in the future: with
// nonces in use, the client is told to use one, which spares it its
// clock (RFC 9449 §11.1).
func (p *Provider) dpopStale(hint string) error {
	if p.cfg.DPoP.RequireNonce {
		return errUseDPoPNonce.WithHint(hint + " Retry with the nonce in the DPoP-Nonce header.")
	}
	return errInvalidDPoPProof.WithHint(hint)
}

// sameHTU reports whether the proof's htu names want, ignoring query and
// fragment and comparing after the syntax- and scheme-based normalisation
// of RFC 3986 §6.2.2 and §6.2.3 (case of scheme and host, default port,
// percent-encoding case), as RFC 9449 §4.3 asks.
func sameHTU(htu, want string) bool {
	u, err := url.Parse(htu)
	if err != nil || u.Opaque != "" || u.User != nil {
		return false
	}
	w, err := url.Parse(want)
	if err != nil {
		return false
	}
	return normalURL(u) == normalURL(w)
}

func normalURL(u *url.URL) string {
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if p, err := url.PathUnescape(path); err == nil { // %7E and ~, %2f and %2F are one path
		path = (&url.URL{Path: p}).EscapedPath()
	}
	return scheme + "://" + host + path
}

// dpopNonce returns the server nonce for the window t falls in: the
// window number and a MAC under the master key, so every replica makes
// and accepts the same nonces without sharing state.
func (p *Provider) dpopNonce(t time.Time) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.Unix()/int64(dpopNonceWindow/time.Second))) // #nosec G115 -- a window number; its bits are only MACed
	mac := p.keyring.MAC("dpop-nonce", b[:])[:16]
	return base64.RawURLEncoding.EncodeToString(append(b[:], mac...))
}

// freshDPoPNonce reports whether n is the nonce of now's window or the
// one before.
func (p *Provider) freshDPoPNonce(n string, now time.Time) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, t := range []time.Time{now, now.Add(-dpopNonceWindow)} {
		if hmac.Equal([]byte(n), []byte(p.dpopNonce(t))) {
			return true
		}
	}
	return false
}

// setDPoPNonce sends a fresh nonce when nonces are required: with an
// error that asks for one, and on every other answer so that the client
// always has a current one (RFC 9449 §8.2).
func (p *Provider) setDPoPNonce(w http.ResponseWriter) {
	if p.cfg.DPoP.RequireNonce {
		w.Header().Set(headerDPoPNonce, p.dpopNonce(p.now()))
	}
}

// requiresDPoP reports whether the client registered dpop_bound_access_tokens.
func requiresDPoP(c fosite.Client) bool {
	sc, ok := c.(*storage.Client)
	return ok && (sc.RequireDPoP || sc.Profile == storage.ProfileFAPI2)
}

// dpopBindingKey is the context key of the key a token request's tokens
// are bound to (bindDPoP), read when they are signed (signAccessToken).
type dpopBindingKey struct{}

// dpopBinding returns the thumbprint bindDPoP put in ctx ("" for bearer
// tokens).
func dpopBinding(ctx context.Context) string {
	jkt, _ := ctx.Value(dpopBindingKey{}).(string)
	return jkt
}

// bindDPoP checks the DPoP proof of a token request, before anything is
// consumed, and returns ctx carrying the key the tokens will be bound to
// (dpopBinding), or refuses the request:
//   - a client registered with dpop_bound_access_tokens must send a proof;
//   - a grant already bound to a key (an authorization code requested with
//     dpop_jkt, RFC 9449 §10; a public client's refresh token, §5) needs a
//     proof made with that key;
//   - otherwise the tokens are bound to the proof's key, or are bearer
//     tokens when there is no proof. A confidential client's refresh token
//     is bound to the client's authentication, not to a key (§5), so each
//     refresh may bind its access token to another key or to none.
//
// The binding is written into the grant's session when the access token
// is signed (signAccessToken): fosite reloads the stored session between
// here and there.
func (p *Provider) bindDPoP(ctx context.Context, r *http.Request, ar fosite.AccessRequester) (context.Context, error) {
	client := ar.GetClient()
	if err := p.fapiKeys(client); err != nil {
		return ctx, err
	}
	proof, err := p.checkDPoP(ctx, r, p.cfg.Issuer+PathToken, "")
	if err != nil {
		return ctx, err
	}
	keyBound := ""
	if sess, ok := ar.GetSession().(*Session); ok && sess.DPoPJKT != "" {
		switch gt := ar.GetGrantTypes(); {
		case gt.ExactOne("authorization_code") && sess.DPoPCodeBound, gt.ExactOne("refresh_token") && client.IsPublic():
			keyBound = sess.DPoPJKT
		}
	}
	switch {
	case proof == nil && requiresDPoP(client):
		return ctx, errInvalidDPoPProof.WithHint("The client is registered for DPoP-bound tokens (dpop_bound_access_tokens): send a DPoP proof.")
	case proof == nil && keyBound != "":
		return ctx, errInvalidDPoPProof.WithHint("The grant is bound to a DPoP key: send a DPoP proof made with it.")
	case proof == nil:
		return context.WithValue(ctx, dpopBindingKey{}, ""), nil
	case keyBound != "" && keyBound != proof.JKT:
		return ctx, errInvalidDPoPProof.WithHint("The DPoP proof's key is not the key the grant is bound to.")
	}
	if err := proof.allowedFor(client); err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, dpopBindingKey{}, proof.JKT), nil
}

// TokenRefusal is why a protected resource of this issuer (UserInfo, the
// admin API, the SSF transmitter) refused the access token a request
// presented, with the challenge to answer it with (RFC 6750 §3, RFC 9449
// §7.1).
type TokenRefusal struct {
	// Code is the error: invalid_token, invalid_dpop_proof or
	// use_dpop_nonce.
	Code        string
	Description string
	// DPoP: the challenge is for the DPoP scheme (the request used it, or
	// the token needs it).
	DPoP bool
	// Nonce is a fresh DPoP-Nonce to send, when nonces are required.
	Nonce string
}

func (e *TokenRefusal) Error() string { return e.Code + ": " + e.Description }

// Challenge returns the WWW-Authenticate header (and DPoP-Nonce) that
// answer the refusal for realm.
func (e *TokenRefusal) Challenge(realm string) http.Header {
	h := http.Header{}
	params := fmt.Sprintf(`realm=%q, error=%q, error_description=%q`, realm, e.Code, e.Description)
	if e.DPoP {
		h.Set("WWW-Authenticate", fmt.Sprintf(`DPoP %s, algs=%q`, params, strings.Join(dpopAlgNames(), " ")))
	} else {
		h.Set("WWW-Authenticate", "Bearer "+params)
	}
	if e.Nonce != "" {
		h.Set(headerDPoPNonce, e.Nonce)
	}
	return h
}

// resourceClaims verifies the access token a request to a protected
// resource of this issuer presents under scheme (Bearer or DPoP), at the
// request's own URL (issuer + path): active, and, for a token bound to a
// DPoP key, presented with the DPoP scheme and a valid proof by that key
// over this request and this token (RFC 9449 §7). A DPoP proof makes the
// bound check; a bearer presentation of a bound token is refused, as is a
// DPoP presentation of a bearer token. Every error is a *TokenRefusal.
func (p *Provider) resourceClaims(r *http.Request, scheme, token string) (*accessClaims, error) {
	ctx := r.Context()
	dpop := strings.EqualFold(scheme, tokenTypeDPoP)
	refuse := func(code, desc string, dpopChallenge bool) error {
		e := &TokenRefusal{Code: code, Description: desc, DPoP: dpopChallenge}
		if dpopChallenge && p.cfg.DPoP.RequireNonce {
			e.Nonce = p.dpopNonce(p.now())
		}
		return e
	}
	c, err := p.verifyAccessToken(ctx, token)
	if err != nil {
		return nil, refuse("invalid_token", "The access token is invalid, expired or revoked.", dpop)
	}
	jkt := c.dpopKey()
	switch {
	case !dpop && jkt != "":
		return nil, refuse("invalid_token", "The access token is DPoP-bound: send it as 'Authorization: DPoP <token>' with a DPoP proof.", true)
	case !dpop:
		return c, nil
	case jkt == "":
		return nil, refuse("invalid_token", "The access token is not DPoP-bound: send it as 'Authorization: Bearer <token>'.", true)
	}
	proof, err := p.checkDPoP(ctx, r, p.cfg.Issuer+r.URL.Path, token)
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		return nil, refuse(rfc.ErrorField, rfc.GetDescription(), true)
	}
	if proof == nil {
		return nil, refuse("invalid_dpop_proof", "The DPoP scheme needs a DPoP proof in the DPoP header.", true)
	}
	if proof.JKT != jkt {
		return nil, refuse("invalid_token", "The DPoP proof was made with another key than the one the access token is bound to.", true)
	}
	return c, nil
}

// authorizationToken splits an Authorization header into its scheme
// (Bearer or DPoP, either case) and token; ok is false for any other
// shape.
func authorizationToken(h string) (scheme, token string, ok bool) {
	scheme, token, ok = strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || token == "" || strings.ContainsAny(token, " \t") {
		return "", "", false
	}
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return "Bearer", token, true
	case strings.EqualFold(scheme, tokenTypeDPoP):
		return tokenTypeDPoP, token, true
	}
	return "", "", false
}
