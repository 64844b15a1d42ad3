package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/authd/authd/storage"
)

// DeliveryArgs is the webhook_delivery job: attempt one delivery.
type DeliveryArgs struct {
	Delivery string `json:"delivery"`
}

// Kind implements river.JobArgs.
func (DeliveryArgs) Kind() string { return "webhook_delivery" }

// deliveryJob is the job of a delivery. River's own attempts count only
// failures of the worker itself (the database unreachable); the
// endpoint's failures are counted on the delivery, and the job snoozes
// between them.
func deliveryJob(d *storage.WebhookDelivery) river.InsertManyParams {
	return river.InsertManyParams{Args: DeliveryArgs{Delivery: d.ID}, InsertOpts: &river.InsertOpts{MaxAttempts: 25}}
}

// AddWorker registers the delivery worker. River needs its workers
// before the queue opens, and the service needs the queue, so the worker
// gets a function that returns the service once it exists.
func AddWorker(workers *river.Workers, service func() *Service) error {
	return river.AddWorkerSafely(workers, &worker{service: service})
}

type worker struct {
	river.WorkerDefaults[DeliveryArgs]
	service func() *Service
}

func (w *worker) Timeout(*river.Job[DeliveryArgs]) time.Duration {
	if s := w.service(); s != nil {
		return s.cfg.Timeout + 5*time.Second
	}
	return 10 * time.Second
}

func (w *worker) Work(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	s := w.service()
	if s == nil {
		return river.JobSnooze(time.Second)
	}
	return s.attempt(ctx, job.Args.Delivery)
}

// busySnooze is how long a delivery waits when its endpoint already has
// Config.MaxConcurrency attempts in flight from this process.
const busySnooze = 250 * time.Millisecond

// attempt tries one delivery once and records the outcome. It returns a
// JobSnooze until the next attempt while the delivery stays pending.
func (s *Service) attempt(ctx context.Context, id string) error {
	d, err := s.store.GetWebhookDelivery(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // its endpoint was deleted
	}
	if err != nil {
		return err
	}
	if d.Status != storage.DeliveryPending {
		return nil // a duplicate job: done already
	}
	if wait := d.NextAttemptAt.Sub(s.now()); wait > 0 {
		return river.JobSnooze(wait)
	}
	ep, err := s.endpoint(ctx, d.WebhookID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if holds(ep.w, d.EventType) {
		return s.hold(ctx, d)
	}
	if ep.w.Disabled {
		_, err := s.store.RecordWebhookAttempt(ctx, &storage.WebhookAttempt{DeliveryID: d.ID, At: s.now(),
			Error: "not sent: the endpoint is disabled (" + ep.w.DisabledReason + ")"},
			storage.AttemptOutcome{Status: storage.DeliveryFailed})
		return err
	}
	if !s.acquire(ep.w.ID) {
		return river.JobSnooze(busySnooze + rand.N(busySnooze)) // #nosec G404 -- back-off jitter, not a secret
	}
	defer s.release(ep.w.ID)

	body, headers := d.Payload, webhookHeaders(d.ID, s.now(), d.Payload, ep.secrets)
	if ep.w.Stream != nil {
		if body, err = s.signSET(d); err != nil {
			return err // retried by River
		}
		headers = ep.setHeaders
	}
	res := s.send(ctx, ep.w.URL, body, headers)
	now := s.now()
	o := s.outcome(res, d.Attempts+1, ep.w, now)
	disabled, err := s.store.RecordWebhookAttempt(ctx, &storage.WebhookAttempt{DeliveryID: d.ID, At: now, Status: res.status,
		Latency: res.latency, Error: res.err, Response: res.excerpt}, o)
	if err != nil {
		return err
	}
	if disabled {
		s.forget(ep.w.ID)
		s.log.WarnContext(ctx, "webhook: endpoint disabled", "webhook", ep.w.ID, "reason", o.Disable, "url", redactURL(ep.w.URL))
		if err := s.record(ctx, storage.AuditWebhookDisabled, "authd", ep.w.ID,
			map[string]any{"reason": o.Disable, "last_status": res.status}); err != nil {
			return err
		}
	}
	if o.Status == storage.DeliveryPending {
		return river.JobSnooze(max(0, o.NextAttemptAt.Sub(now)))
	}
	return nil
}

// hold keeps a delivery of a paused stream until the stream is enabled
// again (releaseHeld). The stream's row lock orders this against a
// status change: a stream enabled meanwhile gets the delivery attempted.
func (s *Service) hold(ctx context.Context, d *storage.WebhookDelivery) error {
	held := false
	err := storage.InTx(ctx, s.store, func(ctx context.Context) error {
		w, err := s.store.GetWebhookForUpdate(ctx, d.WebhookID)
		if err != nil || !holds(w, d.EventType) {
			return err
		}
		held = true
		return s.store.ResetWebhookDelivery(ctx, d.ID, storage.DeliveryHeld, s.now())
	})
	if err != nil || held {
		return err
	}
	s.forget(d.WebhookID)
	return river.JobSnooze(0) // the stream changed: attempt it afresh
}

// outcome decides what follows attempt n.
func (s *Service) outcome(res result, n int, w *storage.Webhook, now time.Time) storage.AttemptOutcome {
	if res.ok() {
		return storage.AttemptOutcome{Status: storage.DeliverySucceeded, Healthy: true}
	}
	o := storage.AttemptOutcome{Status: storage.DeliveryFailed}
	switch {
	case res.status == http.StatusGone:
		o.Disable = "gone"
		return o
	case w.Stream != nil && res.status == http.StatusBadRequest && setError(res.excerpt) != "invalid_key":
		// RFC 8935 §2.4: the receiver refused this SET; sending it again
		// would not change that (invalid_key might: its key cache).
		return o
	case !w.FailingSince.IsZero() && now.Sub(w.FailingSince) >= s.cfg.DisableAfter:
		o.Disable = "failing"
		return o
	case n > len(s.schedule):
		return o // dead-lettered
	}
	wait := jitter(s.schedule[n-1])
	if res.retryAfter > wait {
		wait = min(res.retryAfter, 24*time.Hour)
	}
	o.Status, o.NextAttemptAt = storage.DeliveryPending, now.Add(wait)
	return o
}

// jitter varies d by ±10%, so that an endpoint back after an outage is
// not hit by every retry at once.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	spread := int64(d / 5)
	if spread == 0 {
		return d
	}
	return d - d/10 + time.Duration(rand.Int64N(spread+1)) // #nosec G404 -- retry jitter, not a secret
}

