package account_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/storage"
)

const newPassword = "a brand new passphrase"

func TestRequestPasswordReset(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		u := e.createUser("ada@example.com")
		gone := e.createUser("gone@example.com")
		if err := e.svc.DisableUser(e.ctx, gone.ID, "admin", meta); err != nil {
			t.Fatal(err)
		}
		for _, addr := range []string{"nobody@example.com", "gone@example.com", "not an address", ""} {
			if err := e.svc.RequestPasswordReset(e.ctx, addr, meta); err != nil {
				t.Errorf("RequestPasswordReset(%q) = %v, want nil", addr, err)
			}
		}
		if n := len(e.mailer.sent()); n != 0 {
			t.Errorf("%d mails for unknown or disabled addresses, want none", n)
		}
		if err := e.svc.RequestPasswordReset(e.ctx, "Ada@Example.com", meta); err != nil {
			t.Fatal(err)
		}
		msgs := e.mailer.sent()
		if len(msgs) != 1 || msgs[0].To != "ada@example.com" || msgs[0].Subject != "Reset your password" {
			t.Fatalf("mails = %+v, want one reset mail to ada", msgs)
		}
		if l, _ := link(t, msgs[0]); !strings.HasPrefix(l, issuer+"/reset-password?token=") || !strings.Contains(msgs[0].Text, "1 hour") {
			t.Errorf("reset link %q (text %q), want %s/reset-password?token=... valid 1 hour", l, msgs[0].Text, issuer)
		}
		wantEvents(t, "after the request", e.events(u.ID), storage.AuditUserCreated, storage.AuditPasswordResetReq)

		// Nothing is left behind when the mail cannot be queued: the job
		// fails (and would be tried again); the request itself answers nil,
		// as it does for any address.
		tokens := e.countRows("account_tokens")
		e.mailer.setFail(errInjected)
		if err := e.svc.RequestPasswordReset(e.ctx, "ada@example.com", meta); err != nil {
			t.Fatalf("RequestPasswordReset with the mailer down: %v, want nil", err)
		}
		wantErrIs(t, "the reset job with the mailer down", e.requests.lastFailure(), errInjected)
		if n := e.countRows("account_tokens"); n != tokens {
			t.Errorf("account tokens after a failed request: %d, want %d", n, tokens)
		}
		wantEvents(t, "after the failed request", e.events(u.ID), storage.AuditUserCreated, storage.AuditPasswordResetReq)
	})
}

