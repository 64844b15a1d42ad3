package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/authd/authd/provider"
	"github.com/authd/authd/storage"
)

const registrationTokenUsage = "usage: authd clients registration-token create|list|revoke" // #nosec G101 -- a usage line, not a credential

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

// registrationTokenCmd manages the initial access tokens that let their
// holders register clients at /oauth2/register (RFC 7591 §3).
func registrationTokenCmd(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.stderr, registrationTokenUsage)
		return usageError{errors.New("missing registration-token subcommand")}
	}
	switch args[0] {
	case "create":
		return registrationTokenCreate(ctx, env, args[1:])
	case "list":
		if len(args) != 1 {
			fmt.Fprintln(env.stderr, "usage: authd clients registration-token list")
			return usageError{errors.New("unexpected arguments")}
		}
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
	case "revoke":
		return revokeByID(env, args, "usage: authd clients registration-token revoke TOKEN_ID", "registration token",
			"clients it registered stay; remove them with `authd clients delete`", func(id string) error {
				return withDeps(ctx, env, func(d *deps) error { return registrar(env.cfg, d).RevokeInitialToken(ctx, id, cliActor) })
			})
	}
	fmt.Fprintln(env.stderr, registrationTokenUsage)
	return usageError{fmt.Errorf("unknown registration-token subcommand %q", args[0])}
}

func registrationTokenCreate(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("clients registration-token create", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var spec provider.InitialTokenSpec
	fs.DurationVar(&spec.ExpiresIn, "expires-in", 24*time.Hour, "lifetime, e.g. 24h (0: never expires)")
	fs.IntVar(&spec.MaxUses, "max-uses", 0, "how many clients it may register (0: no limit)")
	fs.StringVar(&spec.Description, "description", "", "what the token is for")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
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
