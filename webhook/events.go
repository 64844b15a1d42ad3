package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd/storage"
)

// EventType names an event (the contract's names; see Catalogue).
type EventType string

// The event catalogue. Names are part of authd's interface: they never
// change meaning, and new ones are only added.
const (
	UserCreated        EventType = "user.created"
	UserUpdated        EventType = "user.updated"
	UserDeleted        EventType = "user.deleted"
	UserLocked         EventType = "user.locked"
	LoginSucceeded     EventType = "login.succeeded"
	LoginFailed        EventType = "login.failed"
	SessionRevoked     EventType = "session.revoked"
	MFAEnrolled        EventType = "mfa.enrolled"
	MFARemoved         EventType = "mfa.removed"
	TokenReuseDetected EventType = "token.reuse_detected" // #nosec G101 -- an event name, not a credential
	RiskDetected       EventType = "risk.detected"
	RoleAssigned       EventType = "role.assigned"
	RoleUnassigned     EventType = "role.unassigned"
	WebhookTest        EventType = "webhook.test"
)

// EventInfo documents one event type.
type EventInfo struct {
	Type        EventType
	Description string
	// From are the audit event types that become this event.
	From []storage.AuditType
}

// Catalogue is every event type, with the audit events it is made of.
// Events of the capabilities still to come (MFA, RBAC, risk) are emitted
// once those record their audit events under the same names.
var Catalogue = []EventInfo{
	{UserCreated, "A user account was created: by self-registration (data.action user.registered) or by an administrator, the CLI or SCIM (user.created).",
		[]storage.AuditType{storage.AuditUserRegistered, storage.AuditUserCreated}},
	{UserUpdated, "A user account changed: profile, verified email, password, or disabled/enabled (data.action says which; data.details names changed fields, never their values).",
		[]storage.AuditType{storage.AuditProfileUpdated, storage.AuditEmailVerified, storage.AuditPasswordChanged,
			storage.AuditPasswordReset, storage.AuditUserDisabled, storage.AuditUserEnabled}},
	{UserDeleted, "A user account was deleted.", []storage.AuditType{storage.AuditUserDeleted}},
	{UserLocked, "Failed sign-ins locked a user account for a while (data.details.locked_until).", []storage.AuditType{storage.AuditUserLocked}},
	{LoginSucceeded, "A person signed in.", []storage.AuditType{storage.AuditLoginSucceeded}},
	{LoginFailed, "A sign-in failed (data.details.reason: bad_password, unknown_user, locked, ...).", []storage.AuditType{storage.AuditLoginFailed}},
	{SessionRevoked, "A browser session ended: signed out (data.action logout) or ended by the person or an administrator (session.revoked).",
		[]storage.AuditType{storage.AuditLogout, storage.AuditSessionRevoked}},
	{MFAEnrolled, "A second factor was set up.", []storage.AuditType{"mfa.enrolled"}},
	{MFARemoved, "A second factor was removed.", []storage.AuditType{"mfa.removed"}},
	{TokenReuseDetected, "A spent authorization code or a rotated refresh token was presented again; everything it issued was revoked (data.details.grant_type).",
		[]storage.AuditType{storage.AuditTokenReuse}},
	{RiskDetected, "The risk engine scored a sign-in as risky.", []storage.AuditType{"risk.detected"}},
	{RoleAssigned, "A role was assigned to a user.", []storage.AuditType{"role.assigned"}},
	{RoleUnassigned, "A role was taken from a user.", []storage.AuditType{"role.unassigned"}},
	{WebhookTest, "Sent to an endpoint when it is registered (and on request) to check that it answers; not an audit event.", nil},
}

// fromAudit maps audit event types to event types.
var fromAudit = func() map[storage.AuditType]EventType {
	m := map[storage.AuditType]EventType{}
	for _, e := range Catalogue {
		for _, a := range e.From {
			m[a] = e.Type
		}
	}
	return m
}()

// TypeOf is the event an audit event is published as; false when it is
// not published.
func TypeOf(a storage.AuditType) (EventType, bool) {
	t, ok := fromAudit[a]
	return t, ok
}

// Known reports whether t is in the catalogue.
func Known(t EventType) bool {
	return slices.ContainsFunc(Catalogue, func(e EventInfo) bool { return e.Type == t })
}

// CheckPattern validates a subscription entry: an event type, a prefix
// pattern such as "user.*" that matches at least one, or "*".
func CheckPattern(p string) error {
	if p == "*" || Known(EventType(p)) {
		return nil
	}
	if prefix, ok := strings.CutSuffix(p, ".*"); ok && prefix != "" {
		for _, e := range Catalogue {
			if strings.HasPrefix(string(e.Type), prefix+".") {
				return nil
			}
		}
	}
	return fmt.Errorf("%q is neither an event type nor a pattern such as user.* that matches one", p)
}

// Matches reports whether an endpoint subscribed to patterns gets t.
// webhook.test goes only to who asks for it (it is sent directly).
func Matches(patterns []string, t EventType) bool {
	for _, p := range patterns {
		switch {
		case p == "*" || p == string(t):
			return true
		case strings.HasSuffix(p, ".*") && strings.HasPrefix(string(t), strings.TrimSuffix(p, "*")):
			return true
		}
	}
	return false
}

// Payload is the body of every delivery (Standard Webhooks).
type Payload struct {
	Type      EventType `json:"type" jsonschema:"required"`
	Timestamp time.Time `json:"timestamp" jsonschema:"required"`
	Data      EventData `json:"data" jsonschema:"required"`
}

// EventData is what happened. It never carries secrets, hashes or
// tokens: the audit event it comes from does not hold them.
type EventData struct {
	// EventID is the audit event's id: increasing, unique, and what
	// GET /api/v1/audit-events shows.
	EventID int64 `json:"event_id,omitempty"`
	// Action is the audit event type, finer than the event type (for
	// user.created: user.registered or user.created).
	Action    string         `json:"action,omitempty"`
	UserID    string         `json:"user_id,omitempty"`
	ActorID   string         `json:"actor_id,omitempty"`
	ClientID  string         `json:"client_id,omitempty"`
	IP        string         `json:"ip,omitempty"`
	UserAgent string         `json:"user_agent,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
	Details   map[string]any `json:"details,omitempty"`
	// WebhookID names the endpoint (webhook.test only).
	WebhookID string `json:"webhook_id,omitempty"`
}

// maxPayload keeps bodies under Standard Webhooks' recommended 20 kB: the
// details are dropped from a larger one (the audit event keeps them).
const maxPayload = 20000

// marshal is the exact body sent: compact JSON without HTML escaping.
func (p Payload) marshal() ([]byte, error) {
	enc := func(p Payload) ([]byte, error) {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		if err := e.Encode(p); err != nil {
			return nil, err
		}
		return bytes.TrimRight(b.Bytes(), "\n"), nil
	}
	b, err := enc(p)
	if err != nil || len(b) <= maxPayload {
		return b, err
	}
	p.Data.Details = map[string]any{"truncated": true}
	return enc(p)
}

// payloadOf is the payload of an audit event published as t.
func payloadOf(t EventType, e *storage.AuditEvent) Payload {
	return Payload{Type: t, Timestamp: e.Time.UTC(), Data: EventData{
		EventID: e.ID, Action: string(e.Type), UserID: e.SubjectID, ActorID: e.ActorID, ClientID: e.ClientID,
		IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID, Details: e.Details}}
}
