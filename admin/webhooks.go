package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/webhook"
)

// Webhook is an endpoint that receives events (never its secret, except
// once on creation and rotation).
type Webhook struct {
	ID          string   `json:"id" jsonschema:"required"`
	URL         string   `json:"url" jsonschema:"required"`
	Description string   `json:"description,omitempty"`
	Events      []string `json:"events" jsonschema:"required"`
	Enabled     bool     `json:"enabled" jsonschema:"required"`
	// DisabledReason says why authd or an administrator disabled it: gone
	// (it answered 410), failing (it failed for webhooks.disable_after),
	// admin.
	DisabledReason string `json:"disabled_reason,omitempty" jsonschema:"enum=gone,enum=failing,enum=admin"`
	// FailingSince is the first failed attempt since the last success.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// SecretOverlapUntil is when the previous signing secret stops signing
	// beside the current one, after a rotation.
	SecretOverlapUntil *time.Time `json:"secret_overlap_until,omitempty"`
	CreatedBy          string     `json:"created_by,omitempty"`
	CreatedAt          time.Time  `json:"created_at" jsonschema:"required"`
	UpdatedAt          time.Time  `json:"updated_at" jsonschema:"required"`
}

// CreatedWebhook is an endpoint with its signing secret: shown this once.
type CreatedWebhook struct {
	Webhook
	// Secret verifies deliveries (Standard Webhooks: whsec_ and base64).
	Secret string `json:"secret" jsonschema:"required"`
}

// NewWebhook is an endpoint to register. authd first sends it a signed
// webhook.test event and registers it only if it answers 2xx.
type NewWebhook struct {
	URL string `json:"url" jsonschema:"required,minLength=1,maxLength=2048,description=https:// (http:// only to loopback while the issuer is on loopback); never a private or link-local address unless webhooks.allowed_networks allows it."`
	// Events are event types or patterns: user.created, user.*, or *.
	Events      []string `json:"events" jsonschema:"required,minItems=1,maxItems=50"`
	Description string   `json:"description,omitempty" jsonschema:"maxLength=500"`
}

// WebhookPatch changes an endpoint; absent fields stay. A new url is
// verified like a new endpoint.
type WebhookPatch struct {
	URL         *string   `json:"url,omitempty" jsonschema:"minLength=1,maxLength=2048"`
	Events      *[]string `json:"events,omitempty" jsonschema:"minItems=1,maxItems=50"`
	Description *string   `json:"description,omitempty" jsonschema:"maxLength=500"`
	// Enabled re-enables a disabled endpoint or disables one.
	Enabled *bool `json:"enabled,omitempty"`
}

