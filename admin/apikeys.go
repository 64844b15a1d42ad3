package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/authd/authd/apikey"
	"github.com/authd/authd/storage"
)

// APIKey is an admin API key (never the key itself, except once on
// creation).
type APIKey struct {
	ID         string     `json:"id" jsonschema:"required"`
	Name       string     `json:"name" jsonschema:"required"`
	Scopes     []string   `json:"scopes" jsonschema:"required"`
	Tier       string     `json:"tier" jsonschema:"required"`
	CreatedBy  string     `json:"created_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at" jsonschema:"required"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	LastUsedIP string     `json:"last_used_ip,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// CreatedAPIKey is a new key with the key itself: shown this once.
type CreatedAPIKey struct {
	APIKey
	Key string `json:"key" jsonschema:"required"`
}

// NewAPIKey is a key to create. Its scopes must be among the caller's.
type NewAPIKey struct {
	Name   string   `json:"name" jsonschema:"required,minLength=1,maxLength=200"`
	Scopes []string `json:"scopes" jsonschema:"required,minItems=1,maxItems=40"`
	Tier   string   `json:"tier,omitempty" jsonschema:"maxLength=64,description=Default: standard for an admin; the caller's own tier otherwise (only admins choose)."`
	// ExpiresIn is the key's lifetime in seconds (default
	// api_keys.default_lifetime, at most api_keys.max_lifetime); a key made
	// with another key expires no later than that one.
	ExpiresIn int `json:"expires_in,omitempty" jsonschema:"minimum=1"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ToAPIKey is how the API and the CLI show a stored key.
func ToAPIKey(k *storage.APIKey) APIKey {
	return APIKey{ID: k.ID, Name: k.Name, Scopes: k.Scopes, Tier: k.Tier, CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt,
		ExpiresAt: optTime(k.ExpiresAt), LastUsedAt: optTime(k.LastUsedAt), LastUsedIP: k.LastUsedIP, RevokedAt: optTime(k.RevokedAt)}
}

type apiKeyByID struct {
	ID string `path:"id" doc:"The key's id (the part after authd_)."`
}

type createAPIKeyIn struct{ Body NewAPIKey }

// DefaultTier is the tier of a key created without one.
const DefaultTier = "standard"

func (a *API) apiKeyRoutes() {
	register(a, op{Method: "POST", Path: "/api/v1/api-keys", ID: "createAPIKey", Tag: "api-keys", Scope: "api-keys:write",
		Summary: "Create an API key", Status: http.StatusCreated,
		Description: "The key is in the answer once and stored only hashed. A caller can grant only scopes it holds."}, a.createAPIKey)
	register(a, op{Method: "GET", Path: "/api/v1/api-keys", ID: "listAPIKeys", Tag: "api-keys", Scope: "api-keys:read",
		Summary: "List API keys"}, a.listAPIKeys)
	register(a, op{Method: "GET", Path: "/api/v1/api-keys/{id}", ID: "getAPIKey", Tag: "api-keys", Scope: "api-keys:read",
		Summary: "Get an API key", Errors: []int{http.StatusNotFound}}, a.getAPIKey)
	register(a, op{Method: "DELETE", Path: "/api/v1/api-keys/{id}", ID: "revokeAPIKey", Tag: "api-keys", Scope: "api-keys:write",
		Summary: "Revoke an API key", Description: "It stops working on every instance within cache.poll_interval.",
		Errors: []int{http.StatusNotFound}}, a.revokeAPIKey)
}

func (a *API) createAPIKey(ctx context.Context, c *call, in *createAPIKeyIn) (CreatedAPIKey, error) {
	b := in.Body
	for i, s := range b.Scopes {
		if apikey.ValidScope(s) && !apikey.Covers(c.principal.Scopes, s) {
			return CreatedAPIKey{}, problem(http.StatusForbidden, "insufficient-scope",
				fmt.Sprintf("a key cannot grant a scope its creator does not hold: %s (/scopes/%d)", s, i))
		}
	}
	// Only an administrator picks a tier; others make keys in their own,
	// so that a key cannot mint a less limited one.
	isAdmin := apikey.Covers(c.principal.Scopes, apikey.ScopeAdmin)
	switch {
	case b.Tier == "" && isAdmin:
		b.Tier = DefaultTier
	case b.Tier == "":
		b.Tier = c.principal.Tier
	case b.Tier != c.principal.Tier && !isAdmin:
		return CreatedAPIKey{}, problem(http.StatusForbidden, "insufficient-scope",
			"only a caller with the admin scope can create keys in another tier than its own ("+c.principal.Tier+")")
	}
	key, k, err := a.keys.Create(ctx, apikey.Spec{Name: b.Name, Scopes: b.Scopes, Tier: b.Tier,
		ExpiresIn: time.Duration(b.ExpiresIn) * time.Second, NotAfter: c.principal.ExpiresAt}, actor(c))
	var ie *apikey.InputError
	if errors.As(err, &ie) {
		return CreatedAPIKey{}, invalid(FieldError{"/" + ie.Field, ie.Reason})
	}
	if err != nil {
		return CreatedAPIKey{}, err
	}
	c.w.Header().Set("Location", "/api/v1/api-keys/"+k.ID)
	return CreatedAPIKey{APIKey: ToAPIKey(k), Key: key}, nil
}

func (a *API) listAPIKeys(ctx context.Context, _ *call, in *listClientsIn) (Page[APIKey], error) {
	limit := cmp(in.Limit, defaultLimit)
	after, err := a.cursors.decode("api-keys", in.Cursor)
	if err != nil {
		return Page[APIKey]{}, err
	}
	rows, err := a.keys.List(ctx, after, limit+1)
	if err != nil {
		return Page[APIKey]{}, err
	}
	return page(a.cursors, "api-keys", rows, limit, func(k *storage.APIKey) string { return k.ID }, ToAPIKey), nil
}

func (a *API) getAPIKey(ctx context.Context, _ *call, in *apiKeyByID) (APIKey, error) {
	k, err := a.keys.Get(ctx, in.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return APIKey{}, notFound("API key")
	}
	if err != nil {
		return APIKey{}, err
	}
	return ToAPIKey(k), nil
}

func (a *API) revokeAPIKey(ctx context.Context, c *call, in *apiKeyByID) (NoContent, error) {
	err := a.keys.Revoke(ctx, in.ID, actor(c))
	if errors.Is(err, storage.ErrNotFound) {
		return NoContent{}, notFound("API key")
	}
	return NoContent{}, err
}
