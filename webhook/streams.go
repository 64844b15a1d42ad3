package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/authd/authd/storage"
)

// StreamSpec is what a receiver asks for in a stream (SSF 1.0 §8.1.1).
type StreamSpec struct {
	// URL is the push endpoint (delivery.endpoint_url).
	URL string
	// AuthorizationHeader is sent with each push; "" for none.
	AuthorizationHeader string
	EventsRequested     []string
	Description         string
}

// StreamEdit changes a stream; nil fields stay.
type StreamEdit struct {
	URL                 *string
	AuthorizationHeader *string
	EventsRequested     *[]string
	Description         *string
}

// ErrTooManyStreams: the client has webhooks.streams.max_per_client.
var ErrTooManyStreams = errors.New("webhook: this client has as many streams as it may")

// TooSoonError: a verification event was asked for within
// min_verification_interval of the last.
type TooSoonError struct{ Wait time.Duration }

func (e *TooSoonError) Error() string {
	return fmt.Sprintf("a verification event was sent less than the minimum interval ago; retry in %s", e.Wait.Round(time.Second))
}

// deliveredEvents are the requested events authd supports, sorted.
func deliveredEvents(requested []string) []string {
	var out []string
	for _, e := range requested {
		if slices.Contains(StreamEvents, e) {
			out = append(out, e)
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}

func (s *Service) checkStream(url, auth *string, events *[]string, desc *string) error {
	if url != nil {
		if err := s.guard.checkURL(*url); err != nil {
			return &InputError{"delivery.endpoint_url", err.Error()}
		}
	}
	if auth != nil && (len(*auth) > 4096 || strings.ContainsAny(*auth, "\r\n\x00")) {
		return &InputError{"delivery.authorization_header", "must be one line of at most 4096 bytes"}
	}
	if events != nil {
		if len(*events) > 50 {
			return &InputError{"events_requested", "lists more than 50 event types"}
		}
		for i, e := range *events {
			if len(e) == 0 || len(e) > 300 || strings.ContainsAny(e, " \r\n\x00") {
				return &InputError{fmt.Sprintf("events_requested/%d", i), "is not an event type URI"}
			}
		}
	}
	if desc != nil && len(*desc) > 500 {
		return &InputError{"description", "is longer than 500 bytes"}
	}
	return nil
}

func (s *Service) sealAuth(auth string) ([]byte, error) {
	if auth == "" {
		return nil, nil
	}
	return s.seal.Seal(authPurpose, []byte(auth))
}

// CreateStream stores a new, enabled push stream for clientID.
func (s *Service) CreateStream(ctx context.Context, clientID string, spec StreamSpec) (*storage.Webhook, error) {
	if err := s.checkStream(&spec.URL, &spec.AuthorizationHeader, &spec.EventsRequested, &spec.Description); err != nil {
		return nil, err
	}
	auth, err := s.sealAuth(spec.AuthorizationHeader)
	if err != nil {
		return nil, err
	}
	now := s.now()
	w := &storage.Webhook{ID: newID("ss_", now), Kind: storage.KindStream, ClientID: clientID, URL: spec.URL,
		Description: spec.Description, Events: deliveredEvents(spec.EventsRequested), Secret: []byte{},
		Stream:    &storage.StreamConfig{EventsRequested: spec.EventsRequested, AuthorizationHeader: auth, Status: storage.StreamEnabled},
		CreatedBy: "client:" + clientID, CreatedAt: now}
	if w.Events == nil {
		w.Events = []string{}
	}
	err = storage.InTx(ctx, s.store, func(ctx context.Context) error {
		have, err := s.store.ListClientStreams(ctx, clientID)
		if err != nil {
			return err
		}
		if len(have) >= s.cfg.Streams.MaxPerClient {
			return ErrTooManyStreams
		}
		if err := s.store.CreateWebhook(ctx, w); err != nil {
			return err
		}
		return s.record(ctx, storage.AuditStreamCreated, w.CreatedBy, w.ID,
			map[string]any{"client_id": clientID, "url": redactURL(w.URL), "events": w.Events})
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// Streams lists a receiver's streams.
func (s *Service) Streams(ctx context.Context, clientID string) ([]*storage.Webhook, error) {
	return s.store.ListClientStreams(ctx, clientID)
}

// AllStreams lists every receiver's streams, up to limit with id > after.
func (s *Service) AllStreams(ctx context.Context, after string, limit int) ([]*storage.Webhook, error) {
	return s.store.ListWebhooks(ctx, storage.KindStream, after, limit)
}

// Stream returns a stream of clientID ("": of any client), or
// storage.ErrNotFound.
func (s *Service) Stream(ctx context.Context, clientID, id string) (*storage.Webhook, error) {
	return ownedBy(clientID)(s.store.GetWebhook(ctx, id))
}

func ownedBy(clientID string) func(*storage.Webhook, error) (*storage.Webhook, error) {
	return func(w *storage.Webhook, err error) (*storage.Webhook, error) {
		if err == nil && (kindOf(w) != storage.KindStream || clientID != "" && w.ClientID != clientID) {
			return nil, storage.ErrNotFound
		}
		return w, err
	}
}

// StreamDeliveries lists a stream's deliveries (an operator's view).
func (s *Service) StreamDeliveries(ctx context.Context, f storage.DeliveryFilter) ([]*storage.WebhookDelivery, error) {
	return s.deliveries(ctx, storage.KindStream, f)
}

// UpdateStream applies e to a stream of clientID.
func (s *Service) UpdateStream(ctx context.Context, clientID, id string, e StreamEdit) (*storage.Webhook, error) {
	if err := s.checkStream(e.URL, e.AuthorizationHeader, e.EventsRequested, e.Description); err != nil {
		return nil, err
	}
	var out *storage.Webhook
	err := storage.InTx(ctx, s.store, func(ctx context.Context) error {
		w, err := ownedBy(clientID)(s.store.GetWebhookForUpdate(ctx, id))
		if err != nil {
			return err
		}
		var changed []string
		if e.URL != nil && *e.URL != w.URL {
			w.URL, changed = *e.URL, append(changed, "delivery.endpoint_url")
		}
		if e.AuthorizationHeader != nil {
			if w.Stream.AuthorizationHeader, err = s.sealAuth(*e.AuthorizationHeader); err != nil {
				return err
			}
			changed = append(changed, "delivery.authorization_header")
		}
		if e.EventsRequested != nil && !slices.Equal(*e.EventsRequested, w.Stream.EventsRequested) {
			w.Stream.EventsRequested, w.Events = *e.EventsRequested, deliveredEvents(*e.EventsRequested)
			if w.Events == nil {
				w.Events = []string{}
			}
			changed = append(changed, "events_requested")
		}
		if e.Description != nil && *e.Description != w.Description {
			w.Description, changed = *e.Description, append(changed, "description")
		}
		out = w
		if len(changed) == 0 {
			return nil
		}
		if err := s.store.UpdateWebhook(ctx, w); err != nil {
			return err
		}
		return s.record(ctx, storage.AuditStreamUpdated, "client:"+clientID, id, map[string]any{"fields": changed})
	})
	s.forget(id)
	return out, err
}

// DeleteStream removes a stream of clientID ("": any) with its
// deliveries.
func (s *Service) DeleteStream(ctx context.Context, clientID, id, actor string) error {
	err := storage.InTx(ctx, s.store, func(ctx context.Context) error {
		if _, err := ownedBy(clientID)(s.store.GetWebhookForUpdate(ctx, id)); err != nil {
			return err
		}
		if err := s.store.DeleteWebhook(ctx, id); err != nil {
			return err
		}
		return s.record(ctx, storage.AuditStreamDeleted, actor, id, nil)
	})
	s.forget(id)
	return err
}

// StreamStatus is a stream's SSF status and its reason.
func StreamStatus(w *storage.Webhook) (status, reason string) { return streamStatus(w) }

// SetStreamStatus moves a stream of clientID to status (enabled, paused
// or disabled). clientID "" is an operator: the receiver then gets a
// stream-updated event. Enabling releases what a pause held; disabling
// drops it (the dispatcher does both, from the audit event).
func (s *Service) SetStreamStatus(ctx context.Context, clientID, id, status, reason, actor string) (*storage.Webhook, error) {
	if !slices.Contains([]string{storage.StreamEnabled, storage.StreamPaused, storage.StreamDisabled}, status) {
		return nil, &InputError{"status", "must be enabled, paused or disabled"}
	}
	if len(reason) > 500 {
		return nil, &InputError{"reason", "is longer than 500 bytes"}
	}
	var out *storage.Webhook
	err := storage.InTx(ctx, s.store, func(ctx context.Context) error {
		w, err := ownedBy(clientID)(s.store.GetWebhookForUpdate(ctx, id))
		if err != nil {
			return err
		}
		w.Stream.Status, w.Stream.Reason = status, reason
		w.Disabled, w.DisabledReason, w.FailingSince = status == storage.StreamDisabled, "", time.Time{}
		if w.Disabled {
			w.DisabledReason = "receiver"
			if clientID == "" {
				w.DisabledReason = "admin"
			}
		}
		if err := s.store.UpdateWebhook(ctx, w); err != nil {
			return err
		}
		out = w
		return s.record(ctx, storage.AuditStreamUpdated, actor, id,
			map[string]any{"fields": []string{"status"}, "status": status, "notify": clientID == ""})
	})
	s.forget(id)
	return out, err
}

// VerifyStream queues a verification event with the receiver's state
// (SSF 1.0 §8.1.4), at most once per min_verification_interval.
func (s *Service) VerifyStream(ctx context.Context, clientID, id, state string) error {
	if s.jobs == nil || s.signer == nil {
		return ErrNoQueue
	}
	if len(state) > 1024 {
		return &InputError{"state", "is longer than 1024 bytes"}
	}
	err := storage.InTx(ctx, s.store, func(ctx context.Context) error {
		w, err := ownedBy(clientID)(s.store.GetWebhookForUpdate(ctx, id))
		if err != nil {
			return err
		}
		now := s.now()
		if wait := w.Stream.VerifiedAt.Add(s.cfg.Streams.MinVerificationInterval).Sub(now); !w.Stream.VerifiedAt.IsZero() && wait > 0 {
			return &TooSoonError{Wait: wait}
		}
		if w.Disabled {
			return &InputError{"stream_id", "the stream is disabled; enable it first"}
		}
		body := map[string]any{}
		if state != "" {
			body["state"] = state
		}
		d, err := s.newSET(w, securityEvent{EventVerification, streamSubject(w), body}, "")
		if err != nil {
			return err
		}
		w.Stream.VerifiedAt = now
		if err := s.store.UpdateWebhook(ctx, w); err != nil {
			return err
		}
		if err := s.store.CreateWebhookDeliveries(ctx, []*storage.WebhookDelivery{d}); err != nil {
			return err
		}
		if d.Status != storage.DeliveryPending {
			return nil
		}
		return s.jobs.EnqueueMany(ctx, []river.InsertManyParams{deliveryJob(d)})
	})
	s.forget(id)
	return err
}

// SubjectError: a subject authd cannot identify a user by.
type SubjectError struct{ Reason string }

func (e *SubjectError) Error() string { return "subject: " + e.Reason }

// SetStreamSubject adds a subject to (included) or removes it from a
// stream of clientID. A subject that names no user, or one the
// receiver may not hear of, is accepted and changes nothing the receiver
// can see: the answer does not tell who has an account.
func (s *Service) SetStreamSubject(ctx context.Context, clientID, id string, subject map[string]any, included bool) error {
	if _, err := s.Stream(ctx, clientID, id); err != nil {
		return err
	}
	userID, err := s.subjectUser(ctx, subject)
	if err != nil || userID == "" {
		return err
	}
	return s.store.SetStreamSubject(ctx, id, userID, included)
}

// subjectUser is the user a subject identifier names ("" for none):
// iss_sub of this issuer, or email.
func (s *Service) subjectUser(ctx context.Context, subject map[string]any) (string, error) {
	str := func(k string) string { v, _ := subject[k].(string); return v }
	switch str("format") {
	case "iss_sub":
		if str("iss") == "" || str("sub") == "" {
			return "", &SubjectError{"iss_sub needs iss and sub"}
		}
		if str("iss") != s.issuer {
			return "", nil // another issuer's subject: none of ours
		}
		return str("sub"), nil
	case "email":
		email := str("email")
		if email == "" || len(email) > 320 || !strings.Contains(email, "@") {
			return "", &SubjectError{"email needs an email address"}
		}
		u, err := s.dir.GetUserByEmail(ctx, email)
		if errors.Is(err, storage.ErrNotFound) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		return u.ID, nil
	case "":
		return "", &SubjectError{"format is missing"}
	}
	return "", &SubjectError{"format must be iss_sub or email"}
}
