package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/webhook"
)

const streamsUsage = `usage: authd streams <command>

Shared Signals streams: receivers (OAuth clients with the ssf.manage scope)
create and manage them at /ssf/streams; operators see and steer them here.

  list [--client ID]  show streams (of one receiver)
  get ID              show one stream
  deliveries ID [--status pending|held|succeeded|failed] [--limit N]
                      its Security Event Tokens, newest first, decoded
  enable ID           resume deliveries (what a pause held is sent)
  pause ID [--reason R]
                      hold events until the stream is enabled again
  disable ID [--reason R]
                      stop deliveries; events are dropped
  delete ID           remove the stream and its deliveries

The receiver gets a stream-updated event when an operator changes a
stream's status.`

// streamView is how the CLI shows a stream.
type streamView struct {
	ID              string    `json:"id"`
	ClientID        string    `json:"client_id"`
	EndpointURL     string    `json:"endpoint_url"`
	EventsRequested []string  `json:"events_requested"`
	EventsDelivered []string  `json:"events_delivered"`
	Status          string    `json:"status"`
	Reason          string    `json:"reason,omitempty"`
	Description     string    `json:"description,omitempty"`
	Authorization   bool      `json:"authorization_header_set"`
	VerifiedAt      time.Time `json:"verified_at,omitzero"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func toStreamView(w *storage.Webhook) streamView {
	status, reason := webhook.StreamStatus(w)
	requested := w.Stream.EventsRequested
	if requested == nil {
		requested = []string{}
	}
	return streamView{ID: w.ID, ClientID: w.ClientID, EndpointURL: w.URL, EventsRequested: requested,
		EventsDelivered: w.Events, Status: status, Reason: reason, Description: w.Description,
		Authorization: len(w.Stream.AuthorizationHeader) > 0, VerifiedAt: w.Stream.VerifiedAt,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}

// streamDelivery is how the CLI shows a stream's delivery: its id is
// the SET's jti, SET its claims (each attempt signs them with the key
// active then).
type streamDelivery struct {
	ID            string         `json:"id"`
	EventType     string         `json:"event_type"`
	EventID       int64          `json:"event_id,omitempty"`
	Status        string         `json:"status"`
	Attempts      int            `json:"attempts"`
	NextAttemptAt *time.Time     `json:"next_attempt_at,omitempty"`
	LastStatus    int            `json:"last_status"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	SET           map[string]any `json:"set"`
}

func toStreamDelivery(d *storage.WebhookDelivery) streamDelivery {
	out := streamDelivery{ID: d.ID, EventType: d.EventType, EventID: d.EventID, Status: d.Status, Attempts: d.Attempts,
		LastStatus: d.LastStatus, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d.Status == storage.DeliveryPending {
		out.NextAttemptAt = &d.NextAttemptAt
	}
	_ = json.Unmarshal(d.Payload, &out.SET) // authd wrote it
	return out
}

func streamsCmd(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.stderr, streamsUsage)
		return usageError{errors.New("missing streams subcommand")}
	}
	sub, rest := args[0], args[1:]
	if sub == "list" {
		return streamsList(ctx, env, rest)
	}
	switch sub {
	case "get", "deliveries", "enable", "pause", "disable", "delete":
	default:
		fmt.Fprintln(env.stderr, streamsUsage)
		return usageError{fmt.Errorf("unknown streams subcommand %q", sub)}
	}
	if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
		fmt.Fprintln(env.stderr, streamsUsage)
		return usageError{fmt.Errorf("streams %s: missing id", sub)}
	}
	id := rest[0]
	fs := flag.NewFlagSet("streams "+sub, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	reason := fs.String("reason", "", "why (pause, disable): the receiver sees it in the stream's status")
	status := fs.String("status", "", "deliveries: pending, held, succeeded or failed")
	limit := fs.Int("limit", 50, "deliveries: at most this many, newest first")
	if err := fs.Parse(rest[1:]); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	used := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { used[f.Name] = true })
	if used["reason"] && sub != "pause" && sub != "disable" {
		return usageError{fmt.Errorf("streams %s takes no --reason", sub)}
	}
	if (used["status"] || used["limit"]) && sub != "deliveries" {
		return usageError{fmt.Errorf("streams %s takes no --status or --limit", sub)}
	}
	switch *status {
	case "", storage.DeliveryPending, storage.DeliveryHeld, storage.DeliverySucceeded, storage.DeliveryFailed:
	default:
		return usageError{fmt.Errorf("--status: %q is not pending, held, succeeded or failed", *status)}
	}
	if *limit < 1 || *limit > 1000 {
		return usageError{errors.New("--limit must be between 1 and 1000")}
	}
	return withWebhooks(ctx, env, func(s *webhook.Service) error {
		switch sub {
		case "get":
			w, err := s.Stream(ctx, "", id)
			if err != nil {
				return streamErr(id, err)
			}
			return printJSON(env, toStreamView(w))
		case "deliveries":
			if _, err := s.Stream(ctx, "", id); err != nil {
				return streamErr(id, err)
			}
			ds, err := s.StreamDeliveries(ctx, storage.DeliveryFilter{WebhookID: id, Status: *status, Limit: *limit})
			if err != nil {
				return err
			}
			out := make([]streamDelivery, len(ds))
			for i, d := range ds {
				out[i] = toStreamDelivery(d)
			}
			return printJSON(env, out)
		case "delete":
			if err := s.DeleteStream(ctx, "", id, cliActor); err != nil {
				return streamErr(id, err)
			}
			return printJSON(env, map[string]any{"id": id, "deleted": true})
		}
		to := map[string]string{"enable": storage.StreamEnabled, "pause": storage.StreamPaused, "disable": storage.StreamDisabled}[sub]
		w, err := s.SetStreamStatus(ctx, "", id, to, *reason, cliActor)
		if err != nil {
			return streamErr(id, err)
		}
		return printJSON(env, toStreamView(w))
	})
}

func streamsList(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("streams list", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	client := fs.String("client", "", "only this receiver's streams (its client id)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	return withWebhooks(ctx, env, func(s *webhook.Service) error {
		out := []streamView{}
		if *client != "" {
			ws, err := s.Streams(ctx, *client)
			if err != nil {
				return err
			}
			for _, w := range ws {
				out = append(out, toStreamView(w))
			}
			return printJSON(env, out)
		}
		for after := ""; ; {
			ws, err := s.AllStreams(ctx, after, 500)
			if err != nil {
				return err
			}
			for _, w := range ws {
				out = append(out, toStreamView(w))
			}
			if len(ws) < 500 {
				return printJSON(env, out)
			}
			after = ws[len(ws)-1].ID
		}
	})
}

func streamErr(id string, err error) error {
	var ie *webhook.InputError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("no stream %s (authd streams list shows them)", id)
	case errors.As(err, &ie):
		return fmt.Errorf("--%s: %s", ie.Field, ie.Reason)
	}
	return err
}
