package webhook

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/internal/jobs"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/storage"
	storesql "github.com/authd/authd/storage/sql"
)

// env is a service on a real store and a real River queue.
type env struct {
	t     testing.TB
	store *storesql.Store
	svc   *Service
	mails *mailbox
	// setKey signs Shared Signals events.
	setKey *setKey
	// skew moves the service's clock (nanoseconds ahead of the wall clock).
	skew atomic.Int64
}

// advance moves the service's clock d ahead of the wall clock.
func (e *env) advance(d time.Duration) { e.skew.Store(int64(d)) }

type mailbox struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (m *mailbox) Enqueue(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

func (m *mailbox) all() []mail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mail.Message(nil), m.msgs...)
}

func testConfig() Config {
	c := DefaultConfig()
	c.RetrySchedule = []string{"50ms", "100ms", "150ms"}
	c.Timeout = 2 * time.Second
	c.PollInterval = 20 * time.Millisecond
	return c
}

func newEnv(t testing.TB, dbURL string, cfg Config, alerts AlertConfig, jobOpts ...func(*jobs.Config)) *env {
	t.Helper()
	b := make([]byte, secrets.MasterKeySize)
	_, _ = rand.Read(b)
	kr, err := secrets.NewKeyring(b)
	if err != nil {
		t.Fatal(err)
	}
	st, err := storesql.Open(dbURL, storesql.Options{AuditKeys: kr, Sealer: kr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if _, err := st.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, mails: &mailbox{}}
	var svc *Service
	workers := river.NewWorkers()
	if err := AddWorker(workers, func() *Service { return svc }); err != nil {
		t.Fatal(err)
	}
	db, err := st.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	jc := jobs.DefaultConfig()
	jc.PollInterval, jc.Workers = 20*time.Millisecond, 8
	for _, o := range jobOpts {
		o(&jc)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := jobs.Open(ctx, jc, jobs.Deps{DB: db, Dialect: st.Dialect(), Logger: log, Workers: workers,
		TxFromContext: storesql.TxFromContext})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Stop(ctx)
	})
	e.setKey = newSETKey(t)
	svc, err = New(cfg, alerts, Deps{Store: st, Sealer: kr, Jobs: q, Mailer: e.mails, Logger: log, Loopback: true,
		Issuer: testIssuer, Signer: e.setKey, Directory: st,
		Now: func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	return e
}

// receiver is an endpoint that verifies every request with the Standard
// Webhooks reference library, and answers what answer says.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	secret []string // secrets any of which must verify
	got    []received
	answer func(n int, r *http.Request) int
	// arrived gets every verified request.
	arrived chan received
}

type received struct {
	ID      string
	Payload Payload
	Header  http.Header
	At      time.Time
	Body    []byte
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{t: t, arrived: make(chan received, 10000), answer: func(int, *http.Request) int { return 204 }}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		secretsNow := append([]string(nil), rc.secret...)
		n := len(rc.got)
		rc.mu.Unlock()
		var p Payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("receiver: body is not a payload: %v: %s", err, body)
		}
		verified := len(secretsNow) == 0 && p.Type == WebhookTest
		for _, s := range secretsNow {
			wh, err := standardwebhooks.NewWebhook(s)
			if err != nil {
				t.Errorf("receiver: %v", err)
				continue
			}
			if wh.Verify(body, r.Header) == nil {
				verified = true
			}
		}
		if !verified {
			t.Errorf("receiver: %s (%s) does not verify with the endpoint's secret", p.Type, r.Header.Get("webhook-id"))
			w.WriteHeader(400)
			return
		}
		rec := received{ID: r.Header.Get("webhook-id"), Payload: p, Header: r.Header.Clone(), At: time.Now(), Body: body}
		rc.mu.Lock()
		rc.got = append(rc.got, rec)
		rc.mu.Unlock()
		code := rc.answer(n, r)
		w.WriteHeader(code)
		if code >= 200 && code < 300 && p.Type != WebhookTest {
			rc.arrived <- rec
		}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) trust(secret string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secret = append(rc.secret, secret)
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// next waits for the next accepted delivery.
func (rc *receiver) next(what string) received {
	rc.t.Helper()
	select {
	case r := <-rc.arrived:
		return r
	case <-time.After(20 * time.Second):
		rc.t.Fatalf("%s: no delivery arrived", what)
	}
	return received{}
}

// create registers an endpoint for rc and trusts its secret.
func (e *env) create(rc *receiver, events ...string) *storage.Webhook {
	e.t.Helper()
	w, secret, err := e.svc.Create(context.Background(), Spec{URL: rc.srv.URL + "/hook", Events: events}, "test")
	if err != nil {
		e.t.Fatalf("create: %v", err)
	}
	rc.trust(secret)
	return w
}

// emit records an audit event, as a domain service does.
func (e *env) emit(typ storage.AuditType, subject string, details map[string]any) {
	e.t.Helper()
	if err := audit.Record(context.Background(), e.store, storage.AuditEvent{Type: typ, SubjectID: subject, Details: details}, time.Now()); err != nil {
		e.t.Fatal(err)
	}
}

// waitDelivery polls a webhook's deliveries until n have status.
func (e *env) waitDelivery(webhookID, status string, n int) []*storage.WebhookDelivery {
	e.t.Helper()
	return e.waitListed(e.svc.Deliveries, webhookID, status, n)
}

// waitListed polls list for an endpoint's deliveries until n have status.
func (e *env) waitListed(list func(context.Context, storage.DeliveryFilter) ([]*storage.WebhookDelivery, error),
	webhookID, status string, n int) []*storage.WebhookDelivery {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, err := list(context.Background(), storage.DeliveryFilter{WebhookID: webhookID, Status: status, Limit: 1000})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(ds) >= n {
			return ds
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d deliveries %s after 20s, want %d", len(ds), status, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
