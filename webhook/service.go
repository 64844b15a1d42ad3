// Package webhook publishes authd's events: the audit log is the outbox
// (every change and its audit event commit together), a dispatcher turns
// each committed audit event of the catalogue into one delivery per
// subscribed endpoint, and River jobs deliver them, signed as Standard
// Webhooks specifies, at least once, retried on a schedule and then
// dead-lettered. The same dispatcher raises security alerts.
//
// It knows nothing of HTTP routing: the admin API and the CLI call
// Service.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/storage"
)

// Store is what the service keeps its state in (storage/sql.Store).
type Store interface {
	storage.Webhooks
	storage.Transactor
	audit.Writer
}

// Sealer seals signing secrets at rest (*secrets.Keyring).
type Sealer interface {
	Seal(purpose string, plaintext []byte) ([]byte, error)
	Open(purpose string, sealed []byte) ([]byte, error)
}

// Jobs enqueues delivery jobs, inside the context's transaction when it
// carries one.
type Jobs interface {
	EnqueueMany(ctx context.Context, params []river.InsertManyParams) error
}

// Mailer queues mail, inside the context's transaction when it carries
// one.
type Mailer interface {
	Enqueue(ctx context.Context, m mail.Message) error
}

// Deps are what New needs.
type Deps struct {
	Store  Store
	Sealer Sealer
	// Jobs and Mailer may be nil for a service that only manages
	// endpoints (the CLI): it cannot queue deliveries or alerts.
	Jobs   Jobs
	Mailer Mailer
	Logger *slog.Logger
	// Loopback allows endpoints on loopback (http:// too): the issuer is
	// on loopback, a development setup.
	Loopback bool
	// Issuer, Signer and Directory serve Shared Signals streams: the
	// iss of their SETs, the key that signs them, and who may hear of a
	// user. A service without a Signer (the CLI) manages streams but does
	// not dispatch their events.
	Issuer    string
	Signer    Signer
	Directory Directory
	// Transport, when set, replaces the guarded transport (tests only:
	// the address checks are then the transport's business).
	Transport http.RoundTripper
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// WrapTransport, when set, wraps the transport deliveries and stream
	// pushes go out on (tracing: a client span and traceparent).
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// secretPurpose binds sealed signing secrets to this use of the master
// key; authPurpose a stream's Authorization header.
const (
	secretPurpose = "webhook-signing-secret"
	authPurpose   = "ssf-authorization-header"
)

// Service manages endpoints and delivers events. Safe for concurrent use.
type Service struct {
	cfg      Config
	alertCfg AlertConfig
	schedule []time.Duration
	store    Store
	seal     Sealer
	jobs     Jobs
	mail     Mailer
	log      *slog.Logger
	now      func() time.Time
	guard    *guard
	client   *http.Client
	issuer   string
	signer   Signer
	dir      Directory

	mu        sync.Mutex
	endpoints map[string]*endpoint // cache of opened endpoints, by id
	inflight  map[string]int       // attempts in flight, by endpoint id

	lastHead int64 // the audit head the dispatcher last consumed up to
}

// endpoint is a stored endpoint with its secrets opened.
type endpoint struct {
	w       *storage.Webhook
	secrets []string
	// auth is a stream's Authorization header ("" for none).
	auth     string
	loadedAt time.Time
}

// endpointTTL bounds how long a cached endpoint is used without the
// change feed saying it changed.
const endpointTTL = 30 * time.Second

// New builds the service.
func New(cfg Config, alerts AlertConfig, d Deps) (*Service, error) {
	if err := errors.Join(cfg.Validate(), alerts.Validate()); err != nil {
		return nil, err
	}
	schedule, _ := cfg.schedule()
	nets, _ := cfg.networks()
	s := &Service{cfg: cfg, alertCfg: alerts, schedule: schedule, store: d.Store, seal: d.Sealer, jobs: d.Jobs, mail: d.Mailer,
		log: d.Logger, now: d.Now, issuer: d.Issuer, signer: d.Signer, dir: d.Directory, guard: &guard{allowed: nets, loopback: d.Loopback},
		endpoints: map[string]*endpoint{}, inflight: map[string]int{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	rt := d.Transport
	if rt == nil {
		rt = &http.Transport{
			// No proxy: a proxy would connect on authd's behalf, past the
			// address checks.
			Proxy: nil, DialContext: s.guard.dialContext(), ForceAttemptHTTP2: true,
			MaxIdleConnsPerHost: cfg.MaxConcurrency, IdleConnTimeout: 90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: cfg.Timeout,
		}
	}
	if d.WrapTransport != nil {
		rt = d.WrapTransport(rt)
	}
	s.client = &http.Client{Transport: rt, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return s, nil
}

// InputError is an endpoint specification authd refuses.
type InputError struct{ Field, Reason string }

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// VerificationError: the endpoint did not answer the webhook.test event
// with a 2xx, so it was not registered (or its URL not changed).
type VerificationError struct {
	// Status is the endpoint's answer; 0 when none came.
	Status int
	Reason string
}

func (e *VerificationError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("the endpoint answered the webhook.test event with %d, not 2xx", e.Status)
	}
	return "the endpoint did not answer the webhook.test event: " + e.Reason
}

// ErrPending: the delivery is already waiting for its next attempt.
var ErrPending = errors.New("webhook: the delivery is already pending")

// ErrNoQueue: this service was built without a job queue (the CLI).
var ErrNoQueue = errors.New("webhook: no job queue here; run this against a server (authd serve)")

// Spec is an endpoint to register.
type Spec struct {
	URL         string
	Events      []string
	Description string
}

// Edit changes an endpoint; nil fields stay.
type Edit struct {
	URL         *string
	Events      *[]string
	Description *string
	// Enabled re-enables a disabled endpoint (true) or disables it.
	Enabled *bool
}

func (s *Service) checkSpec(url *string, events *[]string, desc *string) error {
	if url != nil {
		if err := s.guard.checkURL(*url); err != nil {
			return &InputError{"url", err.Error()}
		}
	}
	if events != nil {
		if len(*events) == 0 || len(*events) > 50 {
			return &InputError{"events", "must list 1 to 50 event types or patterns"}
		}
		for i, e := range *events {
			if err := CheckPattern(e); err != nil {
				return &InputError{fmt.Sprintf("events/%d", i), err.Error()}
			}
		}
	}
	if desc != nil && len(*desc) > 500 {
		return &InputError{"description", "is longer than 500 bytes"}
	}
	return nil
}

// Create verifies the endpoint with a signed webhook.test event and, when
// it answers 2xx, stores it. The signing secret is returned this once.
func (s *Service) Create(ctx context.Context, spec Spec, actor string) (*storage.Webhook, string, error) {
	if err := s.checkSpec(&spec.URL, &spec.Events, &spec.Description); err != nil {
		return nil, "", err
	}
	now := s.now()
	id := newID("wh_", now)
	secret := newSecret()
	if err := s.verify(ctx, id, spec.URL, []string{secret}); err != nil {
		return nil, "", err
	}
	sealed, err := s.seal.Seal(secretPurpose, []byte(secret))
	if err != nil {
		return nil, "", err
	}
	events := slices.Compact(slices.Sorted(slices.Values(spec.Events)))
	w := &storage.Webhook{ID: id, URL: spec.URL, Description: spec.Description, Events: events, Secret: sealed,
		CreatedBy: actor, CreatedAt: now}
	err = storage.InTx(ctx, s.store, func(ctx context.Context) error {
		if err := s.store.CreateWebhook(ctx, w); err != nil {
			return err
		}
		return s.record(ctx, storage.AuditWebhookCreated, actor, w.ID, map[string]any{"url": redactURL(w.URL), "events": w.Events})
	})
	if err != nil {
		return nil, "", err
	}
	return w, secret, nil
}

func (s *Service) record(ctx context.Context, typ storage.AuditType, actor, id string, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	details["webhook_id"] = id
	return audit.Record(ctx, s.store, storage.AuditEvent{Type: typ, ActorID: actor, Details: details}, s.now())
}

// verify sends a webhook.test event directly and wants a 2xx.
func (s *Service) verify(ctx context.Context, id, url string, secrets []string) error {
	now := s.now()
	body, err := Payload{Type: WebhookTest, Timestamp: now.UTC(), Data: EventData{WebhookID: id,
		Details: map[string]any{"message": "authd is checking that this endpoint answers; reply 2xx"}}}.marshal()
	if err != nil {
		return err
	}
	res := s.send(ctx, url, body, webhookHeaders(newID("msg_", now), now, body, secrets))
	if res.status >= 200 && res.status < 300 {
		return nil
	}
	return &VerificationError{Status: res.status, Reason: res.err}
}

// Get returns the endpoint, or storage.ErrNotFound (streams are not
// endpoints here: their receivers manage them).
func (s *Service) Get(ctx context.Context, id string) (*storage.Webhook, error) {
	return onlyKind(storage.KindWebhook)(s.store.GetWebhook(ctx, id))
}

// onlyKind turns an endpoint of another kind into storage.ErrNotFound.
func onlyKind(kind string) func(*storage.Webhook, error) (*storage.Webhook, error) {
	return func(w *storage.Webhook, err error) (*storage.Webhook, error) {
		if err == nil && kindOf(w) != kind {
			return nil, storage.ErrNotFound
		}
		return w, err
	}
}

func kindOf(w *storage.Webhook) string {
	if w.Kind == "" {
		return storage.KindWebhook
	}
	return w.Kind
}

// List returns up to limit endpoints with id > after.
func (s *Service) List(ctx context.Context, after string, limit int) ([]*storage.Webhook, error) {
	return s.store.ListWebhooks(ctx, storage.KindWebhook, after, limit)
}

// Update applies e. A new URL is verified like a new endpoint first.
func (s *Service) Update(ctx context.Context, id string, e Edit, actor string) (*storage.Webhook, error) {
	if err := s.checkSpec(e.URL, e.Events, e.Description); err != nil {
		return nil, err
	}
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	if e.URL != nil {
		cur, err := s.endpoint(ctx, id)
		if err != nil {
			return nil, err
		}
		if *e.URL != cur.w.URL {
			if err := s.verify(ctx, id, *e.URL, cur.secrets); err != nil {
				return nil, err
			}
		}
	}
	var out *storage.Webhook
	err := storage.InTx(ctx, s.store, func(ctx context.Context) error {
		w, err := onlyKind(storage.KindWebhook)(s.store.GetWebhookForUpdate(ctx, id))
		if err != nil {
			return err
		}
		var changed []string
		if e.URL != nil && *e.URL != w.URL {
			w.URL, changed = *e.URL, append(changed, "url")
		}
		if e.Events != nil {
			ev := slices.Compact(slices.Sorted(slices.Values(*e.Events)))
			if !slices.Equal(ev, w.Events) {
				w.Events, changed = ev, append(changed, "events")
			}
		}
		if e.Description != nil && *e.Description != w.Description {
			w.Description, changed = *e.Description, append(changed, "description")
		}
		if e.Enabled != nil && *e.Enabled == w.Disabled {
			w.Disabled, changed = !*e.Enabled, append(changed, "enabled")
			w.DisabledReason, w.FailingSince = "", time.Time{}
			if w.Disabled {
				w.DisabledReason = "admin"
			}
		}
		out = w
		if len(changed) == 0 {
			return nil
		}
		if err := s.store.UpdateWebhook(ctx, w); err != nil {
			return err
		}
		return s.record(ctx, storage.AuditWebhookUpdated, actor, id, map[string]any{"fields": changed})
	})
	s.forget(id)
	return out, err
}

// Delete removes the endpoint with its deliveries.
func (s *Service) Delete(ctx context.Context, id string, actor string) error {
	err := storage.InTx(ctx, s.store, func(ctx context.Context) error {
		if _, err := onlyKind(storage.KindWebhook)(s.store.GetWebhookForUpdate(ctx, id)); err != nil {
			return err
		}
		if err := s.store.DeleteWebhook(ctx, id); err != nil {
			return err
		}
		return s.record(ctx, storage.AuditWebhookDeleted, actor, id, nil)
	})
	s.forget(id)
	return err
}

// RotateSecret gives the endpoint a new signing secret, returned this
// once; the old one keeps signing beside it for Config.SecretOverlap, so
// receivers can switch without losing a delivery (retries included).
func (s *Service) RotateSecret(ctx context.Context, id string, actor string) (*storage.Webhook, string, error) {
	secret := newSecret()
	sealed, err := s.seal.Seal(secretPurpose, []byte(secret))
	if err != nil {
		return nil, "", err
	}
	var out *storage.Webhook
	err = storage.InTx(ctx, s.store, func(ctx context.Context) error {
		w, err := onlyKind(storage.KindWebhook)(s.store.GetWebhookForUpdate(ctx, id))
		if err != nil {
			return err
		}
		w.PreviousSecret, w.PreviousExpiresAt, w.Secret = w.Secret, s.now().Add(s.cfg.SecretOverlap), sealed
		if s.cfg.SecretOverlap == 0 {
			w.PreviousSecret, w.PreviousExpiresAt = nil, time.Time{}
		}
		if err := s.store.UpdateWebhook(ctx, w); err != nil {
			return err
		}
		out = w
		return s.record(ctx, storage.AuditWebhookSecretRot, actor, id, map[string]any{"overlap_seconds": int(s.cfg.SecretOverlap / time.Second)})
	})
	s.forget(id)
	if err != nil {
		return nil, "", err
	}
	return out, secret, nil
}

// Changed is the change feed handler of storage.TopicWebhook.
func (s *Service) Changed(_ context.Context, changes []storage.Change) error {
	for _, c := range changes {
		s.forget(c.Ref)
	}
	return nil
}

func (s *Service) forget(id string) {
	s.mu.Lock()
	delete(s.endpoints, id)
	s.mu.Unlock()
}

// endpoint returns the endpoint with its secrets, from the cache when it
// is fresh.
func (s *Service) endpoint(ctx context.Context, id string) (*endpoint, error) {
	now := s.now()
	s.mu.Lock()
	ep, ok := s.endpoints[id]
	s.mu.Unlock()
	if ok && now.Sub(ep.loadedAt) < endpointTTL && !s.expired(ep, now) {
		return ep, nil
	}
	w, err := s.store.GetWebhook(ctx, id)
	if err != nil {
		return nil, err
	}
	ep = &endpoint{w: w, loadedAt: now}
	if w.Stream != nil {
		if len(w.Stream.AuthorizationHeader) > 0 {
			plain, err := s.seal.Open(authPurpose, w.Stream.AuthorizationHeader)
			if err != nil {
				return nil, fmt.Errorf("stream %s: open authorization header: %w", id, err)
			}
			ep.auth = string(plain)
		}
		s.cache(ep)
		return ep, nil
	}
	for i, sealed := range [][]byte{w.Secret, w.PreviousSecret} {
		if i == 1 && (len(sealed) == 0 || !now.Before(w.PreviousExpiresAt)) {
			break
		}
		plain, err := s.seal.Open(secretPurpose, sealed)
		if err != nil {
			return nil, fmt.Errorf("webhook %s: open signing secret: %w", id, err)
		}
		ep.secrets = append(ep.secrets, string(plain))
	}
	s.cache(ep)
	return ep, nil
}

func (s *Service) cache(ep *endpoint) {
	s.mu.Lock()
	s.endpoints[ep.w.ID] = ep
	s.mu.Unlock()
}

// expired: the cached endpoint still signs with a previous secret whose
// overlap has ended.
func (s *Service) expired(ep *endpoint, now time.Time) bool {
	return len(ep.secrets) > 1 && !now.Before(ep.w.PreviousExpiresAt)
}

// Delivery returns a delivery of webhook id with its attempts.
func (s *Service) Delivery(ctx context.Context, webhookID, id string) (*storage.WebhookDelivery, []*storage.WebhookAttempt, error) {
	return s.delivery(ctx, storage.KindWebhook, webhookID, id)
}

func (s *Service) delivery(ctx context.Context, kind, webhookID, id string) (*storage.WebhookDelivery, []*storage.WebhookAttempt, error) {
	if _, err := onlyKind(kind)(s.store.GetWebhook(ctx, webhookID)); err != nil {
		return nil, nil, err
	}
	d, err := s.store.GetWebhookDelivery(ctx, id)
	if err == nil && d.WebhookID != webhookID {
		err = storage.ErrNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	as, err := s.store.ListWebhookAttempts(ctx, id)
	return d, as, err
}

// Deliveries lists deliveries, newest first.
func (s *Service) Deliveries(ctx context.Context, f storage.DeliveryFilter) ([]*storage.WebhookDelivery, error) {
	return s.deliveries(ctx, storage.KindWebhook, f)
}

func (s *Service) deliveries(ctx context.Context, kind string, f storage.DeliveryFilter) ([]*storage.WebhookDelivery, error) {
	if _, err := onlyKind(kind)(s.store.GetWebhook(ctx, f.WebhookID)); err != nil {
		return nil, err
	}
	return s.store.ListWebhookDeliveries(ctx, f)
}

// Retry makes a finished delivery (failed or succeeded) pending again and
// attempts it now, with the same webhook-id.
func (s *Service) Retry(ctx context.Context, webhookID, id string) (*storage.WebhookDelivery, error) {
	if s.jobs == nil {
		return nil, ErrNoQueue
	}
	if _, err := s.Get(ctx, webhookID); err != nil {
		return nil, err
	}
	var out *storage.WebhookDelivery
	err := storage.InTx(ctx, s.store, func(ctx context.Context) error {
		d, err := s.store.GetWebhookDelivery(ctx, id)
		if err == nil && d.WebhookID != webhookID {
			err = storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		if d.Status == storage.DeliveryPending {
			return ErrPending
		}
		if err := s.requeue(ctx, []*storage.WebhookDelivery{d}); err != nil {
			return err
		}
		d.Status, d.NextAttemptAt = storage.DeliveryPending, s.now()
		out = d
		return nil
	})
	return out, err
}

// MaxReplay bounds the deliveries one replay makes pending again.
const MaxReplay = 10000

// Replay attempts again every finished delivery of the endpoint created
// in [since, until): only the failed ones unless all is set. It returns
// how many; at most MaxReplay (narrow the range for more).
func (s *Service) Replay(ctx context.Context, webhookID string, since, until time.Time, all bool) (int, error) {
	if s.jobs == nil {
		return 0, ErrNoQueue
	}
	if _, err := s.Get(ctx, webhookID); err != nil {
		return 0, err
	}
	f := storage.DeliveryFilter{WebhookID: webhookID, Since: since, Until: until, Limit: 500}
	if !all {
		f.Status = storage.DeliveryFailed
	}
	n := 0
	for n < MaxReplay {
		f.Limit = min(500, MaxReplay-n)
		page, err := s.store.ListWebhookDeliveries(ctx, f)
		if err != nil {
			return n, err
		}
		var finished []*storage.WebhookDelivery
		for _, d := range page {
			if d.Status != storage.DeliveryPending {
				finished = append(finished, d)
			}
		}
		if err := storage.InTx(ctx, s.store, func(ctx context.Context) error { return s.requeue(ctx, finished) }); err != nil {
			return n, err
		}
		n += len(finished)
		if len(page) < f.Limit {
			break
		}
		f.Before = page[len(page)-1].ID
	}
	return n, nil
}

// requeue makes deliveries pending now and enqueues their jobs, in the
// context's transaction.
func (s *Service) requeue(ctx context.Context, ds []*storage.WebhookDelivery) error {
	now := s.now()
	jobs := make([]river.InsertManyParams, 0, len(ds))
	for _, d := range ds {
		if err := s.store.ResetWebhookDelivery(ctx, d.ID, storage.DeliveryPending, now); err != nil {
			return err
		}
		jobs = append(jobs, deliveryJob(d))
	}
	if len(jobs) == 0 {
		return nil
	}
	return s.jobs.EnqueueMany(ctx, jobs)
}

// Ping queues a webhook.test delivery to the endpoint, attempted like any
// other (retries included).
func (s *Service) Ping(ctx context.Context, webhookID string) (*storage.WebhookDelivery, error) {
	if s.jobs == nil {
		return nil, ErrNoQueue
	}
	if _, err := s.Get(ctx, webhookID); err != nil {
		return nil, err
	}
	now := s.now()
	body, err := Payload{Type: WebhookTest, Timestamp: now.UTC(), Data: EventData{WebhookID: webhookID,
		Details: map[string]any{"message": "a test event requested through the admin API"}}}.marshal()
	if err != nil {
		return nil, err
	}
	d := &storage.WebhookDelivery{ID: newID("msg_", now), WebhookID: webhookID, EventType: string(WebhookTest), Payload: body,
		Status: storage.DeliveryPending, NextAttemptAt: now, CreatedAt: now}
	err = storage.InTx(ctx, s.store, func(ctx context.Context) error {
		if err := s.store.CreateWebhookDeliveries(ctx, []*storage.WebhookDelivery{d}); err != nil {
			return err
		}
		return s.jobs.EnqueueMany(ctx, []river.InsertManyParams{deliveryJob(d)})
	})
	return d, err
}

// SubscribedTo lists the endpoint ids, among ws, that get t: enabled and
// subscribed.
func subscribed(ws []*storage.Webhook, t EventType) []*storage.Webhook {
	var out []*storage.Webhook
	for _, w := range ws {
		if kindOf(w) == storage.KindWebhook && !w.Disabled && Matches(w.Events, t) {
			out = append(out, w)
		}
	}
	return out
}

// redactURL is an endpoint URL as logs and the audit trail show it:
// without its query, where receivers often put a token of their own.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
