package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/authd/authd/internal/telemetry"
)

// Job metadata keys: the W3C trace context and the request id of the
// request that queued the job, so that its work is part of that trace
// and its log lines and error reports name that request.
const (
	metaTraceParent = "traceparent"
	metaTraceState  = "tracestate"
	metaRequestID   = "request_id"
)

// FailureReporter hears of jobs that failed for good: panicked, or failed
// their last attempt (telemetry.Reporter.JobFailed).
type FailureReporter interface {
	JobFailed(ctx context.Context, kind string, id int64, attempt int, err error)
}

// observer is River middleware: at insert it records the trace context
// and request id of the inserting request in the job's metadata (with a
// producer span when tracing is on); when the job is worked it restores
// them, works it in a consumer span child of the request's, and reports a
// job that failed for good.
type observer struct {
	river.MiddlewareDefaults
	tracer  trace.Tracer // nil: tracing off
	prop    propagation.TextMapPropagator
	reports FailureReporter // nil: none
}

func newObserver(tp trace.TracerProvider, reports FailureReporter) *observer {
	o := &observer{prop: propagation.TraceContext{}, reports: reports}
	if tp != nil {
		o.tracer = tp.Tracer("github.com/authd/authd/internal/jobs")
	}
	return o
}

func (o *observer) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams, doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	var span trace.Span
	if o.tracer != nil && trace.SpanFromContext(ctx).IsRecording() {
		ctx, span = o.tracer.Start(ctx, "river.insert", trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(attribute.String("messaging.system", "river"), attribute.String("messaging.operation.name", "insert"),
				attribute.Int("messaging.batch.message_count", len(params))))
		defer span.End()
	}
	carrier := propagation.MapCarrier{}
	o.prop.Inject(ctx, carrier)
	if id := telemetry.RequestID(ctx); id != "" {
		carrier[metaRequestID] = id
	}
	if len(carrier) > 0 {
		for _, p := range params {
			md, err := withMetadata(p.Metadata, carrier)
			if err != nil {
				return nil, err
			}
			p.Metadata = md
		}
	}
	res, err := doInner(ctx)
	if err != nil && span != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "insert failed")
	}
	return res, err
}

// withMetadata returns the JSON object md with kv added (existing keys
// win: a job re-inserted keeps its origin).
func withMetadata(md []byte, kv map[string]string) ([]byte, error) {
	m := map[string]json.RawMessage{}
	if len(md) > 0 {
		if err := json.Unmarshal(md, &m); err != nil {
			return nil, fmt.Errorf("jobs: metadata: %w", err)
		}
	}
	for k, v := range kv {
		if _, ok := m[k]; ok {
			continue
		}
		b, _ := json.Marshal(v)
		m[k] = b
	}
	return json.Marshal(m)
}

func (o *observer) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) (err error) {
	carrier := propagation.MapCarrier{}
	var md map[string]any
	if len(job.Metadata) > 0 && json.Unmarshal(job.Metadata, &md) == nil {
		for _, k := range []string{metaTraceParent, metaTraceState, metaRequestID} {
			if s, ok := md[k].(string); ok {
				carrier[k] = s
			}
		}
	}
	if id := carrier[metaRequestID]; id != "" {
		ctx = telemetry.WithRequestID(ctx, id)
	}
	var span trace.Span
	if o.tracer != nil {
		ctx = o.prop.Extract(ctx, carrier)
		ctx, span = o.tracer.Start(ctx, "river.work "+job.Kind, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("messaging.system", "river"), attribute.String("messaging.operation.name", "process"),
				attribute.String("messaging.destination.name", job.Queue), attribute.String("river.job.kind", job.Kind),
				attribute.Int64("river.job.id", job.ID), attribute.Int("river.job.attempt", job.Attempt)))
		defer span.End()
	}
	panicked := true
	defer func() {
		if !panicked && err == nil {
			return
		}
		v := recover()
		if panicked {
			err = fmt.Errorf("panic: %v", v)
		}
		if span != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "job failed")
		}
		// A job that cancels or snoozes itself decided so; one that
		// fails an attempt before its last is tried again.
		var cancel *river.JobCancelError
		var snooze *river.JobSnoozeError
		deliberate := errors.As(err, &cancel) || errors.As(err, &snooze)
		if o.reports != nil && (panicked || job.Attempt >= job.MaxAttempts && !deliberate) {
			o.reports.JobFailed(ctx, job.Kind, job.ID, job.Attempt, err)
		}
		if panicked {
			panic(v) // River records the panic and retries as it does
		}
	}()
	err = doInner(ctx)
	panicked = false
	return err
}
