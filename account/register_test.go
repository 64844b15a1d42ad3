package account_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/storage"
)

func TestRegister(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		if err := e.svc.Register(e.ctx, "  Ada@Example.COM ", goodPassword, "Ada Lovelace", meta); err != nil {
			t.Fatalf("Register: %v", err)
		}
		u, err := e.store.GetUserByEmail(e.ctx, "ada@example.com")
		if err != nil {
			t.Fatalf("GetUserByEmail after Register: %v", err)
		}
		if u.EmailVerified || u.Name != "Ada Lovelace" || u.Email != "ada@example.com" || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
			t.Errorf("registered user = %+v, want unverified, named, normalised, with an Argon2id hash", u)
		}
		msgs := e.mailer.sent()
		if len(msgs) != 1 || msgs[0].To != "ada@example.com" || msgs[0].Subject != "Verify your email address" {
			t.Fatalf("mails after Register = %+v, want one verification mail to ada@example.com", msgs)
		}
		l, token := link(t, msgs[0])
		if !strings.HasPrefix(l, issuer+"/verify-email?token=") || len(token) != 43 {
			t.Errorf("verification link %q, want %s/verify-email?token=<43 chars>", l, issuer)
		}
		if !strings.Contains(msgs[0].HTML, `href="`+l+`"`) || !strings.Contains(msgs[0].Text, "24 hours") {
			t.Errorf("verification mail HTML lacks the link, or text the validity:\n%s\n%s", msgs[0].HTML, msgs[0].Text)
		}
		// Only the token's MAC is stored.
		var stored string
		if err := e.store.Gorm().Raw("SELECT token_hash FROM account_tokens").Row().Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, token) || len(stored) != 64 {
			t.Errorf("account_tokens.token_hash = %q, want a hex MAC, not the token %q", stored, token)
		}
		wantEvents(t, "after Register", e.events(u.ID), storage.AuditUserRegistered)
		ev := e.lastEvent(u.ID)
		if ev.IP != meta.IP || ev.UserAgent != meta.UserAgent || ev.RequestID != meta.RequestID || ev.ClientID != meta.ClientID || ev.ActorID != u.ID {
			t.Errorf("user.registered event %+v does not carry the request's meta %+v", ev, meta)
		}

		// Registering the address again creates nothing, answers nil, and
		// tells the owner.
		if err := e.svc.Register(e.ctx, "ADA@example.com", "another good passphrase", "Mallory", meta); err != nil {
			t.Fatalf("Register of a taken address: %v, want nil", err)
		}
		if n := e.countUsers(); n != 1 {
			t.Errorf("users after registering a taken address: %d, want 1", n)
		}
		if got := e.user(u.ID); got.PasswordHash != u.PasswordHash || got.Name != "Ada Lovelace" {
			t.Errorf("registering a taken address changed the account: %+v", got)
		}
		msgs = e.mailer.sent()
		if len(msgs) != 2 || msgs[1].To != "ada@example.com" || !strings.Contains(msgs[1].Subject, "tried to register") || strings.Contains(msgs[1].Text, "token=") {
			t.Errorf("second mail = %+v, want a link-less 'someone tried to register' mail to ada@example.com", msgs[len(msgs)-1])
		}
		wantEvents(t, "after the second Register", e.events(u.ID), storage.AuditUserRegistered)
		if n := e.countRows("account_tokens"); n != 1 {
			t.Errorf("account tokens after registering a taken address: %d, want 1", n)
		}
		// ... even when that mail cannot be queued.
		e.mailer.setFail(errInjected)
		if err := e.svc.Register(e.ctx, "ada@example.com", goodPassword, "", meta); err != nil {
			t.Errorf("Register of a taken address with the mailer down: %v, want nil (no hint)", err)
		}
	})
}

func TestRegisterRefuses(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		tests := []struct {
			name, email, pw, userName string
			check                     func(t *testing.T, err error)
		}{
			{"short password", "ada@example.com", "short", "", func(t *testing.T, err error) {
				var pe *account.PolicyError
				if !errors.As(err, &pe) || pe.Violations[0].Code != password.TooShort || !strings.Contains(err.Error(), "at least 12 characters") {
					t.Errorf("error %v, want a *PolicyError saying too short", err)
				}
			}},
			{"common password", "ada@example.com", "Password1234", "", func(t *testing.T, err error) {
				var pe *account.PolicyError
				if !errors.As(err, &pe) || len(pe.Messages()) != 1 || pe.Violations[0].Code != password.Common {
					t.Errorf("error %v, want a *PolicyError saying common", err)
				}
			}},
			{"password with the address", "ada.lovelace@example.com", "i am ada.lovelace!", "", func(t *testing.T, err error) {
				var pe *account.PolicyError
				if !errors.As(err, &pe) || pe.Violations[0].Code != password.ContainsEmail {
					t.Errorf("error %v, want a *PolicyError saying it contains the address", err)
				}
			}},
			{"invalid email", "ada@", goodPassword, "", func(t *testing.T, err error) {
				var ie *account.InputError
				if !errors.As(err, &ie) || ie.Field != "email" || !errors.Is(err, storage.ErrInvalidEmail) {
					t.Errorf("error %v, want an *InputError on email matching storage.ErrInvalidEmail", err)
				}
			}},
			{"control character in name", "ada@example.com", goodPassword, "Ada\x07", func(t *testing.T, err error) {
				var ie *account.InputError
				if !errors.As(err, &ie) || ie.Field != "name" {
					t.Errorf("error %v, want an *InputError on name", err)
				}
			}},
			{"bidi override in name", "ada@example.com", goodPassword, "Ada\u202egnp.exe", func(t *testing.T, err error) {
				var ie *account.InputError
				if !errors.As(err, &ie) || ie.Field != "name" {
					t.Errorf("error %v, want an *InputError on name", err)
				}
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := e.svc.Register(e.ctx, tc.email, tc.pw, tc.userName, meta)
				tc.check(t, err)
			})
		}
		if n, m, a := e.countUsers(), len(e.mailer.sent()), e.countRows("audit_events"); n != 0 || m != 0 || a != 0 {
			t.Errorf("after refused registrations: %d users, %d mails, %d audit events; want none", n, m, a)
		}
	})
}

