package storage

import (
	"context"
	"net/url"
	"time"
)

// Session is a browser session: a person signed in on one browser. Its
// cookie carries a secret; storage keeps only the secret's hash.
type Session struct {
	// ID is the public id: the OpenID Connect "sid" in tokens, and what the
	// account page names a session by. It is not the cookie secret.
	ID     string `json:"id"`
	UserID string `json:"user_id"`
	// AuthTime is when the person last authenticated in this session.
	AuthTime  time.Time `json:"auth_time"`
	AMR       []string  `json:"amr,omitempty"`
	ACR       string    `json:"acr,omitempty"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// LastSeenAt moves with use (at most once a minute); the session ends
	// after the idle timeout without use.
	LastSeenAt time.Time `json:"last_seen_at"`
	// ExpiresAt is the absolute end, whatever the use.
	ExpiresAt time.Time `json:"expires_at"`
}

// Sessions stores browser sessions.
type Sessions interface {
	// CreateSession stores s under the hash of its cookie secret.
	CreateSession(ctx context.Context, s *Session, secretHash []byte) error
	// GetSessionBySecret returns the session whose secret hashes to
	// secretHash, or ErrNotFound (also when it has expired at now).
	GetSessionBySecret(ctx context.Context, secretHash []byte, now time.Time) (*Session, error)
	// GetSession returns the session by public id, or ErrNotFound.
	GetSession(ctx context.Context, id string) (*Session, error)
	// RenewSession records a new sign-in in session id: a new cookie
	// secret (the old one stops working), auth time and methods; LastSeenAt
	// moves to authTime. ErrNotFound if absent.
	RenewSession(ctx context.Context, id string, secretHash []byte, authTime time.Time, amr []string, acr string) error
	// TouchSession sets LastSeenAt.
	TouchSession(ctx context.Context, id string, at time.Time) error
	// ListUserSessions returns the user's sessions not expired at now,
	// newest first.
	ListUserSessions(ctx context.Context, userID string, now time.Time) ([]*Session, error)
	// DeleteSession removes a session; ErrNotFound if absent.
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions removes every session of userID except the one
	// with id except, and returns the ids it removed.
	DeleteUserSessions(ctx context.Context, userID, except string) ([]string, error)
	// AddSessionClient records that clientID got tokens in session sid
	// (for back-channel logout); idempotent.
	AddSessionClient(ctx context.Context, sid, clientID string) error
	// ListSessionClients returns the clients recorded for sid.
	ListSessionClients(ctx context.Context, sid string) ([]string, error)
}

// Consent is what a user allowed a client: remembered so the consent page
// is shown only for scopes not granted before.
type Consent struct {
	UserID    string    `json:"user_id"`
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Consents stores remembered consent.
type Consents interface {
	// GetConsent returns the consent or ErrNotFound.
	GetConsent(ctx context.Context, userID, clientID string) (*Consent, error)
	// SaveConsent creates or replaces the consent of (UserID, ClientID).
	SaveConsent(ctx context.Context, c *Consent) error
	// ListUserConsents returns the user's consents ordered by client id.
	ListUserConsents(ctx context.Context, userID string) ([]*Consent, error)
	// DeleteConsent removes it; ErrNotFound if absent.
	DeleteConsent(ctx context.Context, userID, clientID string) error
}

// AuthRequest is an authorization request in progress: stored when the
// authorization endpoint needs the person to sign in or consent, and
// updated by those steps until the provider issues the code.
type AuthRequest struct {
	// ID is random and unguessable; it travels in the login URLs.
	ID       string
	ClientID string
	// Form is the authorization request's parameters, as received.
	Form url.Values
	// SessionID and LoginAt are set when the person signed in during this
	// request (prompt=login and max_age are then satisfied).
	SessionID string
	LoginAt   time.Time
	// Consent: Granted lists the scopes the person allowed; Denied is set
	// when they refused.
	ConsentGiven  bool
	ConsentDenied bool
	GrantedScopes []string
	// ClientAddr is the address the request came from; the requests
	// waiting from one address are bounded.
	ClientAddr string
	CreatedAt  time.Time
	// ExpiresAt is when an untouched request is forgotten; progress
	// (UpdateAuthRequest) keeps it until AuthRequestMaxTTL after CreatedAt.
	ExpiresAt time.Time
}

// AuthRequestMaxTTL bounds how long a person may take to sign in and
// consent within one authorization request.
const AuthRequestMaxTTL = 30 * time.Minute

// AuthRequests stores authorization requests in progress.
type AuthRequests interface {
	// CreateAuthRequest stores r. When maxPerAddr > 0 and that many
	// requests from r.ClientAddr are waiting, the oldest of them are
	// deleted first, in the same transaction.
	CreateAuthRequest(ctx context.Context, r *AuthRequest, maxPerAddr int) error
	// GetAuthRequest returns the request or ErrNotFound (also once expired
	// at now).
	GetAuthRequest(ctx context.Context, id string, now time.Time) (*AuthRequest, error)
	// UpdateAuthRequest stores the progress fields and keeps the request
	// until AuthRequestMaxTTL after it was made; ErrNotFound if absent.
	UpdateAuthRequest(ctx context.Context, r *AuthRequest) error
	// DeleteAuthRequest removes it, reporting ErrNotFound if it was already
	// gone: exactly one caller can finish a request.
	DeleteAuthRequest(ctx context.Context, id string) error
}
