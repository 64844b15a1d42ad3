package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/storage"
)

// ClientStore is where ClientService keeps clients, with their audit
// events, in one transaction (storage/sql.Store).
type ClientStore interface {
	BeginTX(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
	CreateClient(ctx context.Context, c *storage.Client) error
	// GetClientForUpdate reads the client and locks it for the rest of
	// the transaction.
	GetClientForUpdate(ctx context.Context, id string) (*storage.Client, error)
	UpdateClient(ctx context.Context, c *storage.Client) error
	DeleteClient(ctx context.Context, id string) error
	AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error
}

// ClientService registers clients: NewClient's rules, then the client
// and its client.created audit event written together, or neither.
type ClientService struct {
	Store  ClientStore
	Hasher secrets.ClientSecretHasher
	// MaxAccessTTL is tokens.max_access_token_ttl.
	MaxAccessTTL time.Duration
	// SigningAlg is keys.algorithm: a FAPI 2.0 client needs ES256 or
	// EdDSA.
	SigningAlg string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Changed, when set, hears the id of a client changed or deleted, after
	// the commit: the process's own cache drops it at once (others at
	// their next change-feed poll).
	Changed func(id string)
}

// Create validates spec and stores the client, recording who did it
// (actor: "cli", an admin's id). It returns the client and, for one that
// authenticates with a secret, the secret in clear (shown once).
// storage.ErrConflict when the id is taken.
func (s ClientService) Create(ctx context.Context, spec ClientSpec, actor string) (*storage.Client, string, error) {
	c, secret, err := NewClient(ctx, spec, s.Hasher, s.MaxAccessTTL)
	if err == nil {
		err = checkServerAlg(c, s.SigningAlg)
	}
	if err != nil {
		return nil, "", err
	}
	if err := s.inTx(ctx, func(ctx context.Context) error { return s.create(ctx, c, actor, s.now()) }); err != nil {
		return nil, "", err
	}
	return c, secret, nil
}

func (s ClientService) create(ctx context.Context, c *storage.Client, actor string, at time.Time) error {
	if err := s.Store.CreateClient(ctx, c); err != nil {
		return err
	}
	// What was registered, never the secret or its hash.
	return audit.Record(ctx, s.Store, storage.AuditEvent{Type: storage.AuditClientCreated, ActorID: actor,
		ClientID: c.ID, Details: map[string]any{"name": c.Name, "grant_types": c.GrantTypes,
			"token_endpoint_auth_method": c.TokenEndpointAuthMethod, "application_type": c.ApplicationType,
			"redirect_uris": c.RedirectURIs, "first_party": c.FirstParty}}, at)
}

// RotateSecret gives a client that authenticates with a secret a new one
// and returns it in clear (shown once); the old one stops working at once
// here and on other instances at their next change-feed poll.
// storage.ErrNotFound if there is no such client; an *InvalidClientError
// if it has no secret to rotate.
func (s ClientService) RotateSecret(ctx context.Context, id, actor string) (string, error) {
	var secret string
	err := s.inTx(ctx, func(ctx context.Context) error {
		c, err := s.Store.GetClientForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if c.TokenEndpointAuthMethod != storage.AuthMethodBasic && c.TokenEndpointAuthMethod != storage.AuthMethodPost {
			return &InvalidClientError{Err: fmt.Errorf("client %s authenticates with %s: it has no secret to rotate", id, c.TokenEndpointAuthMethod)}
		}
		secret = GenerateSecret()
		if c.SecretHash, err = s.Hasher.Hash(ctx, []byte(secret)); err != nil {
			return err
		}
		if err := s.Store.UpdateClient(ctx, c); err != nil {
			return err
		}
		return audit.Record(ctx, s.Store, storage.AuditEvent{Type: storage.AuditClientSecretRot, ActorID: actor, ClientID: id}, s.now())
	})
	if err == nil {
		s.changed(id)
	}
	return secret, err
}

// Delete removes a client and its token state, recording client.deleted.
// storage.ErrNotFound if there is no such client.
func (s ClientService) Delete(ctx context.Context, id, actor string) error {
	err := s.inTx(ctx, func(ctx context.Context) error {
		if err := s.Store.DeleteClient(ctx, id); err != nil {
			return err
		}
		return audit.Record(ctx, s.Store, storage.AuditEvent{Type: storage.AuditClientDeleted, ActorID: actor, ClientID: id}, s.now())
	})
	if err == nil {
		s.changed(id)
	}
	return err
}

func (s ClientService) changed(id string) {
	if s.Changed != nil {
		s.Changed(id)
	}
}

func (s ClientService) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s ClientService) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return storage.InTx(ctx, s.Store, fn)
}

