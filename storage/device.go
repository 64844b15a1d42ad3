package storage

import (
	"context"
	"log/slog"
	"time"
)

// DeviceStatus is where a device authorization (RFC 8628) stands.
type DeviceStatus string

// The states of a device authorization. pending → approved → redeemed, or
// pending → denied; each step is taken once (a conditional update), and
// expiry ends it in any state.
const (
	DevicePending  DeviceStatus = "pending"
	DeviceApproved DeviceStatus = "approved"
	DeviceDenied   DeviceStatus = "denied"
	DeviceRedeemed DeviceStatus = "redeemed"
)

// DeviceAuthRequestPrefix begins the ids of the authorization requests
// the device verification page (/device) stores for the sign-in and
// consent steps; their Form holds client_id, scope and user_code.
const DeviceAuthRequestPrefix = "dev."

// DeviceCode is a device authorization (RFC 8628 §3.2): what the device
// polls with and what the person approves on the verification page.
type DeviceCode struct {
	// Signature is the HMAC of the device code, the record's key: the raw
	// code is never stored.
	Signature string
	// UserCode is the code the person types, normalised (8 letters, no
	// dash); unique among the stored records.
	UserCode string
	ClientID string
	// Scopes are the scopes the device asked for.
	Scopes []string
	Status DeviceStatus
	// Subject, SessionID, GrantedScopes and Session are set on approval:
	// who approved, in which browser session, what they allowed, and the
	// provider's token session (claims, auth_time, acr, amr) as JSON,
	// opaque to storage.
	Subject       string
	SessionID     string
	GrantedScopes []string
	Session       []byte
	// Interval is the polling interval the device must keep (slow_down
	// adds to it); LastPolledAt is the last poll, zero before the first.
	Interval     time.Duration
	LastPolledAt time.Time
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// LogValue implements slog.LogValuer: never the user code or session.
func (d *DeviceCode) LogValue() slog.Value {
	if d == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("client_id", d.ClientID), slog.String("status", string(d.Status)),
		slog.String("subject", d.Subject), slog.Time("expires_at", d.ExpiresAt))
}

// DeviceCodes stores device authorizations. Expired records are removed by
// the janitor (Tokens.DeleteExpired).
type DeviceCodes interface {
	// CreateDeviceCode stores d; ErrConflict when its signature or user
	// code is taken (make new codes and try again).
	CreateDeviceCode(ctx context.Context, d *DeviceCode) error
	// GetDeviceCode returns the record of signature, expired or not (the
	// caller answers expired_token), or ErrNotFound.
	GetDeviceCode(ctx context.Context, signature string) (*DeviceCode, error)
	// GetPendingDeviceCode returns the pending record of userCode
	// (normalised) that has not expired at now, or ErrNotFound.
	GetPendingDeviceCode(ctx context.Context, userCode string, now time.Time) (*DeviceCode, error)
	// RecordDevicePoll records a poll at `at` with the interval the device
	// must keep from now on, if the last poll is still prev (compare and
	// swap): of two polls at once one wins, the other gets ErrConflict.
	// ErrNotFound if the record is gone.
	RecordDevicePoll(ctx context.Context, signature string, prev, at time.Time, interval time.Duration) error
	// DecideDeviceCode moves the pending, unexpired (at now) record of
	// d.Signature to d.Status (DeviceApproved or DeviceDenied), with d's
	// Subject, SessionID, GrantedScopes and Session; ErrNotFound if it is
	// no longer pending (decided, or expired): exactly one decision wins.
	DecideDeviceCode(ctx context.Context, d *DeviceCode, now time.Time) error
	// RedeemDeviceCode moves the approved record of signature to
	// DeviceRedeemed; ErrNotFound if it is not approved (redeemed already):
	// exactly one token request wins.
	RedeemDeviceCode(ctx context.Context, signature string) error
}
