package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// AuditType names a kind of audit event. The constants below are the
// catalogue: every event authd records is one of them (the webhooks issue
// publishes the same names).
type AuditType string

// Audit event types.
const (
	AuditLoginSucceeded   AuditType = "login.succeeded"
	AuditLoginFailed      AuditType = "login.failed"
	AuditUserRegistered   AuditType = "user.registered"
	AuditEmailVerified    AuditType = "email.verified"
	AuditPasswordChanged  AuditType = "password.changed"
	AuditPasswordReset    AuditType = "password.reset"
	AuditProfileUpdated   AuditType = "profile.updated"
	AuditConsentGranted   AuditType = "consent.granted"
	AuditConsentRevoked   AuditType = "consent.revoked"
	AuditLogout           AuditType = "logout"
	AuditUserCreated      AuditType = "user.created"
	AuditUserDisabled     AuditType = "user.disabled"
	AuditUserEnabled      AuditType = "user.enabled"
	AuditUserDeleted      AuditType = "user.deleted"
	AuditPasswordResetReq AuditType = "password.reset_requested"
	AuditVerificationSent AuditType = "email.verification_sent"
	AuditClientCreated    AuditType = "client.created"
	AuditUsersImported    AuditType = "user.imported"
	AuditClientUpdated    AuditType = "client.updated"
	AuditClientDeleted    AuditType = "client.deleted"
	AuditClientSecretRot  AuditType = "client.secret_rotated"
	// AuditInitialTokenCreated and AuditInitialTokenRevoked: an initial
	// access token for dynamic client registration (RFC 7591) was
	// created or revoked (details: its id, never the token).
	AuditInitialTokenCreated AuditType = "client.registration_token_created" // #nosec G101 -- an event name, not a credential
	AuditInitialTokenRevoked AuditType = "client.registration_token_revoked" // #nosec G101 -- an event name, not a credential
	AuditAPIKeyCreated       AuditType = "apikey.created"
	AuditAPIKeyRevoked       AuditType = "apikey.revoked"
	AuditSessionRevoked      AuditType = "session.revoked"
	AuditKeysRotated         AuditType = "keys.rotated"
	// AuditUserLocked: failed sign-ins locked an account (details:
	// failures, locked_until).
	AuditUserLocked AuditType = "user.locked"
	// AuditTokenReuse: a spent authorization code or a rotated refresh
	// token was presented again; what it issued was revoked (details:
	// grant_type).
	AuditTokenReuse AuditType = "token.reuse_detected" // #nosec G101 -- an event name, not a credential
	// AuditTokenExchanged: an access token was exchanged for another
	// (RFC 8693), by the client for the subject (details: scopes,
	// audience, actor).
	AuditTokenExchanged AuditType = "token.exchanged" // #nosec G101 -- an event name, not a credential
	// AuditDeviceApproved and AuditDeviceDenied: a person approved or
	// denied a device's request (RFC 8628) on the verification page
	// (details: scopes, sid); AuditDeviceTokens: the device redeemed its
	// approved device code for tokens (details: scopes, refresh_token).
	AuditDeviceApproved AuditType = "device.approved"
	AuditDeviceDenied   AuditType = "device.denied"
	AuditDeviceTokens   AuditType = "device.token_issued" // #nosec G101 -- an event name, not a credential
	// AuditAPIKeyNewAddress: an API key was used from an address it had
	// not been used from before (details: ip, known addresses).
	AuditAPIKeyNewAddress AuditType = "apikey.new_address" // #nosec G101 -- an event name, not a credential
	AuditWebhookCreated   AuditType = "webhook.created"
	AuditWebhookUpdated   AuditType = "webhook.updated"
	AuditWebhookDeleted   AuditType = "webhook.deleted"
	// AuditWebhookDisabled: authd disabled an endpoint (details: reason
	// "gone" for a 410, "failing" after webhooks.disable_after).
	AuditWebhookDisabled  AuditType = "webhook.disabled"
	AuditWebhookSecretRot AuditType = "webhook.secret_rotated"
	// Shared Signals streams, managed by their receivers (or an operator).
	AuditStreamCreated AuditType = "ssf.stream_created"
	AuditStreamUpdated AuditType = "ssf.stream_updated"
	AuditStreamDeleted AuditType = "ssf.stream_deleted"
)

