package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/webhook"
)

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

func streamsCommand(env *cliEnv) *cobra.Command {
	const id = "ss_0123456789abcdef"
	byID := func(sub, short, long string, fl func(fs *pflag.FlagSet, o *streamOpts)) *cobra.Command {
		var o streamOpts
		cmd := &cobra.Command{
			Use: sub + " ID", Short: short, Long: long,
			Example: "  authd streams " + sub + " " + id,
			Args:    needArgs("id"),
			RunE: func(cmd *cobra.Command, args []string) error {
				return streamsByID(cmd.Context(), env, sub, args[0], o)
			},
		}
		if fl != nil {
			cmd.Use += " [flags]"
			fl(cmd.Flags(), &o)
		}
		return cmd
	}
	reason := func(fs *pflag.FlagSet, o *streamOpts) {
		fs.StringVar(&o.reason, "reason", "", "why: the receiver sees it in the stream's status")
	}
	deliveries := byID("deliveries", "A stream's Security Event Tokens, newest first, decoded", "", func(fs *pflag.FlagSet, o *streamOpts) {
		fs.StringVar(&o.status, "status", "", "pending, held, succeeded or failed")
		fs.IntVar(&o.limit, "limit", 50, "at most this many, newest first (1-1000)")
	})
	deliveries.Example += "\n  authd streams deliveries " + id + " --status failed --limit 10"
	pause := byID("pause", "Hold events until the stream is enabled again", "", reason)
	pause.Example += "\n  authd streams pause " + id + ` --reason "receiver maintenance"`
	disable := byID("disable", "Stop deliveries; events are dropped", "", reason)
	disable.Example += "\n  authd streams disable " + id + ` --reason "contract ended"`
	var client string
	list := &cobra.Command{
		Use:     "list",
		Short:   "Show streams (of one receiver)",
		Example: "  authd streams list\n  authd streams list --client receiver-client-id",
		RunE:    func(cmd *cobra.Command, _ []string) error { return streamsList(cmd.Context(), env, client) },
	}
	list.Flags().StringVar(&client, "client", "", "only this receiver's streams (its client id)")
	return group(&cobra.Command{
		Use:   "streams",
		Short: "See and steer Shared Signals streams of receivers",
		Long: `Shared Signals streams: receivers (OAuth clients with the ssf.manage scope)
create and manage them at /ssf/streams; operators see and steer them here.
The receiver gets a stream-updated event when an operator changes a
stream's status.`,
		Example: "  authd streams list\n  authd streams pause " + id + " --reason maintenance\n  authd streams enable " + id,
	},
		list,
		byID("get", "Show one stream", "", nil),
		deliveries,
		byID("enable", "Resume deliveries (what a pause held is sent)", "", nil),
		pause,
		disable,
		byID("delete", "Remove the stream and its deliveries", "", nil),
	)
}

// streamOpts are the flags of the streams subcommands that take an id.
type streamOpts struct {
	reason, status string
	limit          int
}

func streamsByID(ctx context.Context, env *cliEnv, sub, id string, o streamOpts) error {
	reason, status, limit := &o.reason, &o.status, &o.limit
	if sub != "deliveries" {
		o.limit = 50
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

func streamsList(ctx context.Context, env *cliEnv, client string) error {
	return withWebhooks(ctx, env, func(s *webhook.Service) error {
		out := []streamView{}
		if client != "" {
			ws, err := s.Streams(ctx, client)
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
