package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/authd/authd/provider"
	"github.com/authd/authd/storage"
)

// OAuthClient is a registered OAuth client (never its secret's hash).
type OAuthClient struct {
	ClientID                    string    `json:"client_id" jsonschema:"required"`
	ClientName                  string    `json:"client_name" jsonschema:"required"`
	RedirectURIs                []string  `json:"redirect_uris" jsonschema:"required"`
	PostLogoutRedirectURIs      []string  `json:"post_logout_redirect_uris" jsonschema:"required"`
	GrantTypes                  []string  `json:"grant_types" jsonschema:"required"`
	Scopes                      []string  `json:"scopes" jsonschema:"required"`
	Audience                    []string  `json:"audience" jsonschema:"required"`
	Public                      bool      `json:"public" jsonschema:"required"`
	ApplicationType             string    `json:"application_type,omitempty"`
	FirstParty                  bool      `json:"first_party" jsonschema:"required"`
	TokenEndpointAuthMethod     string    `json:"token_endpoint_auth_method" jsonschema:"required"`
	TokenEndpointAuthSigningAlg string    `json:"token_endpoint_auth_signing_alg,omitempty"`
	JWKS                        *JWKS     `json:"jwks,omitempty"`
	JWKSURI                     string    `json:"jwks_uri,omitempty"`
	BackchannelLogoutURI        string    `json:"backchannel_logout_uri,omitempty"`
	AllowedIntrospectors        []string  `json:"allowed_introspectors,omitempty"`
	WebOrigins                  []string  `json:"web_origins,omitempty" jsonschema:"description=Origins the client's browser code calls the token and revocation endpoints from (CORS); absent: the origins of its http(s) redirect URIs."`
	RequirePAR                  bool      `json:"require_pushed_authorization_requests,omitempty" jsonschema:"description=The client must push its authorization requests (RFC 9126)."`
	RequireDPoP                 bool      `json:"dpop_bound_access_tokens,omitempty" jsonschema:"description=Every token request of the client carries a DPoP proof, so its access tokens are DPoP-bound (RFC 9449)."`
	Profile                     string    `json:"profile,omitempty" jsonschema:"enum=fapi2,description=The security profile the client is held to: fapi2 is the FAPI 2.0 Security Profile."`
	AccessTokenTTL              int       `json:"access_token_ttl,omitempty" jsonschema:"description=Seconds; absent: tokens.access_token_ttl."`
	RefreshTokenTTL             int       `json:"refresh_token_ttl,omitempty" jsonschema:"description=Seconds; absent: tokens.refresh_token_ttl."`
	CreatedAt                   time.Time `json:"created_at" jsonschema:"required"`
	UpdatedAt                   time.Time `json:"updated_at" jsonschema:"required"`
}

// JWKS is a JSON Web Key Set (RFC 7517).
type JWKS struct {
	Keys []map[string]any `json:"keys" jsonschema:"required,maxItems=20"`
}

// CreatedOAuthClient is a new client, with its secret in clear (shown once).
type CreatedOAuthClient struct {
	OAuthClient
	ClientSecret string `json:"client_secret,omitempty"`
}

// OAuthClientSecret is a client's new secret (shown once).
type OAuthClientSecret struct {
	ClientSecret string `json:"client_secret" jsonschema:"required"`
}

