package provider

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/authd/authd/storage"
)

// typAccessToken is the JWS typ of access tokens (RFC 9068 §2.1).
const typAccessToken = "at+jwt"

// accessClaims are the claims of an authd access token (RFC 9068 §2.2).
// GrantID names the grant (the fosite request id, shared by a refresh
// family) so one revocation entry can end every token of it.
type accessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf,omitempty"`
	JTI       string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	SID       string   `json:"sid,omitempty"`
	GrantID   string   `json:"grant_id,omitempty"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	// Cnf binds the token to a DPoP key (RFC 9449 §6.1, RFC 7800).
	Cnf *confirmation `json:"cnf,omitempty"`
	// Extra holds any other claims; marshalled inline.
	Extra map[string]any `json:"-"`
}

var registeredClaims = map[string]bool{"iss": true, "sub": true, "aud": true, "exp": true, "iat": true, "nbf": true,
	"jti": true, "client_id": true, "scope": true, "sid": true, "grant_id": true, "auth_time": true, "acr": true, "amr": true, "cnf": true}

// confirmation is the cnf claim of a DPoP-bound token.
type confirmation struct {
	JKT string `json:"jkt"`
}

// dpopKey returns the thumbprint the token is bound to, or "".
func (c *accessClaims) dpopKey() string {
	if c.Cnf == nil {
		return ""
	}
	return c.Cnf.JKT
}

// foldsToRegistered reports whether encoding/json would decode the claim
// name into a registered field: it matches names case-insensitively
// (Unicode simple folding, so "ſub" is "sub" too).
func foldsToRegistered(name string) bool {
	if registeredClaims[name] {
		return true
	}
	for r := range registeredClaims {
		if strings.EqualFold(name, r) {
			return true
		}
	}
	return false
}

func (c *accessClaims) MarshalJSON() ([]byte, error) {
	type plain accessClaims
	b, err := json.Marshal((*plain)(c))
	if err != nil || len(c.Extra) == 0 {
		return b, err
	}
	extra := make(map[string]any, len(c.Extra))
	for k, v := range c.Extra {
		if !foldsToRegistered(k) { // "ISS" would decode over "iss"
			extra[k] = v
		}
	}
	if len(extra) == 0 {
		return b, nil
	}
	eb, err := json.Marshal(extra)
	if err != nil {
		return nil, err
	}
	return append(append(b[:len(b)-1], ','), eb[1:]...), nil
}

func (c *accessClaims) UnmarshalJSON(b []byte) error {
	type plain accessClaims
	if err := json.Unmarshal(b, (*plain)(c)); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for k, v := range all {
		if registeredClaims[k] {
			continue
		}
		if foldsToRegistered(k) {
			return fmt.Errorf("claim %q is a registered claim name in another case", k)
		}
		if c.Extra == nil {
			c.Extra = map[string]any{}
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return err
		}
		c.Extra[k] = x
	}
	return nil
}

// newJTI returns a UUIDv7 (RFC 9562 §5.7) for time t: the first 48 bits
// are t in Unix milliseconds, the rest random. Made here rather than with
// uuid.NewV7 so the time comes from the provider's clock.
func newJTI(t time.Time) string {
	var u uuid.UUID
	rand.Read(u[6:])
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		u[i] = byte(ms)
		ms >>= 8
	}
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u.String()
}

// issuedAtMs returns the issue time in milliseconds: from the jti when it
// is a UUIDv7 made by authd (which holds the millisecond), else the end of
// the iat second, so a revocation in that second covers the token.
func (c *accessClaims) issuedAtMs() int64 {
	if u, err := uuid.Parse(c.JTI); err == nil && u.Version() == 7 {
		sec, nsec := u.Time().UnixTime()
		return sec*1000 + nsec/1e6
	}
	return c.IssuedAt*1000 + 999
}

func (c *accessClaims) revocationKey() storage.TokenRef {
	return storage.TokenRef{JTI: c.JTI, GrantID: c.GrantID, SessionID: c.SID, Subject: c.Subject, ClientID: c.ClientID, IssuedAtMs: c.issuedAtMs()}
}

// accessTokenStrategy issues RFC 9068 JWT access tokens and, for fosite,
// names each one by its jti ("signature"). Refresh tokens and codes are
// fosite's opaque HMAC tokens.
type accessTokenStrategy struct {
	p *Provider
}

var _ oauth2.AccessTokenStrategy = accessTokenStrategy{}

// AccessTokenSignature returns the token's jti, read without verification:
// it is only a lookup key.
func (s accessTokenStrategy) AccessTokenSignature(_ context.Context, token string) string {
	c, err := unverifiedClaims(token)
	if err != nil {
		return ""
	}
	return c.JTI
}

// GenerateAccessToken signs a new access token for r.
func (s accessTokenStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	return s.p.signAccessToken(ctx, r)
}

// ValidateAccessToken verifies token (signature, issuer, expiry, revocation).
func (s accessTokenStrategy) ValidateAccessToken(ctx context.Context, _ fosite.Requester, token string) error {
	_, err := s.p.verifyAccessToken(ctx, token)
	return err
}

func (p *Provider) signAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	ks := p.keys.Load()
	now := p.now().UTC()
	jti := newJTI(now)
	sess, _ := r.GetSession().(*Session)
	exp := r.GetSession().GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		exp = now.Add(p.cfg.Tokens.AccessTokenTTL)
	}
	c := &accessClaims{
		Issuer:   p.cfg.Issuer,
		Subject:  r.GetSession().GetSubject(),
		Audience: r.GetGrantedAudience(),
		Expiry:   exp.Unix(),
		IssuedAt: now.Unix(),
		JTI:      jti,
		ClientID: r.GetClient().GetID(),
		Scope:    strings.Join(r.GetGrantedScopes(), " "),
	}
	if c.Subject == "" { // no resource owner: the client is the subject (RFC 9068 §2.2)
		c.Subject = c.ClientID
	}
	switch {
	case len(c.Audience) == 0:
		c.Audience = []string{p.cfg.Issuer}
	case r.GetGrantedScopes().Has("openid") && !slices.Contains(c.Audience, p.cfg.Issuer):
		// A token with openid is also for UserInfo, which is authd's
		// own resource and accepts only tokens for the issuer.
		c.Audience = append(slices.Clone(c.Audience), p.cfg.Issuer)
	}
	if ar, ok := r.(fosite.AccessRequester); !ok || !ar.GetGrantTypes().ExactOne("client_credentials") {
		c.GrantID = r.GetID()
	}
	if jkt := dpopBinding(ctx); jkt != "" {
		c.Cnf = &confirmation{JKT: jkt}
	}
	if sess != nil {
		// The grant's stored session (saved with the tokens after this)
		// remembers the key: a public client's refresh must prove it.
		sess.DPoPJKT, sess.DPoPCodeBound = dpopBinding(ctx), false
		c.SID = sess.SID
		c.Extra = sess.AccessClaims
		if sess.Claims != nil {
			if !sess.Claims.AuthTime.IsZero() {
				c.AuthTime = sess.Claims.AuthTime.Unix()
			}
			c.ACR, c.AMR = sess.Claims.AuthenticationContextClassReference, sess.Claims.AuthenticationMethodsReferences
		}
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", "", err
	}
	token, err := ks.active.sign(typAccessToken, payload)
	if err != nil {
		return "", "", fmt.Errorf("sign access token: %w", err)
	}
	return token, c.JTI, nil
}

// errTokenInactive wraps every reason a presented access token is not valid.
var errTokenInactive = fosite.ErrInactiveToken

// verifyAccessToken checks token and returns its claims: a known key's
// signature, typ at+jwt, our issuer, not expired, not revoked. It does no
// I/O: keys and the revocation set are in memory, and tokens already
// verified are remembered (by their exact string) until they expire.
func (p *Provider) verifyAccessToken(ctx context.Context, token string) (*accessClaims, error) {
	now := p.now()
	c, ok := p.verified.Get(token)
	if !ok {
		var err error
		if c, err = p.parseAccessToken(ctx, token, now); err != nil {
			return nil, err
		}
		p.verified.Add(token, c)
	}
	if now.Unix() >= c.Expiry {
		return nil, errTokenInactive.WithHint("The access token expired.")
	}
	if p.revoked.Revoked(c.revocationKey(), now) {
		return nil, errTokenInactive.WithHint("The access token was revoked.")
	}
	return c, nil
}

// clockSkew is how far in the future iat/nbf may be.
const clockSkew = time.Minute

func (p *Provider) parseAccessToken(ctx context.Context, token string, now time.Time) (*accessClaims, error) {
	if len(token) > maxTokenLength {
		return nil, errTokenInactive.WithHint("The token is too long.")
	}
	if !canonicalCompactJWS(token) {
		return nil, errTokenInactive.WithHint("The token is not a JWS in canonical compact serialization.")
	}
	// Every algorithm authd signs with, not only those of the keys known
	// here: the key the token names may be new (lookupKey), and it must
	// then have the token's alg.
	jws, err := jose.ParseSignedCompact(token, signingAlgs)
	if err != nil {
		return nil, errTokenInactive.WithHint("The token is not a JWS signed with an accepted algorithm.").WithWrap(err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errTokenInactive.WithHint("The token must carry exactly one signature.")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, typAccessToken) && !strings.EqualFold(typ, "application/"+typAccessToken) {
		return nil, errTokenInactive.WithHint("The token is not an access token (typ).")
	}
	key, ok := p.lookupKey(ctx, h.KeyID)
	if !ok {
		return nil, errTokenInactive.WithHint("The token was signed by an unknown key.")
	}
	if h.Algorithm != key.Algorithm {
		return nil, errTokenInactive.WithHint("The token's alg does not match its key.")
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, errTokenInactive.WithHint("The token signature is invalid.").WithWrap(err)
	}
	c := new(accessClaims)
	if err := json.Unmarshal(payload, c); err != nil {
		return nil, errTokenInactive.WithHint("The token claims are malformed.").WithWrap(err)
	}
	switch {
	case c.Issuer != p.cfg.Issuer:
		return nil, errTokenInactive.WithHint("The token was issued by another issuer.")
	case c.JTI == "" || c.ClientID == "" || c.Expiry == 0:
		return nil, errTokenInactive.WithHint("The token lacks required claims.")
	case now.Unix() >= c.Expiry:
		return nil, errTokenInactive.WithHint("The access token expired.")
	case time.Unix(c.IssuedAt, 0).After(now.Add(clockSkew)), time.Unix(c.NotBefore, 0).After(now.Add(clockSkew)):
		return nil, errTokenInactive.WithHint("The token is not valid yet.")
	}
	return c, nil
}

// maxTokenLength bounds tokens we are willing to parse.
const maxTokenLength = 8 << 10

// canonicalCompactJWS reports whether token is three base64url parts in
// the one encoding authd writes (RFC 7515 §7.1; RFC 4648 §5 without
// padding, unused bits zero, §3.5). go-jose alone would also take the JSON
// serialization, strip whitespace anywhere and ignore padding bits, so one
// token could be presented as endless different strings.
func canonicalCompactJWS(token string) bool {
	n := 0
	for part := range strings.SplitSeq(token, ".") {
		if n++; n > 3 || !canonicalBase64URL(part) {
			return false
		}
	}
	return n == 3
}

func canonicalBase64URL(s string) bool {
	last := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z':
			last = int(c - 'A')
		case 'a' <= c && c <= 'z':
			last = int(c-'a') + 26
		case '0' <= c && c <= '9':
			last = int(c-'0') + 52
		case c == '-':
			last = 62
		case c == '_':
			last = 63
		default:
			return false
		}
	}
	switch len(s) % 4 {
	case 1:
		return false
	case 2:
		return last&0x0f == 0
	case 3:
		return last&0x03 == 0
	}
	return true
}

// looksLikeJWT reports whether token has the three-part compact shape.
func looksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }

// unverifiedClaims decodes a JWT payload without checking anything.
func unverifiedClaims(token string) (*accessClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(token) > maxTokenLength {
		return nil, errors.New("not a compact JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	c := new(accessClaims)
	return c, json.Unmarshal(b, c)
}

// hasAudience reports whether c is meant for aud.
func (c *accessClaims) hasAudience(aud string) bool { return slices.Contains(c.Audience, aud) }
