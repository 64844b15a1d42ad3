package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"
)

func keysCommand(env *cliEnv) *cobra.Command {
	return group(&cobra.Command{
		Use:   "keys",
		Short: "Rotate or list the signing keys",
		Long: `keys manages the keys that sign ID tokens, access tokens and logout tokens
(published at the JWKS endpoint). The algorithm of a new key is keys.algorithm.`,
		Example: "  authd keys list\n  authd keys rotate",
	},
		&cobra.Command{
			Use:   "rotate",
			Short: "Make a new signing key the active one",
			Long: `rotate creates a signing key of keys.algorithm and makes it the active one.
Running instances switch to it within cache.poll_interval; retired keys stay
in JWKS until the tokens they signed expire.`,
			Example: "  authd keys rotate\n  AUTHD_KEYS_ALGORITHM=ES256 authd keys rotate",
			RunE:    func(cmd *cobra.Command, _ []string) error { return keysRotate(cmd.Context(), env) },
		},
		&cobra.Command{
			Use:     "list",
			Short:   "List the signing keys, newest first",
			Example: "  authd keys list",
			RunE:    func(cmd *cobra.Command, _ []string) error { return keysList(cmd.Context(), env) },
		},
	)
}

func keysRotate(ctx context.Context, env *cliEnv) error {
	return withDeps(ctx, env, func(d *deps) error {
		k, err := rotateSigningKey(ctx, env.cfg, d, cliActor)
		if err != nil {
			return err
		}
		return printJSON(env, map[string]any{"kid": k.KID, "algorithm": k.Algorithm, "created_at": k.CreatedAt,
			"note": "running instances switch to the new key within cache.poll_interval; retired keys stay in JWKS until their tokens expire"})
	})
}

func keysList(ctx context.Context, env *cliEnv) error {
	return withDeps(ctx, env, func(d *deps) error {
		keys, err := d.store.ListKeys(ctx)
		if err != nil {
			return err
		}
		type keyJSON struct {
			KID       string     `json:"kid"`
			Algorithm string     `json:"algorithm"`
			Active    bool       `json:"active"`
			CreatedAt time.Time  `json:"created_at"`
			RetiredAt *time.Time `json:"retired_at,omitempty"`
		}
		out := make([]keyJSON, len(keys))
		for i, k := range keys {
			out[i] = keyJSON{k.KID, k.Algorithm, k.Active(), k.CreatedAt, k.RetiredAt}
		}
		return printJSON(env, out)
	})
}
