package storage

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// User is a local account.
type User struct {
	ID string `json:"id"`
	// Email is normalised (see NormalizeEmail) and unique.
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name,omitempty"`
	Picture       string `json:"picture,omitempty"`
	Locale        string `json:"locale,omitempty"`
	// Phone is sensitive: backends store it sealed under the master key.
	Phone         string `json:"phone_number,omitempty"`
	PhoneVerified bool   `json:"phone_number_verified,omitempty"`
	Organization  string `json:"organization,omitempty"`
	Department    string `json:"department,omitempty"`
	EmployeeID    string `json:"employee_id,omitempty"`
	// PasswordHash is an Argon2id hash in PHC string format; never printed.
	// Empty: the account has no password (it signs in otherwise).
	PasswordHash      string    `json:"-"`
	PasswordChangedAt time.Time `json:"password_changed_at,omitzero"`
	Disabled          bool      `json:"disabled"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// Users manages local accounts. Backends normalise Email with
// NormalizeEmail on every write and lookup, so the unique index holds the
// normalised form; they assign ID (a UUIDv7, so ids sort by creation) when
// it is empty, and CreatedAt and UpdatedAt (UTC, millisecond precision).
type Users interface {
	// CreateUser stores u; ErrConflict if the email (or id) is taken, an
	// error matching ErrInvalidEmail if the email is not an address.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns the user or ErrNotFound.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserForUpdate is GetUser that, inside a transaction (BeginTX),
	// also locks the user's row against other writers until the
	// transaction ends, for read-modify-write.
	GetUserForUpdate(ctx context.Context, id string) (*User, error)
	// GetUserByEmail looks up an email (normalised first); ErrNotFound if
	// absent or not an address.
	GetUserByEmail(ctx context.Context, email string) (*User, error)
	// ListUsers returns up to limit users with id > after, ordered by id.
	ListUsers(ctx context.Context, after string, limit int) ([]*User, error)
	// SearchUsers returns up to f.Limit users matching f with id >
	// f.After, ordered by id (an index serves each filter).
	SearchUsers(ctx context.Context, f UserFilter) ([]*User, error)
	// CountUsers is how many users match f's Organization and Disabled.
	CountUsers(ctx context.Context, f UserFilter) (int64, error)
	// ListOrganizations returns up to limit distinct organization names
	// greater than after, in order (empty organizations are not listed).
	ListOrganizations(ctx context.Context, after string, limit int) ([]string, error)
	// UpdateUser replaces the mutable fields (every field but ID and
	// CreatedAt) and sets UpdatedAt; ErrNotFound if absent, ErrConflict if
	// the new email is taken.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser removes the user and its account tokens; ErrNotFound if
	// absent.
	DeleteUser(ctx context.Context, id string) error
}

// ErrInvalidEmail: the string is not an email address authd accepts.
var ErrInvalidEmail = errors.New("invalid email address")

// MaxEmailLength is the longest address, in bytes (RFC 5321 §4.5.3.1.3).
const MaxEmailLength = 254

// NormalizeEmail returns the form of an email address authd stores and
// compares: surrounding space trimmed, Unicode NFC, lowercase. It must
// hold exactly one "@" with a non-empty local part (at most 64 bytes) and
// domain, no spaces, control or format characters, and be at most 254
// bytes;
// otherwise the error matches ErrInvalidEmail.
//
// Lowercasing the local part departs from RFC 5321, which lets a server
// tell "Alice" from "alice"; no provider people use does, and treating
// them as two accounts invites takeover by look-alike registration.
func NormalizeEmail(s string) (string, error) {
	s = norm.NFC.String(strings.ToLower(strings.TrimSpace(s)))
	local, domain, ok := strings.Cut(s, "@")
	switch {
	case s == "":
		return "", emailError("is empty")
	case !ok || strings.Contains(domain, "@"):
		return "", emailError("must contain exactly one @")
	case local == "" || domain == "":
		return "", emailError("needs a name before and a domain after the @")
	case len(local) > 64:
		return "", emailError("has a name longer than 64 bytes before the @")
	case len(s) > MaxEmailLength:
		return "", emailError("is longer than 254 bytes")
	case strings.IndexFunc(s, invisible) >= 0:
		return "", emailError("must not contain spaces, control or invisible characters")
	}
	return s, nil
}

// invisible reports runes that have no place in an address and could make
// two addresses look alike: spaces, controls, format characters (zero
// width space, bidi marks) and the replacement character (invalid UTF-8).
func invisible(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar
}

type invalidEmail string

func (e invalidEmail) Error() string        { return "email address " + string(e) }
func (e invalidEmail) Is(target error) bool { return target == ErrInvalidEmail }

func emailError(reason string) error { return invalidEmail(reason) }

// Account token purposes.
const (
	PurposeVerifyEmail   = "verify-email"
	PurposeResetPassword = "reset-password"
)

// AccountToken is a single-use token mailed to a user (email verification,
// password reset). The token itself is never stored: Hash is its keyed
// HMAC-SHA256, so a database dump yields no usable link.
type AccountToken struct {
	// Hash is the token's MAC (32 bytes); the primary key.
	Hash    []byte
	UserID  string
	Purpose string
	// Email is the address the token was sent to: verifying it proves
	// that address, not whatever the account holds later.
	Email     string
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is when it was consumed; zero while unused.
	UsedAt time.Time
}

// AccountTokens stores account tokens. Times are UTC, millisecond precision.
type AccountTokens interface {
	// CreateAccountToken stores t (UsedAt ignored); ErrConflict if the
	// hash exists, ErrNotFound if the user does not.
	CreateAccountToken(ctx context.Context, t *AccountToken) error
	// GetAccountToken returns the token with hash and purpose if it is
	// unused and unexpired at now, else ErrNotFound. It does not use it.
	GetAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*AccountToken, error)
	// ConsumeAccountToken marks the token used at now and returns it, in
	// one atomic step: of concurrent calls for one token exactly one
	// succeeds. ErrNotFound if it is unknown, of another purpose, used or
	// expired at now.
	ConsumeAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*AccountToken, error)
	// DeleteAccountTokens removes the user's tokens of purpose (every
	// purpose when purpose is empty), so links already mailed stop working.
	DeleteAccountTokens(ctx context.Context, userID, purpose string) error
	// DeleteExpiredAccountTokens removes tokens expired or used before
	// now and returns how many.
	DeleteExpiredAccountTokens(ctx context.Context, now time.Time) (int64, error)
}

// LogValue implements slog.LogValuer: the user's id and state, never the
// password hash, the phone number or other personal data.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", u.ID), slog.Bool("email_verified", u.EmailVerified),
		slog.Bool("has_password", u.PasswordHash != ""), slog.Bool("phone_set", u.Phone != ""), slog.Bool("disabled", u.Disabled))
}

// LogValue implements slog.LogValuer: what the token is for and whose,
// never its hash (which identifies the token) or the address it went to.
func (t AccountToken) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user_id", t.UserID), slog.String("purpose", t.Purpose),
		slog.Time("expires_at", t.ExpiresAt), slog.Bool("used", !t.UsedAt.IsZero()))
}