func TestResetPassword(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		// An unverified account: the reset also proves the address.
		if err := e.svc.Register(e.ctx, "ada@example.com", goodPassword, "", meta); err != nil {
			t.Fatal(err)
		}
		u, _ := e.store.GetUserByEmail(e.ctx, "ada@example.com")
		for range 2 {
			if err := e.svc.RequestPasswordReset(e.ctx, "ada@example.com", meta); err != nil {
				t.Fatal(err)
			}
		}
		msgs := e.mailer.sent()
		_, older := link(t, msgs[1])
		_, token := link(t, msgs[2])

		// A password breaking the policy leaves the link usable.
		_, err := e.svc.ResetPassword(e.ctx, token, "short", meta)
		var pe *account.PolicyError
		if !errors.As(err, &pe) {
			t.Fatalf("ResetPassword(short) = %v, want *PolicyError", err)
		}
		_, err = e.svc.ResetPassword(e.ctx, token, "ada@example.com rocks", meta)
		if !errors.As(err, &pe) {
			t.Errorf("ResetPassword(containing the address) = %v, want *PolicyError", err)
		}
		for _, bad := range []string{"", "nope", token[:20]} {
			_, err := e.svc.ResetPassword(e.ctx, bad, newPassword, meta)
			wantErrIs(t, "ResetPassword("+bad+")", err, account.ErrInvalidToken)
		}

		got, err := e.svc.ResetPassword(e.ctx, token, newPassword, meta)
		if err != nil {
			t.Fatalf("ResetPassword: %v", err)
		}
		if got.ID != u.ID || !got.EmailVerified {
			t.Errorf("ResetPassword = %+v, want the account, now verified", got)
		}
		stored := e.user(u.ID)
		if !stored.EmailVerified || !stored.PasswordChangedAt.Equal(e.clock.Now()) {
			t.Errorf("stored account %+v, want verified, password changed now", stored)
		}
		if _, err := e.svc.Authenticate(e.ctx, "ada@example.com", newPassword, meta); err != nil {
			t.Errorf("sign-in with the new password: %v", err)
		}
		_, err = e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta)
		wantErrIs(t, "sign-in with the old password", err, account.ErrInvalidCredentials)
		if got := e.sessions.ended(); !slices.Equal(got, []string{u.ID + " except="}) {
			t.Errorf("sessions ended: %q, want every session of %s", got, u.ID)
		}
		revs, err := e.store.ListRevocations(e.ctx, time.Time{}, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(revs) != 1 || revs[0].Kind != storage.RevokeSubject || revs[0].Value != u.ID {
			t.Errorf("revocations after the reset: %+v, want the subject %s", revs, u.ID)
		}
		// The link worked once; the older one died with it.
		_, err = e.svc.ResetPassword(e.ctx, token, "yet another passphrase", meta)
		wantErrIs(t, "ResetPassword reused", err, account.ErrInvalidToken)
		_, err = e.svc.ResetPassword(e.ctx, older, "yet another passphrase", meta)
		wantErrIs(t, "ResetPassword with the older link", err, account.ErrInvalidToken)
		evs := e.events(u.ID)
		if !slices.Contains(evs, storage.AuditPasswordReset) {
			t.Errorf("audit events %q lack password.reset", evs)
		}
	})
}

func TestResetPasswordExpires(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.createUser("ada@example.com")
		if err := e.svc.RequestPasswordReset(e.ctx, "ada@example.com", meta); err != nil {
			t.Fatal(err)
		}
		token := e.lastToken("ada@example.com")
		e.clock.Advance(time.Hour)
		_, err := e.svc.ResetPassword(e.ctx, token, newPassword, meta)
		wantErrIs(t, "ResetPassword after 1h", err, account.ErrInvalidToken)
	})
}

// TestResetWhileLocked: a locked-out owner gets a link, resets, and is in
// at once.
func TestResetWhileLocked(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.createUser("ada@example.com")
		for range 12 {
			_, _ = e.svc.Authenticate(e.ctx, "ada@example.com", "an attacker's guess", meta)
		}
		_, err := e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta)
		wantErrIs(t, "sign-in while locked", err, account.ErrLocked)
		if err := e.svc.RequestPasswordReset(e.ctx, "ada@example.com", meta); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ResetPassword(e.ctx, e.lastToken("ada@example.com"), newPassword, meta); err != nil {
			t.Fatalf("ResetPassword while locked: %v", err)
		}
		if _, err := e.svc.Authenticate(e.ctx, "ada@example.com", newPassword, meta); err != nil {
			t.Errorf("sign-in right after the reset: %v, want the lockout cleared", err)
		}
	})
}

// TestResetPasswordAtomic: when sessions cannot be ended (or the audit
// event written), the reset is not committed: the old password still
// works, the link too, and no tokens were revoked.
func TestResetPasswordAtomic(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		u := e.createUser("ada@example.com")
		if err := e.svc.RequestPasswordReset(e.ctx, "ada@example.com", meta); err != nil {
			t.Fatal(err)
		}
		token := e.lastToken("ada@example.com")
		before := e.events(u.ID)
		fail := []struct {
			name  string
			set   func()
			unset func()
		}{
			{"sessions", func() { e.sessions.setFail(errInjected) }, func() { e.sessions.setFail(nil) }},
			{"audit", func() { e.store.auditFail = errInjected }, func() { e.store.auditFail = nil }},
		}
		for _, f := range fail {
			f.set()
			_, err := e.svc.ResetPassword(e.ctx, token, newPassword, meta)
			f.unset()
			wantErrIs(t, "ResetPassword with "+f.name+" failing", err, errInjected)
			if _, err := e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta); err != nil {
				t.Errorf("%s failing: the old password no longer works: %v", f.name, err)
			}
			if revs, _ := e.store.ListRevocations(e.ctx, time.Time{}, e.clock.Now()); len(revs) != 0 {
				t.Errorf("%s failing: revocations %+v were committed", f.name, revs)
			}
		}
		if got := e.events(u.ID); len(got) != len(before)+2 || slices.Contains(got, storage.AuditPasswordReset) {
			t.Errorf("audit events after failed resets: %q, want %q plus two sign-ins", got, before)
		}
		if _, err := e.svc.ResetPassword(e.ctx, token, newPassword, meta); err != nil {
			t.Errorf("ResetPassword once all works: %v, want the link still usable", err)
		}
	})
}

