package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Span queue bounds: what a collector that is down or slow can cost.
const (
	// spanQueueSize bounds the spans waiting for (or in) an export; past
	// it, spans are dropped and counted (Tracing.Dropped), never waited for.
	spanQueueSize = 2048
	// exportTimeout bounds one export (its retries included).
	exportTimeout = 10 * time.Second
	// dropWarnEvery spaces the warnings about dropped spans.
	dropWarnEvery = time.Minute
)

// Tracing is authd's OpenTelemetry tracing: off (every method a no-op,
// handlers and transports returned unwrapped) unless
// telemetry.otlp_endpoint is set. It installs nothing global but the error
// handler that routes the SDK's own errors to the log.
type Tracing struct {
	ratio    float64
	provider trace.TracerProvider
	sdk      *sdktrace.TracerProvider // nil: off
	prop     propagation.TextMapPropagator
	gate     *spanGate
}

// NewTracing builds the tracer provider of cfg: spans go over OTLP/HTTP to
// cfg.OTLPEndpoint through a bounded, non-blocking queue; version is the
// service.version. With no endpoint it returns tracing that is off.
//
// Precedence: authd's settings (endpoint, sampling, service name) win;
// the standard OTEL_* variables fill in only what authd has no key for
// (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _CERTIFICATE, _COMPRESSION,
// OTEL_RESOURCE_ATTRIBUTES). OTEL_EXPORTER_OTLP_ENDPOINT alone does not
// turn tracing on.
func NewTracing(ctx context.Context, cfg ExportConfig, version string, log *slog.Logger) (*Tracing, error) {
	t := &Tracing{provider: noop.NewTracerProvider(), prop: propagation.TraceContext{}}
	if cfg.OTLPEndpoint == "" {
		return t, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	endpoint, err := otlpTracesURL(cfg.OTLPEndpoint)
	if err != nil {
		return nil, fmt.Errorf("telemetry.otlp_endpoint: %w", err)
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("telemetry.otlp_endpoint: %w", err)
	}
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(cfg.ServiceName), semconv.ServiceVersion(version)))
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	t.gate = &spanGate{max: spanQueueSize, log: log}
	bsp := sdktrace.NewBatchSpanProcessor(countingExporter{exp, t.gate},
		sdktrace.WithMaxQueueSize(spanQueueSize), sdktrace.WithExportTimeout(exportTimeout))
	t.gate.next = bsp
	t.sdk = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(t.gate),
		sdktrace.WithSampler(sdktrace.ParentBased(rootSampler{sdktrace.TraceIDRatioBased(cfg.SamplingRatio)})))
	t.provider = t.sdk
	t.ratio = cfg.SamplingRatio
	// The SDK reports export failures through the global handler, which
	// would print them outside authd's log format.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(t.gate.exportFailed))
	log.InfoContext(ctx, "tracing on: spans go over OTLP/HTTP", "endpoint", endpoint, "sampling_ratio", cfg.SamplingRatio)
	return t, nil
}

// Enabled reports whether spans are recorded at all.
func (t *Tracing) Enabled() bool { return t != nil && t.sdk != nil }

// TracerProvider returns the provider (a no-op one when off).
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil {
		return noop.NewTracerProvider()
	}
	return t.provider
}

// Propagator returns the W3C trace-context propagator.
func (t *Tracing) Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// Handler wraps h in the server span of each request (stable HTTP semantic
// conventions; an incoming W3C traceparent is the parent). The span is
// named after the route template ("POST /token"), set by Routed, never the
// raw path. Off: h itself.
func (t *Tracing) Handler(h http.Handler) http.Handler {
	if !t.Enabled() {
		return h
	}
	traced := otelhttp.NewHandler(h, "authd", otelhttp.WithTracerProvider(t.provider), otelhttp.WithPropagators(t.prop),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Header["Traceparent"]; ok { // the caller decides (parent-based)
			traced.ServeHTTP(w, r)
			return
		}
		// A request that starts a trace is sampled here, before any
		// tracing work: one that is not kept costs a random number, not
		// the middleware's attributes and wrappers.
		if !t.sampleRoot() {
			h.ServeHTTP(w, r)
			return
		}
		traced.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sampledRoot{}, true)))
	})
}