// NewOAuthClient is a client to register: what `authd clients create` takes.
type NewOAuthClient struct {
	ClientID                    string   `json:"client_id,omitempty" jsonschema:"maxLength=256,description=Default: a random UUID."`
	ClientName                  string   `json:"client_name" jsonschema:"required,maxLength=256"`
	ClientSecret                string   `json:"client_secret,omitempty" jsonschema:"minLength=16,maxLength=512,writeOnly=true,description=Default: 256 random bits."`
	RedirectURIs                []string `json:"redirect_uris,omitempty" jsonschema:"maxItems=100"`
	PostLogoutRedirectURIs      []string `json:"post_logout_redirect_uris,omitempty" jsonschema:"maxItems=100"`
	GrantTypes                  []string `json:"grant_types,omitempty" jsonschema:"maxItems=10"`
	Scopes                      []string `json:"scopes,omitempty" jsonschema:"maxItems=100"`
	Audience                    []string `json:"audience,omitempty" jsonschema:"maxItems=100"`
	TokenEndpointAuthMethod     string   `json:"token_endpoint_auth_method,omitempty" jsonschema:"enum=client_secret_basic,enum=client_secret_post,enum=private_key_jwt,enum=none"`
	TokenEndpointAuthSigningAlg string   `json:"token_endpoint_auth_signing_alg,omitempty" jsonschema:"maxLength=16"`
	Public                      bool     `json:"public,omitempty"`
	ApplicationType             string   `json:"application_type,omitempty" jsonschema:"enum=web,enum=native"`
	FirstParty                  bool     `json:"first_party,omitempty"`
	JWKS                        *JWKS    `json:"jwks,omitempty"`
	JWKSURI                     string   `json:"jwks_uri,omitempty" jsonschema:"maxLength=2048"`
	BackchannelLogoutURI        string   `json:"backchannel_logout_uri,omitempty" jsonschema:"maxLength=2048"`
	AllowedIntrospectors        []string `json:"allowed_introspectors,omitempty" jsonschema:"maxItems=100"`
	WebOrigins                  []string `json:"web_origins,omitempty" jsonschema:"maxItems=20,description=Origins (scheme://host[:port]) the client's browser code calls the token and revocation endpoints from (CORS); absent: the origins of its http(s) redirect URIs."`
	RequirePAR                  bool     `json:"require_pushed_authorization_requests,omitempty" jsonschema:"description=The client must push its authorization requests to the PAR endpoint (RFC 9126)."`
	RequireDPoP                 bool     `json:"dpop_bound_access_tokens,omitempty" jsonschema:"description=Every token request must carry a DPoP proof, so every access token is DPoP-bound (RFC 9449)."`
	Profile                     string   `json:"profile,omitempty" jsonschema:"enum=fapi2,description=A security profile to hold the client to: fapi2 (FAPI 2.0 Security Profile: private_key_jwt with PS256, ES256 or EdDSA, PAR, PKCE and DPoP required; authd's keys must be ES256 or EdDSA)."`
	AccessTokenTTL              int      `json:"access_token_ttl,omitempty" jsonschema:"minimum=1,description=Seconds."`
	RefreshTokenTTL             int      `json:"refresh_token_ttl,omitempty" jsonschema:"minimum=1,description=Seconds."`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func toClient(c *storage.Client) OAuthClient {
	out := OAuthClient{ClientID: c.ID, ClientName: c.Name, RedirectURIs: nonNil(c.RedirectURIs),
		PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs), GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes),
		Audience: nonNil(c.Audience), Public: c.Public, ApplicationType: c.ApplicationType, FirstParty: c.FirstParty,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, TokenEndpointAuthSigningAlg: c.TokenEndpointAuthSigningAlg,
		JWKSURI: c.JWKSURI, BackchannelLogoutURI: c.BackchannelLogoutURI, AllowedIntrospectors: c.AllowedIntrospectors,
		WebOrigins: c.WebOrigins, RequirePAR: c.RequirePAR, RequireDPoP: c.RequireDPoP, Profile: c.Profile, AccessTokenTTL: int(c.AccessTokenTTL / time.Second), RefreshTokenTTL: int(c.RefreshTokenTTL / time.Second),
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if c.JWKS != nil {
		raw, _ := json.Marshal(c.JWKS)
		out.JWKS = new(JWKS)
		_ = json.Unmarshal(raw, out.JWKS)
	}
	return out
}

type clientByID struct {
	ID string `path:"id" doc:"The client's id."`
}

