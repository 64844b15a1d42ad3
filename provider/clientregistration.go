package provider

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/storage"
)

// RegistrationStore is where a Registrar keeps initial access tokens and
// client registrations (storage/sql.Store).
type RegistrationStore interface {
	storage.Transactor
	storage.Registrations
	AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error
	// GetStoredClient reads a client from the database, not a cache.
	GetStoredClient(ctx context.Context, id string) (*storage.Client, error)
}

// MACer keys the stored token hashes (*secrets.Keyring).
type MACer interface {
	MAC(purpose string, data []byte) []byte
	MACWith(keyID, purpose string, data []byte) ([]byte, bool)
	CurrentKeyID() string
}

// Registrar is dynamic client registration (RFC 7591) and management
// (RFC 7592): whoever holds an initial access token registers a client
// and gets a registration access token to read, replace and delete it.
// Clients go through Clients, so NewClient's rules, the audit events and
// token revocation on delete are those of `authd clients create` and the
// admin API. The CLI manages the initial access tokens through it.
type Registrar struct {
	Clients ClientService
	Store   RegistrationStore
	MAC     MACer
}

// MAC purposes of the two token kinds.
const (
	macInitialToken      = "dcr-initial-access-token"      // #nosec G101 -- a MAC purpose label, not a credential
	macRegistrationToken = "dcr-registration-access-token" // #nosec G101 -- a MAC purpose label, not a credential
)

// Token prefixes: a secret scanner tells authd's tokens from random text.
const (
	initialTokenPrefix      = "authd_iat_" // #nosec G101 -- a prefix, not a credential
	registrationTokenPrefix = "authd_rat_" // #nosec G101 -- a prefix, not a credential
)

// ErrInvalidToken: the initial or registration access token is missing,
// unknown, expired, revoked, used up or another client's (RFC 6750 §3.1
// invalid_token).
var ErrInvalidToken = errors.New("the access token is missing, unknown, expired, revoked or used up")

// InitialTokenSpec is what an operator asks for in an initial access
// token.
type InitialTokenSpec struct {
	Description string
	// ExpiresIn is its lifetime; 0: it never expires.
	ExpiresIn time.Duration
	// MaxUses bounds the clients it registers; 0: no bound.
	MaxUses int
}

// CreateInitialToken makes an initial access token and returns it in
// clear (shown once; only its MAC is stored) with its record, audited as
// client.registration_token_created. An *InvalidClientError for a bad spec.
func (g *Registrar) CreateInitialToken(ctx context.Context, spec InitialTokenSpec, actor string) (string, *storage.InitialAccessToken, error) {
	var errs []error
	if spec.ExpiresIn < 0 {
		errs = append(errs, errors.New("expires-in must not be negative"))
	}
	if spec.MaxUses < 0 {
		errs = append(errs, errors.New("max-uses must not be negative"))
	}
	if len(spec.Description) > 200 {
		errs = append(errs, errors.New("description must be at most 200 characters"))
	}
	if len(errs) > 0 {
		return "", nil, &InvalidClientError{Err: errors.Join(errs...)}
	}
	b := make([]byte, 8)
	rand.Read(b)
	id := hex.EncodeToString(b)
	token := initialTokenPrefix + id + "." + GenerateSecret()
	now := g.Clients.now().UTC()
	t := &storage.InitialAccessToken{ID: id, Description: strings.TrimSpace(spec.Description),
		Hash: g.MAC.MAC(macInitialToken, []byte(token)), MACKeyID: g.MAC.CurrentKeyID(), CreatedBy: actor, CreatedAt: now,
		MaxUses: spec.MaxUses}
	if spec.ExpiresIn > 0 {
		t.ExpiresAt = now.Add(spec.ExpiresIn)
	}
	err := storage.InTx(ctx, g.Store, func(ctx context.Context) error {
		if err := g.Store.CreateInitialAccessToken(ctx, t); err != nil {
			return err
		}
		return audit.Record(ctx, g.Store, storage.AuditEvent{Type: storage.AuditInitialTokenCreated, ActorID: actor,
			Details: map[string]any{"id": id, "max_uses": t.MaxUses, "expires_in": spec.ExpiresIn.String()}}, now)
	})
	if err != nil {
		return "", nil, err
	}
	return token, t, nil
}

// ListInitialTokens returns every initial access token, oldest first.
func (g *Registrar) ListInitialTokens(ctx context.Context) ([]*storage.InitialAccessToken, error) {
	return g.Store.ListInitialAccessTokens(ctx)
}

