package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

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

const webhooksUsage = `usage: authd webhooks <command>

  create --url URL --event TYPE ... [--description D]
                    register an endpoint (it must answer a signed webhook.test
                    with 2xx); prints its signing secret once
  list | get ID     show endpoints
  update ID [--url URL] [--event TYPE ...] [--description D] [--enable|--disable]
  rotate-secret ID  a new signing secret; the old one signs too for webhooks.secret_overlap
  delete ID
  deliveries ID [--status pending|succeeded|failed] [--limit N]
  retry ID DELIVERY_ID
  replay ID --since TIME [--until TIME] [--all]
                    attempt again the failed (or, with --all, every) deliveries
                    created in the range (RFC 3339 times or durations ago, e.g. 24h)`

func webhooksCmd(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.stderr, webhooksUsage)
		return usageError{errors.New("missing webhooks subcommand")}
	}
	sub, rest := args[0], args[1:]
	needID := func(n int) error {
		if len(rest) < n || strings.HasPrefix(rest[0], "-") {
			fmt.Fprintln(env.stderr, webhooksUsage)
			return usageError{fmt.Errorf("webhooks %s: missing id", sub)}
		}
		return nil
	}
	switch sub {
	case "create":
		return webhooksCreate(ctx, env, rest)
	case "list":
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
	case "get", "delete", "rotate-secret":
		if err := needID(1); err != nil {
			return err
		}
		id := rest[0]
		return withWebhooks(ctx, env, func(s *webhook.Service) error {
			switch sub {
			case "get":
				w, err := s.Get(ctx, id)
				if err != nil {
					return webhookErr(id, err)
				}
				return printJSON(env, admin.ToWebhook(w))
			case "delete":
				if err := s.Delete(ctx, id, cliActor); err != nil {
					return webhookErr(id, err)
				}
				return printJSON(env, map[string]any{"id": id, "deleted": true})
			}
			w, secret, err := s.RotateSecret(ctx, id, cliActor)
			if err != nil {
				return webhookErr(id, err)
			}
			return printJSON(env, admin.CreatedWebhook{Webhook: admin.ToWebhook(w), Secret: secret})
		})
	case "update":
		if err := needID(1); err != nil {
			return err
		}
		return webhooksUpdate(ctx, env, rest[0], rest[1:])
	case "deliveries":
		if err := needID(1); err != nil {
			return err
		}
		return webhooksDeliveries(ctx, env, rest[0], rest[1:])
	case "retry":
		if err := needID(2); err != nil {
			return err
		}
		return withWebhooks(ctx, env, func(s *webhook.Service) error {
			d, err := s.Retry(ctx, rest[0], rest[1])
			if err != nil {
				return webhookErr(rest[0]+" delivery "+rest[1], err)
			}
			return printJSON(env, admin.ToDelivery(d, nil))
		})
	case "replay":
		if err := needID(1); err != nil {
			return err
		}
		return webhooksReplay(ctx, env, rest[0], rest[1:])
	}
	fmt.Fprintln(env.stderr, webhooksUsage)
	return usageError{fmt.Errorf("unknown webhooks subcommand %q", sub)}
}

func webhookErr(ref string, err error) error {
	var ie *webhook.InputError
	var ve *webhook.VerificationError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("no webhook %s", ref)
	case errors.As(err, &ie):
		return fmt.Errorf("--%s: %s", strings.TrimSuffix(strings.Split(ie.Field, "/")[0], "s"), ie.Reason)
	case errors.As(err, &ve):
		return fmt.Errorf("not registered: %s", ve.Error())
	case errors.Is(err, webhook.ErrPending):
		return errors.New("the delivery is already pending: it is attempted on its schedule")
	}
	return err
}

func webhooksCreate(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("webhooks create", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var spec webhook.Spec
	var events stringList
	fs.StringVar(&spec.URL, "url", "", "the endpoint (https://; http:// only to loopback in development)")
	fs.Var(&events, "event", "event type or pattern (repeatable or space-separated), e.g. user.created, user.*, *")
	fs.StringVar(&spec.Description, "description", "", "what it is for")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
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

func webhooksUpdate(ctx context.Context, env *cliEnv, id string, args []string) error {
	fs := flag.NewFlagSet("webhooks update", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var events stringList
	u := fs.String("url", "", "new endpoint URL (verified like a new one)")
	fs.Var(&events, "event", "replace the subscribed types (repeatable)")
	desc := fs.String("description", "", "new description")
	enable := fs.Bool("enable", false, "enable a disabled endpoint")
	disable := fs.Bool("disable", false, "stop deliveries to it")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 || (*enable && *disable) {
		return usageError{errors.New("unexpected arguments, or both --enable and --disable")}
	}
	var e webhook.Edit
	fs.Visit(func(f *flag.Flag) {
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

func webhooksDeliveries(ctx context.Context, env *cliEnv, id string, args []string) error {
	fs := flag.NewFlagSet("webhooks deliveries", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	status := fs.String("status", "", "pending, succeeded or failed")
	limit := fs.Int("limit", 50, "at most this many, newest first")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
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

func webhooksReplay(ctx context.Context, env *cliEnv, id string, args []string) error {
	fs := flag.NewFlagSet("webhooks replay", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	sinceS := fs.String("since", "", "start of the range (required)")
	untilS := fs.String("until", "", "end of the range (default now)")
	all := fs.Bool("all", false, "succeeded deliveries too, not only failed ones")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
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
