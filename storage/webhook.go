package storage

import (
	"context"
	"time"
)

// Endpoint kinds.
const (
	KindWebhook = "webhook" // Standard Webhooks, registered by an operator
	KindStream  = "ssf"     // an OpenID Shared Signals stream, managed by its receiver
)

// Webhook is an endpoint that receives events (package webhook). Its
// signing secrets are stored sealed under the master key.
type Webhook struct {
	ID string
	// Kind is KindWebhook or KindStream ("" is read as KindWebhook).
	Kind string
	// ClientID is a stream's receiver: the OAuth client that manages it.
	ClientID string
	// Stream is a stream's configuration (nil for a webhook). A stream's
	// URL is its push endpoint ("" for a poll stream); Events are the
	// event URIs it delivers; Secret is unused.
	Stream      *StreamConfig
	URL         string
	Description string
	// Events are the subscribed event types; an entry may end in ".*"
	// (every type under that prefix) or be "*" (every type).
	Events []string
	// Secret is the sealed current signing secret; PreviousSecret the
	// sealed one before the last rotation, which also signs until
	// PreviousExpiresAt.
	Secret            []byte
	PreviousSecret    []byte
	PreviousExpiresAt time.Time
	// Disabled endpoints get no deliveries; DisabledReason says why
	// ("gone": it answered 410; "failing": it failed for
	// webhooks.disable_after; "admin").
	Disabled       bool
	DisabledReason string
	// FailingSince is the first failed attempt since the last success;
	// zero while the endpoint is healthy.
	FailingSince time.Time
	CreatedBy    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// StreamConfig is what a Shared Signals stream keeps besides an
// endpoint's fields.
type StreamConfig struct {
	// EventsRequested are the event URIs the receiver asked for (Events
	// holds those delivered: requested and supported).
	EventsRequested []string `json:"events_requested,omitempty"`
	// AuthorizationHeader is the sealed value of the Authorization header
	// sent with each push (RFC 8935 §2), empty for none.
	AuthorizationHeader []byte `json:"authorization_header,omitempty"`
	// Status is enabled, paused (events are held until it is enabled
	// again) or disabled (events are dropped); Reason says why.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// VerifiedAt is when the receiver last asked for a verification event.
	VerifiedAt time.Time `json:"verified_at,omitzero"`
}

// Stream statuses (SSF 1.0 §8.1.2).
const (
	StreamEnabled  = "enabled"
	StreamPaused   = "paused"
	StreamDisabled = "disabled"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed" // dead-lettered: every attempt failed
	// DeliveryHeld: for a paused stream; no job is queued until it is
	// enabled again.
	DeliveryHeld = "held"
)

// WebhookDelivery is one event for one endpoint: its ID is the
// webhook-id header, the same on every attempt.
type WebhookDelivery struct {
	ID        string
	WebhookID string
	// EventID is the audit event it carries (0 for webhook.test).
	EventID   int64
	EventType string
	// Payload is the exact body sent, {"type","timestamp","data"}.
	Payload  []byte
	Status   string
	Attempts int
	// NextAttemptAt is when a pending delivery is tried next.
	NextAttemptAt time.Time
	// LastStatus is the HTTP status of the last attempt (0: no answer).
	LastStatus int
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// WebhookAttempt is one try of a delivery.
type WebhookAttempt struct {
	DeliveryID string
	N          int
	At         time.Time
	// Status is the HTTP status; 0 when no answer came (Error says why).
	Status  int
	Latency time.Duration
	Error   string
	// Response is the start of the response body (at most 1 KiB).
	Response string
}

// DeliveryFilter selects deliveries of one webhook, newest first.
type DeliveryFilter struct {
	WebhookID string
	// Status, when set, selects that status.
	Status string
	// EventType, when set, selects that event type.
	EventType string
	// Since and Until bound the creation time when set.
	Since, Until time.Time
	// Before is the cursor: deliveries with ID < Before.
	Before string
	Limit  int
}

// AttemptOutcome is what RecordWebhookAttempt stores besides the attempt.
type AttemptOutcome struct {
	// Status is the delivery's new status; NextAttemptAt when it is
	// pending.
	Status        string
	NextAttemptAt time.Time
	// Healthy resets the endpoint's failure clock (a 2xx); otherwise a
	// failed attempt starts it when it is not running.
	Healthy bool
	// Disable, when set, disables the endpoint with this reason.
	Disable string
}

// AlertState is the de-duplication state of one kind of alert.
type AlertState struct {
	Kind string
	// LastSentAt is when the last alert mail of this kind went out.
	LastSentAt time.Time
	// Suppressed counts the alerts since then not yet mailed;
	// FirstSuppressedAt is the oldest of them.
	Suppressed        int
	FirstSuppressedAt time.Time
}

// TopicWebhook is the change feed topic of webhook endpoints.
const TopicWebhook = "webhook"

// Webhooks stores webhook endpoints, their deliveries and attempts, the
// event dispatcher's position and the alert de-duplication state. Times
// are UTC, millisecond precision.
type Webhooks interface {
	// CreateWebhook stores w (ErrConflict when the id is taken) and
	// publishes the change.
	CreateWebhook(ctx context.Context, w *Webhook) error
	// GetWebhook returns the endpoint or ErrNotFound.
	GetWebhook(ctx context.Context, id string) (*Webhook, error)
	// GetWebhookForUpdate is GetWebhook, locking the row until the
	// context's transaction ends.
	GetWebhookForUpdate(ctx context.Context, id string) (*Webhook, error)
	// ListWebhooks returns up to limit endpoints of kind ("" for every
	// kind) with id > after, by id.
	ListWebhooks(ctx context.Context, kind, after string, limit int) ([]*Webhook, error)
	// ListClientStreams returns the streams of a receiver, by id.
	ListClientStreams(ctx context.Context, clientID string) ([]*Webhook, error)
	// SetStreamSubject records that userID was added to (included) or
	// removed from a stream.
	SetStreamSubject(ctx context.Context, streamID, userID string, included bool) error
	// StreamSubject reports whether userID was added to (included) or
	// removed from the stream; set is false when neither.
	StreamSubject(ctx context.Context, streamID, userID string) (included, set bool, err error)
	// UpdateWebhook replaces the stored endpoint (ErrNotFound if absent)
	// and publishes the change.
	UpdateWebhook(ctx context.Context, w *Webhook) error
	// DeleteWebhook removes the endpoint with its deliveries and attempts
	// and publishes the change; ErrNotFound if absent.
	DeleteWebhook(ctx context.Context, id string) error

	// CreateWebhookDeliveries stores new deliveries.
	CreateWebhookDeliveries(ctx context.Context, ds []*WebhookDelivery) error
	// GetWebhookDelivery returns the delivery or ErrNotFound.
	GetWebhookDelivery(ctx context.Context, id string) (*WebhookDelivery, error)
	// ListWebhookDeliveries returns deliveries matching f, newest first.
	ListWebhookDeliveries(ctx context.Context, f DeliveryFilter) ([]*WebhookDelivery, error)
	// ListWebhookAttempts returns the attempts of a delivery, first first.
	ListWebhookAttempts(ctx context.Context, deliveryID string) ([]*WebhookAttempt, error)
	// RecordWebhookAttempt stores a, moves its delivery to o's status
	// (counting the attempt) and updates the endpoint's health, in one
	// transaction. disabled reports that this call disabled the endpoint
	// (o.Disable, and it was enabled).
	RecordWebhookAttempt(ctx context.Context, a *WebhookAttempt, o AttemptOutcome) (disabled bool, err error)
	// DeleteWebhookDeliveries removes up to limit finished deliveries
	// (succeeded or failed) last updated before t, with their attempts,
	// and returns how many.
	DeleteWebhookDeliveries(ctx context.Context, before time.Time, limit int) (int64, error)
	// ResetWebhookDelivery moves a delivery to status (pending again for
	// an attempt at t: a manual retry or a replay; or held); its attempts
	// are kept.
	ResetWebhookDelivery(ctx context.Context, id, status string, t time.Time) error

	// LockEventCursor returns the position of the named event consumer,
	// locking it until the context's transaction ends (call it in one):
	// consumers on other replicas wait, so every event is consumed once.
	LockEventCursor(ctx context.Context, name string) (int64, error)
	// SetEventCursor moves the named consumer to pos.
	SetEventCursor(ctx context.Context, name string, pos int64) error
	// AuditHead is the id of the last audit event (0 for none).
	AuditHead(ctx context.Context) (int64, error)
	// AuditEventsAfter returns up to limit audit events with ID > after,
	// oldest first.
	AuditEventsAfter(ctx context.Context, after int64, limit int) ([]*AuditEvent, error)

	// AlertStates returns the alert de-duplication state of every kind.
	AlertStates(ctx context.Context) ([]*AlertState, error)
	// SaveAlertState stores the state of one kind.
	SaveAlertState(ctx context.Context, s *AlertState) error
}
