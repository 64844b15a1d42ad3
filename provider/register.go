package provider

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/google/uuid"

	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/storage"
)

// ClientSpec is what an operator asks for when registering a client.
type ClientSpec struct {
	ID                      string
	Name                    string
	Secret                  string // empty: generate one for confidential clients
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	Scopes                  []string
	Audience                []string
	TokenEndpointAuthMethod string
	Public                  bool
	FirstParty              bool
	JWKS                    *jose.JSONWebKeySet
	JWKSURI                 string
	// BackchannelLogoutURI receives logout tokens (https, or http on loopback).
	BackchannelLogoutURI string
	// AuthSigningAlg is the alg of private_key_jwt assertions; default: the
	// alg of the first key in JWKS, else RS256.
	AuthSigningAlg  string
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// ApplicationType is storage.ApplicationWeb (the default) or
	// storage.ApplicationNative, as in OpenID Connect Dynamic Client
	// Registration: only a native client's loopback redirect URIs match
	// with any port.
	ApplicationType string
	// AllowedIntrospectors are the ids of the clients (resource servers)
	// that may introspect this client's refresh tokens besides itself.
	AllowedIntrospectors []string
	// WebOrigins are the origins browser code of the client calls the
	// token and revocation endpoints from; empty: those of its http(s)
	// redirect URIs.
	WebOrigins []string
	// RequirePAR: the client must push its authorization requests.
	RequirePAR bool
	// RequireDPoP: the client's token requests must carry a DPoP proof.
	RequireDPoP bool
	// Profile is a security profile to hold the client to: "" or
	// storage.ProfileFAPI2 (fapi.go).
	Profile string
}

// DefaultScopes are what a client with the authorization_code grant may
// request when registered without --scope: the OpenID Connect scopes.
var DefaultScopes = []string{"openid", "profile", "email", "phone", "offline_access"}

// Supported grant types.
var grantTypes = []string{"authorization_code", "refresh_token", "client_credentials", GrantTokenExchange, GrantDeviceCode}

// NewClient validates spec and returns the client to store and, for a
// confidential client authenticating with a secret, the secret in clear:
// shown once, stored only hashed. maxAccessTTL bounds per-client lifetimes.
// Every problem is reported, joined, in an *InvalidClientError.
// ClientService.Create also stores the client, with its audit event.
func NewClient(ctx context.Context, spec ClientSpec, hasher secrets.ClientSecretHasher, maxAccessTTL time.Duration) (*storage.Client, string, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	c := clientFromSpec(spec)
	checkIdentity(c, bad)
	checkGrants(c, bad)
	checkAuthMethod(c, spec.AuthSigningAlg, bad)
	checkURIs(c, bad)
	checkScopesAndLifetimes(c, maxAccessTTL, bad)
	checkProfile(c, bad)
	secret := clientSecret(c, spec.Secret, bad)
	if len(errs) > 0 {
		return nil, "", &InvalidClientError{Err: errors.Join(errs...)}
	}
	if secret != "" {
		h, err := hasher.Hash(ctx, []byte(secret))
		if err != nil {
			return nil, "", err
		}
		c.SecretHash = h
	}
	return c, secret, nil
}

// InvalidClientError is every problem NewClient found with a spec.
type InvalidClientError struct{ Err error }

func (e *InvalidClientError) Error() string { return e.Err.Error() }
func (e *InvalidClientError) Unwrap() error { return e.Err }

// RedirectURIError is a problem with a client's redirect URIs, among the
// problems of an *InvalidClientError (RFC 7591 §3.2.2 answers it
// invalid_redirect_uri).
type RedirectURIError struct {
	URI string // empty: the list as a whole (none given)
	Err error
}

func (e *RedirectURIError) Error() string {
	if e.URI == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("redirect URI %q: %v", e.URI, e.Err)
}

func (e *RedirectURIError) Unwrap() error { return e.Err }

// complaint records one problem with a client registration.
type complaint func(format string, args ...any)