// TestRegisterAtomic: when the mail cannot be queued or the audit event not
// written, the registration leaves nothing behind.
func TestRegisterAtomic(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		// The request answers nil (it only queues); the job fails, and
		// would be tried again.
		e.mailer.setFail(errInjected)
		if err := e.svc.Register(e.ctx, "ada@example.com", goodPassword, "", meta); err != nil {
			t.Fatalf("Register with the mailer down: %v, want nil", err)
		}
		wantErrIs(t, "the registration job with the mailer down", e.requests.lastFailure(), errInjected)
		e.mailer.setFail(nil)
		e.store.auditFail = errInjected
		if err := e.svc.Register(e.ctx, "ada@example.com", goodPassword, "", meta); err != nil {
			t.Fatalf("Register with the audit log down: %v, want nil", err)
		}
		wantErrIs(t, "the registration job with the audit log down", e.requests.lastFailure(), errInjected)
		e.store.auditFail = nil
		if n, tok, a := e.countUsers(), e.countRows("account_tokens"), e.countRows("audit_events"); n != 0 || tok != 0 || a != 0 {
			t.Errorf("after failed registrations: %d users, %d tokens, %d audit events; want none", n, tok, a)
		}
		// And it works once both are back.
		if err := e.svc.Register(e.ctx, "ada@example.com", goodPassword, "", meta); err != nil {
			t.Fatalf("Register: %v", err)
		}
	})
}

func TestVerifyEmail(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		if err := e.svc.Register(e.ctx, "ada@example.com", goodPassword, "", meta); err != nil {
			t.Fatal(err)
		}
		first := e.lastToken("ada@example.com")
		// Signing in before verifying is refused (after the password).
		_, err := e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta)
		wantErrIs(t, "Authenticate before verification", err, account.ErrUnverified)

		// A new link can be asked for; unknown addresses get nothing.
		for _, addr := range []string{"nobody@example.com", "not an address", "ada@example.com"} {
			if err := e.svc.ResendVerification(e.ctx, addr, meta); err != nil {
				t.Errorf("ResendVerification(%q): %v", addr, err)
			}
		}
		if n := len(e.mailer.sent()); n != 2 {
			t.Errorf("mails after resends = %d, want 2 (registration + one resend)", n)
		}
		second := e.lastToken("ada@example.com")
		if second == first {
			t.Fatal("resent link carries the same token")
		}

		for _, bad := range []string{"", "garbage", first + "x", strings.Repeat("A", 300)} {
			_, err := e.svc.VerifyEmail(e.ctx, bad, meta)
			wantErrIs(t, "VerifyEmail("+bad+")", err, account.ErrInvalidToken)
		}
		u, err := e.svc.VerifyEmail(e.ctx, second, meta)
		if err != nil || !u.EmailVerified {
			t.Fatalf("VerifyEmail = %+v, %v; want the verified user", u, err)
		}
		_, err = e.svc.VerifyEmail(e.ctx, second, meta)
		wantErrIs(t, "VerifyEmail reused", err, account.ErrInvalidToken)
		_, err = e.svc.VerifyEmail(e.ctx, first, meta)
		wantErrIs(t, "VerifyEmail with the older link after verifying", err, account.ErrInvalidToken)
		if !e.user(u.ID).EmailVerified {
			t.Error("the stored account is not verified")
		}
		wantEvents(t, "after verification", e.events(u.ID),
			storage.AuditUserRegistered, storage.AuditLoginFailed, storage.AuditVerificationSent, storage.AuditEmailVerified)
		if _, err := e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta); err != nil {
			t.Errorf("Authenticate after verification: %v", err)
		}
		// Verified: no more links.
		if err := e.svc.ResendVerification(e.ctx, "ada@example.com", meta); err != nil || len(e.mailer.sent()) != 2 {
			t.Errorf("ResendVerification of a verified address: %v, %d mails; want nil and no mail", err, len(e.mailer.sent()))
		}
	})
}

func TestVerifyEmailExpiresAndIsPurposeBound(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		if err := e.svc.Register(e.ctx, "ada@example.com", goodPassword, "", meta); err != nil {
			t.Fatal(err)
		}
		verify := e.lastToken("ada@example.com")
		if err := e.svc.RequestPasswordReset(e.ctx, "ada@example.com", meta); err != nil {
			t.Fatal(err)
		}
		reset := e.lastToken("ada@example.com")
		_, err := e.svc.VerifyEmail(e.ctx, reset, meta)
		wantErrIs(t, "VerifyEmail with a reset token", err, account.ErrInvalidToken)
		_, err = e.svc.ResetPassword(e.ctx, verify, "a brand new passphrase", meta)
		wantErrIs(t, "ResetPassword with a verification token", err, account.ErrInvalidToken)

		e.clock.Advance(24 * time.Hour)
		_, err = e.svc.VerifyEmail(e.ctx, verify, meta)
		wantErrIs(t, "VerifyEmail after 24h", err, account.ErrInvalidToken)
	})
}
