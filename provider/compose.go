package provider

import (
	"context"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fstorage "github.com/ory/fosite/storage"
	"github.com/ory/fosite/token/hmac"
)

// fositeStorage is what fosite's grant, introspection and revocation
// handlers need of storage.
type fositeStorage interface {
	fosite.ClientManager
	oauth2.CoreStorage
	oauth2.TokenRevocationStorage
	pkce.PKCERequestStorage
	openid.OpenIDConnectRequestStorage
	fstorage.Transactional
}

// fositeStore is the storage fosite sees: the backend, with clients served
// from the in-process cache so that client authentication makes no query.
type fositeStore struct {
	Store
	clients ClientCache
}

// GetClient implements fosite.ClientManager from the cache.
func (s *fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.clients.GetStoredClient(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// canonicalOpaque is fosite's HMAC strategy for refresh tokens and codes,
// validating only the exact encoding it issues: fosite's base64 decoding
// skips CR/LF and ignores padding bits, so a token would otherwise validate
// in many spellings (one lookup key, many accepted strings).
type canonicalOpaque struct {
	*oauth2.HMACSHAStrategyUnPrefixed
}

func (s canonicalOpaque) ValidateRefreshToken(ctx context.Context, r fosite.Requester, token string) error {
	if !canonicalOpaqueToken(token) {
		return fosite.ErrInvalidTokenFormat
	}
	return s.HMACSHAStrategyUnPrefixed.ValidateRefreshToken(ctx, r, token)
}

func (s canonicalOpaque) ValidateAuthorizeCode(ctx context.Context, r fosite.Requester, token string) error {
	if !canonicalOpaqueToken(token) {
		return fosite.ErrInvalidTokenFormat
	}
	return s.HMACSHAStrategyUnPrefixed.ValidateAuthorizeCode(ctx, r, token)
}

// canonicalOpaqueToken reports whether token is "key.mac" in canonical
// unpadded base64url, as fosite's HMAC strategy writes it.
func canonicalOpaqueToken(token string) bool {
	key, mac, ok := strings.Cut(token, ".")
	return ok && key != "" && mac != "" && canonicalBase64URL(key) && canonicalBase64URL(mac)
}

// codeLifespanKey is the context key of a client's shorter authorization
// code lifetime (a FAPI 2.0 client's), set where the code is issued.
type codeLifespanKey struct{}

// codeLifespan is fosite's config for the authorization code handler,
// with the code lifetime of the request's context when it is shorter:
// fosite v0.49 reads only the global one.
type codeLifespan struct{ *fosite.Config }

func (c codeLifespan) GetAuthorizeCodeLifespan(ctx context.Context) time.Duration {
	life := c.Config.GetAuthorizeCodeLifespan(ctx)
	if d, ok := ctx.Value(codeLifespanKey{}).(time.Duration); ok && d < life {
		return d
	}
	return life
}

// composeHandlers registers the grant, introspection and revocation
// handlers, typed and in order. Refresh tokens and authorization codes are
// fosite's opaque HMAC tokens; access tokens are our JWTs.
func (p *Provider) composeHandlers(store *fositeStore) {
	opaque := canonicalOpaque{oauth2.NewHMACSHAStrategyUnPrefixed(&hmac.HMACStrategy{Config: p.fcfg}, p.fcfg)}
	access := accessTokenStrategy{p: p}

	authorizeCode := &oauth2.AuthorizeExplicitGrantHandler{
		AccessTokenStrategy:    access,
		RefreshTokenStrategy:   opaque,
		AuthorizeCodeStrategy:  opaque,
		CoreStorage:            store,
		TokenRevocationStorage: store,
		Config:                 codeLifespan{p.fcfg},
	}
	clientCredentials := &oauth2.ClientCredentialsGrantHandler{
		HandleHelper: &oauth2.HandleHelper{AccessTokenStrategy: access, AccessTokenStorage: store, Config: p.fcfg},
		Config:       p.fcfg,
	}
	refresh := &oauth2.RefreshTokenGrantHandler{
		AccessTokenStrategy:    access,
		RefreshTokenStrategy:   opaque,
		TokenRevocationStorage: store,
		Config:                 p.fcfg,
	}
	pkceHandler := &pkceHandler{
		Handler: &pkce.Handler{AuthorizeCodeStrategy: opaque, Storage: store, Config: p.fcfg},
		codes:   opaque, store: store, log: p.log,
		require: func(c fosite.Client) bool { return p.cfg.RequirePKCE || c.IsPublic() || isFAPI2(c) },
	}
	idTokens := &openid.DefaultStrategy{Signer: idTokenSigner{p: p}, Config: p.fcfg}
	idHelper := &openid.IDTokenHandleHelper{IDTokenStrategy: idTokens}
	oidcValidator := openid.NewOpenIDConnectRequestValidator(idTokenSigner{p: p}, p.fcfg)
	oidcExplicit := &openid.OpenIDConnectExplicitHandler{
		OpenIDConnectRequestStorage:   store,
		OpenIDConnectRequestValidator: oidcValidator,
		Config:                        p.fcfg,
		IDTokenHandleHelper:           idHelper,
	}
	oidcRefresh := &openid.OpenIDConnectRefreshHandler{IDTokenHandleHelper: idHelper, Config: p.fcfg}

	p.fcfg.AuthorizeEndpointHandlers.Append(authorizeCode)
	p.fcfg.AuthorizeEndpointHandlers.Append(pkceHandler)
	p.fcfg.AuthorizeEndpointHandlers.Append(oidcExplicit)
	p.fcfg.TokenEndpointHandlers.Append(authorizeCode)
	p.fcfg.TokenEndpointHandlers.Append(clientCredentials)
	p.fcfg.TokenEndpointHandlers.Append(refresh)
	p.fcfg.TokenEndpointHandlers.Append(pkceHandler)
	p.fcfg.TokenEndpointHandlers.Append(oidcExplicit)
	p.fcfg.TokenEndpointHandlers.Append(oidcRefresh)
	p.fcfg.TokenEndpointHandlers.Append(&tokenExchangeHandler{p: p, access: access})
	p.fcfg.TokenEndpointHandlers.Append(&deviceGrantHandler{p: p, access: access, refresh: opaque, store: store, idToken: idHelper})

	p.fcfg.RevocationHandlers.Append(&jwtRevoker{p: p})
	p.fcfg.RevocationHandlers.Append(&oauth2.TokenRevocationHandler{
		TokenRevocationStorage: store,
		RefreshTokenStrategy:   opaque,
		AccessTokenStrategy:    access,
	})
	p.refreshStrategy = opaque
}
