// Package account is the domain service behind the hosted pages, the CLI
// and the admin API for local accounts: registration and email
// verification, password sign-in with brute-force lockout, password reset
// and change, profile updates, and the operator's create, disable and
// delete. It speaks no HTTP.
//
// Every change is made in one database transaction together with its
// audit event, and with what must happen with it (the mail carrying a
// link, ending sessions): if any part fails, nothing is committed.
//
// What the service never reveals: whether an address has an account.
// Registering a taken address, asking for a reset or a new verification
// link for an unknown one all answer nil; signing in with an unknown
// address spends the same Argon2id work as a wrong password and is locked
// out the same way.
//
// Each method runs its own transactions: call it with a context that
// carries none.
//
// Brute force: every password check first records a failure against the
// account ("account:<user id>", or "account:<normalised email>" for
// unknown addresses) in one atomic step that refuses while the account is
// locked, so concurrent guesses cannot slip past a lock; a correct
// password then clears it. Failures also count against the client address
// ("ip:<addr>") with a higher threshold. See LockoutConfig.
package account

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
)

// Meta describes the request an operation comes from, for the audit trail.
type Meta struct {
	IP, UserAgent, RequestID, ClientID, SID string
	// Locale is the language of the page the request came from (a
	// supported BCP 47 tag, internal/i18n): the mails it triggers are in
	// it. "" is English.
	Locale string `json:",omitempty"`
}

// Store is what the service needs from storage (storage/sql.Store).
type Store interface {
	// BeginTX, Commit and Rollback: a transaction carried by the context,
	// which every other method joins.
	BeginTX(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error

	CreateUser(ctx context.Context, u *storage.User) error
	GetUser(ctx context.Context, id string) (*storage.User, error)
	GetUserForUpdate(ctx context.Context, id string) (*storage.User, error)
	GetUserByEmail(ctx context.Context, email string) (*storage.User, error)
	UpdateUser(ctx context.Context, u *storage.User) error
	DeleteUser(ctx context.Context, id string) error
	// ListUserConsents: the clients a deleted user is announced to (SSF).
	ListUserConsents(ctx context.Context, userID string) ([]*storage.Consent, error)

	CreateAccountToken(ctx context.Context, t *storage.AccountToken) error
	GetAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*storage.AccountToken, error)
	ConsumeAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*storage.AccountToken, error)
	DeleteAccountTokens(ctx context.Context, userID, purpose string) error

	AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error
	// RevokeSubjectTokens ends every grant of the user (storage.Tokens).
	RevokeSubjectTokens(ctx context.Context, subject string) error
}

// Mailer queues mail. Enqueue is called inside the transaction of the
// change the mail belongs to, with the context carrying it: a queue in the
// same database must insert through that transaction (so the mail exists
// exactly when the change is committed), and on SQLite must not write
// through another connection, which would wait for this transaction.
type Mailer interface {
	Enqueue(ctx context.Context, m mail.Message) error
}

// Sessions ends browser sessions (session.Manager). Like Mailer, it is
// called inside the transaction, with its context.
type Sessions interface {
	// EndUserSessions ends every session of userID except exceptSID ("":
	// all of them).
	EndUserSessions(ctx context.Context, userID, exceptSID string) error
	// EndByID ends the session sid of userID; storage.ErrNotFound if
	// userID has no such session.
	EndByID(ctx context.Context, userID, sid string) error
}

// MACer keys account tokens (*secrets.Keyring): only MAC(token) is stored.
type MACer interface {
	MAC(purpose string, data []byte) []byte
}

// Deps are the service's collaborators; all but Now, Rand and Logger are
// required.
type Deps struct {
	Store Store
	// Attempts records failed password checks: the SQL store, or Redis.
	Attempts storage.Attempts
	// Hasher hashes and checks passwords and holds the password policy.
	Hasher *password.Hasher
	MAC    MACer
	Mailer Mailer
	// Requests queues the requests made by email address alone (password
	// reset, verification resend) for Work.
	Requests Requests
	Sessions Sessions
	// Issuer is the issuer URL; links in mails point under it
	// (<issuer>/verify-email?token=..., <issuer>/reset-password?token=...).
	Issuer string
	// ProductName names the site in mails (branding.product_name); the
	// issuer's host when empty.
	ProductName string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Rand is the source of tokens; crypto/rand when nil.
	Rand io.Reader
	// Logger gets what cannot be returned (a mail that could not be queued
	// where answering an error would reveal an account); nil discards.
	Logger *slog.Logger
	// Metrics, when set, counts sign-ins (authd_logins_total) and
	// lockouts.
	Metrics *telemetry.Metrics
}

// Service is the account service. It is safe for concurrent use.
type Service struct {
	cfg      Config
	store    Store
	attempts storage.Attempts
	hasher   *password.Hasher
	mac      MACer
	mailer   Mailer
	requests Requests
	sessions Sessions
	issuer   string
	product  string // Deps.ProductName
	now      func() time.Time
	rand     io.Reader
	log      *slog.Logger
	metrics  *telemetry.Metrics
}

