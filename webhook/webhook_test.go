package webhook

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
)

// TestDeliverySigned: an audit event of the catalogue reaches a
// subscribed endpoint once, signed (the reference library verifies it),
// with the Standard Webhooks headers and body; an unsubscribed type and a
// non-catalogue audit event do not.
func TestDeliverySigned(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, testConfig(), DefaultAlertConfig())
		rc := newReceiver(t)
		w := e.create(rc, "user.*")
		if reqs := rc.requests(); len(reqs) != 1 || reqs[0].Payload.Type != WebhookTest || reqs[0].Payload.Data.WebhookID != w.ID {
			t.Fatalf("registration sent %+v, want one webhook.test", reqs)
		}
		e.emit(storage.AuditLoginSucceeded, "u0", nil) // not subscribed
		e.emit(storage.AuditClientCreated, "", nil)    // not in the catalogue
		e.emit(storage.AuditUserRegistered, "u1", map[string]any{"method": "password"})
		got := rc.next("user.created")
		p := got.Payload
		if p.Type != UserCreated || p.Data.UserID != "u1" || p.Data.Action != "user.registered" || p.Data.EventID == 0 || p.Timestamp.IsZero() {
			t.Fatalf("payload %+v", p)
		}
		if !strings.HasPrefix(got.ID, "msg_") || got.Header.Get("webhook-timestamp") == "" ||
			!strings.HasPrefix(got.Header.Get("webhook-signature"), "v1,") || got.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("headers %v", got.Header)
		}
		ds := e.waitDelivery(w.ID, storage.DeliverySucceeded, 1)
		if len(ds) != 1 || ds[0].ID != got.ID || ds[0].Attempts != 1 || ds[0].LastStatus != 204 {
			t.Fatalf("deliveries %+v", ds)
		}
		if string(ds[0].Payload) != string(got.Body) {
			t.Fatal("the stored payload is not the body sent")
		}
		// Nothing else arrives: the dispatcher is idle, and the other
		// events were not for this endpoint.
		if _, err := e.svc.Dispatch(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(rc.requests()); n != 2 {
			t.Fatalf("%d requests, want 2", n)
		}
	})
}

// TestRetriesThenDeadLetter: failures (5xx, 3xx, a huge body, a timeout)
// are retried on the schedule with the same webhook-id, then the
// delivery is dead-lettered with every attempt; a manual retry and a
// replay deliver it again under the same id.
func TestRetriesThenDeadLetter(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		cfg := testConfig()
		cfg.Timeout = 300 * time.Millisecond
		e := newEnv(t, dbURL, cfg, DefaultAlertConfig())
		rc := newReceiver(t)
		w := e.create(rc, "login.failed")
		failing := true
		rc.answer = func(n int, r *http.Request) int {
			if !failing || n == 0 {
				return 200
			}
			switch n % 4 {
			case 1:
				return 503
			case 2:
				return 302
			case 3:
				<-r.Context().Done() // outlast the timeout
				return 500
			}
			return 500
		}
		e.emit(storage.AuditLoginFailed, "u1", map[string]any{"reason": "bad_password"})
		ds := e.waitDelivery(w.ID, storage.DeliveryFailed, 1)
		d, attempts, err := e.svc.Delivery(context.Background(), w.ID, ds[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Attempts != 4 || len(attempts) != 4 {
			t.Fatalf("%d attempts recorded (%d rows), want 4 (first + 3 retries)", d.Attempts, len(attempts))
		}
		want := []time.Duration{45 * time.Millisecond, 90 * time.Millisecond, 135 * time.Millisecond}
		for i, a := range attempts {
			if a.N != i+1 {
				t.Fatalf("attempt %d numbered %d", i+1, a.N)
			}
			if i > 0 {
				if gap := a.At.Sub(attempts[i-1].At); gap < want[i-1] {
					t.Errorf("retry %d came %v after the previous attempt, before the schedule's %v", i, gap, want[i-1])
				}
			}
		}
		if attempts[0].Status != 503 || attempts[1].Status != 302 || !strings.Contains(attempts[1].Error, "redirect") ||
			attempts[2].Status != 0 || !strings.Contains(attempts[2].Error, "no answer") {
			t.Fatalf("attempts %+v", attempts)
		}
		ids := map[string]bool{}
		for _, r := range rc.requests()[1:] {
			ids[r.ID] = true
		}
		if len(ids) != 1 || !ids[d.ID] {
			t.Fatalf("webhook-ids across retries: %v, want only %s", ids, d.ID)
		}
		w2, _ := e.svc.Get(context.Background(), w.ID)
		if w2.FailingSince.IsZero() || w2.Disabled {
			t.Fatalf("endpoint after failures: %+v", w2)
		}

		// A retry of a pending delivery is refused; of a failed one, sent.
		failing = false
		if _, err := e.svc.Retry(context.Background(), w.ID, "msg_nope"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("retry unknown: %v", err)
		}
		if _, err := e.svc.Retry(context.Background(), w.ID, d.ID); err != nil {
			t.Fatal(err)
		}
		if got := rc.next("manual retry"); got.ID != d.ID {
			t.Fatalf("retry sent %s, want %s", got.ID, d.ID)
		}
		e.waitDelivery(w.ID, storage.DeliverySucceeded, 1)
		if w3, _ := e.svc.Get(context.Background(), w.ID); !w3.FailingSince.IsZero() {
			t.Fatal("a success did not reset the failure clock")
		}
		// Replay of the range: only failed ones unless all.
		n, err := e.svc.Replay(context.Background(), w.ID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), false)
		if err != nil || n != 0 {
			t.Fatalf("replay failed-only: %d, %v; want 0 (none failed now)", n, err)
		}
		n, err = e.svc.Replay(context.Background(), w.ID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), true)
		if err != nil || n != 1 {
			t.Fatalf("replay all: %d, %v; want 1", n, err)
		}
		if got := rc.next("replay"); got.ID != d.ID {
			t.Fatalf("replay sent %s, want %s", got.ID, d.ID)
		}
	})
}

