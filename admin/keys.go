package admin

import (
	"context"
	"net/http"
	"time"
)

// SigningKey is a token signing key (its public half is in JWKS).
type SigningKey struct {
	KID       string     `json:"kid" jsonschema:"required"`
	Algorithm string     `json:"algorithm" jsonschema:"required"`
	Active    bool       `json:"active" jsonschema:"required"`
	CreatedAt time.Time  `json:"created_at" jsonschema:"required"`
	RetiredAt *time.Time `json:"retired_at,omitempty"`
}

func (a *API) keyRoutes() {
	register(a, op{Method: "GET", Path: "/api/v1/keys", ID: "listSigningKeys", Tag: "keys", Scope: "keys:read",
		Summary: "List signing keys", Description: "Newest first."}, a.listKeys)
	register(a, op{Method: "POST", Path: "/api/v1/keys/rotate", ID: "rotateSigningKey", Tag: "keys", Scope: "keys:write",
		Summary: "Rotate the signing key", Status: http.StatusCreated,
		Description: "A new key signs from now on (on other instances within cache.poll_interval); " +
			"retired keys stay in JWKS until the tokens they signed expire."}, a.rotate)
}

func (a *API) listKeys(ctx context.Context, _ *call, _ *noInput) (Page[SigningKey], error) {
	keys, err := a.store.ListKeys(ctx)
	if err != nil {
		return Page[SigningKey]{}, err
	}
	out := Page[SigningKey]{Items: make([]SigningKey, 0, len(keys))}
	for _, k := range keys {
		out.Items = append(out.Items, SigningKey{KID: k.KID, Algorithm: k.Algorithm, Active: k.Active(), CreatedAt: k.CreatedAt,
			RetiredAt: k.RetiredAt})
	}
	return out, nil
}

func (a *API) rotate(ctx context.Context, c *call, _ *noInput) (SigningKey, error) {
	k, err := a.rotateKey(ctx, actor(c))
	if err != nil {
		return SigningKey{}, err
	}
	return SigningKey{KID: k.KID, Algorithm: k.Algorithm, Active: true, CreatedAt: k.CreatedAt}, nil
}
