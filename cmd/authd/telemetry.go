package main

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/authd/authd/internal/telemetry"
)

// telemetryFlushTimeout bounds how long closing waits for the spans and
// Sentry events still queued: a collector or Sentry that does not answer
// delays the exit no longer.
const telemetryFlushTimeout = 5 * time.Second

// openTelemetry builds the tracer provider and the Sentry reporter of
// cfg.Telemetry (each off when unconfigured); Close flushes them last.
func (d *deps) openTelemetry(ctx context.Context, cfg Config) error {
	version := readBuildInfo().Version
	tr, err := telemetry.NewTracing(ctx, cfg.Telemetry, version, d.log)
	if err != nil {
		return err
	}
	rep, err := telemetry.NewReporter(cfg.Telemetry, "authd@"+version, d.log)
	if err != nil {
		return err
	}
	d.tracing, d.reporter = tr, rep
	// First in, so run last: after Redis, the queue and everything else
	// that may still end spans or report.
	d.closers = append([]func(){func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), telemetryFlushTimeout)
		defer cancel()
		if err := tr.Shutdown(fctx); err != nil {
			d.log.WarnContext(fctx, "tracing: spans still queued at exit were not all sent", "err", err)
		}
		if !rep.Close(fctx) {
			d.log.WarnContext(fctx, "sentry: events still queued at exit were not all sent")
		}
	}}, d.closers...)
	return nil
}

// tracerProvider is what the stores and the queue trace with: nil while
// tracing is off, so that they add no hooks at all.
func (d *deps) tracerProvider() trace.TracerProvider {
	if !d.tracing.Enabled() {
		return nil
	}
	return d.tracing.TracerProvider()
}