// TestGoneDisables: a 410 disables the endpoint at once, dead-letters the
// delivery, records webhook.disabled and alerts the administrators.
func TestGoneDisables(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, testConfig(), AlertConfig{Email: []string{"ops@example.com"}, Window: time.Hour})
		rc := newReceiver(t)
		w := e.create(rc, "*")
		rc.answer = func(n int, _ *http.Request) int {
			if n == 0 {
				return 200
			}
			return 410
		}
		e.emit(storage.AuditUserDeleted, "u1", nil)
		e.waitDelivery(w.ID, storage.DeliveryFailed, 1)
		deadline := time.Now().Add(20 * time.Second)
		for len(e.mails.all()) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		got, _ := e.svc.Get(context.Background(), w.ID)
		if !got.Disabled || got.DisabledReason != "gone" {
			t.Fatalf("endpoint %+v, want disabled (gone)", got)
		}
		ms := e.mails.all()
		if len(ms) != 1 || ms[0].To != "ops@example.com" || !strings.Contains(ms[0].Subject, "webhook.disabled") {
			t.Fatalf("mails %+v", ms)
		}
		// Later events are not delivered to it; re-enabling works.
		e.emit(storage.AuditUserDeleted, "u2", nil)
		if _, err := e.svc.Dispatch(context.Background()); err != nil {
			t.Fatal(err)
		}
		if ds, _ := e.svc.Deliveries(context.Background(), storage.DeliveryFilter{WebhookID: w.ID, Limit: 10}); len(ds) != 1 {
			t.Fatalf("%d deliveries to a disabled endpoint", len(ds))
		}
		on := true
		if got, err := e.svc.Update(context.Background(), w.ID, Edit{Enabled: &on}, "test"); err != nil || got.Disabled {
			t.Fatalf("re-enable: %+v %v", got, err)
		}
	})
}

// TestAlertsDeduplicated: a burst of refresh-token reuse mails once at
// once and once more as a summary when the window ends.
func TestAlertsDeduplicated(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), testConfig(), AlertConfig{Email: []string{"a@example.com", "b@example.com"}, Window: time.Hour})
	for i := range 20 {
		e.emit(storage.AuditTokenReuse, "u1", map[string]any{"grant_type": "refresh_token", "n": i})
	}
	if _, err := e.svc.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ms := e.mails.all(); len(ms) != 2 || !strings.Contains(ms[0].Subject, "token.reuse_detected") || !strings.Contains(ms[0].Text, "u1") {
		t.Fatalf("mails after the burst: %+v", ms)
	}
	// The window ends: one summary of the other 19.
	e.advance(2 * time.Hour)
	if err := e.svc.flushAlerts(context.Background()); err != nil {
		t.Fatal(err)
	}
	ms := e.mails.all()
	if len(ms) != 4 || !strings.Contains(ms[2].Subject, "19 more") {
		t.Fatalf("mails after the window: %+v", ms)
	}
	if err := e.svc.flushAlerts(context.Background()); err != nil || len(e.mails.all()) != 4 {
		t.Fatalf("a second flush sent more: %v", err)
	}
}

