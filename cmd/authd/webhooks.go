package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/authd/authd/admin"
	"github.com/authd/authd/internal/jobs"
	"github.com/authd/authd/provider"
	"github.com/authd/authd/storage"
	storesql "github.com/authd/authd/storage/sql"
	"github.com/authd/authd/webhook"
)

// webhookService builds the webhook service on d's store. q and m queue
// deliveries and alert mail, and signer signs Shared Signals events; the
// CLI passes an inserter and neither a mailer nor a signer.
func webhookService(cfg Config, d *deps, q webhook.Jobs, m webhook.Mailer, signer webhook.Signer) (*webhook.Service, error) {
	iu, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	s, err := webhook.New(cfg.Webhooks, cfg.Alerts, webhook.Deps{Store: d.store, Sealer: d.keyring, Jobs: q, Mailer: m,
		Logger: d.log, Loopback: provider.IsLoopbackHost(iu.Hostname()),
		Issuer: cfg.Issuer, Signer: signer, Directory: d.store, WrapTransport: d.tracing.Transport})
	if err != nil {
		return nil, err
	}
	d.changes.Subscribe(storage.TopicWebhook, s.Changed)
	return s, nil
}

func webhooksCommand(env *cliEnv) *cobra.Command {
	const id = "wh_0123456789abcdef"
	byID := func(use, short, long, example string, fn func(ctx context.Context, s *webhook.Service, id string) error) *cobra.Command {
		return &cobra.Command{
			Use: use + " ID", Short: short, Long: long, Example: example,
			Args: needArgs("id"),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withWebhooks(cmd.Context(), env, func(s *webhook.Service) error { return fn(cmd.Context(), s, args[0]) })
			},
		}
	}
	return group(&cobra.Command{
		Use:   "webhooks",
		Short: "Register webhook endpoints, see and replay their deliveries",
		Long: `webhooks manages the endpoints authd POSTs signed events to (user.created,
client.deleted, ...), and their deliveries: failed ones are retried on a
schedule, and can be retried or replayed by hand.`,
		Example: `  authd webhooks create --url https://hooks.example.com/authd --event 'user.*'
  authd webhooks deliveries ` + id + ` --status failed
  authd webhooks replay ` + id + ` --since 24h`,
	},
		webhooksCreateCommand(env),
		&cobra.Command{
			Use:     "list",
			Short:   "List the webhook endpoints",
			Example: "  authd webhooks list",
			RunE: func(cmd *cobra.Command, _ []string) error {
				ctx := cmd.Context()
				return withWebhooks(ctx, env, func(s *webhook.Service) error {
					out := []admin.Webhook{}
					after := ""
					for {
						ws, err := s.List(ctx, after, 500)
						if err != nil {
							return err
						}
						for _, w := range ws {
							out = append(out, admin.ToWebhook(w))
						}
						if len(ws) < 500 {
							return printJSON(env, out)
						}
						after = ws[len(ws)-1].ID
					}
				})
			},
		},
		byID("get", "Show one webhook endpoint", "", "  authd webhooks get "+id, func(ctx context.Context, s *webhook.Service, id string) error {
			w, err := s.Get(ctx, id)
			if err != nil {
				return webhookErr(id, err)
			}
			return printJSON(env, admin.ToWebhook(w))
		}),
		webhooksUpdateCommand(env),
		byID("delete", "Remove a webhook endpoint and its deliveries", "", "  authd webhooks delete "+id, func(ctx context.Context, s *webhook.Service, id string) error {
			if err := s.Delete(ctx, id, cliActor); err != nil {
				return webhookErr(id, err)
			}
			return printJSON(env, map[string]any{"id": id, "deleted": true})
		}),
		byID("rotate-secret", "Give an endpoint a new signing secret (printed once)",
			"rotate-secret makes a new signing secret and prints it once; for webhooks.secret_overlap deliveries are signed with the old one too, so that the receiver can switch.",
			"  authd webhooks rotate-secret "+id, func(ctx context.Context, s *webhook.Service, id string) error {
				w, secret, err := s.RotateSecret(ctx, id, cliActor)
				if err != nil {
					return webhookErr(id, err)
				}
				return printJSON(env, admin.CreatedWebhook{Webhook: admin.ToWebhook(w), Secret: secret})
			}),
		webhooksDeliveriesCommand(env),
		&cobra.Command{
			Use:     "retry ID DELIVERY_ID",
			Short:   "Attempt one delivery again, now",
			Example: "  authd webhooks deliveries " + id + " --status failed\n  authd webhooks retry " + id + " msg_0123456789abcdef",
			Args:    needArgs("id", "delivery id"),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withWebhooks(cmd.Context(), env, func(s *webhook.Service) error {
					d, err := s.Retry(cmd.Context(), args[0], args[1])
					if err != nil {
						return webhookErr(args[0]+" delivery "+args[1], err)
					}
					return printJSON(env, admin.ToDelivery(d, nil))
				})
			},
		},
		webhooksReplayCommand(env),
	)
}

