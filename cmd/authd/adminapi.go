package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

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

func apikeysCommand(env *cliEnv) *cobra.Command {
	var spec apikey.Spec
	var scopes []string
	create := &cobra.Command{
		Use:   "create --name N --scope S ... [flags]",
		Short: "Create an admin API key; prints it once",
		Long: `create makes a key for the admin API (Authorization: Bearer KEY) and prints
it once; authd keeps only its hash. Scopes: <resource>:read or :write (users,
clients, ...), scim, authz:check, admin (everything).`,
		Example: `  authd apikeys create --name provisioning --scope users:write --scope clients:read
  authd apikeys create --name scim-sync --scope scim --expires-in 2160h`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, s := range scopes {
				spec.Scopes = append(spec.Scopes, strings.Fields(s)...)
			}
			return apikeysCreate(cmd.Context(), env, spec)
		},
	}
	create.Flags().StringVar(&spec.Name, "name", "", "what the key is for (required)")
	create.Flags().StringArrayVar(&scopes, "scope", nil, "scope (repeatable or space-separated): <resource>:read|write, scim, authz:check, admin")
	create.Flags().StringVar(&spec.Tier, "tier", admin.DefaultTier, "rate limit tier (admin.tiers)")
	create.Flags().DurationVar(&spec.ExpiresIn, "expires-in", 0, "lifetime, e.g. 720h (default admin.api_keys.default_lifetime)")
	return group(&cobra.Command{
		Use:   "apikeys",
		Short: "Create, list and revoke admin API keys",
		Long: `apikeys manages the keys that authenticate calls to the admin API under
/api/v1/. Revoked keys are refused by running instances within
cache.poll_interval.`,
		Example: `  authd apikeys create --name ops --scope admin
  authd apikeys list
  authd apikeys revoke ak_0123456789abcdef`,
	},
		create,
		&cobra.Command{
			Use:     "list",
			Short:   "List the API keys (without the keys)",
			Example: "  authd apikeys list",
			RunE: func(cmd *cobra.Command, _ []string) error {
				ctx := cmd.Context()
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
			},
		},
		revokeCommand(env, "KEY_ID", "API key", "authd apikeys list",
			"running instances refuse the key within cache.poll_interval", func(ctx context.Context, id string) error {
				return withAPIKeys(ctx, env, func(s *apikey.Service) error { return s.Revoke(ctx, id, cliActor) })
			}),
	)
}

func apikeysCreate(ctx context.Context, env *cliEnv, spec apikey.Spec) error {
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

// revokeCommand is a "<command> revoke ID": revoke does it,
// storage.ErrNotFound when there is no such what (list is the command that
// lists them); the answer is {"id", "revoked": true, "note"}.
func revokeCommand(env *cliEnv, arg, what, list, note string, revoke func(ctx context.Context, id string) error) *cobra.Command {
	return &cobra.Command{
		Use:     "revoke " + arg,
		Short:   "Revoke " + article(what) + " " + what,
		Long:    "revoke stops the " + what + " from working: " + note + ".",
		Example: "  " + list + "\n  " + strings.TrimSuffix(list, " list") + " revoke 0123456789abcdef",
		Args:    needArgs(what + " id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch err := revoke(cmd.Context(), args[0]); {
			case errors.Is(err, storage.ErrNotFound):
				return withHint(fmt.Errorf("no %s with id %q", what, args[0]), "List them with '"+list+"'.")
			case err != nil:
				return err
			}
			return printJSON(env, map[string]any{"id": args[0], "revoked": true, "note": note})
		},
	}
}

func article(noun string) string {
	if strings.ContainsRune("aeiouAEIOU", rune(noun[0])) {
		return "an"
	}
	return "a"
}