// New returns the service, or what is wrong with cfg and deps.
func New(cfg Config, d Deps) (*Service, error) {
	errs := []error{cfg.Validate()}
	missing := func(name string, isNil bool) {
		if isNil {
			errs = append(errs, fmt.Errorf("account: Deps.%s is required", name))
		}
	}
	missing("Store", d.Store == nil)
	missing("Attempts", d.Attempts == nil)
	missing("Hasher", d.Hasher == nil)
	missing("MAC", d.MAC == nil)
	missing("Mailer", d.Mailer == nil)
	missing("Requests", d.Requests == nil)
	missing("Sessions", d.Sessions == nil)
	if u, err := url.Parse(d.Issuer); err != nil || u.Scheme == "" || u.Host == "" {
		errs = append(errs, fmt.Errorf("account: Deps.Issuer must be an absolute URL, got %q", d.Issuer))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		cfg: cfg, store: d.Store, attempts: d.Attempts, hasher: d.Hasher, mac: d.MAC, mailer: d.Mailer,
		requests: d.Requests, sessions: d.Sessions, issuer: strings.TrimRight(d.Issuer, "/"), product: d.ProductName, now: d.Now, rand: d.Rand, log: d.Logger, metrics: d.Metrics,
	}, nil
}

// inTx runs fn in a new transaction and commits it if fn succeeds; any
// error (or panic) rolls everything back.
func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return storage.InTx(ctx, s.store, fn)
}

// audit appends an event; actor "" means the subject acted.
func (s *Service) audit(ctx context.Context, typ storage.AuditType, subject, actor string, m Meta, details map[string]any) error {
	if actor == "" {
		actor = subject
	}
	err := audit.Record(ctx, s.store, storage.AuditEvent{
		Type: typ, ActorID: actor, SubjectID: subject, ClientID: m.ClientID,
		IP: m.IP, UserAgent: m.UserAgent, RequestID: m.RequestID, Details: details,
	}, s.now())
	if err != nil {
		return fmt.Errorf("audit %s: %w", typ, err)
	}
	switch typ {
	case storage.AuditLoginSucceeded, storage.AuditLoginFailed:
		method, _ := details["method"].(string)
		s.metrics.Login(typ == storage.AuditLoginSucceeded, method)
	case storage.AuditUserLocked:
		s.metrics.Lockout()
	}
	return nil
}

// newToken returns a fresh token for a link (32 random bytes, base64url)
// and the MAC under which it is stored.
func (s *Service) newToken(purpose string) (token string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", nil, fmt.Errorf("random token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, s.tokenHash(purpose, token), nil
}

func (s *Service) tokenHash(purpose, token string) []byte {
	return s.mac.MAC("account-token/"+purpose, []byte(token))
}

// issueToken stores a new token of purpose for u and returns the link
// carrying it: <issuer><path>?token=...
func (s *Service) issueToken(ctx context.Context, u *storage.User, purpose, path string, ttl time.Duration) (string, error) {
	token, hash, err := s.newToken(purpose)
	if err != nil {
		return "", err
	}
	now := s.now()
	t := &storage.AccountToken{Hash: hash, UserID: u.ID, Purpose: purpose, Email: u.Email, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.store.CreateAccountToken(ctx, t); err != nil {
		return "", fmt.Errorf("store %s token: %w", purpose, err)
	}
	return s.issuer + path + "?" + url.Values{"token": {token}}.Encode(), nil
}

// lookupToken returns the unused, unexpired token of purpose, or
// ErrInvalidToken.
func (s *Service) lookupToken(ctx context.Context, token, purpose string) (*storage.AccountToken, error) {
	if token == "" || len(token) > 256 {
		return nil, ErrInvalidToken
	}
	t, err := s.store.GetAccountToken(ctx, s.tokenHash(purpose, token), purpose, s.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	return t, err
}

// consumeToken uses the token in ctx's transaction, or returns
// ErrInvalidToken.
func (s *Service) consumeToken(ctx context.Context, token, purpose string) (*storage.AccountToken, error) {
	t, err := s.store.ConsumeAccountToken(ctx, s.tokenHash(purpose, token), purpose, s.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	return t, err
}

func (s *Service) enqueue(ctx context.Context, m mail.Message) error {
	if err := s.mailer.Enqueue(ctx, m); err != nil {
		return fmt.Errorf("queue mail: %w", err)
	}
	return nil
}

// hashPassword checks the policy and hashes pw.
func (s *Service) hashPassword(ctx context.Context, pw, email string) (string, error) {
	if vs := s.hasher.Check(pw, email); len(vs) > 0 {
		return "", &PolicyError{Violations: vs}
	}
	return s.hasher.Hash(ctx, pw)
}

// normalizeEmail returns the normalised address or an *InputError.
func normalizeEmail(email string) (string, error) {
	norm, err := storage.NormalizeEmail(email)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "email address ")
		return "", &InputError{Field: "email", Message: msg, Err: err}
	}
	return norm, nil
}

func accountKey(idOrEmail string) string { return "account:" + idOrEmail }

func ipKey(ip string) string { return "ip:" + ip }