func webhookErr(ref string, err error) error {
	var ie *webhook.InputError
	var ve *webhook.VerificationError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return withHint(fmt.Errorf("no webhook %s", ref), "List them with 'authd webhooks list' (and a webhook's deliveries with 'authd webhooks deliveries ID').")
	case errors.As(err, &ie):
		return fmt.Errorf("--%s: %s", strings.TrimSuffix(strings.Split(ie.Field, "/")[0], "s"), ie.Reason)
	case errors.As(err, &ve):
		return fmt.Errorf("not registered: %s", ve.Error())
	case errors.Is(err, webhook.ErrPending):
		return errors.New("the delivery is already pending: it is attempted on its schedule")
	}
	return err
}

func webhooksCreateCommand(env *cliEnv) *cobra.Command {
	var spec webhook.Spec
	var events []string
	cmd := &cobra.Command{
		Use:   "create --url URL --event TYPE ... [flags]",
		Short: "Register an endpoint; prints its signing secret once",
		Long: `create registers an endpoint: it must answer a signed webhook.test event with
2xx. Prints the endpoint with its signing secret, shown only now.`,
		Example: `  authd webhooks create --url https://hooks.example.com/authd --event user.created --event user.deleted
  authd webhooks create --url https://hooks.example.com/all --event '*' --description "audit mirror"`,
		RunE: func(cmd *cobra.Command, _ []string) error { return webhooksCreate(cmd.Context(), env, spec, events) },
	}
	cmd.Flags().StringVar(&spec.URL, "url", "", "the endpoint (https://; http:// only to loopback in development)")
	cmd.Flags().StringArrayVar(&events, "event", nil, "event type or pattern (repeatable or space-separated), e.g. user.created, user.*, *")
	cmd.Flags().StringVar(&spec.Description, "description", "", "what it is for")
	return cmd
}

func webhooksCreate(ctx context.Context, env *cliEnv, spec webhook.Spec, events []string) error {
	for _, e := range events {
		spec.Events = append(spec.Events, strings.Fields(e)...)
	}
	return withWebhooks(ctx, env, func(s *webhook.Service) error {
		w, secret, err := s.Create(ctx, spec, cliActor)
		if err != nil {
			return webhookErr("", err)
		}
		return printJSON(env, admin.CreatedWebhook{Webhook: admin.ToWebhook(w), Secret: secret})
	})
}

func webhooksUpdateCommand(env *cliEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change an endpoint's URL, events, description or state",
		Example: `  authd webhooks update wh_0123456789abcdef --event 'user.*' --event 'client.*'
  authd webhooks update wh_0123456789abcdef --disable
  authd webhooks update wh_0123456789abcdef --url https://new.example.com/hook --enable`,
		Args: needArgs("id"),
	}
	fs := cmd.Flags()
	var events []string
	u := fs.String("url", "", "new endpoint URL (verified like a new one)")
	fs.StringArrayVar(&events, "event", nil, "replace the subscribed types (repeatable)")
	desc := fs.String("description", "", "new description")
	enable := fs.Bool("enable", false, "enable a disabled endpoint")
	disable := fs.Bool("disable", false, "stop deliveries to it")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *enable && *disable {
			return usageError{errors.New("both --enable and --disable")}
		}
		return webhooksUpdate(cmd.Context(), env, args[0], fs, events, u, desc, enable, disable)
	}
	return cmd
}

func webhooksUpdate(ctx context.Context, env *cliEnv, id string, fs *pflag.FlagSet, events []string, u, desc *string, enable, disable *bool) error {
	var e webhook.Edit
	fs.Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "url":
			e.URL = u
		case "description":
			e.Description = desc
		case "event":
			var ev []string
			for _, x := range events {
				ev = append(ev, strings.Fields(x)...)
			}
			e.Events = &ev
		case "enable":
			e.Enabled = enable
		case "disable":
			off := !*disable
			e.Enabled = &off
		}
	})
	return withWebhooks(ctx, env, func(s *webhook.Service) error {
		w, err := s.Update(ctx, id, e, cliActor)
		if err != nil {
			return webhookErr(id, err)
		}
		return printJSON(env, admin.ToWebhook(w))
	})
}

