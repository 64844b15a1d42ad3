package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/authd/authd/provider"
	"github.com/authd/authd/storage"
)

// initialTokenJSON is how the CLI prints an initial access token; token
// appears only when it was just created.
type initialTokenJSON struct {
	ID          string     `json:"id"`
	Token       string     `json:"token,omitempty"`
	Description string     `json:"description"`
	Status      string     `json:"status"`
	MaxUses     int        `json:"max_uses"`
	Uses        int        `json:"uses"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

func toInitialTokenJSON(t *storage.InitialAccessToken, token string, now time.Time) initialTokenJSON {
	out := initialTokenJSON{ID: t.ID, Token: token, Description: t.Description, MaxUses: t.MaxUses, Uses: t.Uses,
		CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt}
	if !t.ExpiresAt.IsZero() {
		out.ExpiresAt = &t.ExpiresAt
	}
	if !t.RevokedAt.IsZero() {
		out.RevokedAt = &t.RevokedAt
	}
	switch {
	case !t.RevokedAt.IsZero():
		out.Status = "revoked"
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		out.Status = "expired"
	case t.MaxUses > 0 && t.Uses >= t.MaxUses:
		out.Status = "used_up"
	default:
		out.Status = "active"
	}
	return out
}

// registrationTokenCommand manages the initial access tokens that let
// their holders register clients at /oauth2/register (RFC 7591 §3).
func registrationTokenCommand(env *cliEnv) *cobra.Command {
	var spec provider.InitialTokenSpec
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an initial access token; prints it once",
		Long: `create makes an initial access token for dynamic client registration and
prints it once. Whoever holds it may register clients at /oauth2/register
(Authorization: Bearer TOKEN) until it expires, is used up or is revoked.
client_registration.enabled must be true for the endpoint to accept it.`,
		Example: `  authd clients registration-token create --description "CI pipeline" --max-uses 10
  authd clients registration-token create --expires-in 0 --description "partner onboarding"`,
		RunE: func(cmd *cobra.Command, _ []string) error { return registrationTokenCreate(cmd.Context(), env, spec) },
	}
	create.Flags().DurationVar(&spec.ExpiresIn, "expires-in", 24*time.Hour, "lifetime, e.g. 24h (0: never expires)")
	create.Flags().IntVar(&spec.MaxUses, "max-uses", 0, "how many clients it may register (0: no limit)")
	create.Flags().StringVar(&spec.Description, "description", "", "what the token is for")
	return group(&cobra.Command{
		Use:   "registration-token",
		Short: "Initial access tokens for dynamic client registration",
		Long: `registration-token manages the initial access tokens (RFC 7591 §3) that let
their holders register clients at /oauth2/register.`,
		Example: `  authd clients registration-token create --max-uses 1
  authd clients registration-token list
  authd clients registration-token revoke 0123456789abcdef`,
	},
		create,
		&cobra.Command{
			Use:     "list",
			Short:   "List the initial access tokens (without the tokens)",
			Example: "  authd clients registration-token list",
			RunE: func(cmd *cobra.Command, _ []string) error {
				ctx := cmd.Context()
				return withDeps(ctx, env, func(d *deps) error {
					ts, err := registrar(env.cfg, d).ListInitialTokens(ctx)
					if err != nil {
						return err
					}
					out := make([]initialTokenJSON, len(ts))
					for i, t := range ts {
						out[i] = toInitialTokenJSON(t, "", time.Now())
					}
					return printJSON(env, out)
				})
			},
		},
		revokeCommand(env, "TOKEN_ID", "registration token", "authd clients registration-token list",
			"clients it registered stay; remove them with `authd clients delete`", func(ctx context.Context, id string) error {
				return withDeps(ctx, env, func(d *deps) error { return registrar(env.cfg, d).RevokeInitialToken(ctx, id, cliActor) })
			}),
	)
}

func registrationTokenCreate(ctx context.Context, env *cliEnv, spec provider.InitialTokenSpec) error {
	return withDeps(ctx, env, func(d *deps) error {
		token, t, err := registrar(env.cfg, d).CreateInitialToken(ctx, spec, cliActor)
		if errors.As(err, new(*provider.InvalidClientError)) {
			return fmt.Errorf("invalid registration token:\n%w", err)
		}
		if err != nil {
			return err
		}
		if !env.cfg.ClientRegistration.Enabled {
			fmt.Fprintln(env.stderr, "warning: client_registration.enabled is false: the token is of no use until it is turned on")
		}
		return printJSON(env, toInitialTokenJSON(t, token, time.Now()))
	})
}
