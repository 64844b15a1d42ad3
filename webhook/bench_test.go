package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/internal/jobs"
	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
)

// benchDB is the database of the webhook benchmarks: Postgres by default
// (AUTHD_BENCH_DB=sqlite for the embedded default).
func benchDB(b testing.TB) string {
	if os.Getenv("AUTHD_BENCH_DB") == "sqlite" {
		return testdb.SQLite(b)
	}
	return testdb.Postgres(b)
}

func benchEnv(b testing.TB) (*env, *receiver) {
	cfg := testConfig()
	cfg.MaxConcurrency = 64
	cfg.PollInterval = 50 * time.Millisecond
	e := newEnv(b, benchDB(b), cfg, DefaultAlertConfig(), func(c *jobs.Config) { c.Workers, c.PollInterval = 48, 50*time.Millisecond })
	rc := newReceiver(b)
	e.create(rc, "user.*")
	return e, rc
}

// BenchmarkEmit is what publishing an event adds to the request that
// causes it: the audit event's insert in its transaction (the outbox row;
// the dispatcher reads it later, off the request's path).
func BenchmarkEmit(b *testing.B) {
	e := newEnv(b, benchDB(b), testConfig(), DefaultAlertConfig())
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := audit.Record(ctx, e.store, storage.AuditEvent{Type: storage.AuditUserCreated, SubjectID: fmt.Sprint(i)}, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliveryLoad measures sustained delivery to a local receiver
// and event-to-delivery latency, once per run whatever b.N is (it takes
// about 20 s; bench/webhooks.sh runs it). Numbers are reported, never
// asserted.
func BenchmarkDeliveryLoad(b *testing.B) {
	e, rc := benchEnv(b)
	ctx := context.Background()

	// Throughput: a backlog of events, delivered as fast as it goes.
	const backlog = 5000
	var arrived atomic.Int64
	rc.answer = func(int, *http.Request) int { arrived.Add(1); return 204 }
	// Emitted 500 to a transaction: each commit waits for the disk, and
	// audit appends are serialised, so one by one the emitter, not the
	// delivery, would be what is measured.
	start := time.Now()
	for batch := 0; batch < backlog; batch += 500 {
		err := storage.InTx(ctx, e.store, func(ctx context.Context) error {
			for i := batch; i < batch+500; i++ {
				if err := audit.Record(ctx, e.store, storage.AuditEvent{Type: storage.AuditUserCreated, SubjectID: fmt.Sprint(i)}, time.Now()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	emitted := time.Since(start)
	atEmitted := arrived.Load()
	for arrived.Load() < backlog {
		time.Sleep(10 * time.Millisecond)
	}
	total := time.Since(start)
	b.ReportMetric(float64(backlog-atEmitted)/(total-emitted).Seconds(), "deliveries/s")
	b.Logf("throughput: %d events emitted in %v (%d delivered meanwhile); all delivered after %v: "+
		"%.0f deliveries/s overall, %.0f/s for the %d left once emission stopped",
		backlog, emitted.Round(time.Millisecond), atEmitted, total.Round(time.Millisecond), float64(backlog)/total.Seconds(),
		float64(backlog-atEmitted)/(total-emitted).Seconds(), backlog-atEmitted)
	drain(rc)

	// Latency at a steady rate: from the event's commit to its arrival.
	const rate, seconds = 200, 10
	n := rate * seconds
	sent := make([]atomic.Int64, n) // Unix ns before each event's insert
	lat := make([]time.Duration, 0, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(lat) < n {
			r := <-rc.arrived
			var i int
			_, _ = fmt.Sscan(r.Payload.Data.UserID, &i)
			lat = append(lat, r.At.Sub(time.Unix(0, sent[i].Load())))
		}
	}()
	tick := time.NewTicker(time.Second / rate)
	for i := range n {
		<-tick.C
		sent[i].Store(time.Now().UnixNano())
		if err := audit.Record(ctx, e.store, storage.AuditEvent{Type: storage.AuditUserCreated, SubjectID: fmt.Sprint(i)}, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()
	<-done
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(time.Millisecond) }
	b.ReportMetric(float64(q(0.99).Milliseconds()), "p99-ms")
	b.Logf("latency at %d events/s for %ds: p50 %v, p90 %v, p99 %v, max %v", rate, seconds, q(0.5), q(0.9), q(0.99), q(1))
}

func drain(rc *receiver) {
	for {
		select {
		case <-rc.arrived:
		default:
			return
		}
	}
}

// BenchmarkStreamDelivery measures Shared Signals end to end: a backlog
// of session.revoked events for 500 people who consented to a stream's
// receiver, each turned by the dispatcher into a signed SET (the
// eligibility reads, the signature, the delivery row) and pushed to a
// local receiver answering 202. Once per run whatever b.N is; the test
// signer is ES256 (authd's keys.algorithm decides in production).
func BenchmarkStreamDelivery(b *testing.B) {
	cfg := testConfig()
	cfg.MaxConcurrency = 64
	cfg.PollInterval = 50 * time.Millisecond
	e := newEnv(b, benchDB(b), cfg, DefaultAlertConfig(), func(c *jobs.Config) { c.Workers, c.PollInterval = 48, 50*time.Millisecond })
	ctx := context.Background()
	const people, backlog = 500, 5000
	var arrived atomic.Int64
	all := make(chan struct{}) // closed when the backlog has arrived
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if arrived.Add(1) == backlog {
			close(all)
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	b.Cleanup(rc.Close)
	for i := range people {
		e.relate(fmt.Sprint("u", i), "rp", false)
	}
	if _, err := e.svc.CreateStream(ctx, "rp", StreamSpec{URL: rc.URL + "/events", EventsRequested: []string{EventSessionRevoked}}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for batch := 0; batch < backlog; batch += 500 {
		err := storage.InTx(ctx, e.store, func(ctx context.Context) error {
			for i := batch; i < batch+500; i++ {
				ev := storage.AuditEvent{Type: storage.AuditSessionRevoked, SubjectID: fmt.Sprint("u", i%people),
					Details: map[string]any{"sid": fmt.Sprint("s", i)}}
				if err := audit.Record(ctx, e.store, ev, time.Now()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	<-all
	total := time.Since(start)
	b.ReportMetric(float64(backlog)/total.Seconds(), "SETs/s")
	b.Logf("%d security events for %d people: all signed and delivered after %v (%.0f SETs/s)",
		backlog, people, total.Round(time.Millisecond), float64(backlog)/total.Seconds())
}
