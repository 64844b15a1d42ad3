package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/authd/authd/storage"
)

// RequestPasswordReset queues a request (Work) that mails a reset link
// (<issuer>/reset-password?token=..., valid for Config.ResetPasswordTTL)
// when email has an account that is not disabled, and otherwise does
// nothing; the caller cannot tell which. It works for
// locked-out accounts: resetting is how their owner gets back in.
func (s *Service) RequestPasswordReset(ctx context.Context, email string, m Meta) error {
	return s.request(ctx, RequestPasswordReset, email, m)
}

// sendReset issues a reset link for u and queues its mail (Work).
func (s *Service) sendReset(ctx context.Context, u *storage.User, m Meta) error {
	return s.inTx(ctx, func(ctx context.Context) error {
		link, err := s.issueToken(ctx, u, storage.PurposeResetPassword, PathResetPassword, s.cfg.ResetPasswordTTL)
		if err != nil {
			return err
		}
		if err := s.enqueue(ctx, s.resetMail(m.Locale, u.Email, link, s.cfg.ResetPasswordTTL)); err != nil {
			return err
		}
		return s.audit(ctx, storage.AuditPasswordResetReq, u.ID, "", m, nil)
	})
}

// CheckResetToken reports whether a password reset link still works,
// without using it up: ErrInvalidToken when it does not.
func (s *Service) CheckResetToken(ctx context.Context, token string) error {
	_, err := s.lookupToken(ctx, token, storage.PurposeResetPassword)
	return err
}

// ResetPassword uses a reset token to set a new password. The token is
// only used when the password passes the policy (else *PolicyError, and
// the link still works). The reset ends every session of the account,
// revokes every token issued to it, invalidates other reset links, clears
// its lockout and, since the mail reached its owner, verifies the address.
// ErrInvalidToken if the token is unknown, expired or used, or the account
// is disabled.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword string, m Meta) (*storage.User, error) {
	t, err := s.lookupToken(ctx, token, storage.PurposeResetPassword)
	if err != nil {
		return nil, err
	}
	u, err := s.store.GetUser(ctx, t.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalidToken
	} else if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, ErrInvalidToken
	}
	hash, err := s.hashPassword(ctx, newPassword, u.Email)
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		t, err := s.consumeToken(ctx, token, storage.PurposeResetPassword)
		if err != nil {
			return err
		}
		if u, err = s.store.GetUserForUpdate(ctx, t.UserID); errors.Is(err, storage.ErrNotFound) {
			return ErrInvalidToken
		} else if err != nil {
			return err
		}
		if u.Disabled {
			return ErrInvalidToken
		}
		u.PasswordHash, u.PasswordChangedAt = hash, s.now()
		if u.Email == t.Email {
			u.EmailVerified = true
		}
		if err := s.store.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := s.store.DeleteAccountTokens(ctx, u.ID, storage.PurposeResetPassword); err != nil {
			return err
		}
		if err := s.store.RevokeSubjectTokens(ctx, u.ID); err != nil {
			return fmt.Errorf("revoke tokens: %w", err)
		}
		if err := s.sessions.EndUserSessions(ctx, u.ID, ""); err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		return s.audit(ctx, storage.AuditPasswordReset, u.ID, "", m, nil)
	})
	if err != nil {
		return nil, err
	}
	if err := s.attempts.ResetAttempts(ctx, accountKey(u.ID)); err != nil {
		// The password is set; the lock ends on its own.
		s.log.ErrorContext(ctx, "account: could not clear the lockout after a password reset", "user", u.ID, "err", err)
	}
	return u, nil
}

// ChangePassword sets a new password for a signed-in user who proves the
// current one. A wrong current password is ErrInvalidCredentials and counts
// towards the account's lockout (*LockedError once locked); a new password
// breaking the policy is a *PolicyError. Every other session of the user
// (all but m.SID) ends, and reset links mailed before stop working.
func (s *Service) ChangePassword(ctx context.Context, userID, current, newPassword string, m Meta) error {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	if vs := s.hasher.Check(newPassword, u.Email); len(vs) > 0 {
		return &PolicyError{Violations: vs}
	}
	key := accountKey(u.ID)
	st, err := s.reserve(ctx, key, u, m)
	if err != nil {
		return err
	}
	ok, _, err := s.check(ctx, u, current)
	if err != nil {
		return err
	}
	if !ok {
		if err := s.audit(ctx, storage.AuditLoginFailed, u.ID, "", m,
			map[string]any{"reason": reasonBadPassword, "method": "password", "during": "password_change"}); err != nil {
			return err
		}
		if err := s.lockedNow(ctx, u, st, m); err != nil {
			return err
		}
		return ErrInvalidCredentials
	}
	if err := s.attempts.ResetAttempts(ctx, key); err != nil {
		return fmt.Errorf("reset attempts: %w", err)
	}
	hash, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		u, err := s.storePassword(ctx, userID, hash)
		if err != nil {
			return err
		}
		if err := s.sessions.EndUserSessions(ctx, u.ID, m.SID); err != nil {
			return fmt.Errorf("end other sessions: %w", err)
		}
		return s.audit(ctx, storage.AuditPasswordChanged, u.ID, "", m, nil)
	})
}

// storePassword makes hash the user's password, in the caller's
// transaction, and voids the reset links mailed before.
func (s *Service) storePassword(ctx context.Context, id, hash string) (*storage.User, error) {
	u, err := s.store.GetUserForUpdate(ctx, id)
	if err != nil {
		return nil, err
	}
	u.PasswordHash, u.PasswordChangedAt = hash, s.now()
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	if err := s.store.DeleteAccountTokens(ctx, u.ID, storage.PurposeResetPassword); err != nil {
		return nil, err
	}
	return u, nil
}