func TestChangePassword(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		u := e.createUser("ada@example.com")
		if err := e.svc.RequestPasswordReset(e.ctx, "ada@example.com", meta); err != nil {
			t.Fatal(err)
		}
		resetLink := e.lastToken("ada@example.com")

		var pe *account.PolicyError
		if err := e.svc.ChangePassword(e.ctx, u.ID, goodPassword, "short", meta); !errors.As(err, &pe) {
			t.Errorf("ChangePassword(short) = %v, want *PolicyError", err)
		}
		wantErrIs(t, "ChangePassword with a wrong current password",
			e.svc.ChangePassword(e.ctx, u.ID, "wrong horse battery staple", newPassword, meta), account.ErrInvalidCredentials)
		wantErrIs(t, "ChangePassword of nobody", e.svc.ChangePassword(e.ctx, "nobody", goodPassword, newPassword, meta), account.ErrNotFound)
		if len(e.sessions.ended()) != 0 {
			t.Errorf("sessions ended by refused changes: %q", e.sessions.ended())
		}

		// A failure to end the other sessions commits nothing.
		e.sessions.setFail(errInjected)
		wantErrIs(t, "ChangePassword with sessions failing", e.svc.ChangePassword(e.ctx, u.ID, goodPassword, newPassword, meta), errInjected)
		e.sessions.setFail(nil)
		if _, err := e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta); err != nil {
			t.Fatalf("old password after a failed change: %v", err)
		}

		if err := e.svc.ChangePassword(e.ctx, u.ID, goodPassword, newPassword, meta); err != nil {
			t.Fatalf("ChangePassword: %v", err)
		}
		if got := e.sessions.ended(); !slices.Equal(got, []string{u.ID + " except=" + meta.SID}) {
			t.Errorf("sessions ended: %q, want all of %s but %s", got, u.ID, meta.SID)
		}
		if _, err := e.svc.Authenticate(e.ctx, "ada@example.com", newPassword, meta); err != nil {
			t.Errorf("sign-in with the new password: %v", err)
		}
		_, err := e.svc.ResetPassword(e.ctx, resetLink, "yet another passphrase", meta)
		wantErrIs(t, "reset link mailed before the change", err, account.ErrInvalidToken)
		evs := e.events(u.ID)
		if n := slicesCount(evs, storage.AuditPasswordChanged); n != 1 {
			t.Errorf("audit events %q: want exactly one password.changed", evs)
		}
	})
}

// TestChangePasswordLocks: guessing the current password through the
// change form is locked out like sign-in.
func TestChangePasswordLocks(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		u := e.createUser("ada@example.com")
		for range 5 {
			wantErrIs(t, "wrong current password", e.svc.ChangePassword(e.ctx, u.ID, "a wrong current pass", newPassword, meta), account.ErrInvalidCredentials)
		}
		wantErrIs(t, "right current password while locked", e.svc.ChangePassword(e.ctx, u.ID, goodPassword, newPassword, meta), account.ErrLocked)
		_, err := e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta)
		wantErrIs(t, "sign-in while locked", err, account.ErrLocked)
	})
}
