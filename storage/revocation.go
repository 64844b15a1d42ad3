package storage

import "time"

// RevocationKind says what a revocation entry matches in an access token.
type RevocationKind string

// The kinds of revocation entries. Access tokens are self-contained JWTs,
// so revoking one means remembering it until it would have expired anyway.
const (
	// RevokeToken matches the token whose jti is Value.
	RevokeToken RevocationKind = "jti"
	// RevokeGrant matches every token of one grant (a refresh-token family),
	// whose id the token carries in its grant_id claim.
	RevokeGrant RevocationKind = "grant"
	// RevokeSession matches every token issued in one browser session (sid).
	RevokeSession RevocationKind = "session"
	// RevokeSubject matches every token of one subject (sub) issued before
	// RevokedAt; tokens issued later stay valid.
	RevokeSubject RevocationKind = "subject"
	// RevokeClientSubject matches the tokens of one subject at one client
	// (Value is ClientSubjectKey) issued before RevokedAt: what revoking
	// consent to an application ends.
	RevokeClientSubject RevocationKind = "client_subject"
)

// ClientSubjectKey is the Value of a RevokeClientSubject entry.
func ClientSubjectKey(clientID, subject string) string { return clientID + " " + subject }

// Revocation is one entry of the revocation set.
type Revocation struct {
	Kind  RevocationKind
	Value string
	// RevokedAt is when the entry was recorded (UTC, millisecond precision);
	// for RevokeSubject it is also the cut-off for the tokens it matches.
	RevokedAt time.Time
	// ExpiresAt is when no token the entry can match is still valid, so the
	// entry may be forgotten.
	ExpiresAt time.Time
}
