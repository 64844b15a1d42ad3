package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"

	"github.com/authd/authd/storage"
)

// clientAssertionType is the one client_assertion_type authd takes
// (RFC 7523 §2.2).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Time rules of client assertions (RFC 7523 §3).
const (
	// assertionLeeway is the clock difference tolerated between a client
	// and authd: iat and nbf may be this far in the future, exp this far
	// in the past.
	assertionLeeway = 30 * time.Second
	// maxAssertionLifetime is how far in the future exp may be. An
	// assertion is single use and made for one request; 10 minutes is the
	// lifetime common libraries give them (MSAL's default), and it bounds
	// how long every jti has to be remembered.
	maxAssertionLifetime = 10 * time.Minute
)

// authenticateClient is fosite's client authentication strategy for the
// token, introspection and revocation endpoints (and any other place
// fosite authenticates a client).
//
//   - One method per request (RFC 6749 §2.3): HTTP Basic, a client_secret
//     in the body, or a client assertion; two of them is invalid_request
//     (§5.2).
//   - A client_id in the body must name the client that authenticated.
//   - Client assertions (private_key_jwt, RFC 7523) are checked here, not
//     by fosite: fosite answers an assertion outside its window with a
//     500, allows no clock leeway, and remembers a jti until whatever exp
//     the assertion claims.
//
// Secrets (client_secret_basic, client_secret_post) and public clients
// (none) are fosite's.
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	basicID, _, basic := r.BasicAuth()
	assertion := form.Get("client_assertion") != "" || form.Get("client_assertion_type") != ""
	methods := 0
	for _, used := range []bool{basic, form.Get("client_secret") != "", assertion} {
		if used {
			methods++
		}
	}
	if methods > 1 {
		return nil, fosite.ErrInvalidRequest.WithHint("The request uses more than one client authentication method; use exactly one (RFC 6749 §2.3).")
	}
	bodyID := form.Get("client_id")
	if basic && bodyID != "" {
		if id, err := url.QueryUnescape(basicID); err == nil && id != bodyID {
			return nil, fosite.ErrInvalidRequest.WithHint("The client_id in the body is not the client authenticated with HTTP Basic.")
		}
	}
	var client fosite.Client
	var err error
	if assertion {
		client, err = p.authenticateAssertion(ctx, form)
	} else {
		client, err = p.oauth2.DefaultClientAuthenticationStrategy(ctx, r, form)
	}
	if err != nil {
		return nil, err
	}
	if bodyID != "" && bodyID != client.GetID() {
		return nil, fosite.ErrInvalidClient.WithHint("The client_id in the body is not the authenticated client.")
	}
	return client, nil
}

// authenticateAssertion authenticates a client by a JWT it signed with one
// of its registered keys (private_key_jwt; RFC 7523 §2.2, §3, OpenID
// Connect Core §9). Every failure is invalid_client (RFC 7523 §3.2) but a
// malformed request (invalid_request) and a failing database.
func (p *Provider) authenticateAssertion(ctx context.Context, form url.Values) (fosite.Client, error) {
	raw := form.Get("client_assertion")
	switch typ := form.Get("client_assertion_type"); {
	case typ != clientAssertionType:
		return nil, fosite.ErrInvalidRequest.WithHintf("The client_assertion_type must be '%s'.", clientAssertionType)
	case raw == "":
		return nil, fosite.ErrInvalidRequest.WithHint("The client_assertion parameter is missing.")
	case len(raw) > maxTokenLength:
		return nil, fosite.ErrInvalidClient.WithHint("The client_assertion is too long.")
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return nil, fosite.ErrInvalidClient.WithHint("The client_assertion is not a JWS signed with a supported algorithm.").WithWrap(err)
	}
	id := form.Get("client_id")
	if id == "" {
		var unverified jwt.Claims
		if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
			return nil, fosite.ErrInvalidClient.WithHint("The client_assertion claims are malformed.").WithWrap(err)
		}
		id = unverified.Subject
	}
	if id == "" || len(id) > storage.MaxClientIDLength {
		return nil, fosite.ErrInvalidClient.WithHint("The client_assertion names no client (sub) and there is no client_id.")
	}
	client, err := p.clients.GetStoredClient(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, fosite.ErrInvalidClient.WithHint("The client is unknown.")
	case err != nil:
		return nil, fosite.ErrServerError.WithHint("Loading the client failed.").WithWrap(err)
	case client.TokenEndpointAuthMethod != storage.AuthMethodPrivateKeyJWT:
		return nil, fosite.ErrInvalidClient.WithHintf("The client authenticates with '%s', not private_key_jwt.", client.TokenEndpointAuthMethod)
	}
	h := tok.Headers[0]
	if string(h.Algorithm) != client.TokenEndpointAuthSigningAlg {
		return nil, fosite.ErrInvalidClient.WithHintf("The client_assertion must be signed with %s.", client.TokenEndpointAuthSigningAlg)
	}
	claims, err := p.verifyAssertion(ctx, client, tok, h)
	if err != nil {
		return nil, err
	}
	now := p.now()
	exp := claims.Expiry.Time()
	switch {
	case claims.Issuer != id || claims.Subject != id:
		return nil, fosite.ErrInvalidClient.WithHint("The client_assertion's iss and sub must both be the client_id.")
	case !claims.Audience.Contains(p.cfg.Issuer+PathToken) && !claims.Audience.Contains(p.cfg.Issuer):
		// The token endpoint (OpenID Connect Core §9) or the issuer
		// (draft-ietf-oauth-rfc7523bis, what openid-client and
		// oauth4webapi send by default).
		return nil, fosite.ErrInvalidClient.WithHintf("The client_assertion's aud must include the issuer '%s' or the token endpoint '%s'.",
			p.cfg.Issuer, p.cfg.Issuer+PathToken)
	case client.Profile == storage.ProfileFAPI2 && (len(claims.Audience) != 1 || claims.Audience[0] != p.cfg.Issuer):
		return nil, fosite.ErrInvalidClient.WithHintf("A FAPI 2.0 client's client_assertion must have aud '%s', the issuer, and nothing else (FAPI 2.0 §5.3.2.1).", p.cfg.Issuer)
	case claims.ID == "":
		return nil, fosite.ErrInvalidClient.WithHint("The client_assertion has no jti.")
	case !now.Before(exp.Add(assertionLeeway)):
		return nil, fosite.ErrInvalidClient.WithHint("The client_assertion has expired.")
	case exp.After(now.Add(maxAssertionLifetime + assertionLeeway)):
		return nil, fosite.ErrInvalidClient.WithHintf("The client_assertion's exp is more than %v ahead; make a short-lived assertion for each request.", maxAssertionLifetime)
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(assertionLeeway)):
		return nil, fosite.ErrInvalidClient.WithHint("The client_assertion is not valid yet (nbf).")
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(assertionLeeway)):
		return nil, fosite.ErrInvalidClient.WithHint("The client_assertion was issued in the future (iat).")
	}
	// A jti is unique per issuer (RFC 7523 §3 item 7), so it is
	// remembered per client: until the assertion can no longer be
	// accepted, which the checks above keep within minutes.
	jti := id + "\x00" + claims.ID
	switch err := p.store.ClientAssertionJWTValid(ctx, jti); {
	case errors.Is(err, fosite.ErrJTIKnown):
		return nil, fosite.ErrInvalidClient.WithHint("The client assertion was already used.").WithWrap(err)
	case err != nil:
		return nil, fosite.ErrServerError.WithHint("Checking the client assertion's jti failed.").WithWrap(err)
	}
	switch err := p.store.SetClientAssertionJWT(ctx, jti, exp.Add(assertionLeeway)); {
	case errors.Is(err, fosite.ErrJTIKnown):
		return nil, fosite.ErrInvalidClient.WithHint("The client assertion was already used.").WithWrap(err)
	case err != nil:
		return nil, fosite.ErrServerError.WithHint("Recording the client assertion's jti failed.").WithWrap(err)
	}
	return client, nil
}