// clientFromSpec copies spec into a client, trimmed and deduplicated.
func clientFromSpec(spec ClientSpec) *storage.Client {
	return &storage.Client{
		ID: spec.ID, Name: strings.TrimSpace(spec.Name),
		RedirectURIs: spec.RedirectURIs, PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs,
		GrantTypes: dedupe(spec.GrantTypes), Scopes: splitScopes(spec.Scopes), Audience: dedupe(spec.Audience),
		Public: spec.Public, FirstParty: spec.FirstParty, TokenEndpointAuthMethod: spec.TokenEndpointAuthMethod,
		JWKS: spec.JWKS, JWKSURI: spec.JWKSURI, AccessTokenTTL: spec.AccessTokenTTL, RefreshTokenTTL: spec.RefreshTokenTTL,
		ResponseTypes: []string{"code"}, BackchannelLogoutURI: spec.BackchannelLogoutURI,
		AllowedIntrospectors: dedupe(spec.AllowedIntrospectors), ApplicationType: spec.ApplicationType,
		WebOrigins: dedupe(spec.WebOrigins), RequirePAR: spec.RequirePAR, RequireDPoP: spec.RequireDPoP, Profile: spec.Profile,
	}
}

// checkIdentity checks (and defaults) the id, name and application type.
func checkIdentity(c *storage.Client, bad complaint) {
	if c.ID == "" {
		c.ID = uuid.NewString()
	} else if !validClientID(c.ID) {
		bad("client id must be at most %d characters without spaces or colons", storage.MaxClientIDLength)
	}
	if c.Name == "" {
		bad("name is required")
	}
	switch c.ApplicationType {
	case "":
		c.ApplicationType = storage.ApplicationWeb
	case storage.ApplicationWeb, storage.ApplicationNative:
	default:
		bad("application type %q is not supported (want web or native)", c.ApplicationType)
	}
	for _, id := range c.AllowedIntrospectors {
		if !validClientID(id) {
			bad("allowed introspector %q is not a client id", id)
		}
	}
}

func validClientID(id string) bool {
	return len(id) <= storage.MaxClientIDLength && !strings.ContainsAny(id, " \t\r\n:")
}

// checkGrants checks (and defaults) the grant types.
func checkGrants(c *storage.Client, bad complaint) {
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(grantTypes, g) {
			bad("grant type %q is not supported (want %s)", g, strings.Join(grantTypes, ", "))
		}
	}
	if c.Public && c.HasGrant("client_credentials") {
		bad("public clients cannot use the client_credentials grant")
	}
}

// checkAuthMethod checks (and defaults) how the client authenticates, and
// for private_key_jwt its keys and signing algorithm.
func checkAuthMethod(c *storage.Client, signingAlg string, bad complaint) {
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = storage.AuthMethodBasic
		if c.Public {
			c.TokenEndpointAuthMethod = storage.AuthMethodNone
		}
	}
	switch m := c.TokenEndpointAuthMethod; {
	case m == storage.AuthMethodNone:
		c.Public = true
	case c.Public:
		bad("public clients authenticate with token endpoint auth method none, not %q", m)
	case m == storage.AuthMethodPrivateKeyJWT:
		checkClientKeys(c, signingAlg, bad)
	case m == storage.AuthMethodBasic, m == storage.AuthMethodPost:
	default:
		bad("token endpoint auth method %q is not supported", m)
	}
}

// checkClientKeys checks a private_key_jwt client's keys and algorithm.
func checkClientKeys(c *storage.Client, signingAlg string, bad complaint) {
	if (c.JWKS == nil) == (c.JWKSURI == "") {
		bad("private_key_jwt needs exactly one of jwks or jwks_uri")
	}
	c.TokenEndpointAuthSigningAlg = signingAlg
	if c.TokenEndpointAuthSigningAlg == "" {
		c.TokenEndpointAuthSigningAlg = "RS256"
		if c.JWKS != nil && len(c.JWKS.Keys) > 0 && c.JWKS.Keys[0].Algorithm != "" {
			c.TokenEndpointAuthSigningAlg = c.JWKS.Keys[0].Algorithm
		}
	}
	if !slices.Contains(clientAssertionAlgs, c.TokenEndpointAuthSigningAlg) {
		bad("token endpoint auth signing alg %q is not supported (want one of %s)", c.TokenEndpointAuthSigningAlg, strings.Join(clientAssertionAlgs, ", "))
	}
	if c.JWKS != nil {
		for _, k := range c.JWKS.Keys {
			if !k.IsPublic() || !k.Valid() {
				bad("jwks must hold valid public keys only (key %q)", k.KeyID)
			}
		}
	}
}

