package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/authd/authd/storage"
)

// Paths of the hosted pages the mailed links open, under the issuer.
const (
	PathVerifyEmail   = "/verify-email"
	PathResetPassword = "/reset-password"
)

// Register creates an unverified account for email and mails it a
// verification link (<issuer>/verify-email?token=..., valid for
// Config.VerifyEmailTTL). A password breaking the policy is a
// *PolicyError, an invalid email or name an *InputError.
//
// The request checks and hashes, then queues the rest (Work): so the
// answer and the work done in the request are the same whether or not the
// address already has an account. When it has, nothing is created and the
// address is mailed that someone tried to register with it.
func (s *Service) Register(ctx context.Context, email, pw, name string, m Meta) error {
	norm, err := normalizeEmail(email)
	if err != nil {
		return err
	}
	if err := validText("name", name); err != nil {
		return err
	}
	hash, err := s.hashPassword(ctx, pw, norm)
	if err != nil {
		return err
	}
	r := Request{Kind: RequestRegistration, Email: norm, Name: name, PasswordHash: hash, Meta: m}
	if err := s.requests.EnqueueRequest(ctx, r); err != nil {
		return fmt.Errorf("queue registration: %w", err)
	}
	return nil
}

// register creates the account r asks for and queues its verification
// mail, or mails the owner of an address that has one already (Work).
func (s *Service) register(ctx context.Context, r Request) error {
	now := s.now()
	u := &storage.User{Email: r.Email, Name: r.Name, PasswordHash: r.PasswordHash, PasswordChangedAt: now}
	err := s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateUser(ctx, u); err != nil {
			return err
		}
		link, err := s.issueToken(ctx, u, storage.PurposeVerifyEmail, PathVerifyEmail, s.cfg.VerifyEmailTTL)
		if err != nil {
			return err
		}
		if err := s.enqueue(ctx, s.verifyMail(r.Meta.Locale, u.Email, link, s.cfg.VerifyEmailTTL)); err != nil {
			return err
		}
		return s.audit(ctx, storage.AuditUserRegistered, u.ID, "", r.Meta, map[string]any{"method": "password"})
	})
	if errors.Is(err, storage.ErrConflict) { // the address has an account
		return s.enqueue(ctx, s.alreadyRegisteredMail(r.Meta.Locale, r.Email))
	}
	return err
}

// VerifyEmail uses a verification token: the address it was sent to is
// verified, if the account still has it. ErrInvalidToken if the token is
// unknown, expired or used (or the account changed its address since).
func (s *Service) VerifyEmail(ctx context.Context, token string, m Meta) (*storage.User, error) {
	if token == "" || len(token) > 256 {
		return nil, ErrInvalidToken
	}
	var u *storage.User
	err := s.inTx(ctx, func(ctx context.Context) error {
		t, err := s.consumeToken(ctx, token, storage.PurposeVerifyEmail)
		if err != nil {
			return err
		}
		if u, err = s.store.GetUserForUpdate(ctx, t.UserID); errors.Is(err, storage.ErrNotFound) {
			return ErrInvalidToken
		} else if err != nil {
			return err
		}
		if u.Email != t.Email {
			return ErrInvalidToken
		}
		if !u.EmailVerified {
			u.EmailVerified = true
			if err := s.store.UpdateUser(ctx, u); err != nil {
				return err
			}
		}
		// Other verification links have done their job.
		if err := s.store.DeleteAccountTokens(ctx, u.ID, storage.PurposeVerifyEmail); err != nil {
			return err
		}
		return s.audit(ctx, storage.AuditEmailVerified, u.ID, "", m, nil)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// ResendVerification queues a request (Work) that mails a new
// verification link when email has an account that is not verified (nor
// disabled), and otherwise does nothing; the caller cannot tell which.
func (s *Service) ResendVerification(ctx context.Context, email string, m Meta) error {
	return s.request(ctx, RequestVerification, email, m)
}

// sendVerification issues a verification link for u and queues its mail
// (Work).
func (s *Service) sendVerification(ctx context.Context, u *storage.User, m Meta) error {
	return s.inTx(ctx, func(ctx context.Context) error {
		link, err := s.issueToken(ctx, u, storage.PurposeVerifyEmail, PathVerifyEmail, s.cfg.VerifyEmailTTL)
		if err != nil {
			return err
		}
		if err := s.enqueue(ctx, s.verifyMail(m.Locale, u.Email, link, s.cfg.VerifyEmailTTL)); err != nil {
			return err
		}
		return s.audit(ctx, storage.AuditVerificationSent, u.ID, "", m, nil)
	})
}

// validText checks a free-text profile field: at most 256 characters, no
// control or invisible formatting characters.
func validText(field, v string) error {
	if err := checkText(v, 256); err != "" {
		return &InputError{Field: field, Message: err}
	}
	return nil
}

func checkText(v string, maxLen int) string {
	n := 0
	for _, r := range v {
		n++
		if r == '\uFFFD' || isControl(r) {
			return "must not contain control characters"
		}
	}
	if n > maxLen {
		return fmt.Sprintf("must be at most %d characters long", maxLen)
	}
	return ""
}
