// Package admin is the admin REST API: HTTP handlers over the domain
// services (account, apikey, provider's clients and keys, sessions,
// audit), described by an OpenAPI 3.1 document generated from the same
// operations and types that serve it (see openapi.go). It holds no rules
// of its own beyond HTTP: validation of shapes, authentication, scopes,
// rate limits, pagination and preconditions.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/apikey"
	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/provider"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/webhook"
)

// Store is what the API reads directly; writes go through the services.
type Store interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
	GetUserByEmail(ctx context.Context, email string) (*storage.User, error)
	SearchUsers(ctx context.Context, f storage.UserFilter) ([]*storage.User, error)
	CountUsers(ctx context.Context, f storage.UserFilter) (int64, error)
	ListOrganizations(ctx context.Context, after string, limit int) ([]string, error)
	GetStoredClient(ctx context.Context, id string) (*storage.Client, error)
	ListClients(ctx context.Context) ([]*storage.Client, error)
	ListKeys(ctx context.Context) ([]*storage.SigningKey, error)
	ListAuditEvents(ctx context.Context, f storage.AuditFilter) ([]*storage.AuditEvent, error)
	VerifyAuditChain(ctx context.Context) error
}

// Sessions lists a user's sessions (session.Manager).
type Sessions interface {
	List(ctx context.Context, userID string) ([]*storage.Session, error)
}

// KeyRotator makes a new signing key the active one.
type KeyRotator func(ctx context.Context, actor string) (*storage.SigningKey, error)

// Deps are the services the API fronts.
type Deps struct {
	Store    Store
	Accounts *account.Service
	Clients  provider.ClientService
	APIKeys  *apikey.Service
	Sessions Sessions
	// RotateKey makes a new signing key (provider.CreateSigningKey) and
	// records keys.rotated naming actor.
	RotateKey KeyRotator
	// Tokens, when set, accepts client_credentials access tokens.
	Tokens TokenVerifier
	// Limiter enforces Tiers per caller.
	Limiter storage.Limiter
	Tiers   map[string]Tier
	// ClientTier is the tier of OAuth clients calling with a token.
	ClientTier string
	// Webhooks manages webhook endpoints.
	Webhooks *webhook.Service
	// Keyring derives the key that MACs pagination cursors.
	Keyring *secrets.Keyring
	Logger  *slog.Logger
}

// API serves /api/v1/ and its document.
type API struct {
	routes     []*route
	document   []byte
	store      Store
	accounts   *account.Service
	clients    provider.ClientService
	keys       *apikey.Service
	sessions   Sessions
	webhooks   *webhook.Service
	rotateKey  KeyRotator
	tokens     TokenVerifier
	limiter    storage.Limiter
	tiers      map[string]Tier
	clientTier string
	cursors    cursors
	log        *slog.Logger
	now        func() time.Time
}

// New builds the API and its OpenAPI document.
func New(d Deps) (*API, error) {
	var errs []error
	for name, missing := range map[string]bool{"Store": d.Store == nil, "Accounts": d.Accounts == nil,
		"APIKeys": d.APIKeys == nil, "Sessions": d.Sessions == nil, "RotateKey": d.RotateKey == nil,
		"Limiter": d.Limiter == nil, "Keyring": d.Keyring == nil, "Logger": d.Logger == nil, "Webhooks": d.Webhooks == nil} {
		if missing {
			errs = append(errs, fmt.Errorf("admin: Deps.%s is required", name))
		}
	}
	if _, ok := d.Tiers[d.ClientTier]; !ok && d.ClientTier != "" {
		errs = append(errs, fmt.Errorf("admin: the clients' tier %q is not configured", d.ClientTier))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := &API{store: d.Store, accounts: d.Accounts, clients: d.Clients, keys: d.APIKeys, sessions: d.Sessions, webhooks: d.Webhooks,
		rotateKey: d.RotateKey, tokens: d.Tokens, limiter: d.Limiter, tiers: d.Tiers, clientTier: d.ClientTier,
		cursors: cursors{key: d.Keyring.MAC("admin/cursor", []byte("v1"))}, log: d.Logger, now: time.Now}
	if err := a.build(); err != nil {
		return nil, err
	}
	return a, nil
}

// build registers every operation and builds the document.
func (a *API) build() error {
	a.userRoutes()
	a.clientRoutes()
	a.keyRoutes()
	a.auditRoutes()
	a.apiKeyRoutes()
	a.webhookRoutes()
	return a.buildDocument()
}

// OpenAPIDocument is the document New serves, without a server: for the
// committed copy (docs/openapi.json) and the SDK generators.
func OpenAPIDocument() ([]byte, error) {
	a := &API{}
	if err := a.build(); err != nil {
		return nil, err
	}
	return a.document, nil
}

// Document is the OpenAPI document served at /api/v1/openapi.json.
func (a *API) Document() []byte { return a.document }

// Routes registers the API's operations, its document and its docs page.
func (a *API) Routes(mux *http.ServeMux) {
	allowed := map[string][]string{}
	for _, rt := range a.routes {
		mux.Handle(rt.Method+" "+rt.Path, a.serve(rt))
		allowed[rt.Path] = append(allowed[rt.Path], rt.Method)
	}
	// Another method on a known path is a 405 problem document, not the
	// mux's plain-text one.
	for path, methods := range allowed {
		allow := strings.Join(methods, ", ")
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeProblem(w, r, problem(http.StatusMethodNotAllowed, "", r.Method+" is not allowed here; allowed: "+allow))
		})
	}
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		_, _ = w.Write(a.document)
	})
	a.scimRoutes(mux)
	mux.Handle("GET /api/docs", docsPage())
	mux.Handle("GET /api/docs/", docsAssets())
	// Anything else under /api/ is a problem document too, not a page.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, problem(http.StatusNotFound, "", "no such admin API operation: "+r.Method+" "+r.URL.Path))
	})
}

// meta is what the account service records of a request.
func meta(c *call) account.Meta {
	return account.Meta{IP: clientAddr(c.r), UserAgent: c.r.UserAgent()}
}

// actor names the caller in the audit trail.
func actor(c *call) string { return c.principal.Actor }