// AuditEvent is one entry of the append-only audit log. Details never hold
// secrets (passwords, tokens, codes) and name changed fields rather than
// their values.
type AuditEvent struct {
	// ID is the event's position in the log: 1, 2, 3, ... without gaps.
	// Assigned by the store.
	ID int64 `json:"id"`
	// Time is when it happened (UTC, millisecond precision); the store
	// sets it when zero.
	Time time.Time `json:"time"`
	Type AuditType `json:"type"`
	// ActorID is who acted: a user id, "cli", an admin's id; empty when
	// the subject acted themself or nobody is known.
	ActorID string `json:"actor_id,omitempty"`
	// SubjectID is the user the event is about.
	SubjectID string         `json:"subject_id,omitempty"`
	ClientID  string         `json:"client_id,omitempty"`
	IP        string         `json:"ip,omitempty"`
	UserAgent string         `json:"user_agent,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
	Details   map[string]any `json:"details,omitempty"`
	// Hash chains the log (see AuditChainHash); hex, set by the store.
	Hash string `json:"hash"`
}

// AuditFilter selects events for ListAuditEvents.
type AuditFilter struct {
	// SubjectID, when set, selects the events about one user.
	SubjectID string
	// Type, when set, selects the events of one type.
	Type AuditType
	// Since and Until, when set, select events at or after Since and
	// before Until.
	Since, Until time.Time
	// Before, when positive, selects events with ID < Before: the cursor
	// for the next page is the last ID of the previous one.
	Before int64
	// Limit is the most events returned: default 100, at most 1000.
	Limit int
}

// Audit is the append-only, tamper-evident audit log.
//
// Every event stores hash = HMAC-SHA256 under a key derived from the
// master key (AuditKeys; plain SHA-256 for events written before the chain
// was keyed) of the previous event's hash || the canonical JSON of the
// event (AuditChainInput; the first event's previous hash is 32 zero
// bytes), so changing, removing or reordering any stored event breaks
// every hash after it, which VerifyAuditChain detects, and a writer of the
// database without the master key cannot compute a valid one.
type Audit interface {
	// AppendAuditEvent adds e at the end of the log, giving it the next
	// ID, its Hash, and the current time when Time is zero (e's own ID and
	// Hash are ignored). Called with a context carrying a transaction
	// (BeginTX), it joins it, so the event is committed with the change it
	// records or not at all. Appends are serialised until the transaction
	// ends: make it the last write before Commit.
	AppendAuditEvent(ctx context.Context, e AuditEvent) error
	// ListAuditEvents returns events matching f, newest first.
	ListAuditEvents(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)
	// VerifyAuditChain recomputes every hash from the first event and
	// returns an error matching ErrAuditTampered naming the first event
	// that does not match, is missing or is out of order; nil if the log
	// is intact.
	VerifyAuditChain(ctx context.Context) error
}

// ErrAuditTampered: the audit log does not verify.
var ErrAuditTampered = errors.New("storage: audit log tampered with")

// AuditTamperedError says where the audit chain broke.
type AuditTamperedError struct {
	// ID is the first event that does not verify (for a truncated log, the
	// first one missing).
	ID     int64
	Reason string
}

func (e *AuditTamperedError) Error() string {
	return fmt.Sprintf("storage: audit log tampered with at event %d: %s", e.ID, e.Reason)
}

func (e *AuditTamperedError) Is(target error) bool { return target == ErrAuditTampered }

// MarshalAuditDetails returns the canonical JSON of details: object keys
// sorted (encoding/json sorts map keys), no insignificant space, HTML
// characters not escaped; "{}" for none. Stores keep exactly these bytes,
// so the hash can be recomputed from what was stored.
func MarshalAuditDetails(details map[string]any) (json.RawMessage, error) {
	if len(details) == 0 {
		return json.RawMessage("{}"), nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(details); err != nil {
		return nil, fmt.Errorf("audit details: %w", err)
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// canonicalAuditEvent fixes the field order of the hashed JSON.
type canonicalAuditEvent struct {
	ID        int64           `json:"id"`
	Time      int64           `json:"time"` // Unix milliseconds
	Type      string          `json:"type"`
	ActorID   string          `json:"actor_id"`
	SubjectID string          `json:"subject_id"`
	ClientID  string          `json:"client_id"`
	IP        string          `json:"ip"`
	UserAgent string          `json:"user_agent"`
	RequestID string          `json:"request_id"`
	Details   json.RawMessage `json:"details"`
}

// AuditChainHash returns SHA-256(prev || canonical JSON of e), where the
// canonical JSON is
//
//	{"id":…,"time":<unix ms>,"type":…,"actor_id":…,"subject_id":…,"client_id":…,"ip":…,"user_agent":…,"request_id":…,"details":<details>}
//
// with details as MarshalAuditDetails wrote them (e.Details is not read).
// prev is the previous event's hash, 32 zero bytes for the first.
func AuditChainHash(prev []byte, e *AuditEvent, details json.RawMessage) ([]byte, error) {
	in, err := AuditChainInput(prev, e, details)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(in)
	return sum[:], nil
}

// AuditChainInput is what an event's chain value is computed over: prev
// followed by the canonical JSON of e (see AuditChainHash). A keyed chain
// takes HMAC-SHA256 of it under a key derived from the master key
// (AuditKeys), so that a writer of the database cannot recompute it.
func AuditChainInput(prev []byte, e *AuditEvent, details json.RawMessage) ([]byte, error) {
	var b bytes.Buffer
	b.Write(prev)
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(canonicalAuditEvent{
		ID: e.ID, Time: e.Time.UnixMilli(), Type: string(e.Type), ActorID: e.ActorID, SubjectID: e.SubjectID,
		ClientID: e.ClientID, IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID, Details: details,
	})
	if err != nil {
		return nil, fmt.Errorf("audit event %d: %w", e.ID, err)
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// AuditKeys keys the audit chain (*secrets.Keyring): each event's value is
// HMAC-SHA256 under the key AuditKeyPurpose derives from the master key
// whose id the event records; a rotation of the master key is recorded in
// the chain by an AuditKeyChanged event.
type AuditKeys interface {
	CurrentKeyID() string
	MACWith(keyID, purpose string, data []byte) ([]byte, bool)
}

// AuditKeyPurpose is the purpose the audit chain's key is derived for.
const AuditKeyPurpose = "audit-chain"

// AuditKeyChanged is the event that starts the chain's use of another
// master key: Details "from" and "to" are the key ids.
const AuditKeyChanged AuditType = "audit.key_changed"