// RevokeInitialToken stops an initial access token from registering more
// clients (those it registered stay); storage.ErrNotFound if unknown.
func (g *Registrar) RevokeInitialToken(ctx context.Context, id, actor string) error {
	return storage.InTx(ctx, g.Store, func(ctx context.Context) error {
		now := g.Clients.now()
		if err := g.Store.RevokeInitialAccessToken(ctx, id, now); err != nil {
			return err
		}
		return audit.Record(ctx, g.Store, storage.AuditEvent{Type: storage.AuditInitialTokenRevoked, ActorID: actor,
			Details: map[string]any{"id": id}}, now)
	})
}

// initialToken authenticates an initial access token without using it:
// ErrInvalidToken unless it is known, its MAC matches and it is usable.
func (g *Registrar) initialToken(ctx context.Context, token string) (*storage.InitialAccessToken, error) {
	id, _, ok := strings.Cut(strings.TrimPrefix(token, initialTokenPrefix), ".")
	if !ok || !strings.HasPrefix(token, initialTokenPrefix) || len(id) != 16 {
		return nil, ErrInvalidToken
	}
	t, err := g.Store.GetInitialAccessToken(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, ErrInvalidToken
	case err != nil:
		return nil, err
	}
	want, ok := g.MAC.MACWith(t.MACKeyID, macInitialToken, []byte(token))
	if !ok || subtle.ConstantTimeCompare(want, t.Hash) != 1 || !t.Usable(g.Clients.now()) {
		return nil, ErrInvalidToken
	}
	return t, nil
}

// Registered is a client as dynamic registration answers it: the stored
// client, its secret and registration access token when just issued
// (shown once), and the metadata authd keeps without acting on it.
type Registered struct {
	Client *storage.Client
	// Secret is the client secret in clear, set only when just issued.
	Secret string
	// RegistrationToken is the registration access token in clear, set
	// only when just issued.
	RegistrationToken string
	Extra             ExtraMetadata
}

