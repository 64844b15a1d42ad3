package main

import (
	"context"
	"errors"
	"fmt"
)

func migrateCmd(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) != 1 || (args[0] != "up" && args[0] != "status") {
		fmt.Fprintln(env.stderr, "usage: authd migrate up|status")
		return usageError{errors.New("want migrate up or migrate status")}
	}
	d, err := openDeps(ctx, env, false)
	if err != nil {
		return err
	}
	defer d.Close()
	if args[0] == "up" {
		n, err := d.store.Migrate(ctx, d.log)
		if err != nil {
			return err
		}
		return printJSON(env, map[string]any{"applied": n})
	}
	st, err := d.store.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	return printJSON(env, st)
}
