package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/authd/authd/storage"
)

// ErrPrecondition: AdminUpdate.IfMatch refused the user as it is now (an
// HTTP If-Match that no longer matches); nothing changed.
var ErrPrecondition = errors.New("account: the user changed since it was read")

// AdminUpdate is an operator's change to an account: the profile fields,
// and what only operators change. nil leaves a field as it is.
type AdminUpdate struct {
	ProfileUpdate
	// Email changes the address; it is unverified again unless
	// EmailVerified says otherwise.
	Email         *string
	EmailVerified *bool
	// Disabled disables (cutting the account off, as DisableUser does) or
	// enables the account.
	Disabled *bool
	// IfMatch, when set, sees the locked row before anything changes; an
	// error from it (ErrPrecondition) stops the update.
	IfMatch func(*storage.User) error
}

// AdminUpdateUser applies upd in one transaction and returns the user as
// it is after it. Invalid fields are an *InputError, an address another
// account has ErrEmailTaken, no such user ErrNotFound. profile.updated
// names the fields that changed; disabling and enabling are their own
// events. Nothing changes, and nothing is audited, when every value is
// already as given.
func (s *Service) AdminUpdateUser(ctx context.Context, id string, upd AdminUpdate, actor string, m Meta) (*storage.User, error) {
	vals, err := upd.validate()
	if err != nil {
		return nil, err
	}
	var email string
	if upd.Email != nil {
		if email, err = normalizeEmail(*upd.Email); err != nil {
			return nil, err
		}
	}
	var out *storage.User
	err = s.inTx(ctx, func(ctx context.Context) error {
		u, err := s.store.GetUserForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if upd.IfMatch != nil {
			if err := upd.IfMatch(u); err != nil {
				return err
			}
		}
		changed := vals.apply(u)
		if upd.Email != nil && email != u.Email {
			u.Email, u.EmailVerified = email, false
			changed = append(changed, "email")
		}
		if upd.EmailVerified != nil && *upd.EmailVerified != u.EmailVerified {
			u.EmailVerified = *upd.EmailVerified
			changed = append(changed, "email_verified")
		}
		toggled := upd.Disabled != nil && *upd.Disabled != u.Disabled
		if toggled {
			u.Disabled = *upd.Disabled
		}
		out = u
		if len(changed) == 0 && !toggled {
			return nil
		}
		if err := s.store.UpdateUser(ctx, u); err != nil {
			return err
		}
		if len(changed) > 0 {
			if err := s.audit(ctx, storage.AuditProfileUpdated, u.ID, actor, m, map[string]any{"fields": changed}); err != nil {
				return err
			}
		}
		switch {
		case toggled && u.Disabled:
			return s.disabled(ctx, u.ID, actor, m)
		case toggled:
			return s.audit(ctx, storage.AuditUserEnabled, u.ID, actor, m, nil)
		}
		return nil
	})
	if errors.Is(err, storage.ErrConflict) {
		return nil, ErrEmailTaken
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetPassword sets an account's password for an operator (no current
// password needed): the policy applies, reset links stop working, and
// the account's sessions and tokens end unless keepSessions.
func (s *Service) SetPassword(ctx context.Context, id, newPassword string, keepSessions bool, actor string, m Meta) error {
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return err
	}
	hash, err := s.hashPassword(ctx, newPassword, u.Email)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		u, err := s.storePassword(ctx, id, hash)
		if err != nil {
			return err
		}
		if !keepSessions {
			if err := s.cutOff(ctx, u.ID); err != nil {
				return fmt.Errorf("end sessions: %w", err)
			}
		}
		return s.audit(ctx, storage.AuditPasswordChanged, u.ID, actor, m, map[string]any{"by": "operator"})
	})
}

// EndSessions ends a user's session sid, or every session of theirs when
// sid is empty, for an operator, and records session.revoked.
// ErrNotFound when there is no such user or session.
func (s *Service) EndSessions(ctx context.Context, userID, sid, actor string, m Meta) error {
	if _, err := s.store.GetUser(ctx, userID); err != nil {
		return err
	}
	var err error
	if sid == "" {
		err = s.sessions.EndUserSessions(ctx, userID, "")
	} else {
		err = s.sessions.EndByID(ctx, userID, sid)
	}
	if err != nil {
		return err
	}
	details := map[string]any{"all": sid == ""}
	if sid != "" {
		details["sid"] = sid
	}
	return s.audit(ctx, storage.AuditSessionRevoked, userID, actor, m, details)
}