// sampleRoot decides, with probability ratio, to keep a trace started here.
func (t *Tracing) sampleRoot() bool {
	switch {
	case t.ratio >= 1:
		return true
	case t.ratio <= 0:
		return false
	}
	return rand.Float64() < t.ratio // #nosec G404 -- a sampling decision, not a secret
}

// sampledRoot marks the context of a request Handler decided to sample.
type sampledRoot struct{}

// rootSampler samples the root span of a request Handler decided to keep,
// and decides with ratio for every other root (a job queued outside any
// trace, a CLI command).
type rootSampler struct{ ratio sdktrace.Sampler }

func (s rootSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if keep, _ := p.ParentContext.Value(sampledRoot{}).(bool); keep {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
	}
	return s.ratio.ShouldSample(p)
}

func (s rootSampler) Description() string { return "authd root sampler: " + s.ratio.Description() }

// Routed wraps the ServeMux mux: once it has routed a request, the server
// span takes the pattern that matched as its name and http.route (the
// middleware between Handler and mux copies the request, so Handler cannot
// see the pattern itself). Off: mux itself.
func (t *Tracing) Routed(mux http.Handler) http.Handler {
	if !t.Enabled() {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if r.Pattern == "" {
			return
		}
		span := trace.SpanFromContext(r.Context())
		if !span.IsRecording() {
			return
		}
		route := RouteOf(r.Pattern)
		span.SetName(r.Method + " " + route)
		span.SetAttributes(semconv.HTTPRoute(route))
	})
}

// RouteOf returns the path template of a ServeMux pattern ("POST
// /clients/{id}" → "/clients/{id}").
func RouteOf(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return pattern
}

// Transport wraps rt (nil: http.DefaultTransport) so that outgoing
// requests get a client span and carry traceparent. Off: rt itself.
func (t *Tracing) Transport(rt http.RoundTripper) http.RoundTripper {
	if !t.Enabled() {
		return rt
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(t.provider), otelhttp.WithPropagators(t.prop),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
}

// Dropped counts the spans dropped because the queue to the collector was
// full.
func (t *Tracing) Dropped() uint64 {
	if !t.Enabled() {
		return 0
	}
	return t.gate.dropped.Load()
}

// ForceFlush exports what is queued, waiting at most until ctx ends.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.sdk.ForceFlush(ctx)
}

// Shutdown exports what is queued and stops, waiting at most until ctx
// ends: a collector that does not answer costs the shutdown no more.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}

// spanGate stands before the batch processor and counts what it drops:
// the SDK's own queue drops silently. It admits a sampled span while fewer
// than max are queued or being exported (the exporter gives them back),
// and drops it otherwise, without waiting.
type spanGate struct {
	next    sdktrace.SpanProcessor
	max     int64
	pending atomic.Int64
	dropped atomic.Uint64
	log     *slog.Logger
	// lastWarn is when a drop or a failed export was last logged (unix ns).
	lastWarn atomic.Int64
}

func (g *spanGate) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) { g.next.OnStart(ctx, s) }

func (g *spanGate) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	if g.pending.Add(1) > g.max {
		g.pending.Add(-1)
		n := g.dropped.Add(1)
		if g.warnNow() {
			g.log.Warn("tracing: the span queue is full (the collector is down or slow); dropping spans", "dropped_total", n)
		}
		return
	}
	g.next.OnEnd(s)
}

func (g *spanGate) Shutdown(ctx context.Context) error   { return g.next.Shutdown(ctx) }
func (g *spanGate) ForceFlush(ctx context.Context) error { return g.next.ForceFlush(ctx) }

func (g *spanGate) exportFailed(err error) {
	if g.warnNow() {
		g.log.Warn("tracing: exporting spans failed", "err", err)
	}
}

// warnNow reports whether a warning is due: at most one per dropWarnEvery.
func (g *spanGate) warnNow() bool {
	now := time.Now().UnixNano()
	last := g.lastWarn.Load()
	return now-last >= int64(dropWarnEvery) && g.lastWarn.CompareAndSwap(last, now)
}

// countingExporter tells the gate when spans have left the queue,
// exported or not.
type countingExporter struct {
	sdktrace.SpanExporter
	gate *spanGate
}

func (e countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	defer e.gate.pending.Add(-int64(len(spans)))
	return e.SpanExporter.ExportSpans(ctx, spans)
}
