// Package session manages browser sessions: the cookie, the server-side
// record, idle and absolute expiry, and ending sessions (which revokes the
// tokens issued in them). The hosted pages start sessions; the provider
// reads them at the authorization endpoint.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
)

// Config configures browser sessions.
type Config struct {
	// IdleTimeout ends a session not used for this long.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// AbsoluteTimeout ends a session this long after sign-in, however used.
	AbsoluteTimeout time.Duration `koanf:"absolute_timeout"`
	// RevokeOfflineOnLogout also revokes offline_access refresh tokens
	// issued in a session when it ends.
	RevokeOfflineOnLogout bool `koanf:"revoke_offline_on_logout"`
	// MaxPerUser caps a person's live sessions: a sign-in past the cap
	// ends the oldest ones (revoking their tokens). 0: no cap.
	MaxPerUser int `koanf:"max_per_user"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{IdleTimeout: 12 * time.Hour, AbsoluteTimeout: 7 * 24 * time.Hour, RevokeOfflineOnLogout: true}
}

// Validate reports every problem, naming the key.
func (c Config) Validate() error {
	var errs []error
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("session.idle_timeout: must be positive, got %v", c.IdleTimeout))
	}
	if c.AbsoluteTimeout < c.IdleTimeout {
		errs = append(errs, fmt.Errorf("session.absolute_timeout: must be at least session.idle_timeout, got %v", c.AbsoluteTimeout))
	}
	if c.MaxPerUser < 0 {
		errs = append(errs, fmt.Errorf("session.max_per_user: must be 0 (no cap) or more, got %d", c.MaxPerUser))
	}
	return errors.Join(errs...)
}

// Store is what the manager needs from storage.
type Store interface {
	CreateSession(ctx context.Context, s *storage.Session, secretHash []byte) error
	GetSessionBySecret(ctx context.Context, secretHash []byte, now time.Time) (*storage.Session, error)
	GetSession(ctx context.Context, id string) (*storage.Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	RenewSession(ctx context.Context, id string, secretHash []byte, authTime time.Time, amr []string, acr string) error
	ListUserSessions(ctx context.Context, userID string, now time.Time) ([]*storage.Session, error)
	DeleteSession(ctx context.Context, id string) error
	DeleteUserSessions(ctx context.Context, userID, except string) ([]string, error)
	ListSessionClients(ctx context.Context, sid string) ([]string, error)
	RevokeSessionTokens(ctx context.Context, sid string, includeOffline bool) error
}

// EndHook is told about every ended session and the clients that got
// tokens in it, so it can send back-channel logout notifications.
type EndHook func(ctx context.Context, s *storage.Session, clientIDs []string)

// Manager starts, reads and ends browser sessions.
type Manager struct {
	cfg    Config
	store  Store
	log    *slog.Logger
	secure bool // issuer is https: __Host- cookie, Secure
	now    func() time.Time
	onEnd  EndHook
}

// Options are the manager's collaborators.
type Options struct {
	Store  Store
	Logger *slog.Logger
	// Secure is true when the issuer is https.
	Secure bool
	Now    func() time.Time
	// OnEnd, when set, hears of every ended session (the provider's
	// SessionEnded: back-channel logout).
	OnEnd EndHook
}

// New returns a manager.
func New(cfg Config, o Options) *Manager {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, store: o.Store, log: o.Logger, secure: o.Secure, now: o.Now, onEnd: o.OnEnd}
}

// CookieName is the session cookie's name: __Host- prefixed on https.
func (m *Manager) CookieName() string {
	if m.secure {
		return "__Host-authd_session"
	}
	return "authd_session"
}

// touchEvery bounds how often use of a session is written.
const touchEvery = time.Minute

// Current returns the request's live session, or nil when there is none
// (no cookie, unknown, idle too long, expired).
func (m *Manager) Current(r *http.Request) (*storage.Session, error) {
	c, err := r.Cookie(m.CookieName())
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, nil
	}
	now := m.now()
	s, err := m.store.GetSessionBySecret(r.Context(), hashSecret(c.Value), now)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if now.Sub(s.LastSeenAt) > m.cfg.IdleTimeout {
		return nil, nil
	}
	if now.Sub(s.LastSeenAt) > touchEvery {
		if err := m.store.TouchSession(r.Context(), s.ID, now); err != nil {
			return nil, err
		}
		s.LastSeenAt = now
	}
	return s, nil
}

// Start records a sign-in of userID in this browser and sets the cookie.
// The cookie secret always changes at sign-in, so a cookie planted before
// sign-in is worthless afterwards. The same person signing in again keeps
// the session (and its sid, so tokens issued in it stay valid and logout
// still ends them all); another person's session is ended first.
func (m *Manager) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, userID string, amr []string, acr string) (*storage.Session, error) {
	now := m.now().UTC()
	secret := randomToken(32)
	if old, err := m.Current(r); err == nil && old != nil {
		if old.UserID == userID {
			err := m.store.RenewSession(ctx, old.ID, hashSecret(secret), now, amr, acr)
			if err == nil {
				old.AuthTime, old.AMR, old.ACR, old.LastSeenAt = now, amr, acr, now
				m.setCookie(w, secret, old.ExpiresAt)
				return old, nil
			}
			if !errors.Is(err, storage.ErrNotFound) {
				return nil, fmt.Errorf("renew session: %w", err)
			}
		} else if err := m.End(ctx, old); err != nil {
			return nil, err
		}
	}
	s := &storage.Session{
		ID: randomToken(16), UserID: userID, AuthTime: now, AMR: amr, ACR: acr,
		IP: telemetry.ClientIP(r), UserAgent: audit.UserAgent(r.UserAgent()),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(m.cfg.AbsoluteTimeout),
	}
	if err := m.store.CreateSession(ctx, s, hashSecret(secret)); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	m.setCookie(w, secret, s.ExpiresAt)
	if n, err := m.enforceCap(ctx, s); err != nil {
		// The sign-in stands; the cap is enforced again at the next one.
		m.log.WarnContext(ctx, "session: could not end sessions past session.max_per_user", "user", userID, "err", err)
	} else if n > 0 {
		m.setNoticeCookie(w, NoticeSessionCap)
	}
	return s, nil
}

// enforceCap ends userID's oldest live sessions beyond Config.MaxPerUser,
// keeping the new session s, and returns how many it ended. It runs after
// the new session is stored, so concurrent sign-ins (on any replica) each
// see the others' sessions: together they end the same oldest ones, and
// the cap holds once both are done.
func (m *Manager) enforceCap(ctx context.Context, s *storage.Session) (int, error) {
	if m.cfg.MaxPerUser <= 0 {
		return 0, nil
	}
	live, err := m.List(ctx, s.UserID) // newest first
	if err != nil {
		return 0, err
	}
	keep, n := 1, 0 // s itself
	var errs []error
	for _, o := range live {
		if o.ID == s.ID {
			continue
		}
		if keep < m.cfg.MaxPerUser {
			keep++
			continue
		}
		if err := m.End(ctx, o); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
		m.log.InfoContext(ctx, "session: ended the oldest session past session.max_per_user", "user", s.UserID,
			"ended_sid", o.ID, "max_per_user", m.cfg.MaxPerUser)
	}
	return n, errors.Join(errs...)
}

// Notices a sign-in leaves for the account page (TakeNotice).
const (
	// NoticeSessionCap: signing in ended the person's oldest session(s),
	// as Config.MaxPerUser allows no more.
	NoticeSessionCap = "session_cap"
)

// noticeCookie carries a notice code (never text) from the sign-in that
// caused it to the next account page in this browser.
const noticeCookie = "authd_notice"

func (m *Manager) setNoticeCookie(w http.ResponseWriter, code string) {
	http.SetCookie(w, &http.Cookie{Name: noticeCookie, Value: code, Path: "/", HttpOnly: true, Secure: m.secure, // #nosec G124 -- Secure whenever the issuer is https (plain http is for loopback only)
		SameSite: http.SameSiteLaxMode, MaxAge: int((7 * 24 * time.Hour).Seconds())})
}

// TakeNotice returns the notice a sign-in in this browser left (one of the
// Notice codes, or "") and clears it, so it is shown once.
func (m *Manager) TakeNotice(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(noticeCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: noticeCookie, Value: "", Path: "/", HttpOnly: true, Secure: m.secure, // #nosec G124 -- Secure whenever the issuer is https (plain http is for loopback only)
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
	if c.Value != NoticeSessionCap {
		return ""
	}
	return c.Value
}

// MaxPerUser returns the configured cap on a person's sessions (0: none).
func (m *Manager) MaxPerUser() int { return m.cfg.MaxPerUser }

func (m *Manager) setCookie(w http.ResponseWriter, secret string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{ // #nosec G124 -- Secure whenever the issuer is https (plain http is for loopback only)
		Name: m.CookieName(), Value: secret, Path: "/", HttpOnly: true, Secure: m.secure,
		SameSite: http.SameSiteLaxMode, Expires: expires, MaxAge: int(time.Until(expires).Seconds()),
	})
}

// ClearCookie removes the session cookie from the browser.
func (m *Manager) ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: m.CookieName(), Value: "", Path: "/", HttpOnly: true, Secure: m.secure, // #nosec G124 -- Secure whenever the issuer is https (plain http is for loopback only)
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// End ends session s: the record goes, every token issued in it is revoked
// (offline ones as configured), and the end hook hears of it.
func (m *Manager) End(ctx context.Context, s *storage.Session) error {
	clients, err := m.store.ListSessionClients(ctx, s.ID)
	if err != nil {
		return err
	}
	if err := m.store.RevokeSessionTokens(ctx, s.ID, m.cfg.RevokeOfflineOnLogout); err != nil {
		return fmt.Errorf("revoke session tokens: %w", err)
	}
	if err := m.store.DeleteSession(ctx, s.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if m.onEnd != nil {
		m.onEnd(ctx, s, clients)
	}
	return nil
}

// EndByID ends the session with public id sid if it belongs to userID.
func (m *Manager) EndByID(ctx context.Context, userID, sid string) error {
	s, err := m.store.GetSession(ctx, sid)
	if err != nil {
		return err
	}
	if s.UserID != userID {
		return storage.ErrNotFound
	}
	return m.End(ctx, s)
}

// EndUserSessions ends every session of userID except exceptSID.
func (m *Manager) EndUserSessions(ctx context.Context, userID, exceptSID string) error {
	sessions, err := m.store.ListUserSessions(ctx, userID, time.Time{})
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range sessions {
		if s.ID != exceptSID {
			errs = append(errs, m.End(ctx, s))
		}
	}
	return errors.Join(errs...)
}

// List returns the user's live sessions.
func (m *Manager) List(ctx context.Context, userID string) ([]*storage.Session, error) {
	all, err := m.store.ListUserSessions(ctx, userID, m.now())
	if err != nil {
		return nil, err
	}
	live := all[:0]
	for _, s := range all {
		if m.now().Sub(s.LastSeenAt) <= m.cfg.IdleTimeout {
			live = append(live, s)
		}
	}
	return live, nil
}

func hashSecret(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