// TestSecretRotation: during the overlap both secrets sign, so a receiver
// holding either verifies; a retry after the rotation uses both.
func TestSecretRotation(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), testConfig(), DefaultAlertConfig())
	rc := newReceiver(t)
	w := e.create(rc, "login.succeeded")
	old := rc.secret[0]
	_, fresh, err := e.svc.RotateSecret(context.Background(), w.ID, "test")
	if err != nil || fresh == old || !strings.HasPrefix(fresh, "whsec_") {
		t.Fatalf("rotate: %q %v", fresh, err)
	}
	rc.mu.Lock()
	rc.secret = []string{fresh} // a receiver that already switched
	rc.mu.Unlock()
	e.emit(storage.AuditLoginSucceeded, "u1", nil)
	got := rc.next("after rotation")
	if n := len(strings.Fields(got.Header.Get("webhook-signature"))); n != 2 {
		t.Fatalf("%d signatures during the overlap, want 2", n)
	}
	rc.mu.Lock()
	rc.secret = []string{old} // one that has not
	rc.mu.Unlock()
	e.emit(storage.AuditLoginSucceeded, "u2", nil)
	rc.next("old secret still verifies")
}

// TestCreateRefusals: bad specifications and endpoints that do not answer
// 2xx are refused and nothing is stored.
func TestCreateRefusals(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), testConfig(), DefaultAlertConfig())
	rc := newReceiver(t)
	rc.answer = func(int, *http.Request) int { return 500 }
	ctx := context.Background()
	cases := map[string]Spec{
		"url":      {URL: "ftp://example.com/x", Events: []string{"*"}},
		"url ":     {URL: "https://user:pw@example.com/x", Events: []string{"*"}},
		"url  ":    {URL: "https://10.0.0.1/x", Events: []string{"*"}},
		"url   ":   {URL: "https://169.254.169.254/latest", Events: []string{"*"}},
		"url    ":  {URL: "http://example.com/x", Events: []string{"*"}},
		"url     ": {URL: "https://example.com/" + strings.Repeat("a", 3000), Events: []string{"*"}},
		"events":   {URL: rc.srv.URL, Events: nil},
		"events/0": {URL: rc.srv.URL, Events: []string{"user.exploded"}},
		"events/1": {URL: rc.srv.URL, Events: []string{"user.*", "nothing.*"}},
	}
	for field, spec := range cases {
		_, _, err := e.svc.Create(ctx, spec, "test")
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != strings.TrimSpace(field) {
			t.Errorf("%+v: %v, want an input error on %s", spec, err, field)
		}
	}
	_, _, err := e.svc.Create(ctx, Spec{URL: rc.srv.URL, Events: []string{"*"}}, "test")
	var ve *VerificationError
	if !errors.As(err, &ve) || ve.Status != 500 {
		t.Fatalf("unanswering endpoint: %v", err)
	}
	if ws, _ := e.svc.List(ctx, "", 10); len(ws) != 0 {
		t.Fatalf("%d endpoints stored after refusals", len(ws))
	}
}

// TestPrune: finished deliveries older than webhooks.retention go, with
// their attempts; pending ones stay however old.
func TestPrune(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, testConfig(), DefaultAlertConfig())
		rc := newReceiver(t)
		w := e.create(rc, "user.deleted")
		e.emit(storage.AuditUserDeleted, "u1", nil)
		done := e.waitDelivery(w.ID, storage.DeliverySucceeded, 1)
		ctx := context.Background()
		if n, err := e.svc.Prune(ctx); err != nil || n != 0 {
			t.Fatalf("prune of fresh deliveries: %d %v", n, err)
		}
		// A pending one (its job not run: enqueued nowhere) stays.
		old := time.Now().Add(-40 * 24 * time.Hour)
		if err := e.store.CreateWebhookDeliveries(ctx, []*storage.WebhookDelivery{{ID: "msg_pending", WebhookID: w.ID,
			EventType: "user.deleted", Payload: []byte("{}"), Status: storage.DeliveryPending, CreatedAt: old, UpdatedAt: old}}); err != nil {
			t.Fatal(err)
		}
		e.advance(31 * 24 * time.Hour)
		if n, err := e.svc.Prune(ctx); err != nil || n != 1 {
			t.Fatalf("prune after the retention: %d %v, want 1", n, err)
		}
		if _, err := e.store.GetWebhookDelivery(ctx, done[0].ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the expired delivery is still there: %v", err)
		}
		if as, _ := e.store.ListWebhookAttempts(ctx, done[0].ID); len(as) != 0 {
			t.Fatalf("%d attempts of a deleted delivery remain", len(as))
		}
		if _, err := e.store.GetWebhookDelivery(ctx, "msg_pending"); err != nil {
			t.Fatalf("a pending delivery was deleted: %v", err)
		}
	})
}

// TestRedactURL: a receiver's own token in the query stays out of logs
// and the audit trail.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.example.com/in?token=s3cret": "https://hooks.example.com/in?…",
		"https://hooks.example.com/in":              "https://hooks.example.com/in",
	} {
		if got := redactURL(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