func webhooksDeliveriesCommand(env *cliEnv) *cobra.Command {
	var status string
	var limit int
	cmd := &cobra.Command{
		Use:   "deliveries ID [flags]",
		Short: "List an endpoint's deliveries, newest first",
		Example: `  authd webhooks deliveries wh_0123456789abcdef
  authd webhooks deliveries wh_0123456789abcdef --status failed --limit 10`,
		Args: needArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return webhooksDeliveries(cmd.Context(), env, args[0], &status, &limit)
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "pending, succeeded or failed")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many, newest first")
	return cmd
}

func webhooksDeliveries(ctx context.Context, env *cliEnv, id string, status *string, limit *int) error {
	switch *status {
	case "", storage.DeliveryPending, storage.DeliverySucceeded, storage.DeliveryFailed:
	default:
		return usageError{fmt.Errorf("--status: %q is not pending, succeeded or failed", *status)}
	}
	if *limit < 1 || *limit > 1000 {
		return usageError{errors.New("--limit must be between 1 and 1000")}
	}
	return withWebhooks(ctx, env, func(s *webhook.Service) error {
		if _, err := s.Get(ctx, id); err != nil {
			return webhookErr(id, err)
		}
		ds, err := s.Deliveries(ctx, storage.DeliveryFilter{WebhookID: id, Status: *status, Limit: *limit})
		if err != nil {
			return err
		}
		out := make([]admin.Delivery, len(ds))
		for i, d := range ds {
			out[i] = admin.ToDelivery(d, nil)
		}
		return printJSON(env, out)
	})
}

// parseWhen reads an RFC 3339 time or a duration ago.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration such as 24h", s)
}

func webhooksReplayCommand(env *cliEnv) *cobra.Command {
	var sinceS, untilS string
	var all bool
	cmd := &cobra.Command{
		Use:   "replay ID --since TIME [flags]",
		Short: "Attempt again the deliveries created in a time range",
		Long: `replay attempts again the failed (or, with --all, every) deliveries created
in the range; times are RFC 3339 or durations ago (24h).`,
		Example: `  authd webhooks replay wh_0123456789abcdef --since 24h
  authd webhooks replay wh_0123456789abcdef --since 2026-01-01T00:00:00Z --until 2026-01-02T00:00:00Z --all`,
		Args: needArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return webhooksReplay(cmd.Context(), env, args[0], &sinceS, &untilS, &all)
		},
	}
	cmd.Flags().StringVar(&sinceS, "since", "", "start of the range (required)")
	cmd.Flags().StringVar(&untilS, "until", "", "end of the range (default now)")
	cmd.Flags().BoolVar(&all, "all", false, "succeeded deliveries too, not only failed ones")
	return cmd
}

func webhooksReplay(ctx context.Context, env *cliEnv, id string, sinceS, untilS *string, all *bool) error {
	now := time.Now()
	since, err := parseWhen(*sinceS, now)
	if err != nil {
		return usageError{fmt.Errorf("--since: %w", err)}
	}
	until := now
	if *untilS != "" {
		if until, err = parseWhen(*untilS, now); err != nil {
			return usageError{fmt.Errorf("--until: %w", err)}
		}
	}
	return withWebhooks(ctx, env, func(s *webhook.Service) error {
		n, err := s.Replay(ctx, id, since, until, *all)
		if err != nil {
			return webhookErr(id, err)
		}
		return printJSON(env, admin.Replayed{Count: n})
	})
}

// withWebhooks runs fn with a webhook service whose deliveries are queued
// for the servers to work.
func withWebhooks(ctx context.Context, env *cliEnv, fn func(s *webhook.Service) error) error {
	return withDeps(ctx, env, func(d *deps) error {
		db, err := d.store.SQLDB()
		if err != nil {
			return err
		}
		ins, err := jobs.NewInserter(jobs.Deps{DB: db, Dialect: d.store.Dialect(), Logger: d.log, TxFromContext: storesql.TxFromContext})
		if err != nil {
			return err
		}
		s, err := webhookService(env.cfg, d, ins, nil, nil)
		if err != nil {
			return err
		}
		return fn(s)
	})
}
