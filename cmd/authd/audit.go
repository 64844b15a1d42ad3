package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/authd/authd/storage"
)

func auditCommand(env *cliEnv) *cobra.Command {
	var f storage.AuditFilter
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit events, newest first",
		Long: `list prints audit events, newest first, as JSON. Page with --before: the
last (smallest) event id of the previous page.`,
		Example: `  authd audit list
  authd audit list --user 0190b3c4-1d2e-7000-8000-000000000001
  authd audit list --limit 50 --before 1234`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.Limit < 1 || f.Limit > 1000 {
				return usageError{fmt.Errorf("--limit must be between 1 and 1000, got %d", f.Limit)}
			}
			if f.Before < 0 {
				return usageError{fmt.Errorf("--before must be an event id, got %d", f.Before)}
			}
			return auditList(cmd.Context(), env, f)
		},
	}
	list.Flags().StringVar(&f.SubjectID, "user", "", "only events about this user id")
	list.Flags().IntVar(&f.Limit, "limit", 100, "most events to list, newest first (1-1000)")
	list.Flags().Int64Var(&f.Before, "before", 0, "only events older than this event id (the last id of the previous page)")
	return group(&cobra.Command{
		Use:   "audit",
		Short: "Read the audit trail, check its hash chain",
		Long: `audit reads the audit trail: who changed which user, client, key or setting,
and when. Each event carries the hash of the one before, so that a changed or
removed event breaks the chain; verify checks it.`,
		Example: "  authd audit list --limit 20\n  authd audit verify",
	},
		list,
		&cobra.Command{
			Use:   "verify",
			Short: "Check the audit trail's hash chain",
			Long: `verify recomputes the hash chain of the whole audit trail and prints
{"intact": true}, or fails naming the first event that does not match.`,
			Example: "  authd audit verify",
			RunE: func(cmd *cobra.Command, _ []string) error {
				ctx := cmd.Context()
				return withDeps(ctx, env, func(d *deps) error {
					if err := d.store.VerifyAuditChain(ctx); err != nil {
						return err
					}
					return printJSON(env, map[string]any{"intact": true})
				})
			},
		},
	)
}

func auditList(ctx context.Context, env *cliEnv, f storage.AuditFilter) error {
	return withDeps(ctx, env, func(d *deps) error {
		es, err := d.store.ListAuditEvents(ctx, f)
		if err != nil {
			return err
		}
		if es == nil {
			es = []*storage.AuditEvent{}
		}
		return printJSON(env, es)
	})
}
