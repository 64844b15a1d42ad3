package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/authd/authd/storage"
)

// NewUser is an account an operator creates.
type NewUser struct {
	Email    string
	Password string
	// Verified marks the address verified (the operator vouches for it).
	Verified                             bool
	Name                                 string
	Organization, Department, EmployeeID string
	Phone                                string
}

// CreateUser creates an account for an operator (the CLI, the admin API),
// with a password or, when nu.Password is empty, without one (the person
// sets one through "Forgot password", or signs in otherwise):
// actor names them in the audit trail ("cli", an admin's user id). Unlike
// Register it says when the address is taken (ErrEmailTaken) and mails
// nothing. Invalid fields are an *InputError, a password breaking the
// policy a *PolicyError.
func (s *Service) CreateUser(ctx context.Context, nu NewUser, actor string, m Meta) (*storage.User, error) {
	norm, err := normalizeEmail(nu.Email)
	if err != nil {
		return nil, err
	}
	pu := ProfileUpdate{Name: &nu.Name, Organization: &nu.Organization, Department: &nu.Department,
		EmployeeID: &nu.EmployeeID, Phone: &nu.Phone}
	vals, err := pu.validate()
	if err != nil {
		return nil, err
	}
	var hash string
	if nu.Password != "" {
		if hash, err = s.hashPassword(ctx, nu.Password, norm); err != nil {
			return nil, err
		}
	}
	u := &storage.User{
		Email: norm, EmailVerified: nu.Verified, Name: nu.Name, Organization: nu.Organization, Department: nu.Department,
		EmployeeID: nu.EmployeeID, Phone: *vals.Phone, PasswordHash: hash, PasswordChangedAt: s.now(),
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateUser(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, storage.AuditUserCreated, u.ID, actor, m, map[string]any{"email_verified": nu.Verified})
	})
	if errors.Is(err, storage.ErrConflict) {
		return nil, ErrEmailTaken
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// DisableUser disables an account: it can no longer sign in, its sessions
// end, every token issued to it is revoked and links mailed to it stop
// working. Disabling a disabled account changes nothing. ErrNotFound if
// there is no such user.
func (s *Service) DisableUser(ctx context.Context, id, actor string, m Meta) error {
	return s.inTx(ctx, func(ctx context.Context) error {
		u, err := s.store.GetUserForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if u.Disabled {
			return nil
		}
		u.Disabled = true
		if err := s.store.UpdateUser(ctx, u); err != nil {
			return err
		}
		return s.disabled(ctx, u.ID, actor, m)
	})
}

// disabled does what disabling u takes besides the flag, in the caller's
// transaction: it cuts the account off and records user.disabled.
func (s *Service) disabled(ctx context.Context, id, actor string, m Meta) error {
	if err := s.cutOff(ctx, id); err != nil {
		return err
	}
	return s.audit(ctx, storage.AuditUserDisabled, id, actor, m, nil)
}

// EnableUser lets a disabled account sign in again. Enabling an enabled
// account changes nothing. ErrNotFound if there is no such user.
func (s *Service) EnableUser(ctx context.Context, id, actor string, m Meta) error {
	return s.inTx(ctx, func(ctx context.Context) error {
		u, err := s.store.GetUserForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if !u.Disabled {
			return nil
		}
		u.Disabled = false
		if err := s.store.UpdateUser(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, storage.AuditUserEnabled, u.ID, actor, m, nil)
	})
}

// DeleteUser removes an account, ending its sessions and revoking its
// tokens. The audit trail keeps the events about it (by id). ErrNotFound
// if there is no such user.
func (s *Service) DeleteUser(ctx context.Context, id, actor string, m Meta) error {
	err := s.inTx(ctx, func(ctx context.Context) error {
		if _, err := s.store.GetUserForUpdate(ctx, id); err != nil {
			return err
		}
		// The clients the person had consented to, read before the
		// consents go with the account: Shared Signals streams of those
		// clients learn of the deletion (webhook.Service).
		consents, err := s.store.ListUserConsents(ctx, id)
		if err != nil {
			return err
		}
		clients := make([]string, len(consents))
		for i, c := range consents {
			clients[i] = c.ClientID
		}
		if err := s.store.DeleteUser(ctx, id); err != nil {
			return err
		}
		if err := s.cutOff(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, storage.AuditUserDeleted, id, actor, m, map[string]any{"clients": clients})
	})
	if err != nil {
		return err
	}
	if err := s.attempts.ResetAttempts(ctx, accountKey(id)); err != nil {
		s.log.ErrorContext(ctx, "account: could not forget a deleted account's failed attempts", "user", id, "err", err)
	}
	return nil
}

// UpdateUser changes profile fields for an operator; see UpdateProfile.
func (s *Service) UpdateUser(ctx context.Context, id string, pu ProfileUpdate, actor string, m Meta) error {
	return s.updateProfile(ctx, id, pu, actor, m)
}

// cutOff ends everything an account holds: links, tokens, sessions.
func (s *Service) cutOff(ctx context.Context, id string) error {
	if err := s.store.DeleteAccountTokens(ctx, id, ""); err != nil {
		return err
	}
	if err := s.store.RevokeSubjectTokens(ctx, id); err != nil {
		return fmt.Errorf("revoke tokens: %w", err)
	}
	if err := s.sessions.EndUserSessions(ctx, id, ""); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return nil
}
