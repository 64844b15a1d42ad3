package jobs_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/authd/authd/internal/jobs"
	"github.com/authd/authd/internal/telemetry"
)

type traceArgs struct {
	Fail bool `json:"fail"`
}

func (traceArgs) Kind() string { return "test_trace" }

// seen is what a traced job saw in its context.
type seen struct {
	trace     trace.SpanContext
	requestID string
}

type traceWorker struct {
	river.WorkerDefaults[traceArgs]
	seen chan seen
}

func (w *traceWorker) Work(ctx context.Context, job *river.Job[traceArgs]) error {
	w.seen <- seen{trace.SpanContextFromContext(ctx), telemetry.RequestID(ctx)}
	if job.Args.Fail {
		return errors.New("worker failed on purpose")
	}
	return nil
}

type failures struct {
	mu   sync.Mutex
	got  []string // kind/request id
	done chan struct{}
}

func (f *failures) JobFailed(ctx context.Context, kind string, _ int64, _ int, err error) {
	f.mu.Lock()
	f.got = append(f.got, kind+"/"+telemetry.RequestID(ctx)+"/"+err.Error())
	f.mu.Unlock()
	select {
	case f.done <- struct{}{}:
	default:
	}
}

// TestJobCarriesTheRequestsTrace: a job queued while serving a request is
// worked in a span of that request's trace (its parent the insert span,
// whose parent is the request's), with the request's id in its context;
// one that fails its last attempt is reported with that id.
func TestJobCarriesTheRequestsTrace(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, dialect string) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.AlwaysSample()))
		w := &traceWorker{seen: make(chan seen, 2)}
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		fails := &failures{done: make(chan struct{}, 1)}
		q := openQueue(t, db, dialect, testConfig(), jobs.Deps{Workers: workers, TracerProvider: tp, Failures: fails})

		ctx, reqSpan := tp.Tracer("test").Start(telemetry.WithRequestID(context.Background(), "req-traced-0001"), "POST /request")
		if _, err := q.Enqueue(ctx, traceArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Enqueue(ctx, traceArgs{Fail: true}, &river.InsertOpts{MaxAttempts: 1}); err != nil {
			t.Fatal(err)
		}
		reqSpan.End()
		for range 2 {
			select {
			case s := <-w.seen:
				if s.trace.TraceID() != reqSpan.SpanContext().TraceID() {
					t.Errorf("job worked in trace %s, want the request's %s", s.trace.TraceID(), reqSpan.SpanContext().TraceID())
				}
				if s.requestID != "req-traced-0001" {
					t.Errorf("job's request id = %q, want req-traced-0001", s.requestID)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("jobs not worked within 30s")
			}
		}
		select {
		case <-fails.done:
		case <-time.After(30 * time.Second):
			t.Fatal("the failed job was not reported within 30s")
		}
		fails.mu.Lock()
		if len(fails.got) != 1 || fails.got[0] != "test_trace/req-traced-0001/worker failed on purpose" {
			t.Errorf("reported %q, want the one failed job with its request id", fails.got)
		}
		fails.mu.Unlock()

		byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
		var work []sdktrace.ReadOnlySpan
		deadline := time.Now().Add(30 * time.Second)
		for len(work) < 2 && time.Now().Before(deadline) { // the work spans end after the worker returns
			work = work[:0]
			for _, s := range rec.Ended() {
				byID[s.SpanContext().SpanID()] = s
				if s.Name() == "river.work test_trace" {
					work = append(work, s)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		if len(work) != 2 {
			t.Fatalf("got %d work spans, want 2", len(work))
		}
		for _, s := range work {
			ins, ok := byID[s.Parent().SpanID()]
			if !ok || ins.Name() != "river.insert" || ins.Parent().SpanID() != reqSpan.SpanContext().SpanID() {
				t.Errorf("work span's parent = %v, want the insert span under the request's", s.Parent())
			}
			if s.SpanKind() != trace.SpanKindConsumer {
				t.Errorf("work span kind %v, want consumer", s.SpanKind())
			}
		}
	})
}
