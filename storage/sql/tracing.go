package sql

import (
	"context"
	"errors"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
)

// tracing is a gorm plugin that puts every statement in a client span
// with the stable database semantic conventions: db.system.name,
// db.operation.name, db.collection.name, db.query.summary (the span's
// name, "SELECT users") and db.query.text with its placeholders, never
// the values bound to them (token hashes, addresses). Only statements
// made inside a kept (recording) trace get a span. gorm.io/plugin/
// opentelemetry would do as much, but it links the MySQL and ClickHouse
// drivers into authd and inlines bound values unless told not to.
type tracing struct {
	tracer trace.Tracer
	system attribute.KeyValue
}

func newTracing(tp trace.TracerProvider, dialect string) *tracing {
	sys := semconv.DBSystemNameSQLite
	if dialect == Postgres {
		sys = semconv.DBSystemNamePostgreSQL
	}
	return &tracing{tracer: tp.Tracer("github.com/authd/authd/storage/sql"), system: sys}
}

func (*tracing) Name() string { return "authd:tracing" }

func (t *tracing) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	return errors.Join(
		cb.Create().Before("gorm:create").Register("authd:trace_before_create", t.before),
		cb.Create().After("gorm:create").Register("authd:trace_after_create", t.after),
		cb.Query().Before("gorm:query").Register("authd:trace_before_query", t.before),
		cb.Query().After("gorm:query").Register("authd:trace_after_query", t.after),
		cb.Update().Before("gorm:update").Register("authd:trace_before_update", t.before),
		cb.Update().After("gorm:update").Register("authd:trace_after_update", t.after),
		cb.Delete().Before("gorm:delete").Register("authd:trace_before_delete", t.before),
		cb.Delete().After("gorm:delete").Register("authd:trace_after_delete", t.after),
		cb.Row().Before("gorm:row").Register("authd:trace_before_row", t.before),
		cb.Row().After("gorm:row").Register("authd:trace_after_row", t.after),
		cb.Raw().Before("gorm:raw").Register("authd:trace_before_raw", t.before),
		cb.Raw().After("gorm:raw").Register("authd:trace_after_raw", t.after),
	)
}

// spanContext carries the statement's span, and the context to restore
// once it ends (a statement reused for another operation must not start
// under this one's span).
type spanContext struct {
	context.Context
	parent context.Context
}

func (t *tracing) before(tx *gorm.DB) {
	parent := tx.Statement.Context
	if parent == nil {
		parent = context.Background()
	}
	if !trace.SpanFromContext(parent).IsRecording() {
		return // outside any kept trace (the change feed's polls, a request not sampled): no span
	}
	ctx, _ := t.tracer.Start(parent, "db", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(t.system))
	tx.Statement.Context = spanContext{ctx, parent}
}

func (t *tracing) after(tx *gorm.DB) {
	sc, ok := tx.Statement.Context.(spanContext)
	if !ok {
		return
	}
	tx.Statement.Context = sc.parent
	span := trace.SpanFromContext(sc.Context)
	defer span.End()
	if !span.IsRecording() {
		return
	}
	query := tx.Statement.SQL.String()
	op := operationOf(query)
	summary := op
	attrs := []attribute.KeyValue{semconv.DBOperationName(op), semconv.DBQueryText(query)}
	if table := tx.Statement.Table; table != "" {
		summary += " " + table
		attrs = append(attrs, semconv.DBCollectionName(table))
	}
	attrs = append(attrs, semconv.DBQuerySummary(summary))
	span.SetName(summary)
	span.SetAttributes(attrs...)
	if err := tx.Error; err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		span.RecordError(err)
		span.SetStatus(codes.Error, "statement failed")
	}
}

// operationOf returns the first word of query, upper-cased ("SELECT").
func operationOf(query string) string {
	q := strings.TrimLeft(query, " \t\r\n(;")
	end := strings.IndexFunc(q, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if end < 0 {
		end = len(q)
	}
	if end == 0 {
		return "QUERY"
	}
	return strings.ToUpper(q[:end])
}
