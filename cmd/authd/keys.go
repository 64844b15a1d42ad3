package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

func keysCmd(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) != 1 || (args[0] != "rotate" && args[0] != "list") {
		fmt.Fprintln(env.stderr, "usage: authd keys rotate|list")
		return usageError{errors.New("want keys rotate or keys list")}
	}
	return withDeps(ctx, env, func(d *deps) error {
		if args[0] == "rotate" {
			k, err := rotateSigningKey(ctx, env.cfg, d, cliActor)
			if err != nil {
				return err
			}
			return printJSON(env, map[string]any{"kid": k.KID, "algorithm": k.Algorithm, "created_at": k.CreatedAt,
				"note": "running instances switch to the new key within cache.poll_interval; retired keys stay in JWKS until their tokens expire"})
		}
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