type listClientsIn struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"200"`
	Cursor string `query:"cursor"`
}

type createClientIn struct{ Body NewOAuthClient }

func (a *API) clientRoutes() {
	register(a, op{Method: "POST", Path: "/api/v1/clients", ID: "createClient", Tag: "clients", Scope: "clients:write",
		Summary: "Register a client", Status: http.StatusCreated, Errors: []int{http.StatusConflict}}, a.createClient)
	register(a, op{Method: "GET", Path: "/api/v1/clients", ID: "listClients", Tag: "clients", Scope: "clients:read",
		Summary: "List clients", Description: "In client id order."}, a.listClients)
	register(a, op{Method: "GET", Path: "/api/v1/clients/{id}", ID: "getClient", Tag: "clients", Scope: "clients:read",
		Summary: "Get a client", ETag: true, Errors: []int{http.StatusNotFound}}, a.getClient)
	register(a, op{Method: "PATCH", Path: "/api/v1/clients/{id}", ID: "updateClient", Tag: "clients", Scope: "clients:write",
		Summary: "Update a client (JSON merge patch)", ContentType: "application/merge-patch+json", ETag: true,
		Description: "The registration rules apply to the result as a whole. The secret stays; a change to a " +
			"secret-based auth method from one without a secret answers the new secret once.",
		Errors: []int{http.StatusNotFound}}, a.patchClient)
	register(a, op{Method: "DELETE", Path: "/api/v1/clients/{id}", ID: "deleteClient", Tag: "clients", Scope: "clients:write",
		Summary: "Delete a client", Description: "Its tokens stop working.", Errors: []int{http.StatusNotFound}}, a.deleteClient)
	register(a, op{Method: "POST", Path: "/api/v1/clients/{id}/secret", ID: "rotateClientSecret", Tag: "clients", Scope: "clients:write",
		Summary: "Rotate a client's secret", Description: "The old secret stops working at once.",
		Errors: []int{http.StatusNotFound, http.StatusConflict}}, a.rotateSecret)
}

func clientError(err error) error {
	var ice *provider.InvalidClientError
	switch {
	case errors.As(err, &ice):
		var fes []FieldError
		for _, line := range strings.Split(ice.Error(), "\n") {
			fes = append(fes, FieldError{"/", line})
		}
		return invalid(fes...)
	case errors.Is(err, storage.ErrConflict):
		return conflict("a client with this client_id exists")
	case errors.Is(err, storage.ErrNotFound):
		return notFound("client")
	}
	return err
}

func (a *API) createClient(ctx context.Context, c *call, in *createClientIn) (CreatedOAuthClient, error) {
	b := in.Body
	spec := provider.ClientSpec{ID: b.ClientID, Name: b.ClientName, Secret: b.ClientSecret, RedirectURIs: b.RedirectURIs,
		PostLogoutRedirectURIs: b.PostLogoutRedirectURIs, GrantTypes: b.GrantTypes, Scopes: b.Scopes, Audience: b.Audience,
		TokenEndpointAuthMethod: b.TokenEndpointAuthMethod, Public: b.Public, FirstParty: b.FirstParty, JWKSURI: b.JWKSURI,
		BackchannelLogoutURI: b.BackchannelLogoutURI, AuthSigningAlg: b.TokenEndpointAuthSigningAlg,
		AccessTokenTTL: time.Duration(b.AccessTokenTTL) * time.Second, RefreshTokenTTL: time.Duration(b.RefreshTokenTTL) * time.Second,
		ApplicationType: b.ApplicationType, AllowedIntrospectors: b.AllowedIntrospectors, WebOrigins: b.WebOrigins,
		RequirePAR: b.RequirePAR, RequireDPoP: b.RequireDPoP, Profile: b.Profile}
	if b.JWKS != nil {
		var err error
		if spec.JWKS, err = toJoseJWKS(b.JWKS); err != nil {
			return CreatedOAuthClient{}, invalid(FieldError{"/jwks", "is not a JSON Web Key Set: " + err.Error()})
		}
	}
	cl, secret, err := a.clients.Create(ctx, spec, actor(c))
	if err != nil {
		return CreatedOAuthClient{}, clientError(err)
	}
	c.w.Header().Set("Location", "/api/v1/clients/"+cl.ID)
	return CreatedOAuthClient{OAuthClient: toClient(cl), ClientSecret: secret}, nil
}

func (a *API) listClients(ctx context.Context, _ *call, in *listClientsIn) (Page[OAuthClient], error) {
	limit := cmp(in.Limit, defaultLimit)
	after, err := a.cursors.decode("clients", in.Cursor)
	if err != nil {
		return Page[OAuthClient]{}, err
	}
	all, err := a.store.ListClients(ctx) // ordered by id; clients are few
	if err != nil {
		return Page[OAuthClient]{}, err
	}
	i, _ := slices.BinarySearchFunc(all, after, func(c *storage.Client, id string) int { return strings.Compare(c.ID, id) })
	for i < len(all) && all[i].ID <= after && after != "" {
		i++
	}
	rows := all[i:min(len(all), i+limit+1)]
	return page(a.cursors, "clients", rows, limit, func(c *storage.Client) string { return c.ID }, toClient), nil
}

func (a *API) getClient(ctx context.Context, c *call, in *clientByID) (OAuthClient, error) {
	cl, err := a.store.GetStoredClient(ctx, in.ID)
	if err != nil {
		return OAuthClient{}, clientError(err)
	}
	c.setETag(clientETag(cl))
	return toClient(cl), nil
}

func (a *API) deleteClient(ctx context.Context, c *call, in *clientByID) (NoContent, error) {
	return NoContent{}, clientError(a.clients.Delete(ctx, in.ID, actor(c)))
}

func (a *API) rotateSecret(ctx context.Context, c *call, in *clientByID) (OAuthClientSecret, error) {
	secret, err := a.clients.RotateSecret(ctx, in.ID, actor(c))
	var ice *provider.InvalidClientError
	if errors.As(err, &ice) {
		return OAuthClientSecret{}, conflict(ice.Error())
	}
	if err != nil {
		return OAuthClientSecret{}, clientError(err)
	}
	return OAuthClientSecret{ClientSecret: secret}, nil
}

// OAuthClientPatch is a JSON merge patch of a client: members absent stay,
// lists are replaced whole, null clears a text field. client_id and the
// secret cannot be patched (rotate the secret with POST .../secret).
type OAuthClientPatch struct {
	ClientName                  *string    `json:"client_name,omitempty" jsonschema:"minLength=1,maxLength=256"`
	RedirectURIs                *[]string  `json:"redirect_uris,omitempty" jsonschema:"maxItems=100"`
	PostLogoutRedirectURIs      *[]string  `json:"post_logout_redirect_uris,omitempty" jsonschema:"maxItems=100"`
	GrantTypes                  *[]string  `json:"grant_types,omitempty" jsonschema:"maxItems=10"`
	Scopes                      *[]string  `json:"scopes,omitempty" jsonschema:"maxItems=100"`
	Audience                    *[]string  `json:"audience,omitempty" jsonschema:"maxItems=100"`
	TokenEndpointAuthMethod     *string    `json:"token_endpoint_auth_method,omitempty" jsonschema:"enum=client_secret_basic,enum=client_secret_post,enum=private_key_jwt,enum=none"`
	TokenEndpointAuthSigningAlg nullString `json:"token_endpoint_auth_signing_alg,omitzero"`
	Public                      *bool      `json:"public,omitempty"`
	ApplicationType             *string    `json:"application_type,omitempty" jsonschema:"enum=web,enum=native"`
	FirstParty                  *bool      `json:"first_party,omitempty"`
	JWKS                        *JWKS      `json:"jwks,omitempty"`
	JWKSURI                     nullString `json:"jwks_uri,omitzero"`
	BackchannelLogoutURI        nullString `json:"backchannel_logout_uri,omitzero"`
	AllowedIntrospectors        *[]string  `json:"allowed_introspectors,omitempty" jsonschema:"maxItems=100"`
	WebOrigins                  *[]string  `json:"web_origins,omitempty" jsonschema:"maxItems=20,description=Replaces the list; [] goes back to the origins of the redirect URIs."`
	RequirePAR                  *bool      `json:"require_pushed_authorization_requests,omitempty"`
	RequireDPoP                 *bool      `json:"dpop_bound_access_tokens,omitempty"`
	Profile                     nullString `json:"profile,omitzero" jsonschema:"description=fapi2, or null for none."`
	AccessTokenTTL              *int       `json:"access_token_ttl,omitempty" jsonschema:"minimum=0,description=Seconds; 0: tokens.access_token_ttl."`
	RefreshTokenTTL             *int       `json:"refresh_token_ttl,omitempty" jsonschema:"minimum=0,description=Seconds; 0: tokens.refresh_token_ttl."`
}

// UpdatedOAuthClient is a client after an update, with a secret only when the
// update gave it one (a change to a secret-based auth method).
type UpdatedOAuthClient = CreatedOAuthClient

type patchClientIn struct {
	ID      string `path:"id"`
	IfMatch string `header:"If-Match" doc:"The ETag of the client as last read: the update happens only if it is still current."`
	Body    OAuthClientPatch
}

// clientETag is the version of a client.
func clientETag(c *storage.Client) string {
	return versionTag(toClient(c))
}

var errStaleClient = problem(http.StatusPreconditionFailed, "precondition-failed", "the client changed since it was read: read it again")

func (a *API) patchClient(ctx context.Context, c *call, in *patchClientIn) (UpdatedOAuthClient, error) {
	b := in.Body
	var jwksErr error
	edit := func(s *provider.ClientSpec) {
		setIf(&s.Name, b.ClientName)
		setIf(&s.RedirectURIs, b.RedirectURIs)
		setIf(&s.PostLogoutRedirectURIs, b.PostLogoutRedirectURIs)
		setIf(&s.GrantTypes, b.GrantTypes)
		setIf(&s.Scopes, b.Scopes)
		setIf(&s.Audience, b.Audience)
		setIf(&s.TokenEndpointAuthMethod, b.TokenEndpointAuthMethod)
		setIf(&s.AuthSigningAlg, b.TokenEndpointAuthSigningAlg.ptr())
		setIf(&s.Public, b.Public)
		setIf(&s.ApplicationType, b.ApplicationType)
		setIf(&s.FirstParty, b.FirstParty)
		setIf(&s.JWKSURI, b.JWKSURI.ptr())
		setIf(&s.BackchannelLogoutURI, b.BackchannelLogoutURI.ptr())
		setIf(&s.AllowedIntrospectors, b.AllowedIntrospectors)
		setIf(&s.WebOrigins, b.WebOrigins)
		setIf(&s.RequirePAR, b.RequirePAR)
		setIf(&s.RequireDPoP, b.RequireDPoP)
		setIf(&s.Profile, b.Profile.ptr())
		if b.AccessTokenTTL != nil {
			s.AccessTokenTTL = time.Duration(*b.AccessTokenTTL) * time.Second
		}
		if b.RefreshTokenTTL != nil {
			s.RefreshTokenTTL = time.Duration(*b.RefreshTokenTTL) * time.Second
		}
		if b.JWKS != nil {
			s.JWKS, jwksErr = toJoseJWKS(b.JWKS)
		}
	}
	var ifMatch func(*storage.Client) error
	if want := in.IfMatch; want != "" {
		ifMatch = func(cl *storage.Client) error {
			if want != "*" && want != clientETag(cl) {
				return errStaleClient
			}
			return nil
		}
	}
	cl, secret, err := a.clients.Update(ctx, in.ID, edit, ifMatch, actor(c))
	if jwksErr != nil {
		return UpdatedOAuthClient{}, invalid(FieldError{"/jwks", "is not a JSON Web Key Set: " + jwksErr.Error()})
	}
	if err != nil {
		return UpdatedOAuthClient{}, clientError(err)
	}
	c.setETag(clientETag(cl))
	return UpdatedOAuthClient{OAuthClient: toClient(cl), ClientSecret: secret}, nil
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func toJoseJWKS(j *JWKS) (*jose.JSONWebKeySet, error) {
	raw, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	set := new(jose.JSONWebKeySet)
	return set, json.Unmarshal(raw, set)
}
