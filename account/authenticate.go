package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/storage"
)

// Audit reasons of login.failed.
const (
	reasonBadPassword = "bad_password"
	reasonUnknownUser = "unknown_user"
	reasonLocked      = "locked"
	reasonIPLocked    = "ip_locked"
	reasonDisabled    = "disabled"
	reasonUnverified  = "unverified"
)

// Authenticate checks email and password and returns the account.
//
//   - ErrInvalidCredentials: unknown address or wrong password. An unknown
//     address costs the same hashing work as a wrong password.
//   - *LockedError (ErrLocked): the account or the client address has
//     failed too often; the password was not checked.
//   - ErrDisabled, ErrUnverified: the password is right, but the account
//     is disabled, or its address is not verified and
//     Config.AllowUnverifiedLogin is off.
//
// A correct password clears the account's failures and, when the stored
// hash was made with other parameters than the configured ones, is hashed
// anew. Every outcome is audited (login.succeeded or login.failed with a
// reason); the audit event is written before the answer, so a failing
// audit log fails the sign-in.
func (s *Service) Authenticate(ctx context.Context, email, pw string, m Meta) (*storage.User, error) {
	now := s.now()
	norm, err := storage.NormalizeEmail(email)
	if err != nil {
		// Not an address: nobody has it. Answer like a wrong password.
		_ = s.hasher.VerifyDummy(ctx, pw)
		if err := s.failure(ctx, nil, m, reasonUnknownUser); err != nil {
			return nil, err
		}
		return nil, ErrInvalidCredentials
	}
	if m.IP != "" && s.cfg.Lockout.IPThreshold > 0 {
		st, err := s.attempts.GetAttempts(ctx, ipKey(m.IP), now)
		if err != nil {
			return nil, fmt.Errorf("read attempts: %w", err)
		}
		if isLocked, left := st.Locked(now); isLocked {
			if err := s.auditFailure(ctx, nil, m, reasonIPLocked); err != nil {
				return nil, err
			}
			return nil, locked(left)
		}
	}
	u, err := s.store.GetUserByEmail(ctx, norm)
	if errors.Is(err, storage.ErrNotFound) {
		u, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	key := accountKey(norm)
	if u != nil {
		key = accountKey(u.ID)
	}
	st, err := s.reserve(ctx, key, u, m)
	if err != nil {
		return nil, err
	}
	ok, rehash, err := s.check(ctx, u, pw)
	if err != nil {
		return nil, err
	}
	if !ok {
		reason := reasonBadPassword
		if u == nil {
			reason = reasonUnknownUser
		}
		if err := s.failure(ctx, u, m, reason); err != nil {
			return nil, err
		}
		if err := s.lockedNow(ctx, u, st, m); err != nil {
			return nil, err
		}
		return nil, ErrInvalidCredentials
	}
	// The password is right: whatever follows, the account's failures go.
	if err := s.attempts.ResetAttempts(ctx, key); err != nil {
		return nil, fmt.Errorf("reset attempts: %w", err)
	}
	switch {
	case u.Disabled:
		return nil, s.refuse(ctx, u, m, reasonDisabled, ErrDisabled)
	case !u.EmailVerified && !s.cfg.AllowUnverifiedLogin:
		return nil, s.refuse(ctx, u, m, reasonUnverified, ErrUnverified)
	}
	return s.succeed(ctx, u, pw, rehash, m)
}

// reserve counts a failure against key before the password is checked, in
// one atomic step that refuses while key is locked: concurrent guesses
// cannot all pass the lock check before any of them is recorded. A correct
// password resets the key afterwards.
func (s *Service) reserve(ctx context.Context, key string, u *storage.User, m Meta) (storage.AttemptState, error) {
	now := s.now()
	st, recorded, err := s.attempts.RecordFailure(ctx, key, now, s.cfg.Lockout.account())
	if err != nil {
		return st, fmt.Errorf("record attempt: %w", err)
	}
	if !recorded {
		_, left := st.Locked(now)
		if err := s.auditFailure(ctx, u, m, reasonLocked); err != nil {
			return st, err
		}
		return st, locked(left)
	}
	return st, nil
}

// lockedNow records user.locked when the failure reserved in st is the
// one that locked the account (the threshold's; later ones only lengthen
// the lock).
func (s *Service) lockedNow(ctx context.Context, u *storage.User, st storage.AttemptState, m Meta) error {
	if u == nil || st.Failures != s.cfg.Lockout.AccountThreshold {
		return nil
	}
	if isLocked, _ := st.Locked(s.now()); !isLocked {
		return nil
	}
	return s.audit(ctx, storage.AuditUserLocked, u.ID, "", m, map[string]any{
		"failures": st.Failures, "locked_until": st.LockedUntil.UTC().Format(time.RFC3339)})
}

// check verifies pw against u's hash, or spends the same work on a dummy
// hash when there is none to check.
func (s *Service) check(ctx context.Context, u *storage.User, pw string) (ok, rehash bool, err error) {
	if u == nil || u.PasswordHash == "" {
		return false, false, s.hasher.VerifyDummy(ctx, pw)
	}
	ok, rehash, err = s.hasher.Verify(ctx, u.PasswordHash, pw)
	if errors.Is(err, password.ErrMalformedHash) {
		s.log.ErrorContext(ctx, "account: stored password hash is unreadable; the account cannot sign in with a password", "user", u.ID)
		return false, false, s.hasher.VerifyDummy(ctx, pw)
	}
	return ok, rehash, err
}

// failure counts a failed password against the client address and audits
// it.
func (s *Service) failure(ctx context.Context, u *storage.User, m Meta, reason string) error {
	if m.IP != "" && s.cfg.Lockout.IPThreshold > 0 {
		if _, _, err := s.attempts.RecordFailure(ctx, ipKey(m.IP), s.now(), s.cfg.Lockout.ip()); err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
	}
	return s.auditFailure(ctx, u, m, reason)
}

func (s *Service) auditFailure(ctx context.Context, u *storage.User, m Meta, reason string) error {
	subject := ""
	if u != nil {
		subject = u.ID
	}
	return s.audit(ctx, storage.AuditLoginFailed, subject, "", m, map[string]any{"reason": reason, "method": "password"})
}

// refuse audits a sign-in refused despite the right password.
func (s *Service) refuse(ctx context.Context, u *storage.User, m Meta, reason string, refusal error) error {
	if err := s.auditFailure(ctx, u, m, reason); err != nil {
		return err
	}
	return refusal
}

// succeed audits the sign-in and, when asked, stores a hash under the
// current parameters, in one transaction.
func (s *Service) succeed(ctx context.Context, u *storage.User, pw string, rehash bool, m Meta) (*storage.User, error) {
	var newHash string
	if rehash {
		h, err := s.hasher.Hash(ctx, pw)
		if err != nil { // the next sign-in tries again
			s.log.WarnContext(ctx, "account: could not rehash a password", "user", u.ID, "err", err)
		}
		newHash = h
	}
	details := map[string]any{"method": "password"}
	err := s.inTx(ctx, func(ctx context.Context) error {
		if newHash != "" {
			cur, err := s.store.GetUserForUpdate(ctx, u.ID)
			if err != nil {
				return err
			}
			if cur.PasswordHash == u.PasswordHash { // not changed meanwhile
				cur.PasswordHash = newHash
				if err := s.store.UpdateUser(ctx, cur); err != nil {
					return err
				}
				u = cur
				details["rehashed"] = true
			}
		}
		return s.audit(ctx, storage.AuditLoginSucceeded, u.ID, "", m, details)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}