// checkURIs checks the client's redirect, logout and key URIs.
func checkURIs(c *storage.Client, bad complaint) {
	if c.JWKSURI != "" {
		if u, err := url.Parse(c.JWKSURI); err != nil || (u.Scheme != "https" && !isLoopback(u)) {
			bad("jwks_uri must be an https URL")
		}
	}
	if c.BackchannelLogoutURI != "" {
		if u, err := url.Parse(c.BackchannelLogoutURI); err != nil || !u.IsAbs() || u.Fragment != "" ||
			(u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u))) {
			bad("backchannel logout URI must be an absolute https URL without a fragment (http only on loopback)")
		}
	}
	if c.HasGrant("authorization_code") && len(c.RedirectURIs) == 0 {
		bad("%w", &RedirectURIError{Err: errors.New("clients with the authorization_code grant need at least one redirect URI")})
	}
	for _, u := range c.RedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			bad("%w", &RedirectURIError{URI: u, Err: err})
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			bad("post-logout redirect URI %q: %v", u, err)
		}
	}
	if len(c.WebOrigins) > 20 {
		bad("at most 20 web origins")
	}
	for _, o := range c.WebOrigins {
		if !validWebOrigin(o) {
			bad("web origin %q must be an origin, scheme://host[:port] in lower case without a path (https; http only on loopback)", o)
		}
	}
}

// validWebOrigin reports whether o is an origin as browsers send it in
// the Origin header: https (or http to a loopback host), a lower-case
// host, an optional port, nothing else.
func validWebOrigin(o string) bool {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" ||
		strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") || o != strings.ToLower(o) {
		return false
	}
	return u.Scheme == "https" || u.Scheme == "http" && isLoopback(u)
}

// checkScopesAndLifetimes checks (and defaults) the scopes and the token
// lifetimes.
func checkScopesAndLifetimes(c *storage.Client, maxAccessTTL time.Duration, bad complaint) {
	if len(c.Scopes) == 0 && (c.HasGrant("authorization_code") || c.HasGrant(GrantDeviceCode)) {
		c.Scopes = slices.Clone(DefaultScopes)
	}
	for _, s := range c.Scopes {
		if !validScopeToken(s) {
			bad("scope %q has characters RFC 6749 §3.3 does not allow", s)
		}
	}
	for name, d := range map[string]time.Duration{"access token TTL": c.AccessTokenTTL, "refresh token TTL": c.RefreshTokenTTL} {
		if d < 0 {
			bad("%s must not be negative", name)
		}
	}
	if c.AccessTokenTTL > maxAccessTTL {
		bad("access token TTL %v exceeds tokens.max_access_token_ttl (%v)", c.AccessTokenTTL, maxAccessTTL)
	}
}

// clientSecret returns the secret a client authenticating with one gets:
// the given one, or a new one; a client of another method may not have one.
func clientSecret(c *storage.Client, given string, bad complaint) string {
	needsSecret := c.TokenEndpointAuthMethod == storage.AuthMethodBasic || c.TokenEndpointAuthMethod == storage.AuthMethodPost
	switch {
	case needsSecret && given == "":
		return GenerateSecret()
	case needsSecret:
		return given
	case given != "":
		bad("a client with token endpoint auth method %q has no secret", c.TokenEndpointAuthMethod)
	}
	return ""
}

// GenerateSecret returns a new client secret with 256 bits of entropy.
func GenerateSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validateRedirectURI applies RFC 6749 §3.1.2 and RFC 8252: absolute, no
// fragment; https, or http on a loopback address, or a private-use scheme
// for native apps.
func validateRedirectURI(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case !u.IsAbs():
		return errors.New("must be an absolute URI")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("must not have a fragment")
	case u.Scheme == "https":
		if u.Host == "" {
			return errors.New("has no host")
		}
	case u.Scheme == "http":
		if !isLoopback(u) {
			return errors.New("http is allowed only for loopback hosts (127.0.0.1, [::1], localhost); use https")
		}
	case strings.EqualFold(u.Scheme, "javascript"), strings.EqualFold(u.Scheme, "data"), strings.EqualFold(u.Scheme, "file"):
		return fmt.Errorf("scheme %q is not allowed", u.Scheme)
	case !strings.Contains(u.Scheme, "."):
		return errors.New("private-use schemes must be reverse domain names such as com.example.app (RFC 8252 §7.1)")
	}
	return nil
}

func isLoopback(u *url.URL) bool {
	h := u.Hostname()
	return h == "localhost" || h == "127.0.0.1" || h == "::1" || strings.HasPrefix(h, "127.")
}

// validScopeToken: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < 0x21 || r == 0x22 || r == 0x5C || r > 0x7E {
			return false
		}
	}
	return true
}

// splitScopes accepts scopes given one per flag or space-separated.
func splitScopes(in []string) []string {
	var out []string
	for _, s := range in {
		out = append(out, strings.Fields(s)...)
	}
	return dedupe(out)
}

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
