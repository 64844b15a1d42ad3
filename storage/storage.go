package storage

import (
	"context"
	"errors"
	"time"

	"github.com/ory/fosite"
)

// Sentinel errors. Backends map driver errors to these (and to fosite's own
// errors where fosite's contract names them); callers test with errors.Is.
var (
	// ErrNotFound: the record does not exist (or has expired). It also
	// matches fosite.ErrNotFound, so fosite's handlers recognise it.
	ErrNotFound error = notFound{}
	// ErrConflict: a unique constraint was violated, e.g. a duplicate id.
	ErrConflict = errors.New("storage: conflict")
	// ErrUnavailable: the backend cannot be reached right now (Redis
	// down); trying again later may work. Pages answer 503.
	ErrUnavailable = errors.New("storage: temporarily unavailable")
)

type notFound struct{}

func (notFound) Error() string { return "storage: not found" }

func (notFound) Is(target error) bool { return target == fosite.ErrNotFound }

// Clients manages registered OAuth 2.0 clients.
type Clients interface {
	// CreateClient stores a new client; ErrConflict if the id is taken.
	CreateClient(ctx context.Context, c *Client) error
	// GetStoredClient returns the client or ErrNotFound.
	GetStoredClient(ctx context.Context, id string) (*Client, error)
	// ListClients returns every client ordered by id.
	ListClients(ctx context.Context) ([]*Client, error)
	// UpdateClient replaces a client's mutable fields; ErrNotFound if absent.
	UpdateClient(ctx context.Context, c *Client) error
	// DeleteClient removes a client and its token state; ErrNotFound if absent.
	DeleteClient(ctx context.Context, id string) error
}

// Keys manages the signing keys. Private key material is stored sealed
// (encrypted by the caller); backends never see it in the clear.
type Keys interface {
	// CreateKey stores a key; ErrConflict if the kid exists.
	CreateKey(ctx context.Context, k *SigningKey) error
	// ListKeys returns every key, newest first.
	ListKeys(ctx context.Context) ([]*SigningKey, error)
	// RetireKeys marks every active key except keep as retired at t.
	RetireKeys(ctx context.Context, keep string, t time.Time) error
	// DeleteKeysRetiredBefore removes keys retired before t.
	DeleteKeysRetiredBefore(ctx context.Context, t time.Time) error
}

// Revocations is the durable copy of the revocation set: every running
// instance holds the set in memory and polls for entries written by others.
type Revocations interface {
	// AddRevocation records r. Adding the same (kind, value) again keeps the
	// later NotBefore and ExpiresAt: it is idempotent.
	AddRevocation(ctx context.Context, r Revocation) error
	// ListRevocations returns entries recorded at or after since that have
	// not expired at now, oldest first.
	ListRevocations(ctx context.Context, since, now time.Time) ([]Revocation, error)
	// DeleteExpiredRevocations removes entries that expired before now.
	DeleteExpiredRevocations(ctx context.Context, now time.Time) (int64, error)
}

// Changes is a small change feed that tells every running instance (and
// the CLI's writes to a running server) that a cached record changed.
type Changes interface {
	// PublishChange records that ref of topic changed.
	PublishChange(ctx context.Context, topic, ref string) error
	// ListChanges returns changes recorded at or after since, oldest first.
	ListChanges(ctx context.Context, since time.Time) ([]Change, error)
	// DeleteChangesBefore removes changes recorded before t.
	DeleteChangesBefore(ctx context.Context, t time.Time) (int64, error)
}

// Change topics.
const (
	TopicClient = "client"
	TopicKeys   = "keys"
)

// Change is one entry of the change feed.
type Change struct {
	ID        int64
	Topic     string
	Ref       string
	CreatedAt time.Time
}

// Tokens holds the token operations beyond fosite's storage contracts.
type Tokens interface {
	// RevokeSessionTokens ends every grant issued in browser session sid:
	// its refresh tokens become inactive (offline_access ones only when
	// includeOffline) and its access tokens are revoked.
	RevokeSessionTokens(ctx context.Context, sid string, includeOffline bool) error
	// RevokeSubjectTokens ends every grant of subject: its refresh tokens
	// become inactive and access tokens issued until now are revoked.
	RevokeSubjectTokens(ctx context.Context, subject string) error
	// RevokeClientSubjectTokens ends every grant of subject at clientID:
	// refresh tokens become inactive, access tokens issued until now are
	// revoked.
	RevokeClientSubjectTokens(ctx context.Context, clientID, subject string) error
	// DeleteExpired removes token state and bookkeeping that has expired at
	// now, returning how many records it removed.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
}

// OneTimeUses records values that may be used once (the jti of a DPoP
// proof) for as long as they could be presented: a second use before the
// value expires is a replay. Implementations keep them in memory or Redis,
// never in the database, so the check costs no query.
type OneTimeUses interface {
	// Use records key until exp and reports whether it is the first use
	// of key since it was last recorded (false: a replay). An error means
	// the record could not be kept.
	Use(ctx context.Context, key string, exp time.Time) (first bool, err error)
}
