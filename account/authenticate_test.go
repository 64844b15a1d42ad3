package account_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
)

func TestAuthenticate(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		u := e.createUser("ada@example.com")
		tests := []struct {
			name, email, pw string
			want            error
			reason          string
		}{
			{"right", "ADA@example.com ", goodPassword, nil, ""},
			{"wrong password", "ada@example.com", "wrong horse battery staple", account.ErrInvalidCredentials, "bad_password"},
			{"unknown address", "nobody@example.com", goodPassword, account.ErrInvalidCredentials, "unknown_user"},
			{"not an address", "nobody", goodPassword, account.ErrInvalidCredentials, "unknown_user"},
			{"empty password", "ada@example.com", "", account.ErrInvalidCredentials, "bad_password"},
			{"huge password", "ada@example.com", strings.Repeat("x", 10000), account.ErrInvalidCredentials, "bad_password"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.svc.Authenticate(e.ctx, tc.email, tc.pw, meta)
				if tc.want == nil {
					if err != nil || got.ID != u.ID {
						t.Fatalf("Authenticate = %+v, %v; want user %s", got, err, u.ID)
					}
				} else if !errors.Is(err, tc.want) || got != nil {
					t.Fatalf("Authenticate = %+v, %v; want %v", got, err, tc.want)
				}
				ev := e.lastEvent("")
				wantType := storage.AuditLoginSucceeded
				if tc.want != nil {
					wantType = storage.AuditLoginFailed
				}
				if ev.Type != wantType || (tc.reason != "" && ev.Details["reason"] != tc.reason) {
					t.Errorf("last audit event %s %v, want %s reason %q", ev.Type, ev.Details, wantType, tc.reason)
				}
				if ev.IP != meta.IP || ev.RequestID != meta.RequestID {
					t.Errorf("audit event lacks the request meta: %+v", ev)
				}
			})
			// A success clears the failures, so the cases do not lock.
			if _, err := e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestAuthenticateRefusesAfterThePassword(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		if err := e.svc.Register(e.ctx, "new@example.com", goodPassword, "", meta); err != nil {
			t.Fatal(err)
		}
		disabled := e.createUser("gone@example.com")
		if err := e.svc.DisableUser(e.ctx, disabled.ID, "admin", meta); err != nil {
			t.Fatal(err)
		}
		checks := []struct {
			email, pw string
			want      error
		}{
			{"new@example.com", goodPassword, account.ErrUnverified},
			{"new@example.com", "wrong horse battery staple", account.ErrInvalidCredentials},
			{"gone@example.com", goodPassword, account.ErrDisabled},
			{"gone@example.com", "wrong horse battery staple", account.ErrInvalidCredentials},
		}
		for _, c := range checks {
			_, err := e.svc.Authenticate(e.ctx, c.email, c.pw, meta)
			wantErrIs(t, fmt.Sprintf("Authenticate(%s, %q)", c.email, c.pw), err, c.want)
		}
		// With unverified sign-in allowed, the new account gets in.
		e2 := e.cfg
		e2.AllowUnverifiedLogin = true
		e.cfg = e2
		svc := e.newService(e.hasher)
		if u, err := svc.Authenticate(e.ctx, "new@example.com", goodPassword, meta); err != nil || u.EmailVerified {
			t.Errorf("Authenticate unverified with AllowUnverifiedLogin = %+v, %v; want the unverified user", u, err)
		}
	})
}