// SpecOf is the specification c was registered with (its secret aside):
// the starting point of an update.
func SpecOf(c *storage.Client) ClientSpec {
	return ClientSpec{ID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, Scopes: c.Scopes, Audience: c.Audience, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		Public: c.Public, FirstParty: c.FirstParty, JWKS: c.JWKS, JWKSURI: c.JWKSURI, BackchannelLogoutURI: c.BackchannelLogoutURI,
		AuthSigningAlg: c.TokenEndpointAuthSigningAlg, AccessTokenTTL: c.AccessTokenTTL, RefreshTokenTTL: c.RefreshTokenTTL,
		ApplicationType: c.ApplicationType, AllowedIntrospectors: c.AllowedIntrospectors, WebOrigins: c.WebOrigins,
		RequirePAR: c.RequirePAR, RequireDPoP: c.RequireDPoP, Profile: c.Profile}
}

// keepSecret stands in for the stored secret while an update is
// validated: NewClient then generates none.
const keepSecret = "authd-update-keeps-the-stored-secret" // #nosec G101 -- a placeholder that is never stored or accepted

// Update changes a client: edit gets the client's current specification
// (the row locked) and changes it; NewClient's rules then apply to the
// whole result. ifMatch, when set, sees the stored client first and may
// refuse it (a stale If-Match). The secret stays unless the client newly
// needs one (then a new one is returned, shown once) or no longer does.
// storage.ErrNotFound, an *InvalidClientError, or ifMatch's error.
func (s ClientService) Update(ctx context.Context, id string, edit func(*ClientSpec), ifMatch func(*storage.Client) error,
	actor string) (*storage.Client, string, error) {
	var out *storage.Client
	var secret string
	err := s.inTx(ctx, func(ctx context.Context) error {
		old, err := s.Store.GetClientForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if ifMatch != nil {
			if err := ifMatch(old); err != nil {
				return err
			}
		}
		spec := SpecOf(old)
		edit(&spec)
		spec.ID = old.ID
		hadSecret := len(old.SecretHash) > 0
		if hadSecret {
			spec.Secret = keepSecret
		}
		c, generated, err := NewClient(ctx, spec, s.Hasher, s.MaxAccessTTL)
		if err == nil {
			err = checkServerAlg(c, s.SigningAlg)
		}
		if err != nil {
			return err
		}
		switch {
		case len(c.SecretHash) == 0:
		case hadSecret:
			c.SecretHash = old.SecretHash
		default:
			secret = generated
		}
		c.CreatedAt = old.CreatedAt
		if err := s.Store.UpdateClient(ctx, c); err != nil {
			return err
		}
		out = c
		return audit.Record(ctx, s.Store, storage.AuditEvent{Type: storage.AuditClientUpdated, ActorID: actor, ClientID: id,
			Details: map[string]any{"name": c.Name, "grant_types": c.GrantTypes, "token_endpoint_auth_method": c.TokenEndpointAuthMethod,
				"redirect_uris": c.RedirectURIs, "first_party": c.FirstParty, "secret_issued": secret != ""}}, s.now())
	})
	if err != nil {
		return nil, "", err
	}
	s.changed(id)
	return out, secret, nil
}
