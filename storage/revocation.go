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
	// RevokeSession matches every token issued in one browser session (sid)
	// before RevokedAt: refresh tokens that survive the session's end mint
	// tokens that stay valid.
	RevokeSession RevocationKind = "session"
	// RevokeSubject matches every token of one subject (sub) issued before
	// RevokedAt; tokens issued later stay valid.
	RevokeSubject RevocationKind = "subject"
	// RevokeClientSubject matches the tokens of one subject at one client
	// (Value is ClientSubjectKey) issued before RevokedAt: what revoking
	// consent to an application ends.
	RevokeClientSubject RevocationKind = "client_subject"
)

// MaxAuthorizeCodeTTL is the longest an authorization code may live
// (RFC 6749 §4.1.2 recommends at most ten minutes; tokens.authorize_code_ttl
// is validated against it). A session entry lives at least this long, so
// that a code issued in the session is refused until it has expired.
const MaxAuthorizeCodeTTL = 10 * time.Minute

// ClientSubjectKey is the Value of a RevokeClientSubject entry.
func ClientSubjectKey(clientID, subject string) string { return clientID + " " + subject }

// Revocation is one entry of the revocation set.
type Revocation struct {
	Kind  RevocationKind
	Value string
	// RevokedAt is when the entry was recorded (UTC, millisecond precision);
	// for session, subject and client-subject entries it is also the
	// cut-off for the tokens they match (Matches).
	RevokedAt time.Time
	// ExpiresAt is when no token the entry can match is still valid, so the
	// entry may be forgotten.
	ExpiresAt time.Time
}

// TokenRef is what a revocation check needs to know about an access token.
type TokenRef struct {
	JTI, GrantID, SessionID, Subject, ClientID string
	// IssuedAtMs is when the token was issued, in Unix milliseconds.
	IssuedAtMs int64
}

// RevocationKey names one entry of the revocation set.
type RevocationKey struct {
	Kind  RevocationKind
	Value string
}

// MaxRevocationKeys is how many entries at most can match one token.
const MaxRevocationKeys = 5

// Keys returns the entries that could match t, into buf (no allocation):
// one per non-empty id, and the client-subject pair when both are known.
func (t TokenRef) Keys(buf *[MaxRevocationKeys]RevocationKey) []RevocationKey {
	keys := buf[:0]
	add := func(kind RevocationKind, v string) {
		if v != "" {
			keys = append(keys, RevocationKey{kind, v})
		}
	}
	add(RevokeToken, t.JTI)
	add(RevokeGrant, t.GrantID)
	add(RevokeSession, t.SessionID)
	add(RevokeSubject, t.Subject)
	if t.ClientID != "" && t.Subject != "" {
		add(RevokeClientSubject, ClientSubjectKey(t.ClientID, t.Subject))
	}
	return keys
}

// Matches reports whether a live entry of kind, recorded at revokedAtMs
// (Unix ms), covers t, whose Keys named it. A token or grant entry covers
// every token it names. Session, subject and client-subject entries cover
// only tokens issued at or before the entry: a session's refresh tokens
// that outlive its end (session.revoke_offline_on_logout: false) and a
// subject's later sign-ins mint tokens that stay valid.
//
// Every revocation set (storage/memory, storage/redis) decides with this
// one function.
func Matches(kind RevocationKind, revokedAtMs int64, t TokenRef) bool {
	switch kind {
	case RevokeToken, RevokeGrant:
		return true
	case RevokeSession, RevokeSubject, RevokeClientSubject:
		return t.IssuedAtMs <= revokedAtMs
	}
	return false
}