// Delivery is one event for one endpoint; its id is the webhook-id header
// of every attempt.
type Delivery struct {
	ID        string `json:"id" jsonschema:"required"`
	WebhookID string `json:"webhook_id" jsonschema:"required"`
	EventType string `json:"event_type" jsonschema:"required"`
	// EventID is the audit event delivered (absent for webhook.test).
	EventID int64 `json:"event_id,omitempty"`
	// Status: pending (waiting for an attempt), succeeded, or failed (every
	// attempt failed: dead-lettered until retried or replayed).
	Status        string     `json:"status" jsonschema:"required,enum=pending,enum=succeeded,enum=failed"`
	Attempts      int        `json:"attempts" jsonschema:"required"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	// LastStatus is the HTTP status of the last attempt (0: no answer).
	LastStatus int       `json:"last_status" jsonschema:"required"`
	CreatedAt  time.Time `json:"created_at" jsonschema:"required"`
	UpdatedAt  time.Time `json:"updated_at" jsonschema:"required"`
	// Payload is the body sent.
	Payload webhook.Payload `json:"payload" jsonschema:"required"`
	// AttemptLog lists every attempt (only when one delivery is read).
	AttemptLog []Attempt `json:"attempt_log,omitempty"`
}

// Attempt is one try of a delivery.
type Attempt struct {
	N  int       `json:"n" jsonschema:"required"`
	At time.Time `json:"at" jsonschema:"required"`
	// Status is the HTTP status; 0 when no answer came (error says why).
	Status    int    `json:"status" jsonschema:"required"`
	LatencyMs int64  `json:"latency_ms" jsonschema:"required"`
	Error     string `json:"error,omitempty"`
	// Response is the start of the answer's body (at most 1 KiB).
	Response string `json:"response,omitempty"`
}

// ReplayRequest selects the deliveries a replay attempts again.
type ReplayRequest struct {
	Since time.Time `json:"since" jsonschema:"required"`
	// Until defaults to now.
	Until *time.Time `json:"until,omitempty"`
	// All replays succeeded deliveries too, not only failed ones.
	All bool `json:"all,omitempty"`
}

// Replayed says how many deliveries a replay made pending.
type Replayed struct {
	Count int `json:"count" jsonschema:"required"`
}

// ToWebhook is how the API and the CLI show an endpoint.
func ToWebhook(w *storage.Webhook) Webhook {
	out := Webhook{ID: w.ID, URL: w.URL, Description: w.Description, Events: w.Events, Enabled: !w.Disabled,
		DisabledReason: w.DisabledReason, FailingSince: optTime(w.FailingSince), CreatedBy: w.CreatedBy,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	if len(w.PreviousSecret) > 0 && w.PreviousExpiresAt.After(time.Now()) {
		out.SecretOverlapUntil = optTime(w.PreviousExpiresAt)
	}
	if out.Events == nil {
		out.Events = []string{}
	}
	return out
}

// ToDelivery is how the API and the CLI show a delivery; attempts may be
// nil.
func ToDelivery(d *storage.WebhookDelivery, attempts []*storage.WebhookAttempt) Delivery {
	out := Delivery{ID: d.ID, WebhookID: d.WebhookID, EventType: d.EventType, EventID: d.EventID, Status: d.Status,
		Attempts: d.Attempts, LastStatus: d.LastStatus, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d.Status == storage.DeliveryPending {
		out.NextAttemptAt = optTime(d.NextAttemptAt)
	}
	_ = json.Unmarshal(d.Payload, &out.Payload) // authd wrote it
	for _, a := range attempts {
		out.AttemptLog = append(out.AttemptLog, Attempt{N: a.N, At: a.At, Status: a.Status, LatencyMs: a.Latency.Milliseconds(),
			Error: a.Error, Response: a.Response})
	}
	return out
}

type webhookByID struct {
	ID string `path:"id" doc:"The endpoint's id (wh_...)."`
}

type deliveryByID struct {
	ID         string `path:"id" doc:"The endpoint's id."`
	DeliveryID string `path:"delivery_id" doc:"The delivery's id (msg_..., its webhook-id header)."`
}

type createWebhookIn struct{ Body NewWebhook }

type updateWebhookIn struct {
	ID   string `path:"id" doc:"The endpoint's id."`
	Body WebhookPatch
}

type listDeliveriesIn struct {
	ID        string    `path:"id" doc:"The endpoint's id."`
	Status    string    `query:"status" enum:"pending,succeeded,failed" doc:"Only deliveries in this status (failed: the dead letters)."`
	EventType string    `query:"event_type" doc:"Only deliveries of this event type."`
	Since     time.Time `query:"since" doc:"Only deliveries created at or after this time (RFC 3339)."`
	Until     time.Time `query:"until" doc:"Only deliveries created before this time (RFC 3339)."`
	Limit     int       `query:"limit" minimum:"1" maximum:"200"`
	Cursor    string    `query:"cursor"`
}

type replayIn struct {
	ID   string `path:"id" doc:"The endpoint's id."`
	Body ReplayRequest
}

func (a *API) webhookRoutes() {
	const tag = "webhooks"
	register(a, op{Method: "POST", Path: "/api/v1/webhooks", ID: "createWebhook", Tag: tag, Scope: "webhooks:write",
		Summary: "Register a webhook endpoint", Status: http.StatusCreated, Errors: []int{http.StatusUnprocessableEntity},
		Description: "authd first sends the endpoint a signed webhook.test event and registers it only if it answers 2xx " +
			"(otherwise 422, naming the answer). The signing secret is in the answer this once."}, a.createWebhook)
	register(a, op{Method: "GET", Path: "/api/v1/webhooks", ID: "listWebhooks", Tag: tag, Scope: "webhooks:read",
		Summary: "List webhook endpoints"}, a.listWebhooks)
	register(a, op{Method: "GET", Path: "/api/v1/webhooks/{id}", ID: "getWebhook", Tag: tag, Scope: "webhooks:read",
		Summary: "Get a webhook endpoint", Errors: []int{http.StatusNotFound}}, a.getWebhook)
	register(a, op{Method: "PATCH", Path: "/api/v1/webhooks/{id}", ID: "updateWebhook", Tag: tag, Scope: "webhooks:write",
		Summary: "Change a webhook endpoint (JSON merge patch)", ContentType: "application/merge-patch+json", Description: "A new url is verified with a webhook.test event first. " +
			"enabled: true re-enables an endpoint authd disabled.",
		Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity}}, a.updateWebhook)
	register(a, op{Method: "DELETE", Path: "/api/v1/webhooks/{id}", ID: "deleteWebhook", Tag: tag, Scope: "webhooks:write",
		Summary: "Delete a webhook endpoint", Description: "Its deliveries go with it.", Errors: []int{http.StatusNotFound}}, a.deleteWebhook)
	register(a, op{Method: "POST", Path: "/api/v1/webhooks/{id}/rotate-secret", ID: "rotateWebhookSecret", Tag: tag,
		Scope: "webhooks:write", Summary: "Rotate a webhook's signing secret",
		Description: "The new secret is in the answer this once. The previous one keeps signing beside it (two signatures " +
			"in webhook-signature) until secret_overlap_until, so receivers switch without losing a delivery.",
		Errors: []int{http.StatusNotFound}}, a.rotateWebhookSecret)
	register(a, op{Method: "POST", Path: "/api/v1/webhooks/{id}/test", ID: "testWebhook", Tag: tag, Scope: "webhooks:write",
		Summary: "Send a webhook.test event", Status: http.StatusAccepted,
		Description: "Queued as a delivery like any event (retried on failure).", Errors: []int{http.StatusNotFound}}, a.testWebhook)
	register(a, op{Method: "GET", Path: "/api/v1/webhooks/{id}/deliveries", ID: "listWebhookDeliveries", Tag: tag,
		Scope: "webhooks:read", Summary: "List a webhook's deliveries", Description: "Newest first; filters combine.",
		Errors: []int{http.StatusNotFound}}, a.listDeliveries)
	register(a, op{Method: "GET", Path: "/api/v1/webhooks/{id}/deliveries/{delivery_id}", ID: "getWebhookDelivery", Tag: tag,
		Scope: "webhooks:read", Summary: "Get a delivery with its attempts", Errors: []int{http.StatusNotFound}}, a.getDelivery)
	register(a, op{Method: "POST", Path: "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry", ID: "retryWebhookDelivery",
		Tag: tag, Scope: "webhooks:write", Summary: "Attempt a delivery again", Status: http.StatusAccepted,
		Description: "A failed (dead-lettered) or succeeded delivery is attempted again now, with the same webhook-id; " +
			"409 while it is pending.", Errors: []int{http.StatusNotFound, http.StatusConflict}}, a.retryDelivery)
	register(a, op{Method: "POST", Path: "/api/v1/webhooks/{id}/replay", ID: "replayWebhookDeliveries", Tag: tag,
		Scope: "webhooks:write", Summary: "Replay the deliveries of a time range", Status: http.StatusAccepted,
		Description: "Attempts again the failed deliveries (with all, every finished one) created in [since, until), " +
			"each with its own webhook-id; at most 10000 per call.",
		Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity}}, a.replayDeliveries)
}

// webhookProblem maps the service's errors.
func webhookProblem(err error) error {
	var ie *webhook.InputError
	var ve *webhook.VerificationError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return notFound("webhook")
	case errors.As(err, &ie):
		return invalid(FieldError{"/" + ie.Field, ie.Reason})
	case errors.As(err, &ve):
		return invalid(FieldError{"/url", ve.Error()})
	case errors.Is(err, webhook.ErrPending):
		return conflict("the delivery is pending: it is attempted on its schedule")
	}
	return err
}

func (a *API) createWebhook(ctx context.Context, c *call, in *createWebhookIn) (CreatedWebhook, error) {
	w, secret, err := a.webhooks.Create(ctx, webhook.Spec{URL: in.Body.URL, Events: in.Body.Events, Description: in.Body.Description}, actor(c))
	if err != nil {
		return CreatedWebhook{}, webhookProblem(err)
	}
	c.w.Header().Set("Location", "/api/v1/webhooks/"+w.ID)
	return CreatedWebhook{Webhook: ToWebhook(w), Secret: secret}, nil
}

func (a *API) listWebhooks(ctx context.Context, _ *call, in *listClientsIn) (Page[Webhook], error) {
	limit := cmp(in.Limit, defaultLimit)
	after, err := a.cursors.decode("webhooks", in.Cursor)
	if err != nil {
		return Page[Webhook]{}, err
	}
	rows, err := a.webhooks.List(ctx, after, limit+1)
	if err != nil {
		return Page[Webhook]{}, err
	}
	return page(a.cursors, "webhooks", rows, limit, func(w *storage.Webhook) string { return w.ID }, ToWebhook), nil
}

func (a *API) getWebhook(ctx context.Context, _ *call, in *webhookByID) (Webhook, error) {
	w, err := a.webhooks.Get(ctx, in.ID)
	if err != nil {
		return Webhook{}, webhookProblem(err)
	}
	return ToWebhook(w), nil
}

func (a *API) updateWebhook(ctx context.Context, c *call, in *updateWebhookIn) (Webhook, error) {
	b := in.Body
	w, err := a.webhooks.Update(ctx, in.ID, webhook.Edit{URL: b.URL, Events: b.Events, Description: b.Description, Enabled: b.Enabled}, actor(c))
	if err != nil {
		return Webhook{}, webhookProblem(err)
	}
	return ToWebhook(w), nil
}

func (a *API) deleteWebhook(ctx context.Context, c *call, in *webhookByID) (NoContent, error) {
	return NoContent{}, webhookProblem(a.webhooks.Delete(ctx, in.ID, actor(c)))
}

func (a *API) rotateWebhookSecret(ctx context.Context, c *call, in *webhookByID) (CreatedWebhook, error) {
	w, secret, err := a.webhooks.RotateSecret(ctx, in.ID, actor(c))
	if err != nil {
		return CreatedWebhook{}, webhookProblem(err)
	}
	return CreatedWebhook{Webhook: ToWebhook(w), Secret: secret}, nil
}

func (a *API) testWebhook(ctx context.Context, _ *call, in *webhookByID) (Delivery, error) {
	d, err := a.webhooks.Ping(ctx, in.ID)
	if err != nil {
		return Delivery{}, webhookProblem(err)
	}
	return ToDelivery(d, nil), nil
}

func (a *API) listDeliveries(ctx context.Context, _ *call, in *listDeliveriesIn) (Page[Delivery], error) {
	if _, err := a.webhooks.Get(ctx, in.ID); err != nil {
		return Page[Delivery]{}, webhookProblem(err)
	}
	limit := cmp(in.Limit, defaultLimit)
	list := "deliveries\x00" + in.ID + "\x00" + in.Status + "\x00" + in.EventType + "\x00" + in.Since.String() + "\x00" + in.Until.String()
	before, err := a.cursors.decode(list, in.Cursor)
	if err != nil {
		return Page[Delivery]{}, err
	}
	rows, err := a.webhooks.Deliveries(ctx, storage.DeliveryFilter{WebhookID: in.ID, Status: in.Status, EventType: in.EventType,
		Since: in.Since, Until: in.Until, Before: before, Limit: limit + 1})
	if err != nil {
		return Page[Delivery]{}, err
	}
	return page(a.cursors, list, rows, limit, func(d *storage.WebhookDelivery) string { return d.ID },
		func(d *storage.WebhookDelivery) Delivery { return ToDelivery(d, nil) }), nil
}

func (a *API) getDelivery(ctx context.Context, _ *call, in *deliveryByID) (Delivery, error) {
	d, attempts, err := a.webhooks.Delivery(ctx, in.ID, in.DeliveryID)
	if errors.Is(err, storage.ErrNotFound) {
		return Delivery{}, notFound("delivery")
	}
	if err != nil {
		return Delivery{}, err
	}
	return ToDelivery(d, attempts), nil
}

func (a *API) retryDelivery(ctx context.Context, _ *call, in *deliveryByID) (Delivery, error) {
	d, err := a.webhooks.Retry(ctx, in.ID, in.DeliveryID)
	if errors.Is(err, storage.ErrNotFound) {
		return Delivery{}, notFound("delivery")
	}
	if err != nil {
		return Delivery{}, webhookProblem(err)
	}
	return ToDelivery(d, nil), nil
}

func (a *API) replayDeliveries(ctx context.Context, _ *call, in *replayIn) (Replayed, error) {
	until := a.now()
	if in.Body.Until != nil {
		until = *in.Body.Until
	}
	if !in.Body.Since.Before(until) {
		return Replayed{}, invalid(FieldError{"/since", "must be before until"})
	}
	n, err := a.webhooks.Replay(ctx, in.ID, in.Body.Since, until, in.Body.All)
	if err != nil {
		return Replayed{}, webhookProblem(err)
	}
	return Replayed{Count: n}, nil
}
