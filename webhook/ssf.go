package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/authd/authd/storage"
)

// Shared Signals event types (SSF 1.0, CAEP 1.0, RISC 1.0).
const (
	EventVerification     = "https://schemas.openid.net/secevent/ssf/event-type/verification"
	EventStreamUpdated    = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated"
	EventSessionRevoked   = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	EventCredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change" // #nosec G101 -- an event type URI, not a credential
	EventAccountDisabled  = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	EventAccountEnabled   = "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
	EventAccountPurged    = "https://schemas.openid.net/secevent/risc/event-type/account-purged"
)

// StreamEvents are the events a stream may request (events_supported).
// Verification and stream-updated events go to every stream.
var StreamEvents = []string{EventSessionRevoked, EventCredentialChange, EventAccountDisabled, EventAccountEnabled, EventAccountPurged}

// Signer signs Security Event Tokens with authd's published keys
// (provider.Provider).
type Signer interface {
	SignSecurityEvent(claims map[string]any) (string, error)
}

// Directory is what deciding who may hear of a user needs (storage/sql.Store).
type Directory interface {
	GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error)
	GetStoredClient(ctx context.Context, id string) (*storage.Client, error)
	GetUserByEmail(ctx context.Context, email string) (*storage.User, error)
}

// securityEvent is one event of a SET before it is addressed and signed.
type securityEvent struct {
	uri     string
	subject map[string]any
	body    map[string]any
}

// securityEventsOf is what an audit event tells relying parties: none
// for most events; a session ending, a password change, an account
// disabled, enabled or deleted.
func (s *Service) securityEventsOf(e *storage.AuditEvent) []securityEvent {
	if e.SubjectID == "" {
		return nil
	}
	user := s.issSub(e.SubjectID)
	at := e.Time.Unix()
	entity := initiatingEntity(e)
	revoked := func(subject map[string]any, reason string) securityEvent {
		return securityEvent{EventSessionRevoked, subject, map[string]any{"event_timestamp": at, "initiating_entity": entity,
			"reason_admin": map[string]string{"en": reason}}}
	}
	switch e.Type {
	case storage.AuditLogout, storage.AuditSessionRevoked:
		reason := "the person signed out"
		if e.Type == storage.AuditSessionRevoked {
			reason = "the session was ended"
		}
		subject := user
		if sid, _ := e.Details["sid"].(string); sid != "" {
			subject = map[string]any{"format": "complex", "user": user, "session": map[string]any{"format": "opaque", "id": sid}}
		}
		return []securityEvent{revoked(subject, reason)}
	case storage.AuditPasswordChanged, storage.AuditPasswordReset:
		return []securityEvent{{EventCredentialChange, user, map[string]any{"event_timestamp": at, "initiating_entity": entity,
			"credential_type": "password", "change_type": "update"}}}
	case storage.AuditUserDisabled:
		return []securityEvent{revoked(user, "the account was disabled"), {EventAccountDisabled, user, map[string]any{}}}
	case storage.AuditUserEnabled:
		return []securityEvent{{EventAccountEnabled, user, map[string]any{}}}
	case storage.AuditUserDeleted:
		return []securityEvent{revoked(user, "the account was deleted"), {EventAccountPurged, user, map[string]any{}}}
	}
	return nil
}

// initiatingEntity is CAEP's initiating_entity of an audit event.
func initiatingEntity(e *storage.AuditEvent) string {
	switch {
	case e.Type == storage.AuditLogout || e.Type == storage.AuditPasswordReset || e.ActorID == e.SubjectID:
		return "user"
	case e.ActorID == "" || e.ActorID == "authd":
		return "system"
	}
	return "admin"
}

// issSub is the subject identifier of a user (RFC 9493 iss_sub; sub as
// in ID tokens).
func (s *Service) issSub(userID string) map[string]any {
	return map[string]any{"format": "iss_sub", "iss": s.issuer, "sub": userID}
}

