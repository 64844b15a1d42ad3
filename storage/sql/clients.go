package sql

import (
	"context"
	"encoding/json"
	"fmt"
	jose "github.com/go-jose/go-jose/v3"

	"github.com/authd/authd/storage"
)

type clientRow struct {
	ID         string `gorm:"primaryKey"`
	Name       string
	SecretHash []byte
	Metadata   string
	CreatedAt  int64 `gorm:"autoCreateTime:false"`
	UpdatedAt  int64 `gorm:"autoUpdateTime:false"`
}

func (clientRow) TableName() string { return "clients" }

// clientMetadata is the part of a client kept as one JSON document: lists
// and settings that are read whole and never queried.
type clientMetadata struct {
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs  []string        `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes              []string        `json:"grant_types,omitempty"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	Scopes                  []string        `json:"scopes,omitempty"`
	Audience                []string        `json:"audience,omitempty"`
	Public                  bool            `json:"public,omitempty"`
	FirstParty              bool            `json:"first_party,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	AuthSigningAlg          string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	BackchannelLogoutURI    string          `json:"backchannel_logout_uri,omitempty"`
	AllowedIntrospectors    []string        `json:"allowed_introspectors,omitempty"`
	WebOrigins              []string        `json:"web_origins,omitempty"`
	RequirePAR              bool            `json:"require_pushed_authorization_requests,omitempty"`
	RequireDPoP             bool            `json:"dpop_bound_access_tokens,omitempty"`
	Profile                 string          `json:"profile,omitempty"`
	ApplicationType         string          `json:"application_type,omitempty"`
	AccessTokenTTL          int64           `json:"access_token_ttl_ms,omitempty"`
	RefreshTokenTTL         int64           `json:"refresh_token_ttl_ms,omitempty"`
}

func toClientRow(c *storage.Client) (*clientRow, error) {
	md := clientMetadata{
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, ResponseTypes: c.ResponseTypes, Scopes: c.Scopes, Audience: c.Audience,
		Public: c.Public, FirstParty: c.FirstParty, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		JWKSURI: c.JWKSURI, AuthSigningAlg: c.TokenEndpointAuthSigningAlg, BackchannelLogoutURI: c.BackchannelLogoutURI,
		AllowedIntrospectors: c.AllowedIntrospectors, WebOrigins: c.WebOrigins, RequirePAR: c.RequirePAR, RequireDPoP: c.RequireDPoP, Profile: c.Profile, ApplicationType: c.ApplicationType, AccessTokenTTL: c.AccessTokenTTL.Milliseconds(), RefreshTokenTTL: c.RefreshTokenTTL.Milliseconds(),
	}
	if c.JWKS != nil {
		b, err := json.Marshal(c.JWKS)
		if err != nil {
			return nil, fmt.Errorf("client jwks: %w", err)
		}
		md.JWKS = b
	}
	b, err := json.Marshal(md)
	if err != nil {
		return nil, err
	}
	return &clientRow{ID: c.ID, Name: c.Name, SecretHash: c.SecretHash, Metadata: string(b),
		CreatedAt: millis(c.CreatedAt), UpdatedAt: millis(c.UpdatedAt)}, nil
}

func (r *clientRow) toClient() (*storage.Client, error) {
	var md clientMetadata
	if err := json.Unmarshal([]byte(r.Metadata), &md); err != nil {
		return nil, fmt.Errorf("client %q metadata: %w", r.ID, err)
	}
	c := &storage.Client{
		ID: r.ID, Name: r.Name, SecretHash: r.SecretHash,
		RedirectURIs: md.RedirectURIs, PostLogoutRedirectURIs: md.PostLogoutRedirectURIs,
		GrantTypes: md.GrantTypes, ResponseTypes: md.ResponseTypes, Scopes: md.Scopes, Audience: md.Audience,
		Public: md.Public, FirstParty: md.FirstParty, TokenEndpointAuthMethod: md.TokenEndpointAuthMethod,
		JWKSURI: md.JWKSURI, TokenEndpointAuthSigningAlg: md.AuthSigningAlg, BackchannelLogoutURI: md.BackchannelLogoutURI,
		AllowedIntrospectors: md.AllowedIntrospectors, WebOrigins: md.WebOrigins, RequirePAR: md.RequirePAR, RequireDPoP: md.RequireDPoP, Profile: md.Profile, ApplicationType: md.ApplicationType,
		AccessTokenTTL: msDuration(md.AccessTokenTTL), RefreshTokenTTL: msDuration(md.RefreshTokenTTL),
		CreatedAt: fromMillis(r.CreatedAt), UpdatedAt: fromMillis(r.UpdatedAt),
	}
	if len(md.JWKS) > 0 {
		c.JWKS = new(jwkSet)
		if err := json.Unmarshal(md.JWKS, c.JWKS); err != nil {
			return nil, fmt.Errorf("client %q jwks: %w", r.ID, err)
		}
	}
	return c, nil
}

// CreateClient implements storage.Clients.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	now := s.now().UTC().Truncate(timeMilli)
	c.CreatedAt, c.UpdatedAt = now, now
	row, err := toClientRow(c)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx txDB) error {
		if err := mapErr(tx.Create(row).Error); err != nil {
			return err
		}
		return s.publish(tx, storage.TopicClient, c.ID)
	})
}

// GetStoredClient implements storage.Clients.
func (s *Store) GetStoredClient(ctx context.Context, id string) (*storage.Client, error) {
	var row clientRow
	if err := s.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	return row.toClient()
}

// GetClientForUpdate is GetStoredClient that, inside a transaction,
// locks the client's row against other writers until it ends (Postgres:
// SELECT ... FOR UPDATE; SQLite serialises writers already).
func (s *Store) GetClientForUpdate(ctx context.Context, id string) (*storage.Client, error) {
	var row clientRow
	if err := s.conn(ctx).Clauses(s.forUpdate()...).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	return row.toClient()
}

// ListClients implements storage.Clients.
func (s *Store) ListClients(ctx context.Context) ([]*storage.Client, error) {
	var rows []clientRow
	if err := s.conn(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
	out := make([]*storage.Client, 0, len(rows))
	for i := range rows {
		c, err := rows[i].toClient()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// UpdateClient implements storage.Clients.
func (s *Store) UpdateClient(ctx context.Context, c *storage.Client) error {
	c.UpdatedAt = s.now().UTC().Truncate(timeMilli)
	row, err := toClientRow(c)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx txDB) error {
		res := tx.Model(&clientRow{}).Where("id = ?", c.ID).Updates(map[string]any{
			"name": row.Name, "secret_hash": row.SecretHash, "metadata": row.Metadata, "updated_at": row.UpdatedAt,
		})
		if res.Error != nil {
			return mapErr(res.Error)
		}
		if res.RowsAffected == 0 {
			return storage.ErrNotFound
		}
		return s.publish(tx, storage.TopicClient, c.ID)
	})
}

// DeleteClient implements storage.Clients. It removes the client's token
// state with it, so nothing it was issued can be refreshed or exchanged.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx txDB) error {
		res := tx.Where("id = ?", id).Delete(&clientRow{})
		if res.Error != nil {
			return mapErr(res.Error)
		}
		if res.RowsAffected == 0 {
			return storage.ErrNotFound
		}
		for _, m := range []any{&codeRow{}, &refreshRow{}, &pkceRow{}, &oidcRow{}} {
			if err := tx.Where("client_id = ?", id).Delete(m).Error; err != nil {
				return mapErr(err)
			}
		}
		return s.publish(tx, storage.TopicClient, id)
	})
}

type jwkSet = jose.JSONWebKeySet
