package storage

import (
	"context"
	"time"
)

// InitialAccessToken authorises dynamic client registration (RFC 7591
// §3, "initial access token"). The token itself is never stored: Hash is
// its keyed MAC, so a database dump yields no usable token.
type InitialAccessToken struct {
	// ID is the public part of the token, printed inside it; the primary
	// key.
	ID          string
	Description string
	// Hash is the MAC of the whole token (32 bytes).
	Hash []byte
	// MACKeyID names the master key Hash was made under.
	MACKeyID  string
	CreatedBy string
	CreatedAt time.Time
	// ExpiresAt is when the token stops working; zero: never.
	ExpiresAt time.Time
	// MaxUses bounds the registrations made with the token; 0: no bound.
	MaxUses int
	// Uses counts the registrations made with it.
	Uses int
	// RevokedAt is when the token was revoked; zero while it works.
	RevokedAt time.Time
}

// Usable reports whether the token may register one more client at now.
func (t *InitialAccessToken) Usable(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt)) && (t.MaxUses == 0 || t.Uses < t.MaxUses)
}

// ClientRegistration is what dynamic registration keeps about a client
// beside the client itself: its RFC 7592 registration access token (as a
// keyed MAC) and the registered metadata authd does not act on.
type ClientRegistration struct {
	ClientID string
	// TokenHash is the MAC of the registration access token, bound to
	// ClientID; MACKeyID names the master key it was made under.
	TokenHash []byte
	MACKeyID  string
	// InitialTokenID is the initial access token the client was
	// registered with.
	InitialTokenID string
	// Metadata is the JSON object of the other registered metadata
	// (client_uri, logo_uri, contacts, ...); never nil once stored.
	Metadata  []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Registrations stores initial access tokens and client registrations.
// Times are UTC, millisecond precision.
type Registrations interface {
	// CreateInitialAccessToken stores t; ErrConflict if the id is taken.
	CreateInitialAccessToken(ctx context.Context, t *InitialAccessToken) error
	// GetInitialAccessToken returns the token (usable or not) or
	// ErrNotFound.
	GetInitialAccessToken(ctx context.Context, id string) (*InitialAccessToken, error)
	// ListInitialAccessTokens returns every token, oldest first.
	ListInitialAccessTokens(ctx context.Context) ([]*InitialAccessToken, error)
	// RevokeInitialAccessToken marks the token revoked at t; ErrNotFound
	// if absent. Revoking a revoked token keeps the first time.
	RevokeInitialAccessToken(ctx context.Context, id string, t time.Time) error
	// UseInitialAccessToken counts one registration with the token, in
	// one conditional UPDATE: only if it is not revoked, not expired at
	// now and below its MaxUses, so that of two uses racing for the last
	// one, one fails. ErrNotFound if absent or not usable.
	UseInitialAccessToken(ctx context.Context, id string, now time.Time) error
	// PutClientRegistration creates or replaces the registration of
	// r.ClientID (CreatedAt is kept on replace).
	PutClientRegistration(ctx context.Context, r *ClientRegistration) error
	// GetClientRegistration returns the registration or ErrNotFound (also
	// for a client registered otherwise than dynamically). Deleting the
	// client (Clients.DeleteClient) deletes its registration.
	GetClientRegistration(ctx context.Context, clientID string) (*ClientRegistration, error)
}