// eligible reports whether a stream's receiver may hear about userID: it
// has not removed the subject, and its client is first-party or the user
// consented to it (for a deleted user, consented recently: clients).
func (s *Service) eligible(ctx context.Context, st *storage.Webhook, userID string, deleted bool, clients []string) (bool, error) {
	included, set, err := s.store.StreamSubject(ctx, st.ID, userID)
	if err != nil || set && !included {
		return false, err
	}
	c, err := s.dir.GetStoredClient(ctx, st.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil // the receiver's client is gone
	}
	if err != nil {
		return false, err
	}
	if c.FirstParty {
		return true, nil
	}
	if deleted {
		return slices.Contains(clients, st.ClientID), nil
	}
	_, err = s.dir.GetConsent(ctx, userID, st.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// streamDeliveries makes the signed SETs of audit event e for the streams
// that get them: enabled or paused (held), requesting the event type, and
// eligible for its user.
func (s *Service) streamDeliveries(ctx context.Context, e *storage.AuditEvent, streams []*storage.Webhook) ([]*storage.WebhookDelivery, error) {
	if e.Type == storage.AuditStreamUpdated {
		return s.streamUpdated(ctx, e, streams)
	}
	events := s.securityEventsOf(e)
	if len(events) == 0 {
		return nil, nil
	}
	var clients []string
	if list, ok := e.Details["clients"].([]any); ok {
		for _, c := range list {
			if id, ok := c.(string); ok {
				clients = append(clients, id)
			}
		}
	}
	var out []*storage.WebhookDelivery
	for _, st := range streams {
		if st.Disabled {
			continue
		}
		wanted := slices.ContainsFunc(events, func(ev securityEvent) bool { return slices.Contains(st.Events, ev.uri) })
		if !wanted {
			continue
		}
		ok, err := s.eligible(ctx, st, e.SubjectID, e.Type == storage.AuditUserDeleted, clients)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		for _, ev := range events {
			if !slices.Contains(st.Events, ev.uri) {
				continue
			}
			d, err := s.newSET(st, ev, strconv.FormatInt(e.ID, 10))
			if err != nil {
				return nil, err
			}
			d.EventID = e.ID
			out = append(out, d)
		}
	}
	return out, nil
}

// streamUpdated: an operator changed a stream's status (details.notify),
// so its receiver gets a stream-updated event; either way a stream
// enabled again gets what was held, and a disabled one drops it.
func (s *Service) streamUpdated(ctx context.Context, e *storage.AuditEvent, streams []*storage.Webhook) ([]*storage.WebhookDelivery, error) {
	id, _ := e.Details["webhook_id"].(string)
	i := slices.IndexFunc(streams, func(w *storage.Webhook) bool { return w.ID == id })
	if i < 0 {
		return nil, nil // deleted since
	}
	st := streams[i]
	if st.Disabled {
		return nil, s.dropHeld(ctx, st.ID)
	}
	if st.Stream.Status == storage.StreamEnabled {
		if err := s.releaseHeld(ctx, st.ID); err != nil {
			return nil, err
		}
	}
	if notify, _ := e.Details["notify"].(bool); !notify {
		return nil, nil
	}
	status, reason := streamStatus(st)
	body := map[string]any{"status": status}
	if reason != "" {
		body["reason"] = reason
	}
	d, err := s.newSET(st, securityEvent{EventStreamUpdated, streamSubject(st), body}, "")
	if err != nil {
		return nil, err
	}
	d.EventID = e.ID
	return []*storage.WebhookDelivery{d}, nil
}

// streamSubject is the subject of events about the stream itself.
func streamSubject(st *storage.Webhook) map[string]any {
	return map[string]any{"format": "opaque", "id": st.ID}
}

// newSET makes one event for a stream's receiver a delivery: pending,
// or held while the stream is paused (but for stream-updated: a receiver
// hears of its pause when it happens). The delivery keeps the SET's
// claims, and each attempt signs them with the key active then (signSET),
// so a retry a day later still verifies after a key rotation. Its id is
// the SET's jti, the same on every attempt.
func (s *Service) newSET(st *storage.Webhook, ev securityEvent, txn string) (*storage.WebhookDelivery, error) {
	now := s.now()
	id := newID("set_", now)
	claims := map[string]any{"iss": s.issuer, "aud": st.ClientID, "iat": now.Unix(), "jti": id, "sub_id": ev.subject,
		"events": map[string]any{ev.uri: ev.body}}
	if txn != "" {
		claims["txn"] = txn
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	status := storage.DeliveryPending
	if holds(st, ev.uri) {
		status = storage.DeliveryHeld
	}
	return &storage.WebhookDelivery{ID: id, WebhookID: st.ID, EventType: ev.uri, Payload: body, Status: status,
		NextAttemptAt: now, CreatedAt: now}, nil
}

// signSET signs a stream delivery's claims for an attempt.
func (s *Service) signSET(d *storage.WebhookDelivery) ([]byte, error) {
	if s.signer == nil {
		return nil, errors.New("webhook: no SET signer in this process")
	}
	var claims map[string]any
	if err := json.Unmarshal(d.Payload, &claims); err != nil {
		return nil, fmt.Errorf("SET claims of %s: %w", d.ID, err)
	}
	jws, err := s.signer.SignSecurityEvent(claims)
	return []byte(jws), err
}

// holds reports whether stream st keeps an event of type uri until it is
// enabled again: it is paused, and the event is not the stream-updated
// that tells the receiver so.
func holds(st *storage.Webhook, uri string) bool {
	return st.Stream != nil && !st.Disabled && st.Stream.Status == storage.StreamPaused && uri != EventStreamUpdated
}

// releaseHeld queues what a paused stream held, in the context's
// transaction.
func (s *Service) releaseHeld(ctx context.Context, streamID string) error {
	f := storage.DeliveryFilter{WebhookID: streamID, Status: storage.DeliveryHeld, Limit: 500}
	for {
		page, err := s.store.ListWebhookDeliveries(ctx, f)
		if err != nil || len(page) == 0 {
			return err
		}
		if err := s.requeue(ctx, page); err != nil {
			return err
		}
		if len(page) < f.Limit {
			return nil
		}
	}
}

// dropHeld dead-letters what a stream held when it is disabled: SSF
// transmitters do not keep events for disabled streams.
func (s *Service) dropHeld(ctx context.Context, streamID string) error {
	f := storage.DeliveryFilter{WebhookID: streamID, Status: storage.DeliveryHeld, Limit: 500}
	for {
		page, err := s.store.ListWebhookDeliveries(ctx, f)
		if err != nil || len(page) == 0 {
			return err
		}
		for _, d := range page {
			if _, err := s.store.RecordWebhookAttempt(ctx, &storage.WebhookAttempt{DeliveryID: d.ID, At: s.now(),
				Error: "not sent: the stream was disabled"}, storage.AttemptOutcome{Status: storage.DeliveryFailed}); err != nil {
				return err
			}
		}
	}
}

// streamStatus is a stream's SSF status and its reason: disabled when
// the endpoint is (by its receiver, an operator, a 410 Gone or failing
// deliveries), else enabled or paused.
func streamStatus(st *storage.Webhook) (string, string) {
	if !st.Disabled {
		return st.Stream.Status, st.Stream.Reason
	}
	switch st.DisabledReason {
	case "gone":
		return storage.StreamDisabled, "the receiver answered 410 Gone"
	case "failing":
		return storage.StreamDisabled, "every delivery failed for too long"
	}
	return storage.StreamDisabled, st.Stream.Reason
}
