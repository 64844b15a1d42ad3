package admin

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/authd/authd/storage"
)

// AuditEvent is one entry of the audit log.
type AuditEvent struct {
	ID        int64          `json:"id" jsonschema:"required"`
	Time      time.Time      `json:"time" jsonschema:"required"`
	Type      string         `json:"type" jsonschema:"required"`
	ActorID   string         `json:"actor_id,omitempty"`
	SubjectID string         `json:"subject_id,omitempty"`
	ClientID  string         `json:"client_id,omitempty"`
	IP        string         `json:"ip,omitempty"`
	UserAgent string         `json:"user_agent,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
	Details   map[string]any `json:"details,omitempty"`
	// Hash is the event's link in the keyed hash chain (hex).
	Hash string `json:"hash" jsonschema:"required"`
}

func toAuditEvent(e *storage.AuditEvent) AuditEvent {
	return AuditEvent{ID: e.ID, Time: e.Time, Type: string(e.Type), ActorID: e.ActorID, SubjectID: e.SubjectID,
		ClientID: e.ClientID, IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID, Details: e.Details, Hash: e.Hash}
}

// ChainStatus is the result of verifying the audit chain.
type ChainStatus struct {
	// Intact is true when every event's hash matches.
	Intact bool `json:"intact" jsonschema:"required"`
	// Problem says where the chain breaks, when it does.
	Problem string `json:"problem,omitempty"`
}

type listAuditIn struct {
	UserID string    `query:"user_id" doc:"Only the events about this user."`
	Type   string    `query:"type" doc:"Only events of this type (user.created, login.failed, ...)."`
	Since  time.Time `query:"since" doc:"Only events at or after this time (RFC 3339)."`
	Until  time.Time `query:"until" doc:"Only events before this time (RFC 3339)."`
	Limit  int       `query:"limit" minimum:"1" maximum:"200"`
	Cursor string    `query:"cursor"`
}

type noInput struct{}

func (a *API) auditRoutes() {
	register(a, op{Method: "GET", Path: "/api/v1/audit-events", ID: "listAuditEvents", Tag: "audit", Scope: "audit:read",
		Summary: "List audit events", Description: "Newest first; filters combine."}, a.listAudit)
	register(a, op{Method: "POST", Path: "/api/v1/audit-events/verify", ID: "verifyAuditChain", Tag: "audit", Scope: "audit:read",
		Summary: "Verify the audit chain", Description: "Recomputes every event's keyed hash from the first; reads the whole log."},
		a.verifyAudit)
}

func (a *API) listAudit(ctx context.Context, _ *call, in *listAuditIn) (Page[AuditEvent], error) {
	return a.auditPage(ctx, storage.AuditFilter{SubjectID: in.UserID, Type: storage.AuditType(in.Type), Since: in.Since,
		Until: in.Until}, in.Limit, in.Cursor)
}

// auditPage is one page of events matching f (newest first: the cursor is
// the last id seen, and the next page has smaller ones).
func (a *API) auditPage(ctx context.Context, f storage.AuditFilter, limit int, cursor string) (Page[AuditEvent], error) {
	limit = cmp(limit, defaultLimit)
	list := "audit\x00" + f.SubjectID + "\x00" + string(f.Type) + "\x00" + f.Since.String() + "\x00" + f.Until.String()
	pos, err := a.cursors.decode(list, cursor)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	if pos != "" {
		if f.Before, err = strconv.ParseInt(pos, 10, 64); err != nil {
			return Page[AuditEvent]{}, badRequest("bad cursor")
		}
	}
	f.Limit = limit + 1
	rows, err := a.store.ListAuditEvents(ctx, f)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	return page(a.cursors, list, rows, limit, func(e *storage.AuditEvent) string { return strconv.FormatInt(e.ID, 10) },
		toAuditEvent), nil
}

func (a *API) verifyAudit(ctx context.Context, _ *call, _ *noInput) (ChainStatus, error) {
	err := a.store.VerifyAuditChain(ctx)
	switch {
	case err == nil:
		return ChainStatus{Intact: true}, nil
	case errors.Is(err, storage.ErrAuditTampered):
		return ChainStatus{Problem: err.Error()}, nil
	}
	return ChainStatus{}, err
}
