package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/authd/authd/provider"
	"github.com/authd/authd/storage"
)

// clientJSON is how the CLI prints a client; client_secret appears only
// when it was just created.
type clientJSON struct {
	*storage.Client
	ClientSecret    string `json:"client_secret,omitempty"`
	AccessTokenTTL  string `json:"access_token_ttl,omitempty"`
	RefreshTokenTTL string `json:"refresh_token_ttl,omitempty"`
}

func toClientJSON(c *storage.Client, secret string) clientJSON {
	cp := *c
	for _, l := range []*[]string{&cp.RedirectURIs, &cp.PostLogoutRedirectURIs, &cp.GrantTypes, &cp.ResponseTypes, &cp.Scopes, &cp.Audience} {
		if *l == nil {
			*l = []string{}
		}
	}
	out := clientJSON{Client: &cp, ClientSecret: secret}
	if c.AccessTokenTTL > 0 {
		out.AccessTokenTTL = c.AccessTokenTTL.String()
	}
	if c.RefreshTokenTTL > 0 {
		out.RefreshTokenTTL = c.RefreshTokenTTL.String()
	}
	return out
}

func clientsCommand(env *cliEnv) *cobra.Command {
	byID := func(use, short, long, example string, fn func(ctx context.Context, d *deps, id string) error) *cobra.Command {
		return &cobra.Command{
			Use: use + " CLIENT_ID", Short: short, Long: long, Example: example,
			Args: needArgs("client id"),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withDeps(cmd.Context(), env, func(d *deps) error { return fn(cmd.Context(), d, args[0]) })
			},
		}
	}
	return group(&cobra.Command{
		Use:   "clients",
		Short: "Register and manage OAuth clients",
		Long: `clients registers and manages the OAuth 2.0 / OpenID Connect clients
(relying parties). Changes reach every running instance within
cache.poll_interval.`,
		Example: `  authd clients create --name demo --grant-type client_credentials
  authd clients list
  authd clients get 3f6c0d2e-2b7a-4a55-9a43-0c1f8f0b6a1e`,
	},
		clientsCreateCommand(env),
		clientsUpdateCommand(env),
		&cobra.Command{
			Use:     "list",
			Short:   "List the clients (without their secrets)",
			Example: "  authd clients list\n  authd clients list | jq -r '.[].client_id'",
			RunE: func(cmd *cobra.Command, _ []string) error {
				return withDeps(cmd.Context(), env, func(d *deps) error {
					cs, err := d.store.ListClients(cmd.Context())
					if err != nil {
						return err
					}
					out := make([]clientJSON, len(cs))
					for i, c := range cs {
						out[i] = toClientJSON(c, "")
					}
					return printJSON(env, out)
				})
			},
		},
		byID("get", "Show one client (without its secret)", "", "  authd clients get 3f6c0d2e-2b7a-4a55-9a43-0c1f8f0b6a1e",
			func(ctx context.Context, d *deps, id string) error {
				c, err := d.store.GetStoredClient(ctx, id)
				if err != nil {
					return clientErr(id, err)
				}
				return printJSON(env, toClientJSON(c, ""))
			}),
		byID("delete", "Delete a client", "delete removes the client; its tokens stop working on running instances within cache.poll_interval.",
			"  authd clients delete 3f6c0d2e-2b7a-4a55-9a43-0c1f8f0b6a1e",
			func(ctx context.Context, d *deps, id string) error {
				if err := clientService(env.cfg, d).Delete(ctx, id, cliActor); err != nil {
					return clientErr(id, err)
				}
				return printJSON(env, map[string]any{"client_id": id, "deleted": true})
			}),
		byID("rotate-secret", "Give a client a new secret (printed once)",
			"rotate-secret generates a new client secret and prints it once; the old one stops working on running instances within cache.poll_interval.",
			"  authd clients rotate-secret 3f6c0d2e-2b7a-4a55-9a43-0c1f8f0b6a1e",
			func(ctx context.Context, d *deps, id string) error {
				secret, err := clientService(env.cfg, d).RotateSecret(ctx, id, cliActor)
				if err != nil {
					return clientErr(id, err)
				}
				return printJSON(env, map[string]any{"client_id": id, "client_secret": secret,
					"note": "the old secret stops working on running instances within cache.poll_interval"})
			}),
		registrationTokenCommand(env),
	)
}

