// Package provider is authd's OAuth 2.0 / OpenID Connect core, assembled
// from fosite: the token, introspection and revocation endpoints,
// discovery and JWKS, signing keys and their rotation, and the in-process
// caches that keep the hot paths free of database queries.
//
// Routes (all advertised by discovery):
//
//	GET  /.well-known/openid-configuration     OpenID Connect Discovery 1.0
//	GET  /.well-known/oauth-authorization-server  RFC 8414
//	GET  /.well-known/jwks.json                 signing keys (RFC 7517)
//	POST /oauth2/token                          RFC 6749 §3.2
//	POST /oauth2/introspect                     RFC 7662
//	POST /oauth2/revoke                         RFC 7009
//	POST /oauth2/register                       RFC 7591 §3 (with Options.Registrar)
//	GET|PUT|DELETE /oauth2/register/{client_id} RFC 7592 §2
//
// With the browser collaborators (hosted pages, sessions) also:
//
//	GET|POST /oauth2/authorize                  RFC 6749 §3.1, OIDC Core §3.1.2
//	GET  /oauth2/authorize/resume               back from a hosted page
//	GET|POST /userinfo                          OIDC Core §5.3
//	GET|POST /oauth2/logout                     OIDC RP-Initiated Logout 1.0
//	POST /oauth2/device_authorization           RFC 8628 §3.1 (the verification page,
//	                                            /device, is the hosted pages')
package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/cache"
	"github.com/authd/authd/storage/feed"
	"github.com/authd/authd/storage/memory"
)

// Endpoint paths, relative to the issuer.
const (
	PathDiscovery     = "/.well-known/openid-configuration"
	PathOAuthMetadata = "/.well-known/oauth-authorization-server"
	PathJWKS          = "/.well-known/jwks.json"
	PathToken         = "/oauth2/token" // #nosec G101 -- a path
	PathIntrospect    = "/oauth2/introspect"
	PathRevoke        = "/oauth2/revoke"
)

// Config configures the provider. Zero values take the defaults below.
type Config struct {
	// Issuer is the issuer identifier: an https URL (http only for loopback
	// and development), no query or fragment. Every endpoint lives under it.
	Issuer string `koanf:"issuer"`
	// Tokens sets lifetimes.
	Tokens TokenConfig `koanf:"tokens"`
	// Keys sets the signing algorithm.
	Keys KeyConfig `koanf:"keys"`
	// Cache tunes the in-process caches.
	Cache CacheConfig `koanf:"cache"`
	// Authorize bounds the authorization requests kept for people on
	// their way through the hosted pages.
	Authorize AuthorizeConfig `koanf:"authorize"`
	// Device configures the device authorization grant (RFC 8628).
	Device DeviceConfig `koanf:"device"`
	// DPoP tunes the checking of DPoP proofs (RFC 9449).
	DPoP DPoPConfig `koanf:"dpop"`
	// RequirePKCE requires PKCE from confidential clients too (it is
	// always required from public clients).
	RequirePKCE bool `koanf:"require_pkce"`
	// ClientRegistration switches dynamic client registration (served
	// only with Options.Registrar).
	ClientRegistration RegistrationConfig `koanf:"client_registration"`
	// InsecureHTTP allows an http issuer on a host other than loopback
	// (config key dev.insecure_http): development only, as cookies then
	// lose Secure and __Host- and no HSTS is sent.
	InsecureHTTP bool `koanf:"-"`
}

// TokenConfig holds token lifetimes.
type TokenConfig struct {
	AccessTokenTTL    time.Duration `koanf:"access_token_ttl"`
	RefreshTokenTTL   time.Duration `koanf:"refresh_token_ttl"`
	AuthorizeCodeTTL  time.Duration `koanf:"authorize_code_ttl"`
	IDTokenTTL        time.Duration `koanf:"id_token_ttl"`
	MaxAccessTokenTTL time.Duration `koanf:"max_access_token_ttl"`
}

// KeyConfig selects the signing algorithm of new keys.
type KeyConfig struct {
	Algorithm string `koanf:"algorithm"`
	RSABits   int    `koanf:"rsa_bits"`
}

