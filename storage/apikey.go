package storage

import (
	"context"
	"time"
)

// APIKey is a key for the admin API. The key itself is never stored:
// Hash is its keyed HMAC-SHA256 (see apikey), so a database dump yields no
// usable key.
type APIKey struct {
	// ID is the public part of the key, printed inside it; the primary key.
	ID   string
	Name string
	// Hash is the MAC of the whole key (32 bytes).
	Hash []byte
	// MACKeyID names the master key Hash was made under, so keys keep
	// working after a master key rotation.
	MACKeyID string
	Scopes   []string
	// Tier names the rate limit tier (admin.tiers).
	Tier      string
	CreatedBy string
	CreatedAt time.Time
	// ExpiresAt is when the key stops working; zero: never.
	ExpiresAt time.Time
	// LastUsedAt and LastUsedIP are when and from where the key was last
	// used, recorded at most every apikey flush interval.
	LastUsedAt time.Time
	LastUsedIP string
	// RevokedAt is when the key was revoked; zero while it works.
	RevokedAt time.Time
}

// TopicAPIKey is the change feed topic of API keys: a revoked key stops
// working on every instance at its next poll.
const TopicAPIKey = "apikey"

// APIKeys stores admin API keys. Times are UTC, millisecond precision.
type APIKeys interface {
	// CreateAPIKey stores k; ErrConflict if the id is taken.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// GetAPIKey returns the key (revoked or not) or ErrNotFound.
	GetAPIKey(ctx context.Context, id string) (*APIKey, error)
	// ListAPIKeys returns up to limit keys with id > after, ordered by id.
	ListAPIKeys(ctx context.Context, after string, limit int) ([]*APIKey, error)
	// RevokeAPIKey marks the key revoked at t and publishes the change;
	// ErrNotFound if absent. Revoking a revoked key keeps the first time.
	RevokeAPIKey(ctx context.Context, id string, t time.Time) error
	// TouchAPIKeys records last use: for each id, the time and address,
	// kept only when later than what is stored.
	TouchAPIKeys(ctx context.Context, uses map[string]APIKeyUse) error
	// AddAPIKeyAddress remembers that key id was used from ip at t. added
	// says ip is new for the key; known counts the addresses it was used
	// from before.
	AddAPIKeyAddress(ctx context.Context, id, ip string, t time.Time) (added bool, known int, err error)
}

// APIKeyUse is one key's latest use.
type APIKeyUse struct {
	At time.Time
	IP string
}

// UserFilter selects users for SearchUsers.
type UserFilter struct {
	// Organization, when set, selects the users of that organization.
	Organization string
	// Disabled, when set, selects disabled (true) or active users.
	Disabled *bool
	// After is the cursor: users with id > After.
	After string
	// Offset skips that many matching users first (SCIM's startIndex);
	// cursors (After) are the cheap way to page.
	Offset int
	// Limit is the most users returned; zero returns none.
	Limit int
}
