// Package audit is the one place security events are recorded: Record
// writes the hash-chained row (storage.AuditEvent) through the store, in
// the caller's transaction when its context carries one, so an event and
// the change it describes are written together or not at all. The
// webhooks issue adds its outbox row here, beside the event.
//
// The event names are storage.AuditType's constants (storage.Audit*): the
// catalogue the webhooks issue will publish. They are typed, so an event
// of a name outside it does not compile without a conversion.
package audit

import (
	"context"
	"strings"
	"time"

	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
)

// Writer appends to the audit log (storage.Audit: the SQL store).
type Writer interface {
	AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error
}

// MaxUserAgent bounds what the log keeps of a User-Agent header.
const MaxUserAgent = 512

// UserAgent is ua as the log keeps it: at most MaxUserAgent bytes, cut on
// a character boundary.
func UserAgent(ua string) string {
	if len(ua) <= MaxUserAgent {
		return ua
	}
	return strings.ToValidUTF8(ua[:MaxUserAgent], "")
}

// Record writes e: its Time (now when zero, UTC), its user agent
// bounded, and the request id ctx carries when e names none. In a transaction ctx carries, it commits or rolls back with it.
func Record(ctx context.Context, w Writer, e storage.AuditEvent, now time.Time) error {
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC()
	e.UserAgent = UserAgent(e.UserAgent)
	if e.RequestID == "" {
		e.RequestID = telemetry.RequestID(ctx)
	}
	return w.AppendAuditEvent(ctx, e)
}