// assertionAlgs are clientAssertionAlgs as go-jose names them.
var assertionAlgs = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(clientAssertionAlgs))
	for i, a := range clientAssertionAlgs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

// verifyAssertion checks the assertion's signature against the client's
// keys (clientSigned) and returns its claims, which must carry exp.
func (p *Provider) verifyAssertion(ctx context.Context, client *storage.Client, tok *jwt.JSONWebToken, h jose.Header) (*jwt.Claims, error) {
	var c jwt.Claims
	ok, err := p.clientSigned(ctx, client, tok, h, &c)
	if err != nil {
		return nil, fosite.ErrInvalidClient.WithHint("The client's JWKS could not be fetched from its jwks_uri.").WithWrap(err)
	}
	if !ok {
		return nil, fosite.ErrInvalidClient.WithHint("The client_assertion's signature does not verify with any of the client's keys.")
	}
	if c.Expiry == nil {
		return nil, fosite.ErrInvalidClient.WithHint("The client_assertion has no exp.")
	}
	return &c, nil
}

// clientSigned reports whether one of the client's keys signed tok
// (inline, or fetched from its jwks_uri, fetched again once when no key
// fits: the client may have rotated), decoding its claims into out; err
// is a failure to fetch the keys.
func (p *Provider) clientSigned(ctx context.Context, client *storage.Client, tok *jwt.JSONWebToken, h jose.Header, out ...any) (bool, error) {
	try := func(set *josev3.JSONWebKeySet) bool {
		for _, k := range assertionKeys(set, h) {
			if err := tok.Claims(k, out...); err == nil {
				return true
			}
		}
		return false
	}
	switch {
	case client.JWKS != nil:
		return try(client.JWKS), nil
	case client.JWKSURI != "":
		for _, refetch := range []bool{false, true} {
			set, err := p.fcfg.GetJWKSFetcherStrategy(ctx).Resolve(ctx, client.JWKSURI, refetch)
			if err != nil {
				return false, err
			}
			if try(set) {
				return true, nil
			}
		}
	}
	return false, nil
}

// assertionKeys returns the public keys of set that may have signed a JWS
// with header h: its kid when it names one, meant for signatures (use
// "sig" or unset), of the alg's key type and, when the key names an alg,
// that alg.
func assertionKeys(set *josev3.JSONWebKeySet, h jose.Header) []any {
	if set == nil {
		return nil
	}
	keys := set.Keys
	if h.KeyID != "" {
		keys = set.Key(h.KeyID)
	}
	var out []any
	for _, k := range keys {
		if (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != h.Algorithm) {
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey:
			if strings.HasPrefix(h.Algorithm, "RS") || strings.HasPrefix(h.Algorithm, "PS") {
				out = append(out, k.Key)
			}
		case *ecdsa.PublicKey:
			if strings.HasPrefix(h.Algorithm, "ES") {
				out = append(out, k.Key)
			}
		case ed25519.PublicKey:
			if h.Algorithm == string(jose.EdDSA) {
				out = append(out, k.Key)
			}
		}
	}
	return out
}
