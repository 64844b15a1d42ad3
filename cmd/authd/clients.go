package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/authd/authd/provider"
	"github.com/authd/authd/storage"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

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

const clientsUsage = "usage: authd clients create|update|list|get|delete|rotate-secret|registration-token"

func clientsCmd(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.stderr, clientsUsage)
		return usageError{errors.New("missing clients subcommand")}
	}
	switch args[0] {
	case "registration-token":
		return registrationTokenCmd(ctx, env, args[1:])
	case "create":
		return clientsCreate(ctx, env, args[1:])
	case "update":
		return clientsUpdate(ctx, env, args[1:])
	case "list":
		return withDeps(ctx, env, func(d *deps) error {
			cs, err := d.store.ListClients(ctx)
			if err != nil {
				return err
			}
			out := make([]clientJSON, len(cs))
			for i, c := range cs {
				out[i] = toClientJSON(c, "")
			}
			return printJSON(env, out)
		})
	case "get", "delete", "rotate-secret":
		if len(args) != 2 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintf(env.stderr, "usage: authd clients %s CLIENT_ID\n", args[0])
			return usageError{errors.New("missing client id")}
		}
		id := args[1]
		return withDeps(ctx, env, func(d *deps) error {
			svc := clientService(env.cfg, d)
			switch args[0] {
			case "delete":
				if err := svc.Delete(ctx, id, cliActor); err != nil {
					return clientErr(id, err)
				}
				return printJSON(env, map[string]any{"client_id": id, "deleted": true})
			case "rotate-secret":
				secret, err := svc.RotateSecret(ctx, id, cliActor)
				if err != nil {
					return clientErr(id, err)
				}
				return printJSON(env, map[string]any{"client_id": id, "client_secret": secret,
					"note": "the old secret stops working on running instances within cache.poll_interval"})
			}
			c, err := d.store.GetStoredClient(ctx, id)
			if err != nil {
				return clientErr(id, err)
			}
			return printJSON(env, toClientJSON(c, ""))
		})
	}
	fmt.Fprintln(env.stderr, clientsUsage)
	return usageError{fmt.Errorf("unknown clients subcommand %q", args[0])}
}

func clientErr(id string, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("client %q not found", id)
	}
	return err
}

func clientsCreate(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("clients create", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var spec provider.ClientSpec
	var redirects, postLogout, grants, scopes, audience, introspectors, origins stringList
	var jwksArg string
	fs.StringVar(&spec.Name, "name", "", "display name (required)")
	fs.StringVar(&spec.ID, "id", "", "client id (default: a random UUID)")
	fs.StringVar(&spec.Secret, "secret", "", "client secret (default: 256 random bits)")
	fs.Var(&redirects, "redirect-uri", "redirect URI (repeatable; required with authorization_code)")
	fs.Var(&postLogout, "post-logout-redirect-uri", "post-logout redirect URI (repeatable)")
	fs.Var(&grants, "grant-type", "authorization_code, refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:token-exchange or urn:ietf:params:oauth:grant-type:device_code (repeatable; default authorization_code refresh_token)")
	fs.Var(&scopes, "scope", "scope the client may request (repeatable or space-separated; default with authorization_code: openid profile email phone offline_access)")
	fs.Var(&audience, "audience", "audience the client may request (repeatable)")
	fs.Var(&introspectors, "allowed-introspector", "client id of a resource server that may introspect this client's refresh tokens (repeatable; the client itself always may)")
	fs.Var(&origins, "web-origin", "origin (https://app.example.com) the client's browser code calls the token and revocation endpoints from, for CORS (repeatable; default: the origins of the http(s) redirect URIs)")
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
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
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
func clientsUpdate(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(env.stderr, "usage: authd clients update CLIENT_ID [--name N] [--redirect-uri U ...] [--grant-type T ...] [--scope S ...] ...")
		return usageError{errors.New("missing client id")}
	}
	id := args[0]
	fs := flag.NewFlagSet("clients update", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var redirects, postLogout, grants, scopes, audience, introspectors, origins stringList
	name := fs.String("name", "", "display name")
	fs.Var(&redirects, "redirect-uri", "redirect URI (repeatable; replaces the list)")
	fs.Var(&postLogout, "post-logout-redirect-uri", "post-logout redirect URI (repeatable; replaces the list)")
	fs.Var(&grants, "grant-type", "grant type (repeatable; replaces the list)")
	fs.Var(&scopes, "scope", "scope (repeatable or space-separated; replaces the list)")
	fs.Var(&audience, "audience", "audience (repeatable; replaces the list)")
	fs.Var(&introspectors, "allowed-introspector", "client id that may introspect this client's refresh tokens (repeatable; replaces the list)")
	fs.Var(&origins, "web-origin", "origin for CORS (repeatable; replaces the list; --web-origin= alone: back to the redirect URIs' origins)")
	method := fs.String("token-endpoint-auth-method", "", "client_secret_basic, client_secret_post, private_key_jwt or none")
	firstParty := fs.Bool("first-party", false, "first-party client: consent is not asked")
	requirePAR := fs.Bool("require-par", false, "the client must push its authorization requests (--require-par=false: need not)")
	requireDPoP := fs.Bool("require-dpop", false, "every token request must carry a DPoP proof (--require-dpop=false: need not)")
	profile := fs.String("profile", "", "security profile: fapi2, or --profile= for none")
	backchannel := fs.String("backchannel-logout-uri", "", "back-channel logout URL (empty: none)")
	jwksURI := fs.String("jwks-uri", "", "URL of the client's JWKS (empty: none)")
	accessTTL := fs.Duration("access-token-ttl", 0, "access token lifetime (0: tokens.access_token_ttl)")
	refreshTTL := fs.Duration("refresh-token-ttl", 0, "refresh token lifetime (0: tokens.refresh_token_ttl)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if len(set) == 0 {
		return usageError{errors.New("nothing to update: name a setting")}
	}
	edit := func(s *provider.ClientSpec) {
		for flagName, apply := range map[string]func(){
			"name": func() { s.Name = *name }, "redirect-uri": func() { s.RedirectURIs = redirects },
			"post-logout-redirect-uri": func() { s.PostLogoutRedirectURIs = postLogout }, "grant-type": func() { s.GrantTypes = grants },
			"scope": func() { s.Scopes = scopes }, "audience": func() { s.Audience = audience },
			"allowed-introspector": func() { s.AllowedIntrospectors = introspectors },
			"web-origin": func() {
				s.WebOrigins = slices.DeleteFunc(slices.Clone(origins), func(o string) bool { return o == "" })
			},
			"token-endpoint-auth-method": func() { s.TokenEndpointAuthMethod = *method }, "first-party": func() { s.FirstParty = *firstParty },
			"require-par": func() { s.RequirePAR = *requirePAR }, "require-dpop": func() { s.RequireDPoP = *requireDPoP },
			"profile":                func() { s.Profile = *profile },
			"backchannel-logout-uri": func() { s.BackchannelLogoutURI = *backchannel }, "jwks-uri": func() { s.JWKSURI = *jwksURI },
			"access-token-ttl": func() { s.AccessTokenTTL = *accessTTL }, "refresh-token-ttl": func() { s.RefreshTokenTTL = *refreshTTL },
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