// Register registers the client m describes with an initial access token
// (RFC 7591 §3): the token is checked, NewClient's rules applied, then in
// one transaction the token's use is counted (a token used up meanwhile
// fails), the client stored with its client.created event (actor
// "registration:<token id>") and its registration access token's MAC
// kept. ErrInvalidToken or an *InvalidClientError change nothing.
func (g *Registrar) Register(ctx context.Context, initialToken string, m ClientMetadata) (*Registered, error) {
	t, err := g.initialToken(ctx, initialToken)
	if err != nil {
		return nil, err
	}
	spec, extra, err := m.spec()
	if err != nil {
		return nil, err
	}
	c, secret, err := NewClient(ctx, spec, g.Clients.Hasher, g.Clients.MaxAccessTTL)
	if err != nil {
		return nil, err
	}
	out := &Registered{Client: c, Secret: secret, Extra: extra, RegistrationToken: newRegistrationToken()}
	err = g.Clients.createValid(ctx, c, "registration:"+t.ID, func(ctx context.Context) error {
		if err := g.Store.UseInitialAccessToken(ctx, t.ID, g.Clients.now()); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return ErrInvalidToken
			}
			return err
		}
		return g.putRegistration(ctx, c.ID, t.ID, out.RegistrationToken, extra, time.Time{})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Read returns the registered client the registration access token is
// for (RFC 7592 §2.1). ErrInvalidToken for a wrong token, an unknown
// client or one registered otherwise than dynamically.
func (g *Registrar) Read(ctx context.Context, clientID, token string) (*Registered, error) {
	reg, err := g.registration(ctx, clientID, token)
	if err != nil {
		return nil, err
	}
	c, err := g.Store.GetStoredClient(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	out := &Registered{Client: c}
	return out, json.Unmarshal(reg.Metadata, &out.Extra)
}

// Update replaces the client's metadata with m (RFC 7592 §2.2): what m
// leaves out is reset, NewClient's rules apply to the whole result, the
// settings only an operator makes (first party, token lifetimes) stay,
// and so does the secret (a client newly needing one gets one). The
// registration access token is rotated: the returned one replaces the
// one presented, which stops working. secret, when given, must be the
// client's. Audited as client.updated by "client:<id>".
func (g *Registrar) Update(ctx context.Context, clientID, token string, m ClientMetadata, secret string) (*Registered, error) {
	spec, extra, err := m.spec()
	if err != nil {
		return nil, err
	}
	var reg *storage.ClientRegistration
	check := func(ctx context.Context, old *storage.Client) error {
		var err error
		if reg, err = g.registration(ctx, clientID, token); err != nil {
			return err
		}
		if secret != "" && (len(old.SecretHash) == 0 || g.Clients.Hasher.Compare(ctx, old.SecretHash, []byte(secret)) != nil) {
			return &InvalidClientError{Err: errors.New("client_secret is not the client's secret")}
		}
		return nil
	}
	edit := func(s *ClientSpec) {
		n := spec
		n.FirstParty, n.AccessTokenTTL, n.RefreshTokenTTL = s.FirstParty, s.AccessTokenTTL, s.RefreshTokenTTL
		*s = n
	}
	out := &Registered{Extra: extra, RegistrationToken: newRegistrationToken()}
	also := func(ctx context.Context, c *storage.Client) error {
		return g.putRegistration(ctx, c.ID, reg.InitialTokenID, out.RegistrationToken, extra, reg.CreatedAt)
	}
	out.Client, out.Secret, err = g.Clients.update(ctx, clientID, edit, check, also, "client:"+clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete removes the client as `authd clients delete` does (its tokens
// revoked, client.deleted by "client:<id>"), with its registration
// (RFC 7592 §2.3).
func (g *Registrar) Delete(ctx context.Context, clientID, token string) error {
	err := g.Clients.deleteChecked(ctx, clientID, "client:"+clientID, func(ctx context.Context, _ *storage.Client) error {
		_, err := g.registration(ctx, clientID, token)
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return ErrInvalidToken
	}
	return err
}

// registration authenticates a registration access token for clientID,
// in constant time: ErrInvalidToken unless it is the client's current one.
func (g *Registrar) registration(ctx context.Context, clientID, token string) (*storage.ClientRegistration, error) {
	if !strings.HasPrefix(token, registrationTokenPrefix) || !validClientID(clientID) {
		return nil, ErrInvalidToken
	}
	reg, err := g.Store.GetClientRegistration(ctx, clientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, ErrInvalidToken
	case err != nil:
		return nil, err
	}
	want, ok := g.MAC.MACWith(reg.MACKeyID, macRegistrationToken, registrationTokenInput(clientID, token))
	if !ok || subtle.ConstantTimeCompare(want, reg.TokenHash) != 1 {
		return nil, ErrInvalidToken
	}
	return reg, nil
}

func (g *Registrar) putRegistration(ctx context.Context, clientID, initialTokenID, token string, extra ExtraMetadata, created time.Time) error {
	meta, err := json.Marshal(extra)
	if err != nil {
		return err
	}
	return g.Store.PutClientRegistration(ctx, &storage.ClientRegistration{ClientID: clientID, InitialTokenID: initialTokenID,
		TokenHash: g.MAC.MAC(macRegistrationToken, registrationTokenInput(clientID, token)), MACKeyID: g.MAC.CurrentKeyID(),
		Metadata: meta, CreatedAt: created})
}

// registrationTokenInput binds a registration access token to its client:
// the MAC of one client's token never matches another's.
func registrationTokenInput(clientID, token string) []byte {
	return []byte(clientID + "\x00" + token)
}

func newRegistrationToken() string { return registrationTokenPrefix + GenerateSecret() }

// ClientMetadata is a client's metadata as RFC 7591 §2 (and OpenID
// Connect Dynamic Client Registration 1.0 §2) names it, with authd's
// extensions for what `authd clients create` also sets. Members not
// listed are ignored (RFC 7591 §2); whether a client is first party and
// its token lifetimes are an operator's decisions, not the client's.
type ClientMetadata struct {
	RedirectURIs                []string            `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod     string              `json:"token_endpoint_auth_method,omitempty"`
	TokenEndpointAuthSigningAlg string              `json:"token_endpoint_auth_signing_alg,omitempty"`
	GrantTypes                  []string            `json:"grant_types,omitempty"`
	ResponseTypes               []string            `json:"response_types,omitempty"`
	ClientName                  string              `json:"client_name,omitempty"`
	Scope                       string              `json:"scope,omitempty"`
	JWKS                        *jose.JSONWebKeySet `json:"jwks,omitempty"`
	JWKSURI                     string              `json:"jwks_uri,omitempty"`
	PostLogoutRedirectURIs      []string            `json:"post_logout_redirect_uris,omitempty"`
	ApplicationType             string              `json:"application_type,omitempty"`
	BackchannelLogoutURI        string              `json:"backchannel_logout_uri,omitempty"`
	// RequirePAR is RFC 9126 §6's require_pushed_authorization_requests.
	RequirePAR bool `json:"require_pushed_authorization_requests,omitempty"`
	// RequireDPoP is RFC 9449 §5.2's dpop_bound_access_tokens.
	RequireDPoP bool `json:"dpop_bound_access_tokens,omitempty"`
	// WebOrigins, Audience and AllowedIntrospectors are authd's: the
	// --web-origin, --audience (token exchange audiences) and
	// --allowed-introspector of `authd clients create`.
	WebOrigins           []string `json:"web_origins,omitempty"`
	Audience             []string `json:"audience,omitempty"`
	AllowedIntrospectors []string `json:"allowed_introspectors,omitempty"`
	ExtraMetadata
}

// ExtraMetadata is the RFC 7591 §2 metadata authd keeps and returns but
// does not act on.
type ExtraMetadata struct {
	ClientURI       string   `json:"client_uri,omitempty"`
	LogoURI         string   `json:"logo_uri,omitempty"`
	TOSURI          string   `json:"tos_uri,omitempty"`
	PolicyURI       string   `json:"policy_uri,omitempty"`
	Contacts        []string `json:"contacts,omitempty"`
	SoftwareID      string   `json:"software_id,omitempty"`
	SoftwareVersion string   `json:"software_version,omitempty"`
}

// spec is the ClientSpec m asks for, after the checks NewClient does not
// make (response types, the extra metadata); every problem is reported.
func (m ClientMetadata) spec() (ClientSpec, ExtraMetadata, error) {
	var errs []error
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			errs = append(errs, fmt.Errorf("response type %q is not supported (want code)", rt))
		}
	}
	if len(m.ResponseTypes) > 0 && !slices.Contains(m.GrantTypes, "authorization_code") && len(m.GrantTypes) > 0 {
		errs = append(errs, errors.New("response type code needs the authorization_code grant (RFC 7591 §2.1)"))
	}
	for name, u := range map[string]string{"client_uri": m.ClientURI, "logo_uri": m.LogoURI, "tos_uri": m.TOSURI, "policy_uri": m.PolicyURI} {
		if u != "" && !webURL(u) {
			errs = append(errs, fmt.Errorf("%s must be an absolute https URL (http only on loopback)", name))
		}
	}
	if len(m.Contacts) > 20 {
		errs = append(errs, errors.New("at most 20 contacts"))
	}
	for _, c := range m.Contacts {
		if c == "" || len(c) > 254 || strings.ContainsAny(c, "\r\n") {
			errs = append(errs, fmt.Errorf("contact %q must be a non-empty line of at most 254 characters", c))
		}
	}
	for name, s := range map[string]string{"client_name": m.ClientName, "software_id": m.SoftwareID, "software_version": m.SoftwareVersion} {
		if len(s) > 200 {
			errs = append(errs, fmt.Errorf("%s must be at most 200 characters", name))
		}
	}
	if len(errs) > 0 {
		return ClientSpec{}, ExtraMetadata{}, &InvalidClientError{Err: errors.Join(errs...)}
	}
	spec := ClientSpec{Name: m.ClientName, RedirectURIs: m.RedirectURIs, PostLogoutRedirectURIs: m.PostLogoutRedirectURIs,
		GrantTypes: m.GrantTypes, Scopes: strings.Fields(m.Scope), Audience: m.Audience, TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
		Public: m.TokenEndpointAuthMethod == storage.AuthMethodNone, JWKS: m.JWKS, JWKSURI: m.JWKSURI,
		BackchannelLogoutURI: m.BackchannelLogoutURI, AuthSigningAlg: m.TokenEndpointAuthSigningAlg, ApplicationType: m.ApplicationType,
		AllowedIntrospectors: m.AllowedIntrospectors, WebOrigins: m.WebOrigins, RequirePAR: m.RequirePAR, RequireDPoP: m.RequireDPoP}
	return spec, m.ExtraMetadata, nil
}

// webURL reports whether s is an absolute https URL, or http on loopback.
func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http" && isLoopback(u))
}

// MetadataOf is the metadata of a registered client, as RFC 7592 §3
// answers it: what is stored, defaults applied.
func MetadataOf(c *storage.Client, extra ExtraMetadata) ClientMetadata {
	m := ClientMetadata{RedirectURIs: c.RedirectURIs, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg: c.TokenEndpointAuthSigningAlg, GrantTypes: c.GrantTypes, ClientName: c.Name,
		Scope: strings.Join(c.Scopes, " "), JWKS: c.JWKS, JWKSURI: c.JWKSURI, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		ApplicationType: c.ApplicationType, BackchannelLogoutURI: c.BackchannelLogoutURI, RequirePAR: c.RequirePAR,
		RequireDPoP: c.RequireDPoP, WebOrigins: c.WebOrigins, Audience: c.Audience, AllowedIntrospectors: c.AllowedIntrospectors, ExtraMetadata: extra}
	if c.HasGrant("authorization_code") {
		m.ResponseTypes = []string(c.GetResponseTypes())
	}
	return m
}
