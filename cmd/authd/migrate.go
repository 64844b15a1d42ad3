package main

import (
	"context"

	"github.com/spf13/cobra"
)

func migrateCommand(env *cliEnv) *cobra.Command {
	return group(&cobra.Command{
		Use:   "migrate",
		Short: "Apply or list database migrations",
		Long: `migrate manages the database schema. serve and the other commands apply
pending migrations themselves unless database.auto_migrate is false; then
run 'authd migrate up' before they start.`,
		Example: "  authd migrate status\n  authd migrate up",
	},
		&cobra.Command{
			Use:     "up",
			Short:   "Apply the pending migrations",
			Long:    `up applies every pending migration and prints {"applied": N}; it is safe to run again.`,
			Example: "  authd migrate up\n  AUTHD_DATABASE_URL=postgres://authd@db/authd authd migrate up",
			RunE:    func(cmd *cobra.Command, _ []string) error { return migrate(cmd.Context(), env, true) },
		},
		&cobra.Command{
			Use:     "status",
			Short:   "List the migrations and whether each is applied",
			Example: "  authd migrate status",
			RunE:    func(cmd *cobra.Command, _ []string) error { return migrate(cmd.Context(), env, false) },
		},
	)
}

func migrate(ctx context.Context, env *cliEnv, up bool) error {
	d, err := openDeps(ctx, env, false)
	if err != nil {
		return err
	}
	defer d.Close()
	if up {
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