// TestLockout walks the progressive delays of one account with the
// injected clock (the per-address lock is off here; see
// TestLockoutPerAddress).
func TestLockout(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, func(c *account.Config) { c.Lockout.IPThreshold = 0 })
		e.createUser("ada@example.com")
		wrong := "wrong horse battery staple"
		attempt := func(pw string) error {
			_, err := e.svc.Authenticate(e.ctx, "ada@example.com", pw, meta)
			return err
		}
		for i := 1; i <= 5; i++ {
			wantErrIs(t, fmt.Sprintf("wrong password #%d", i), attempt(wrong), account.ErrInvalidCredentials)
		}
		// The fifth failure locked the account: one user.locked event.
		countLocked := func() int {
			es, err := e.store.ListAuditEvents(e.ctx, storage.AuditFilter{Type: storage.AuditUserLocked})
			if err != nil {
				t.Fatal(err)
			}
			return len(es)
		}
		if ev := e.lastEvent(""); ev.Type != storage.AuditUserLocked || ev.Details["failures"] != float64(5) || ev.SubjectID == "" {
			t.Errorf("after the fifth failure: %s %v, want user.locked", ev.Type, ev.Details)
		}
		wantLocked := func(what string, err error, want time.Duration) {
			t.Helper()
			var le *account.LockedError
			if !errors.As(err, &le) || !errors.Is(err, account.ErrLocked) || le.RetryAfter != want {
				t.Errorf("%s: %v, want *LockedError{RetryAfter: %v}", what, err, want)
			}
		}
		// Locked for 1s: even the right password is refused, unchecked.
		wantLocked("right password while locked", attempt(goodPassword), time.Second)
		ev := e.lastEvent("")
		if ev.Type != storage.AuditLoginFailed || ev.Details["reason"] != "locked" {
			t.Errorf("audit event of a refused attempt: %s %v, want login.failed reason locked", ev.Type, ev.Details)
		}
		e.clock.Advance(400 * time.Millisecond)
		wantLocked("600ms before the end (rounded up)", attempt(wrong), time.Second)
		e.clock.Advance(600 * time.Millisecond)
		wantErrIs(t, "wrong password #6 after the lock", attempt(wrong), account.ErrInvalidCredentials)
		wantLocked("after #6", attempt(wrong), 2*time.Second)
		e.clock.Advance(2 * time.Second)
		wantErrIs(t, "wrong password #7", attempt(wrong), account.ErrInvalidCredentials)
		wantLocked("after #7", attempt(wrong), 4*time.Second)
		e.clock.Advance(4 * time.Second)
		if n := countLocked(); n != 1 {
			t.Errorf("%d user.locked events; a lock lengthened is not a new one", n)
		}
		// The right password after the lock gets in and clears it all.
		if err := attempt(goodPassword); err != nil {
			t.Fatalf("right password after the lock: %v", err)
		}
		for i := 1; i <= 4; i++ {
			wantErrIs(t, fmt.Sprintf("wrong password #%d after a success", i), attempt(wrong), account.ErrInvalidCredentials)
		}
		if err := attempt(goodPassword); err != nil {
			t.Errorf("right password after 4 failures: %v (a success must reset the count)", err)
		}
		// The delay is capped at 15 minutes.
		for i := 1; i <= 30; i++ {
			err := attempt(wrong)
			var le *account.LockedError
			if errors.As(err, &le) {
				e.clock.Advance(le.RetryAfter)
				if le.RetryAfter > 15*time.Minute {
					t.Fatalf("lock of %v, want at most 15m", le.RetryAfter)
				}
			}
		}
		e.clock.Advance(15 * time.Minute)
		wantErrIs(t, "wrong password after many", attempt(wrong), account.ErrInvalidCredentials)
		wantLocked("after many failures", attempt(goodPassword), 15*time.Minute)
		// After the window without failures, the count starts over.
		e.clock.Advance(15*time.Minute + 24*time.Hour)
		for i := 1; i <= 4; i++ {
			wantErrIs(t, fmt.Sprintf("wrong password #%d a day later", i), attempt(wrong), account.ErrInvalidCredentials)
		}
		if err := attempt(goodPassword); err != nil {
			t.Errorf("right password a day later after 4 failures: %v", err)
		}
	})
}

// TestLockoutUnknownAddress: an address without an account locks the same
// way, so locking does not reveal which addresses have one.
func TestLockoutUnknownAddress(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		for i := 1; i <= 5; i++ {
			_, err := e.svc.Authenticate(e.ctx, "nobody@example.com", "whatever it is", meta)
			wantErrIs(t, fmt.Sprintf("attempt #%d", i), err, account.ErrInvalidCredentials)
		}
		_, err := e.svc.Authenticate(e.ctx, "NOBODY@example.com", "whatever it is", meta)
		var le *account.LockedError
		if !errors.As(err, &le) || le.RetryAfter != time.Second {
			t.Errorf("sixth attempt on an unknown address: %v, want locked for 1s", err)
		}
	})
}

func TestLockoutPerAddress(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, func(c *account.Config) { c.Lockout.IPThreshold = 3 })
		e.createUser("ada@example.com")
		attacker := meta
		attacker.IP = "198.51.100.66"
		for i, victim := range []string{"v1@example.com", "v2@example.com", "ada@example.com"} {
			_, err := e.svc.Authenticate(e.ctx, victim, "spray password 1", attacker)
			wantErrIs(t, fmt.Sprintf("spray #%d", i+1), err, account.ErrInvalidCredentials)
		}
		_, err := e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, attacker)
		var le *account.LockedError
		if !errors.As(err, &le) || le.RetryAfter != time.Second {
			t.Errorf("from the spraying address: %v, want locked for 1s", err)
		}
		if ev := e.lastEvent(""); ev.Details["reason"] != "ip_locked" {
			t.Errorf("audit reason %v, want ip_locked", ev.Details["reason"])
		}
		// Others are not affected, nor is the account itself.
		if _, err := e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta); err != nil {
			t.Errorf("from another address: %v", err)
		}
		// Off when the threshold is 0.
		e.cfg.Lockout.IPThreshold = 0
		svc := e.newService(e.hasher)
		if _, err := svc.Authenticate(e.ctx, "ada@example.com", goodPassword, attacker); err != nil {
			t.Errorf("with ip_threshold 0: %v", err)
		}
	})
}