// CacheConfig tunes the in-process caches and how fast they learn of
// changes made by other instances (or the CLI).
type CacheConfig struct {
	PollInterval   time.Duration `koanf:"poll_interval"`
	ClientTTL      time.Duration `koanf:"client_ttl"`
	ClientSize     int           `koanf:"client_size"`
	VerifiedTokens int           `koanf:"verified_tokens"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Issuer: "http://127.0.0.1:8080",
		Tokens: TokenConfig{
			AccessTokenTTL:    15 * time.Minute,
			RefreshTokenTTL:   30 * 24 * time.Hour,
			AuthorizeCodeTTL:  time.Minute,
			IDTokenTTL:        time.Hour,
			MaxAccessTokenTTL: 24 * time.Hour,
		},
		Keys:      KeyConfig{Algorithm: RS256, RSABits: 2048},
		Cache:     CacheConfig{PollInterval: time.Second, ClientTTL: 5 * time.Minute, ClientSize: 10000, VerifiedTokens: 100000},
		Authorize: AuthorizeConfig{PendingTTL: 10 * time.Minute, MaxPendingPerAddress: 100, PushedTTL: time.Minute},
		Device:    DeviceConfig{CodeTTL: 10 * time.Minute, Interval: 5 * time.Second},
		DPoP:      DPoPConfig{ProofLifetime: time.Minute},
		// On, but useless until an operator creates an initial access token.
		ClientRegistration: RegistrationConfig{Enabled: true},
	}
}

// Validate reports every problem with c, naming the config key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if err := validateIssuer(c.Issuer, c.InsecureHTTP); err != nil {
		bad("issuer", "%v", err)
	}
	for key, d := range map[string]time.Duration{
		"tokens.access_token_ttl": c.Tokens.AccessTokenTTL, "tokens.refresh_token_ttl": c.Tokens.RefreshTokenTTL,
		"tokens.authorize_code_ttl": c.Tokens.AuthorizeCodeTTL, "tokens.id_token_ttl": c.Tokens.IDTokenTTL,
		"tokens.max_access_token_ttl": c.Tokens.MaxAccessTokenTTL, "cache.poll_interval": c.Cache.PollInterval,
		"cache.client_ttl": c.Cache.ClientTTL,
	} {
		if d <= 0 {
			bad(key, "must be a positive duration such as 15m, got %v", d)
		}
	}
	if c.Tokens.AccessTokenTTL > c.Tokens.MaxAccessTokenTTL {
		bad("tokens.access_token_ttl", "%v exceeds tokens.max_access_token_ttl (%v)", c.Tokens.AccessTokenTTL, c.Tokens.MaxAccessTokenTTL)
	}
	if c.Tokens.AuthorizeCodeTTL > storage.MaxAuthorizeCodeTTL {
		bad("tokens.authorize_code_ttl", "must be at most %v (RFC 6749 §4.1.2), got %v", storage.MaxAuthorizeCodeTTL, c.Tokens.AuthorizeCodeTTL)
	}
	switch c.Keys.Algorithm {
	case RS256:
		if c.Keys.RSABits < 2048 {
			bad("keys.rsa_bits", "must be at least 2048, got %d", c.Keys.RSABits)
		}
	case ES256, EdDSA:
	default:
		bad("keys.algorithm", "must be RS256, ES256 or EdDSA, got %q", c.Keys.Algorithm)
	}
	if c.Cache.ClientSize <= 0 || c.Cache.VerifiedTokens <= 0 {
		bad("cache", "client_size and verified_tokens must be positive")
	}
	if err := c.Authorize.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Device.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.DPoP.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func validateIssuer(s string, insecureHTTP bool) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("must be an https URL, got %q", s)
	case u.Scheme == "http" && !IsLoopbackHost(u.Hostname()) && !insecureHTTP:
		return fmt.Errorf("must be an https URL: http is allowed only on a loopback host (127.0.0.0/8, [::1], localhost), got %q "+
			"(for development only, dev.insecure_http: true or AUTHD_DEV_INSECURE_HTTP=true allows it)", s)
	case u.Host == "":
		return fmt.Errorf("has no host: %q", s)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("must not have a query, fragment or user info: %q", s)
	case strings.HasSuffix(u.Path, "/"):
		return fmt.Errorf("must not end with a slash: %q", s)
	}
	return nil
}

// IsLoopbackHost reports whether host (without port or brackets) is
// "localhost" or a loopback IP literal (127.0.0.0/8, ::1).
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// InsecureIssuer reports whether the issuer is http on a host other than
// loopback, which only dev.insecure_http allows.
func (c Config) InsecureIssuer() bool {
	u, err := url.Parse(c.Issuer)
	return err == nil && u.Scheme == "http" && !IsLoopbackHost(u.Hostname())
}

// Store is what the provider needs from storage (storage/sql.Store): the
// union of what each part declares where it is used.
type Store interface {
	fositeStorage    // the grant handlers (compose.go)
	keyStore         // signing keys (keys.go)
	syncStore        // the poll and the janitor (sync.go)
	authRequestStore // the authorization endpoint (authorize.go)
	deviceStore      // the device authorization grant (device.go)
	// AddRevocation records a revocation entry (revoke.go).
	AddRevocation(ctx context.Context, r storage.Revocation) error
	// GetStoredClient reads a client (the client cache's source when
	// Options.Clients is nil).
	GetStoredClient(ctx context.Context, id string) (*storage.Client, error)
	// Ping tells whether the database answers (Ready).
	Ping(ctx context.Context) error
	// AppendAuditEvent records security events (token reuse).
	AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error
}

// SessionClients records which clients got tokens in which browser
// session, where the sessions live (SQL or Redis), so that ending the
// session reaches them (session.Store).
type SessionClients interface {
	AddSessionClient(ctx context.Context, sid, clientID string) error
}

// RevocationSet is what the provider needs of a revocation set: the
// in-process memory.RevocationSet, or storage/redis's, shared by every
// replica. Revoked must not block: it answers from memory (or a
// client-side cache) and never fails.
type RevocationSet interface {
	// Add records an entry; for an existing (kind, value) the later times
	// win.
	Add(storage.Revocation)
	// Revoked reports whether any live entry matches t at now.
	Revoked(t storage.TokenRef, now time.Time) bool
	// Sweep forgets entries expired at now.
	Sweep(now time.Time) int
}

// rebuilder is a revocation set kept outside the process (Redis), which can
// lose its entries (a flush, a restart without persistence): the provider
// then writes every live entry of the database into it again.
type rebuilder interface {
	// NeedsRebuild reports whether the set lost its entries; cheap enough
	// to ask every poll.
	NeedsRebuild(ctx context.Context) bool
	// Rebuild writes revs, every live entry, and marks the set complete.
	Rebuild(ctx context.Context, revs []storage.Revocation) error
}

// Limiter rate-limits the token and authorization endpoints
// (ratelimit.Limiter). A denied request is answered 429 with Retry-After
// before anything is consumed or stored.
type Limiter interface {
	// AuthorizeByIP counts an authorization request from the client
	// address ip.
	AuthorizeByIP(ctx context.Context, ip string) (retryAfter time.Duration, ok bool)
	// TokenByIP counts a token request from the client address ip.
	TokenByIP(ctx context.Context, ip string) (retryAfter time.Duration, ok bool)
	// TokenByClient counts a token request by an authenticated client.
	TokenByClient(ctx context.Context, clientID string) (retryAfter time.Duration, ok bool)
}

// Provider is the authorization server core. Create it with New and start
// its background work with Run.
type Provider struct {
	cfg     Config
	log     *slog.Logger
	store   Store
	keyring *secrets.Keyring
	now     func() time.Time
	browser *Browser // set by Routes; nil: no browser-facing endpoints
	// sessionClients is required with browser.
	sessionClients SessionClients

	fcfg   *fosite.Config
	oauth2 *fosite.Fosite

	refreshStrategy oauth2.RefreshTokenStrategy

	keys atomic.Pointer[keySet]
	// unknownKid serialises and spaces the key reloads an unknown kid
	// causes (lookupKey); unknownKidAt is the last one.
	unknownKid   sync.Mutex
	unknownKidAt time.Time
	revoked      RevocationSet
	limiter      Limiter            // nil: no rate limits
	metrics      *telemetry.Metrics // nil: none recorded
	oneTime      storage.OneTimeUses
	// registrar serves dynamic client registration; nil: not served.
	registrar *Registrar
	clients   ClientCache
	changes   *feed.Feed
	verified  *lru.Cache[string, *accessClaims]

	discovery, oauthMetadata []byte
}

// Options are New's collaborators besides config.
type Options struct {
	Logger  *slog.Logger
	Store   Store
	Keyring *secrets.Keyring
	// Revoked is the revocation set: the in-process memory.RevocationSet
	// (the default when nil) or storage/redis's shared one. The caller
	// wires the store's OnRevoke hook to its Add so this process sees its
	// own revocations at once.
	Revoked RevocationSet
	// Limiter, when set, rate-limits the token endpoint.
	Limiter Limiter
	// OneTimeUses records the jti of DPoP proofs: memory's in-process set
	// (the default when nil) or storage/redis's, shared by every replica.
	OneTimeUses storage.OneTimeUses
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Registrar, when set and client_registration.enabled, serves
	// dynamic client registration (RFC 7591/7592) under PathRegister.
	Registrar *Registrar
	// SessionClients is where the clients that got tokens in a browser
	// session are recorded; required when Routes is given a Browser.
	SessionClients SessionClients
	// Clients is the client cache (cache.Clients over Store) the provider
	// authenticates clients from and invalidates from the change feed.
	// Give the same cache to the store that reads stored requests back
	// (storage/sql.Store.WithClientLookup) and to the hosted pages. Nil: a
	// cache of the provider's own over Store (Config.Cache sizes it).
	Clients ClientCache
	// Changes is the change feed the provider polls every
	// cache.poll_interval; it subscribes its key snapshot to it. The
	// caller subscribes the caches it built (Clients) and those of the
	// other parts. Nil: a feed of the provider's own over Store, to which
	// it also subscribes Clients.
	Changes *feed.Feed
	// Metrics, when set, counts tokens issued, introspections,
	// revocations and token reuse.
	Metrics *telemetry.Metrics
}

// ClientCache is an in-process client cache (*cache.Clients).
type ClientCache interface {
	// GetStoredClient returns the client or storage.ErrNotFound.
	GetStoredClient(ctx context.Context, id string) (*storage.Client, error)
	// Invalidate forgets id: the change feed says it changed.
	Invalidate(id string)
}

// New builds the provider: it loads (or, on first start, creates) the
// signing keys and composes fosite's handlers.
func New(ctx context.Context, cfg Config, o Options) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Revoked == nil {
		o.Revoked = memory.NewRevocationSet()
	}
	if o.OneTimeUses == nil {
		o.OneTimeUses = memory.NewOneTimeUses(o.Now)
	}
	p := &Provider{cfg: cfg, log: o.Logger, store: o.Store, keyring: o.Keyring, now: o.Now, revoked: o.Revoked,
		sessionClients: o.SessionClients, limiter: o.Limiter, oneTime: o.OneTimeUses, metrics: o.Metrics}
	if cfg.ClientRegistration.Enabled {
		p.registrar = o.Registrar
	}
	var err error
	if p.verified, err = lru.New[string, *accessClaims](cfg.Cache.VerifiedTokens); err != nil {
		return nil, err
	}
	if p.clients = o.Clients; p.clients == nil {
		p.clients = cache.NewClients(o.Store, cfg.Cache.ClientSize, cfg.Cache.ClientTTL)
	}
	if p.changes = o.Changes; p.changes == nil {
		p.changes = feed.New(o.Store, o.Now)
		p.changes.Subscribe(storage.TopicClient, func(_ context.Context, cs []storage.Change) error {
			for _, c := range cs {
				p.clients.Invalidate(c.Ref)
			}
			return nil
		})
	}
	p.changes.Subscribe(storage.TopicKeys, func(ctx context.Context, _ []storage.Change) error { return p.reloadKeys(ctx) })
	if err := p.ensureKeys(ctx); err != nil {
		return nil, err
	}
	if err := p.loadRevocations(ctx, time.Time{}); err != nil {
		return nil, err
	}
	p.rebuildRevocations(ctx)
	p.compose()
	if err := p.prepareDiscovery(); err != nil {
		return nil, err
	}
	return p, nil
}

// ensureKeys loads the signing keys, creating the first one if none is
// active.
func (p *Provider) ensureKeys(ctx context.Context) error {
	err := p.reloadKeys(ctx)
	if !errors.Is(err, errNoActiveKey) {
		return err
	}
	k, err := CreateSigningKey(ctx, p.store, p.keyring, p.cfg.Keys.Algorithm, p.cfg.Keys.RSABits, p.now())
	if err != nil {
		return err
	}
	p.log.InfoContext(ctx, "created signing key", "kid", k.KID, "alg", k.Algorithm)
	return p.reloadKeys(ctx)
}

// reloadKeys swaps in a fresh key snapshot.
func (p *Provider) reloadKeys(ctx context.Context) error {
	ks, err := loadKeySet(ctx, p.store, p.keyring, p.retiredKeyRetention(), p.now())
	if err != nil {
		return err
	}
	if old := p.keys.Swap(ks); old == nil || old.active.kid != ks.active.kid {
		p.log.InfoContext(ctx, "signing keys loaded", "active_kid", ks.active.kid, "published", len(ks.verify))
	}
	return nil
}

// retiredKeyRetention is how long a retired key keeps verifying: as long
// as any token it signed may live.
func (p *Provider) retiredKeyRetention() time.Duration {
	return max(p.cfg.Tokens.MaxAccessTokenTTL, p.cfg.Tokens.IDTokenTTL) + clockSkew
}

// compose builds fosite from an explicit, typed list of handlers.
func (p *Provider) compose() {
	issuer := p.cfg.Issuer
	p.fcfg = &fosite.Config{
		AccessTokenLifespan:            p.cfg.Tokens.AccessTokenTTL,
		RefreshTokenLifespan:           p.cfg.Tokens.RefreshTokenTTL,
		AuthorizeCodeLifespan:          p.cfg.Tokens.AuthorizeCodeTTL,
		IDTokenLifespan:                p.cfg.Tokens.IDTokenTTL,
		IDTokenIssuer:                  issuer,
		AccessTokenIssuer:              issuer,
		TokenURL:                       issuer + PathToken,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       fosite.DefaultAudienceMatchingStrategy,
		EnforcePKCEForPublicClients:    true,
		EnforcePKCE:                    p.cfg.RequirePKCE,
		EnablePKCEPlainChallengeMethod: false,
		RefreshTokenScopes:             []string{"offline_access"},
		GlobalSecret:                   p.keyring.MAC("fosite-hmac", []byte("global")),
		ClientSecretsHasher:            secrets.ClientSecretHasher{Keyring: p.keyring},
		MinParameterEntropy:            fosite.MinParameterEntropy,
		SendDebugMessagesToClients:     false,
		JWKSFetcherStrategy:            fosite.NewDefaultJWKSFetcherStrategy(),
	}
	p.fcfg.ClientAuthenticationStrategy = p.authenticateClient
	store := &fositeStore{Store: p.store, clients: p.clients}
	p.oauth2 = fosite.NewOAuth2Provider(store, p.fcfg)
	p.composeHandlers(store)
}

// Run does the background work until ctx ends: it polls the store for
// revocations and changes made elsewhere and sweeps what expired.
func (p *Provider) Run(ctx context.Context) error {
	return p.sync(ctx)
}

// Handler returns the provider's routes.
func (p *Provider) Handler(b *Browser) http.Handler {
	mux := http.NewServeMux()
	p.Routes(mux, b)
	return mux
}

// Routes registers the provider's endpoints on mux; with b, also the
// browser-facing ones (authorization, its resume, UserInfo), which then
// appear in discovery. Call it once, before serving. The browser's
// collaborators come here rather than to New because they are built
// after the provider: the session manager calls SessionEnded. It panics
// when b lacks a required collaborator: a wiring mistake, found at
// start-up.
func (p *Provider) Routes(mux *http.ServeMux, b *Browser) {
	if b != nil {
		if b.Sessions == nil || b.Users == nil || b.Errors == nil || p.sessionClients == nil {
			panic("provider: Routes: Browser needs Sessions, Users and Errors, and Options.SessionClients")
		}
		p.browser = b
		if err := p.prepareDiscovery(); err != nil {
			panic(fmt.Sprintf("provider: Routes: %v", err))
		}
	}
	mux.HandleFunc(PathDiscovery, p.handleDiscovery)
	mux.HandleFunc(PathOAuthMetadata, p.handleOAuthMetadata)
	mux.HandleFunc(PathJWKS, p.handleJWKS)
	// The token and revocation endpoints answer CORS for the origins the
	// calling client registered (cors.go).
	mux.HandleFunc(PathToken, p.withCORS("POST", p.formClient, p.handleToken))
	mux.HandleFunc(PathIntrospect, p.handleIntrospect)
	mux.HandleFunc(PathRevoke, p.withCORS("POST", p.formClient, p.handleRevoke))
	if p.registrar != nil {
		mux.HandleFunc(PathRegister, p.handleRegister)
		mux.HandleFunc(PathRegister+"/{client_id}", p.handleClientConfiguration)
	}
	if p.browser != nil {
		mux.HandleFunc(PathAuthorize, p.handleAuthorize)
		mux.HandleFunc(PathResume, p.handleResume)
		mux.HandleFunc(PathPAR, p.withCORS("POST", p.formClient, p.handlePAR))
		mux.HandleFunc(PathDeviceAuthorization, p.withCORS("POST", p.formClient, p.handleDeviceAuthorization))
		mux.HandleFunc(PathUserInfo, p.handleUserInfo) // CORS for any origin: it takes bearer tokens only
	}
}

// ActiveKeyCreated is when the signing key in use was created; zero
// before keys are loaded. authd_signing_key_age_seconds is read from it.
func (p *Provider) ActiveKeyCreated() time.Time {
	if ks := p.keys.Load(); ks != nil {
		return ks.activeSince
	}
	return time.Time{}
}

// Ready reports whether the provider's dependencies answer.
func (p *Provider) Ready(ctx context.Context) error {
	if err := p.store.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if p.keys.Load() == nil {
		return errNoActiveKey
	}
	return nil
}