func clientErr(id string, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return withHint(fmt.Errorf("client %q not found", id), "List the clients with 'authd clients list'.")
	}
	return err
}

func clientsCreateCommand(env *cliEnv) *cobra.Command {
	var spec provider.ClientSpec
	var redirects, postLogout, grants, scopes, audience, introspectors, origins []string
	var jwksArg string
	cmd := &cobra.Command{
		Use:   "create --name N [flags]",
		Short: "Register a client; prints its secret once",
		Long: `create registers a client and prints it as JSON, with its client_secret (shown
only now). Defaults: grant types authorization_code and refresh_token (which
need a --redirect-uri), auth method client_secret_basic (none with --public),
a generated 256-bit secret, application type web (redirect URIs match
exactly; native: http://127.0.0.1 and http://[::1] ones match with any port,
RFC 8252). Every problem with the registration is reported at once.`,
		Example: `  authd clients create --name "Web app" --redirect-uri https://app.example.com/callback
  authd clients create --name SPA --public --redirect-uri http://localhost:3000/callback
  authd clients create --name worker --grant-type client_credentials --scope api:read
  authd clients create --name partner --grant-type client_credentials \
      --token-endpoint-auth-method private_key_jwt --jwks @partner-jwks.json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clientsCreate(cmd.Context(), env, spec, jwksArg, [][]string{redirects, postLogout, grants, scopes, audience, introspectors, origins})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&spec.Name, "name", "", "display name (required)")
	fs.StringVar(&spec.ID, "id", "", "client id (default: a random UUID)")
	fs.StringVar(&spec.Secret, "secret", "", "client secret (default: 256 random bits)")
	fs.StringArrayVar(&redirects, "redirect-uri", nil, "redirect URI (repeatable; required with authorization_code)")
	fs.StringArrayVar(&postLogout, "post-logout-redirect-uri", nil, "post-logout redirect URI (repeatable)")
	fs.StringArrayVar(&grants, "grant-type", nil, "authorization_code, refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:token-exchange or urn:ietf:params:oauth:grant-type:device_code (repeatable; default authorization_code refresh_token)")
	fs.StringArrayVar(&scopes, "scope", nil, "scope the client may request (repeatable or space-separated; default with authorization_code: openid profile email phone offline_access)")
	fs.StringArrayVar(&audience, "audience", nil, "audience the client may request (repeatable)")
	fs.StringArrayVar(&introspectors, "allowed-introspector", nil, "client id of a resource server that may introspect this client's refresh tokens (repeatable; the client itself always may)")
	fs.StringArrayVar(&origins, "web-origin", nil, "origin (https://app.example.com) the client's browser code calls the token and revocation endpoints from, for CORS (repeatable; default: the origins of the http(s) redirect URIs)")
	fs.StringVar(&spec.TokenEndpointAuthMethod, "token-endpoint-auth-method", "", "client_secret_basic (default), client_secret_post, private_key_jwt or none")
	fs.BoolVar(&spec.Public, "public", false, "public client (no secret; PKCE required)")
	fs.StringVar(&spec.ApplicationType, "application-type", "", "web (default: redirect URIs match exactly) or native (an app on the device: http://127.0.0.1 and http://[::1] redirect URIs match with any port, RFC 8252)")
	fs.BoolVar(&spec.FirstParty, "first-party", false, "first-party client: consent is not asked")
	fs.BoolVar(&spec.RequirePAR, "require-par", false, "the client must push its authorization requests to /oauth2/par (RFC 9126)")
	fs.BoolVar(&spec.RequireDPoP, "require-dpop", false, "every token request must carry a DPoP proof, so every access token is DPoP-bound (RFC 9449)")
	fs.StringVar(&spec.Profile, "profile", "", "security profile: fapi2 (FAPI 2.0: private_key_jwt with PS256, ES256 or EdDSA, PAR, PKCE, DPoP; needs keys.algorithm ES256 or EdDSA)")
	fs.StringVar(&spec.BackchannelLogoutURI, "backchannel-logout-uri", "", "URL that receives back-channel logout tokens")
	fs.StringVar(&spec.JWKSURI, "jwks-uri", "", "URL of the client's JWKS (private_key_jwt)")
	fs.StringVar(&jwksArg, "jwks", "", "the client's JWKS, inline JSON or @file (private_key_jwt)")
	fs.StringVar(&spec.AuthSigningAlg, "token-endpoint-auth-signing-alg", "", "JWS alg of private_key_jwt assertions (default: the JWKS key's alg, else RS256)")
	fs.DurationVar(&spec.AccessTokenTTL, "access-token-ttl", 0, "access token lifetime (default: tokens.access_token_ttl)")
	fs.DurationVar(&spec.RefreshTokenTTL, "refresh-token-ttl", 0, "refresh token lifetime (default: tokens.refresh_token_ttl)")
	return cmd
}

func clientsCreate(ctx context.Context, env *cliEnv, spec provider.ClientSpec, jwksArg string, lists [][]string) error {
	redirects, postLogout, grants, scopes, audience, introspectors, origins := lists[0], lists[1], lists[2], lists[3], lists[4], lists[5], lists[6]
	spec.RedirectURIs, spec.PostLogoutRedirectURIs = redirects, postLogout
	spec.GrantTypes, spec.Scopes, spec.Audience = grants, scopes, audience
	spec.AllowedIntrospectors, spec.WebOrigins = introspectors, origins
	if jwksArg != "" {
		raw := []byte(jwksArg)
		if strings.HasPrefix(jwksArg, "@") {
			var err error
			if raw, err = os.ReadFile(jwksArg[1:]); err != nil {
				return fmt.Errorf("--jwks: %w", err)
			}
		}
		spec.JWKS = new(jose.JSONWebKeySet)
		if err := json.Unmarshal(raw, spec.JWKS); err != nil {
			return fmt.Errorf("--jwks: not a JSON Web Key Set: %w", err)
		}
	}
	if spec.Secret != "" && len(spec.Secret) < 16 {
		fmt.Fprintln(env.stderr, "warning: a client secret shorter than 16 characters is easy to guess; omit --secret to generate one")
	}
	return withDeps(ctx, env, func(d *deps) error {
		c, secret, err := clientService(env.cfg, d).Create(ctx, spec, cliActor)
		switch {
		case errors.Is(err, storage.ErrConflict):
			return fmt.Errorf("a client with id %q already exists", spec.ID)
		case errors.As(err, new(*provider.InvalidClientError)):
			return fmt.Errorf("invalid client:\n%w", err)
		case err != nil:
			return err
		}
		return printJSON(env, toClientJSON(c, secret))
	})
}

// withDeps opens the stores (migrating if configured), runs fn, closes.
func withDeps(ctx context.Context, env *cliEnv, fn func(d *deps) error) error {
	d, err := openDeps(ctx, env, true)
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(d)
}

func printJSON(env *cliEnv, v any) error {
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// clientsUpdate changes the settings named by flags (a list flag replaces
// the whole list); the registration rules apply to the result.
func clientsUpdateCommand(env *cliEnv) *cobra.Command {
	var redirects, postLogout, grants, scopes, audience, introspectors, origins []string
	var name, method, profile, backchannel, jwksURI string
	var firstParty, requirePAR, requireDPoP bool
	var accessTTL, refreshTTL time.Duration
	cmd := &cobra.Command{
		Use:   "update CLIENT_ID [flags]",
		Short: "Change the settings named by flags",
		Long: `update changes the settings named by flags and leaves the others alone; a
list flag (--redirect-uri, --scope, ...) replaces the whole list. The
registration rules apply to the result, every problem reported at once.
--public, --application-type, --jwks and --token-endpoint-auth-signing-alg
are fixed at creation.`,
		Example: `  authd clients update 3f6c0d2e-2b7a-4a55-9a43-0c1f8f0b6a1e --name "New name"
  authd clients update web-app --redirect-uri https://app.example.com/cb --redirect-uri https://app.example.com/cb2
  authd clients update web-app --require-par=false --profile=`,
		Args: needArgs("client id"),
	}
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "display name")
	fs.StringArrayVar(&redirects, "redirect-uri", nil, "redirect URI (repeatable; replaces the list)")
	fs.StringArrayVar(&postLogout, "post-logout-redirect-uri", nil, "post-logout redirect URI (repeatable; replaces the list)")
	fs.StringArrayVar(&grants, "grant-type", nil, "grant type (repeatable; replaces the list)")
	fs.StringArrayVar(&scopes, "scope", nil, "scope (repeatable or space-separated; replaces the list)")
	fs.StringArrayVar(&audience, "audience", nil, "audience (repeatable; replaces the list)")
	fs.StringArrayVar(&introspectors, "allowed-introspector", nil, "client id that may introspect this client's refresh tokens (repeatable; replaces the list)")
	fs.StringArrayVar(&origins, "web-origin", nil, "origin for CORS (repeatable; replaces the list; --web-origin= alone: back to the redirect URIs' origins)")
	fs.StringVar(&method, "token-endpoint-auth-method", "", "client_secret_basic, client_secret_post, private_key_jwt or none")
	fs.BoolVar(&firstParty, "first-party", false, "first-party client: consent is not asked")
	fs.BoolVar(&requirePAR, "require-par", false, "the client must push its authorization requests (--require-par=false: need not)")
	fs.BoolVar(&requireDPoP, "require-dpop", false, "every token request must carry a DPoP proof (--require-dpop=false: need not)")
	fs.StringVar(&profile, "profile", "", "security profile: fapi2, or --profile= for none")
	fs.StringVar(&backchannel, "backchannel-logout-uri", "", "back-channel logout URL (empty: none)")
	fs.StringVar(&jwksURI, "jwks-uri", "", "URL of the client's JWKS (empty: none)")
	fs.DurationVar(&accessTTL, "access-token-ttl", 0, "access token lifetime (0: tokens.access_token_ttl)")
	fs.DurationVar(&refreshTTL, "refresh-token-ttl", 0, "refresh token lifetime (0: tokens.refresh_token_ttl)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id := args[0]
		set := map[string]bool{}
		fs.Visit(func(f *pflag.Flag) { set[f.Name] = true })
		delete(set, "config")
		if len(set) == 0 {
			return usageError{errors.New("nothing to update: name a setting")}
		}
		ctx := cmd.Context()
		edit := func(s *provider.ClientSpec) {
			for flagName, apply := range map[string]func(){
				"name": func() { s.Name = name }, "redirect-uri": func() { s.RedirectURIs = redirects },
				"post-logout-redirect-uri": func() { s.PostLogoutRedirectURIs = postLogout }, "grant-type": func() { s.GrantTypes = grants },
				"scope": func() { s.Scopes = scopes }, "audience": func() { s.Audience = audience },
				"allowed-introspector": func() { s.AllowedIntrospectors = introspectors },
				"web-origin": func() {
					s.WebOrigins = slices.DeleteFunc(slices.Clone(origins), func(o string) bool { return o == "" })
				},
				"token-endpoint-auth-method": func() { s.TokenEndpointAuthMethod = method }, "first-party": func() { s.FirstParty = firstParty },
				"require-par": func() { s.RequirePAR = requirePAR }, "require-dpop": func() { s.RequireDPoP = requireDPoP },
				"profile":                func() { s.Profile = profile },
				"backchannel-logout-uri": func() { s.BackchannelLogoutURI = backchannel }, "jwks-uri": func() { s.JWKSURI = jwksURI },
				"access-token-ttl": func() { s.AccessTokenTTL = accessTTL }, "refresh-token-ttl": func() { s.RefreshTokenTTL = refreshTTL },
			} {
				if set[flagName] {
					apply()
				}
			}
		}
		return withDeps(ctx, env, func(d *deps) error {
			c, secret, err := clientService(env.cfg, d).Update(ctx, id, edit, nil, cliActor)
			switch {
			case errors.As(err, new(*provider.InvalidClientError)):
				return fmt.Errorf("invalid client:\n%w", err)
			case err != nil:
				return clientErr(id, err)
			}
			return printJSON(env, toClientJSON(c, secret))
		})
	}
	return cmd
}
