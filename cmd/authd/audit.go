package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/authd/authd/storage"
)

const auditUsage = "usage: authd audit list [--user ID] [--limit N] [--before EVENT_ID] | authd audit verify"

func auditCmd(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.stderr, auditUsage)
		return usageError{errors.New("missing audit subcommand")}
	}
	switch args[0] {
	case "list":
		return auditList(ctx, env, args[1:])
	case "verify":
		if len(args) != 1 {
			return usageError{fmt.Errorf("unexpected arguments: %v", args[1:])}
		}
		return withDeps(ctx, env, func(d *deps) error {
			if err := d.store.VerifyAuditChain(ctx); err != nil {
				return err
			}
			return printJSON(env, map[string]any{"intact": true})
		})
	}
	fmt.Fprintln(env.stderr, auditUsage)
	return usageError{fmt.Errorf("unknown audit subcommand %q", args[0])}
}

func auditList(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("audit list", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var f storage.AuditFilter
	fs.StringVar(&f.SubjectID, "user", "", "only events about this user id")
	fs.IntVar(&f.Limit, "limit", 100, "most events to list, newest first (1-1000)")
	fs.Int64Var(&f.Before, "before", 0, "only events older than this event id (the last id of the previous page)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	if f.Limit < 1 || f.Limit > 1000 {
		return usageError{fmt.Errorf("--limit must be between 1 and 1000, got %d", f.Limit)}
	}
	if f.Before < 0 {
		return usageError{fmt.Errorf("--before must be an event id, got %d", f.Before)}
	}
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