func (s *Service) acquire(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[id] >= s.cfg.MaxConcurrency {
		return false
	}
	s.inflight[id]++
	return true
}

func (s *Service) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[id]--; s.inflight[id] <= 0 {
		delete(s.inflight, id)
	}
}

// result is what one attempt got.
type result struct {
	status     int
	latency    time.Duration
	err        string
	excerpt    string
	retryAfter time.Duration
}

func (r result) ok() bool { return r.status >= 200 && r.status < 300 }

// Response handling bounds: what is kept of a body, and how much more is
// read (and dropped) so the connection can be reused.
const (
	maxExcerpt = 1 << 10
	maxDrain   = 64 << 10
)

// setHeaders are a stream's push headers (RFC 8935 §2): the SET is
// signed itself.
func (ep *endpoint) setHeaders(h http.Header) error {
	h.Set("Content-Type", "application/secevent+jwt")
	h.Set("Accept", "application/json")
	if ep.auth != "" {
		h.Set("Authorization", ep.auth)
	}
	return nil
}

// setError is the err member of an RFC 8935 error answer ("" when the
// body is not one).
func setError(body string) string {
	var e struct {
		Err string `json:"err"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Err
}

// send POSTs body to url with the headers set sets, and reports what
// came back. Redirects are not followed (a 3xx is a failure).
func (s *Service) send(ctx context.Context, url string, body []byte, set func(http.Header) error) result {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return result{err: "bad URL: " + err.Error()}
	}
	req.Header.Set("User-Agent", "authd-webhooks/1")
	if err := set(req.Header); err != nil {
		return result{err: err.Error()}
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return result{latency: time.Since(start), err: describe(err, s.cfg.Timeout)}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxExcerpt))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	r := result{status: resp.StatusCode, latency: time.Since(start), excerpt: truncate(strings.ToValidUTF8(string(head), ""), maxExcerpt)}
	if v := resp.Header.Get("Retry-After"); v != "" && !r.ok() {
		r.retryAfter = retryAfter(v, s.now())
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		r.err = "redirects are not followed (" + truncate(resp.Header.Get("Location"), 200) + ")"
	}
	return r
}

// describe is an attempt's error as the delivery log shows it.
func describe(err error, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // not the URL again, with its query
	}
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return "refused: " + ErrForbiddenAddress.Error()
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout"):
		return fmt.Sprintf("no answer within %s", timeout)
	}
	return truncate(err.Error(), 300)
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs >= 0 {
		return time.Duration(min(secs, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
