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

func TestCreateUser(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		u, err := e.svc.CreateUser(e.ctx, account.NewUser{Email: "Ada@Example.com", Password: goodPassword, Verified: true,
			Name: "Ada", Organization: "Engines", Department: "R&D", EmployeeID: "E-1", Phone: "+1 555 123 4567"}, "cli", meta)
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		got := e.user(u.ID)
		if got.Email != "ada@example.com" || !got.EmailVerified || got.Organization != "Engines" || got.Department != "R&D" ||
			got.EmployeeID != "E-1" || got.Phone != "+15551234567" || got.PasswordChangedAt.IsZero() {
			t.Errorf("created user = %+v", got)
		}
		if ev := e.lastEvent(u.ID); ev.Type != storage.AuditUserCreated || ev.ActorID != "cli" || ev.Details["email_verified"] != true {
			t.Errorf("audit event %+v, want user.created by cli", ev)
		}
		if len(e.mailer.sent()) != 0 {
			t.Errorf("CreateUser mailed %+v, want nothing", e.mailer.sent())
		}
		if _, err := e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta); err != nil {
			t.Errorf("sign-in as the created user: %v", err)
		}
		_, err = e.svc.CreateUser(e.ctx, account.NewUser{Email: "ADA@example.com", Password: goodPassword}, "cli", meta)
		wantErrIs(t, "CreateUser of a taken address", err, account.ErrEmailTaken)
		_, err = e.svc.CreateUser(e.ctx, account.NewUser{Email: "bob@example.com", Password: "password"}, "cli", meta)
		var pe *account.PolicyError
		if !errors.As(err, &pe) || len(pe.Violations) != 2 {
			t.Errorf("CreateUser with a weak password = %v, want *PolicyError (too short, common)", err)
		}
		_, err = e.svc.CreateUser(e.ctx, account.NewUser{Email: "bob", Password: goodPassword}, "cli", meta)
		var ie *account.InputError
		if !errors.As(err, &ie) || ie.Field != "email" {
			t.Errorf("CreateUser with a bad address = %v, want *InputError on email", err)
		}
		if n := e.countUsers(); n != 1 {
			t.Errorf("%d users, want 1", n)
		}
	})
}

func TestDisableEnableDelete(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		u := e.createUser("ada@example.com")
		if err := e.svc.RequestPasswordReset(e.ctx, "ada@example.com", meta); err != nil {
			t.Fatal(err)
		}
		reset := e.lastToken("ada@example.com")

		// Failing to end the sessions leaves the account enabled.
		e.sessions.setFail(errInjected)
		wantErrIs(t, "DisableUser with sessions failing", e.svc.DisableUser(e.ctx, u.ID, "cli", meta), errInjected)
		e.sessions.setFail(nil)
		if e.user(u.ID).Disabled {
			t.Fatal("account disabled although ending its sessions failed")
		}

		if err := e.svc.DisableUser(e.ctx, u.ID, "cli", meta); err != nil {
			t.Fatalf("DisableUser: %v", err)
		}
		if !e.user(u.ID).Disabled {
			t.Error("account not disabled")
		}
		if got := e.sessions.ended(); !slices.Equal(got, []string{u.ID + " except="}) {
			t.Errorf("sessions ended: %q, want all of %s", got, u.ID)
		}
		if revs, _ := e.store.ListRevocations(e.ctx, time.Time{}, e.clock.Now()); len(revs) != 1 || revs[0].Value != u.ID {
			t.Errorf("revocations: %+v, want the subject", revs)
		}
		_, err := e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta)
		wantErrIs(t, "sign-in when disabled", err, account.ErrDisabled)
		_, err = e.svc.ResetPassword(e.ctx, reset, newPassword, meta)
		wantErrIs(t, "reset link of a disabled account", err, account.ErrInvalidToken)
		if err := e.svc.DisableUser(e.ctx, u.ID, "cli", meta); err != nil {
			t.Errorf("DisableUser again: %v", err)
		}
		if err := e.svc.EnableUser(e.ctx, u.ID, "cli", meta); err != nil {
			t.Fatalf("EnableUser: %v", err)
		}
		if _, err := e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta); err != nil {
			t.Errorf("sign-in after EnableUser: %v", err)
		}
		wantEvents(t, "after disable and enable", e.events(u.ID), storage.AuditUserCreated, storage.AuditPasswordResetReq,
			storage.AuditUserDisabled, storage.AuditLoginFailed, storage.AuditUserEnabled, storage.AuditLoginSucceeded)
		if ev := e.lastEvent(""); ev.ActorID != u.ID {
			t.Errorf("actor of the sign-in = %q, want the user", ev.ActorID)
		}

		if err := e.svc.DeleteUser(e.ctx, u.ID, "cli", meta); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		if _, err := e.store.GetUser(e.ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetUser after DeleteUser: %v", err)
		}
		if evs := e.events(u.ID); evs[len(evs)-1] != storage.AuditUserDeleted {
			t.Errorf("audit events after delete: %q, want them kept and user.deleted last", evs)
		}
		if err := e.store.VerifyAuditChain(e.ctx); err != nil {
			t.Errorf("VerifyAuditChain: %v", err)
		}
		for name, err := range map[string]error{
			"DeleteUser again": e.svc.DeleteUser(e.ctx, u.ID, "cli", meta),
			"DisableUser":      e.svc.DisableUser(e.ctx, u.ID, "cli", meta),
			"EnableUser":       e.svc.EnableUser(e.ctx, u.ID, "cli", meta),
		} {
			wantErrIs(t, name+" of a deleted user", err, account.ErrNotFound)
		}
		// The address can be registered anew.
		if err := e.svc.Register(e.ctx, "ada@example.com", goodPassword, "", meta); err != nil || e.countUsers() != 1 {
			t.Errorf("Register after delete: %v, %d users", err, e.countUsers())
		}
	})
}

func TestNewChecksDeps(t *testing.T) {
	_, err := account.New(account.DefaultConfig(), account.Deps{Issuer: "not a url"})
	for _, want := range []string{"Deps.Store", "Deps.Attempts", "Deps.Hasher", "Deps.MAC", "Deps.Mailer", "Deps.Sessions", "Deps.Issuer"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New with no deps = %v, want it to name %s", err, want)
		}
	}
	bad := account.DefaultConfig()
	bad.ResetPasswordTTL = 0
	if _, err := account.New(bad, account.Deps{}); err == nil || !strings.Contains(err.Error(), "accounts.reset_password_ttl") {
		t.Errorf("New with a bad config = %v, want the config error", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := account.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	tests := []struct {
		mutate func(c *account.Config)
		want   string
	}{
		{func(c *account.Config) { c.VerifyEmailTTL = 0 }, "accounts.verify_email_ttl"},
		{func(c *account.Config) { c.ResetPasswordTTL = 48 * time.Hour }, "accounts.reset_password_ttl"},
		{func(c *account.Config) { c.Lockout.AccountThreshold = 0 }, "accounts.lockout.account_threshold"},
		{func(c *account.Config) { c.Lockout.IPThreshold = -1 }, "accounts.lockout.ip_threshold"},
		{func(c *account.Config) { c.Lockout.BaseDelay = 0 }, "accounts.lockout.base_delay"},
		{func(c *account.Config) { c.Lockout.MaxDelay = 500 * time.Millisecond }, "accounts.lockout.max_delay"},
		{func(c *account.Config) { c.Lockout.Window = time.Second }, "accounts.lockout.window"},
	}
	for _, tc := range tests {
		c := account.DefaultConfig()
		tc.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", c, err, tc.want)
		}
	}
}