// TestLockoutConcurrentGuesses: guesses sent at once when a lock ends get
// one password check between them; the rest are refused.
func TestLockoutConcurrentGuesses(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.createUser("ada@example.com")
		for range 4 {
			_, _ = e.svc.Authenticate(e.ctx, "ada@example.com", "wrong horse battery staple", meta)
		}
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = e.svc.Authenticate(e.ctx, "ada@example.com", fmt.Sprintf("guess number %d!", i), meta)
			})
		}
		wg.Wait()
		checked := 0
		for _, err := range errs {
			switch {
			case errors.Is(err, account.ErrInvalidCredentials):
				checked++
			case !errors.Is(err, account.ErrLocked):
				t.Errorf("concurrent guess: %v, want invalid credentials or locked", err)
			}
		}
		if checked != 1 {
			t.Errorf("%d of %d concurrent guesses at the threshold were checked, want exactly 1", checked, n)
		}
	})
}

// TestRehash: a hash made with other parameters is replaced at sign-in.
func TestRehash(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		u := e.createUser("ada@example.com")
		old := e.user(u.ID).PasswordHash
		stronger := cheapPasswords()
		stronger.Memory = 128
		svc := e.newService(mustHasher(t, stronger))
		if _, err := svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta); err != nil {
			t.Fatal(err)
		}
		now := e.user(u.ID).PasswordHash
		if p, err := password.ParseParams(now); err != nil || p.Memory != 128 || now == old {
			t.Errorf("hash after sign-in with new parameters = %q (%+v, %v), want m=128", now, p, err)
		}
		if ev := e.lastEvent(u.ID); ev.Type != storage.AuditLoginSucceeded || ev.Details["rehashed"] != true {
			t.Errorf("audit event %s %v, want login.succeeded with rehashed", ev.Type, ev.Details)
		}
		if _, err := svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta); err != nil {
			t.Fatal(err)
		}
		if again := e.user(u.ID).PasswordHash; again != now {
			t.Error("the hash changed again on the next sign-in")
		}
		// The old service still verifies the new hash (parameters travel
		// with it), and a wrong password never rehashes.
		if _, err := e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta); err != nil {
			t.Errorf("sign-in with the old parameters: %v", err)
		}
		_, _ = e.svc.Authenticate(e.ctx, "ada@example.com", "wrong horse battery staple", meta)
	})
}

// TestUnknownAddressTakesAsLong: an attempt on an unknown address does
// the work of a wrong password on a known one: one Argon2id computation,
// under the parameters the known account's hash has (the configured ones).
// Counted, not timed: BenchmarkAuthenticateUnknownVsKnown has the times.
func TestUnknownAddressTakesAsLong(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.cfg.Lockout.AccountThreshold = 1000 // count hashing, not locks
		cfg := password.DefaultConfig()
		hasher := mustHasher(t, cfg)
		svc := e.newService(hasher)
		if err := svc.Register(e.ctx, "bob@example.com", goodPassword, "", meta); err != nil {
			t.Fatal(err)
		}
		u, err := e.store.GetUserByEmail(e.ctx, "bob@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if p, err := password.ParseParams(u.PasswordHash); err != nil || p != cfg.Params() {
			t.Fatalf("known account's hash parameters %+v (%v), want the configured %+v", p, err, cfg.Params())
		}
		computations := func(email string) uint64 {
			before := hasher.Stats().Computed
			for i := range 4 {
				if _, err := svc.Authenticate(e.ctx, email, fmt.Sprintf("wrong password %d", i), account.Meta{}); err == nil {
					t.Fatalf("%s signed in with a wrong password", email)
				}
			}
			return hasher.Stats().Computed - before
		}
		known, unknown := computations("bob@example.com"), computations("nobody@example.com")
		if known != 4 || unknown != 4 {
			t.Errorf("4 attempts computed %d hashes on a known address and %d on an unknown one, want 4 and 4", known, unknown)
		}
	})
}

// BenchmarkAuthenticateUnknownVsKnown: a wrong password on a known
// address and any password on an unknown one, with the default (real)
// parameters, on SQLite: the two should take about as long.
func BenchmarkAuthenticateUnknownVsKnown(b *testing.B) {
	e := newEnv(b, testdb.SQLite(b))
	e.cfg.Lockout.AccountThreshold = 1000 // measure hashing, not locks
	svc := e.newService(mustHasher(b, password.DefaultConfig()))
	if err := svc.Register(e.ctx, "bob@example.com", goodPassword, "", meta); err != nil {
		b.Fatal(err)
	}
	for _, email := range []string{"bob@example.com", "nobody@example.com"} {
		name := "known"
		if email != "bob@example.com" {
			name = "unknown"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				_, _ = svc.Authenticate(e.ctx, email, "wrong password", account.Meta{})
			}
		})
	}
}

// TestAuthenticateAuditFailureFailsClosed: no sign-in without its audit
// event.
func TestAuthenticateAuditFailureFailsClosed(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.createUser("ada@example.com")
		e.store.auditFail = errInjected
		u, err := e.svc.Authenticate(e.ctx, "ada@example.com", goodPassword, meta)
		if u != nil || !errors.Is(err, errInjected) {
			t.Errorf("Authenticate with the audit log down = %+v, %v; want the error", u, err)
		}
	})
}
