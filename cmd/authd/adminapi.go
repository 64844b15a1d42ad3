package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/authd/authd/admin"
	"github.com/authd/authd/apikey"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/provider"
	"github.com/authd/authd/storage"
)

// apiKeys builds the API key service on d's store; it subscribes to the
// change feed, so a key revoked anywhere stops working here at the next
// poll.
func apiKeys(cfg Config, d *deps) (*apikey.Service, error) {
	s, err := apikey.New(cfg.Admin.APIKeys, d.store, d.keyring, cfg.Admin.HasTier, d.log)
	if err != nil {
		return nil, err
	}
	d.changes.Subscribe(storage.TopicAPIKey, s.Changed)
	return s, nil
}

// openAdminAPI builds the admin API over the services serve runs.
func openAdminAPI(cfg Config, d *deps, app *browserApp, p *provider.Provider, keys *apikey.Service) (*admin.API, error) {
	return admin.New(admin.Deps{
		Store: d.store, Accounts: app.accounts, Clients: clientService(cfg, d), APIKeys: keys, Sessions: app.sessions, Webhooks: app.webhooks,
		RotateKey: func(ctx context.Context, actor string) (*storage.SigningKey, error) {
			return rotateSigningKey(ctx, cfg, d, actor)
		},
		Tokens: p, Limiter: d.limiter, Tiers: cfg.Admin.Tiers, ClientTier: cfg.Admin.ClientTier, Keyring: d.keyring, Logger: d.log,
	})
}

func clientService(cfg Config, d *deps) provider.ClientService {
	return provider.ClientService{Store: d.store, Hasher: secrets.ClientSecretHasher{Keyring: d.keyring},
		MaxAccessTTL: cfg.Tokens.MaxAccessTokenTTL, SigningAlg: cfg.Keys.Algorithm, Changed: d.clients.Invalidate}
}

// registrar is dynamic client registration over the client service the
// CLI and the admin API use.
func registrar(cfg Config, d *deps) *provider.Registrar {
	return &provider.Registrar{Clients: clientService(cfg, d), Store: d.store, MAC: d.keyring}
}

// rotateSigningKey makes a new signing key and records keys.rotated.
func rotateSigningKey(ctx context.Context, cfg Config, d *deps, actor string) (*storage.SigningKey, error) {
	k, err := provider.CreateSigningKey(ctx, d.store, d.keyring, cfg.Keys.Algorithm, cfg.Keys.RSABits, time.Now())
	if err != nil {
		return nil, err
	}
	err = audit.Record(ctx, d.store, storage.AuditEvent{Type: storage.AuditKeysRotated, ActorID: actor,
		Details: map[string]any{"kid": k.KID, "algorithm": k.Algorithm}}, time.Now())
	return k, err
}

const apikeysUsage = "usage: authd apikeys create|list|revoke" // #nosec G101 -- a usage line, not a credential

func apikeysCmd(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.stderr, apikeysUsage)
		return usageError{errors.New("missing apikeys subcommand")}
	}
	switch args[0] {
	case "create":
		return apikeysCreate(ctx, env, args[1:])
	case "list":
		if len(args) != 1 {
			fmt.Fprintln(env.stderr, "usage: authd apikeys list")
			return usageError{errors.New("unexpected arguments")}
		}
		return withAPIKeys(ctx, env, func(s *apikey.Service) error {
			out := []admin.APIKey{}
			after := ""
			for {
				ks, err := s.List(ctx, after, 500)
				if err != nil {
					return err
				}
				for _, k := range ks {
					out = append(out, admin.ToAPIKey(k))
				}
				if len(ks) < 500 {
					return printJSON(env, out)
				}
				after = ks[len(ks)-1].ID
			}
		})
	case "revoke":
		return revokeByID(env, args, "usage: authd apikeys revoke KEY_ID", "API key",
			"running instances refuse the key within cache.poll_interval", func(id string) error {
				return withAPIKeys(ctx, env, func(s *apikey.Service) error { return s.Revoke(ctx, id, cliActor) })
			})
	}
	fmt.Fprintln(env.stderr, apikeysUsage)
	return usageError{fmt.Errorf("unknown apikeys subcommand %q", args[0])}
}

func apikeysCreate(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("apikeys create", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var spec apikey.Spec
	var scopes stringList
	fs.StringVar(&spec.Name, "name", "", "what the key is for (required)")
	fs.Var(&scopes, "scope", "scope (repeatable or space-separated): <resource>:read|write, scim, authz:check, admin")
	fs.StringVar(&spec.Tier, "tier", admin.DefaultTier, "rate limit tier (admin.tiers)")
	fs.DurationVar(&spec.ExpiresIn, "expires-in", 0, "lifetime, e.g. 720h (default admin.api_keys.default_lifetime)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	for _, s := range scopes {
		spec.Scopes = append(spec.Scopes, strings.Fields(s)...)
	}
	return withAPIKeys(ctx, env, func(s *apikey.Service) error {
		key, k, err := s.Create(ctx, spec, cliActor)
		var ie *apikey.InputError
		if errors.As(err, &ie) {
			return fmt.Errorf("--%s: %s", strings.ReplaceAll(strings.TrimSuffix(ie.Field, "s"), "_", "-"), ie.Reason)
		}
		if err != nil {
			return err
		}
		return printJSON(env, admin.CreatedAPIKey{APIKey: admin.ToAPIKey(k), Key: key})
	})
}

func withAPIKeys(ctx context.Context, env *cliEnv, fn func(s *apikey.Service) error) error {
	return withDeps(ctx, env, func(d *deps) error {
		s, err := apiKeys(env.cfg, d)
		if err != nil {
			return err
		}
		return fn(s)
	})
}

// revokeByID runs a "<command> revoke ID": args are the subcommand and the
// id; revoke does it, storage.ErrNotFound when there is no such what; the
// answer is {"id", "revoked": true, "note"}.
func revokeByID(env *cliEnv, args []string, usage, what, note string, revoke func(id string) error) error {
	if len(args) != 2 || strings.HasPrefix(args[1], "-") {
		fmt.Fprintln(env.stderr, usage)
		return usageError{fmt.Errorf("missing %s id", what)}
	}
	switch err := revoke(args[1]); {
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("no %s with id %q", what, args[1])
	case err != nil:
		return err
	}
	return printJSON(env, map[string]any{"id": args[1], "revoked": true, "note": note})
}
