package storage

import (
	"log/slog"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
)

// Token endpoint authentication methods (OpenID Connect Core §9).
const (
	AuthMethodBasic         = "client_secret_basic"
	AuthMethodPost          = "client_secret_post"
	AuthMethodPrivateKeyJWT = "private_key_jwt"
	AuthMethodNone          = "none"
)

// Application types (OpenID Connect Dynamic Client Registration 1.0 §2,
// application_type).
const (
	// ProfileFAPI2 is the FAPI 2.0 Security Profile.
	ProfileFAPI2 = "fapi2"
	// ApplicationWeb is the default: redirect URIs match exactly.
	ApplicationWeb = "web"
	// ApplicationNative is an app on the user's device: a registered http
	// redirect URI on 127.0.0.1 or [::1] matches with any port (RFC 8252
	// §7.3).
	ApplicationNative = "native"
)

// MaxClientIDLength bounds client ids: longer ones are refused at
// registration and never looked up.
const MaxClientIDLength = 256

// Client is a registered OAuth 2.0 client. It implements the fosite client
// interfaces the provider composes.
type Client struct {
	ID   string `json:"client_id"`
	Name string `json:"client_name"`
	// SecretHash is the hashed client secret (see secrets.ClientSecretHasher);
	// empty for public and private_key_jwt clients.
	SecretHash             []byte   `json:"-"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	ResponseTypes          []string `json:"response_types"`
	Scopes                 []string `json:"scopes"`
	Audience               []string `json:"audience"`
	Public                 bool     `json:"public"`
	// ApplicationType is ApplicationWeb or ApplicationNative; empty (as
	// stored before it existed) means web.
	ApplicationType         string `json:"application_type,omitempty"`
	FirstParty              bool   `json:"first_party"`
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method"`
	// JWKS holds the client's public keys for private_key_jwt, inline;
	// JWKSURI points at them instead. At most one is set.
	JWKS    *jose.JSONWebKeySet `json:"jwks,omitempty"`
	JWKSURI string              `json:"jwks_uri,omitempty"`
	// BackchannelLogoutURI receives logout tokens when a session in which
	// the client got tokens ends (OpenID Connect Back-Channel Logout 1.0).
	BackchannelLogoutURI string `json:"backchannel_logout_uri,omitempty"`
	// AllowedIntrospectors are the clients (resource servers) that may
	// introspect this client's refresh tokens, besides the client itself
	// (which always may). Access tokens are not restricted.
	AllowedIntrospectors []string `json:"allowed_introspectors,omitempty"`
	// WebOrigins are the origins (scheme://host[:port]) the client's
	// browser code calls the token and revocation endpoints from (CORS);
	// empty: the origins of its http(s) redirect URIs.
	WebOrigins []string `json:"web_origins,omitempty"`
	// RequirePAR: the client's authorization requests must be pushed
	// (RFC 9126 require_pushed_authorization_requests).
	RequirePAR bool `json:"require_pushed_authorization_requests,omitempty"`
	// RequireDPoP: every token request must carry a DPoP proof, so every
	// access token is DPoP-bound (RFC 9449 dpop_bound_access_tokens).
	RequireDPoP bool `json:"dpop_bound_access_tokens,omitempty"`
	// Profile is a security profile the client is held to: "" (none) or
	// ProfileFAPI2.
	Profile string `json:"profile,omitempty"`
	// TokenEndpointAuthSigningAlg is the JWS alg its assertions must use.
	TokenEndpointAuthSigningAlg string `json:"token_endpoint_auth_signing_alg,omitempty"`
	// AccessTokenTTL and RefreshTokenTTL override the server defaults when
	// non-zero.
	AccessTokenTTL  time.Duration `json:"-"`
	RefreshTokenTTL time.Duration `json:"-"`
	CreatedAt       time.Time     `json:"created_at"`
	UpdatedAt       time.Time     `json:"updated_at"`
}

var (
	_ fosite.Client                         = (*Client)(nil)
	_ fosite.OpenIDConnectClient            = (*Client)(nil)
	_ fosite.ClientWithCustomTokenLifespans = (*Client)(nil)
	_ fosite.ResponseModeClient             = (*Client)(nil)
)

func (c *Client) GetID() string                   { return c.ID }
func (c *Client) GetHashedSecret() []byte         { return c.SecretHash }
func (c *Client) GetRedirectURIs() []string       { return c.RedirectURIs }
func (c *Client) GetGrantTypes() fosite.Arguments { return c.GrantTypes }
func (c *Client) GetScopes() fosite.Arguments     { return c.Scopes }
func (c *Client) IsPublic() bool                  { return c.Public }
func (c *Client) GetAudience() fosite.Arguments   { return c.Audience }

// GetResponseTypes returns the registered response types, "code" by default:
// authd serves the authorization code flow only (RFC 9700 §2.1.2).
func (c *Client) GetResponseTypes() fosite.Arguments {
	if len(c.ResponseTypes) == 0 {
		return fosite.Arguments{"code"}
	}
	return c.ResponseTypes
}

// GetResponseModes are the response modes of the code flow every client
// may ask for: query (the default) and form_post (OAuth 2.0 Form Post
// Response Mode, ASP.NET Core's default). fragment is for implicit and
// hybrid flows, which authd does not serve.
func (c *Client) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery, fosite.ResponseModeFormPost}
}

func (c *Client) GetRequestURIs() []string                 { return nil }
func (c *Client) GetJSONWebKeys() *jose.JSONWebKeySet      { return c.JWKS }
func (c *Client) GetJSONWebKeysURI() string                { return c.JWKSURI }
func (c *Client) GetRequestObjectSigningAlgorithm() string { return "" }
func (c *Client) GetTokenEndpointAuthMethod() string       { return c.TokenEndpointAuthMethod }
func (c *Client) GetTokenEndpointAuthSigningAlgorithm() string {
	return c.TokenEndpointAuthSigningAlg
}

// MaxFAPI2CodeTTL is the longest an authorization code of a FAPI 2.0
// client lives (FAPI 2.0 Security Profile §5.3.2.2).
const MaxFAPI2CodeTTL = time.Minute

// GetEffectiveLifespan returns the client's own lifespan for tt when it has
// one, else fallback.
func (c *Client) GetEffectiveLifespan(_ fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	switch {
	case tt == fosite.AccessToken && c.AccessTokenTTL > 0:
		return c.AccessTokenTTL
	case tt == fosite.RefreshToken && c.RefreshTokenTTL > 0:
		return c.RefreshTokenTTL
	}
	return fallback
}

// HasGrant reports whether the client may use grant type g.
func (c *Client) HasGrant(g string) bool {
	for _, v := range c.GrantTypes {
		if v == g {
			return true
		}
	}
	return false
}

// LogValue implements slog.LogValuer: the client's registration, never
// its secret hash or key material (only whether they are set).
func (c *Client) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("<nil>")
	}
	keys := 0
	if c.JWKS != nil {
		keys = len(c.JWKS.Keys)
	}
	return slog.GroupValue(slog.String("client_id", c.ID), slog.String("name", c.Name), slog.Bool("public", c.Public),
		slog.Bool("first_party", c.FirstParty), slog.String("token_endpoint_auth_method", c.TokenEndpointAuthMethod),
		slog.Any("grant_types", c.GrantTypes), slog.Any("redirect_uris", c.RedirectURIs),
		slog.Bool("secret_set", len(c.SecretHash) > 0), slog.Int("jwks_keys", keys), slog.String("jwks_uri", c.JWKSURI))
}
