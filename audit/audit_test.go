package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/storage"
)

type recorder struct{ got []storage.AuditEvent }

func (r *recorder) AppendAuditEvent(_ context.Context, e storage.AuditEvent) error {
	r.got = append(r.got, e)
	return nil
}

func TestRecord(t *testing.T) {
	var w recorder
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.FixedZone("x", 3600))
	long := strings.Repeat("é", audit.MaxUserAgent) // 2 bytes each: the cut falls inside one
	if err := audit.Record(context.Background(), &w, storage.AuditEvent{Type: storage.AuditLogout, UserAgent: long}, now); err != nil {
		t.Fatal(err)
	}
	e := w.got[0]
	if !e.Time.Equal(now) || e.Time.Location() != time.UTC || len(e.UserAgent) > audit.MaxUserAgent || !utf8.ValidString(e.UserAgent) {
		t.Fatalf("recorded %v, %d bytes of user agent (valid %v)", e.Time, len(e.UserAgent), utf8.ValidString(e.UserAgent))
	}
	at := now.Add(-time.Hour)
	_ = audit.Record(context.Background(), &w, storage.AuditEvent{Type: storage.AuditLogout, Time: at, UserAgent: "short"}, now)
	if e := w.got[1]; !e.Time.Equal(at) || e.UserAgent != "short" {
		t.Fatalf("a set time or short agent changed: %+v", e)
	}
}
