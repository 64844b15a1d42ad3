package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// AccountStore is what the "Accounts" group of RunTests needs from a full
// store besides Store: users, account tokens, attempts and the audit log.
type AccountStore interface {
	Store
	storage.Users
	storage.AccountTokens
	storage.Attempts
	storage.Audit
}

// AttemptsFactory returns a fresh, empty attempt store. It registers
// whatever cleanup the store needs with t.
type AttemptsFactory func(t *testing.T) storage.Attempts

// RunAttemptTests runs the storage.Attempts contract on a backend that
// holds attempts only (Redis); full stores run the same tests in the
// "Accounts" group of RunTests. Times are around T0, years ahead of the
// wall clock, so stores that expire records by the wall clock keep them.
func RunAttemptTests(t *testing.T, newStore AttemptsFactory) {
	for _, tc := range attemptCases {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

type attemptCase struct {
	name string
	fn   func(t *testing.T, s storage.Attempts)
}

// accountTests adapt the account cases to RunTests's stores.
var accountTests = func() []namedTest {
	var out []namedTest
	for _, tc := range accountCases {
		out = append(out, namedTest{tc.name, func(t *testing.T, e *env) { tc.fn(t, accountEnv(t, e)) }})
	}
	for _, tc := range attemptCases {
		out = append(out, namedTest{"Attempts/" + tc.name, func(t *testing.T, e *env) { tc.fn(t, accountEnv(t, e).s) }})
	}
	return out
}()

type accEnv struct {
	*env
	s AccountStore
}

func accountEnv(t *testing.T, e *env) *accEnv {
	t.Helper()
	s, ok := e.s.(AccountStore)
	if !ok {
		t.Fatalf("%T does not implement storage.Users, storage.AccountTokens, storage.Attempts and storage.Audit", e.s)
	}
	return &accEnv{env: e, s: s}
}

type accountCase struct {
	name string
	fn   func(t *testing.T, e *accEnv)
}

// newUser returns a user with every field a backend stores in the clear.
func newUser(email string) *storage.User {
	return &storage.User{ // #nosec G101 -- a fixed hash for the conformance suite
		Email: email, EmailVerified: true, Name: "Ada Lovelace", Picture: "https://example.com/ada.png", Locale: "en-GB",
		Organization: "Analytical Engines", Department: "Research", EmployeeID: "E-1815",
		PasswordHash:      "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		PasswordChangedAt: T0.Add(-time.Hour),
	}
}

func mustCreateUser(t *testing.T, e *accEnv, email string) *storage.User {
	t.Helper()
	u := newUser(email)
	mustNoErr(t, fmt.Sprintf("CreateUser(%q)", email), e.s.CreateUser(e.ctx, u))
	return u
}

// userDiff describes how got differs from want; times must be equal
// instants, UTC at millisecond precision.
func userDiff(got, want *storage.User) string {
	var d []string
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{{"CreatedAt", got.CreatedAt, want.CreatedAt}, {"UpdatedAt", got.UpdatedAt, want.UpdatedAt},
		{"PasswordChangedAt", got.PasswordChangedAt, want.PasswordChangedAt}} {
		if !f.got.Equal(f.want) {
			d = append(d, fmt.Sprintf("%s: got %v, want %v", f.name, f.got, f.want))
		}
		if !f.got.IsZero() && (f.got.Location() != time.UTC || f.got.Nanosecond()%int(time.Millisecond) != 0) {
			d = append(d, fmt.Sprintf("%s: got %v, want UTC at millisecond precision", f.name, f.got))
		}
	}
	g, w := *got, *want
	g.CreatedAt, g.UpdatedAt, g.PasswordChangedAt = time.Time{}, time.Time{}, time.Time{}
	w.CreatedAt, w.UpdatedAt, w.PasswordChangedAt = time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		d = append(d, fmt.Sprintf("fields:\n got  %+v\n want %+v", g, w))
	}
	return strings.Join(d, "; ")
}

func tokenHash(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

var accountCases = []accountCase{
	{"Users/CreateGet", func(t *testing.T, e *accEnv) {
		u := newUser("  Ada.Lovelace@Example.COM ")
		mustNoErr(t, "CreateUser", e.s.CreateUser(e.ctx, u))
		if len(u.ID) != 36 {
			t.Errorf("CreateUser assigned id %q, want a UUID", u.ID)
		}
		want := *newUser("ada.lovelace@example.com")
		want.ID, want.CreatedAt, want.UpdatedAt = u.ID, ms(T0), ms(T0)
		want.PasswordChangedAt = ms(T0.Add(-time.Hour))
		if d := userDiff(u, &want); d != "" {
			t.Errorf("CreateUser left the argument %s", d)
		}
		for _, lookup := range []struct {
			name string
			get  func() (*storage.User, error)
		}{
			{"GetUser", func() (*storage.User, error) { return e.s.GetUser(e.ctx, u.ID) }},
			{"GetUserForUpdate", func() (*storage.User, error) { return e.s.GetUserForUpdate(e.ctx, u.ID) }},
			{"GetUserByEmail", func() (*storage.User, error) { return e.s.GetUserByEmail(e.ctx, "ada.lovelace@example.com") }},
			{"GetUserByEmail, other case and space", func() (*storage.User, error) {
				return e.s.GetUserByEmail(e.ctx, " ADA.LOVELACE@example.com\t")
			}},
		} {
			got, err := lookup.get()
			mustNoErr(t, lookup.name, err)
			if d := userDiff(got, &want); d != "" {
				t.Errorf("%s: %s", lookup.name, d)
			}
		}
		// The id may be given.
		v := newUser("given@example.com")
		v.ID = "user-given"
		mustNoErr(t, "CreateUser with an id", e.s.CreateUser(e.ctx, v))
		if got, err := e.s.GetUser(e.ctx, "user-given"); err != nil || got.Email != "given@example.com" {
			t.Errorf("GetUser(user-given) = %+v, %v", got, err)
		}
	}},
	{"Users/Errors", func(t *testing.T, e *accEnv) {
		u := mustCreateUser(t, e, "ada@example.com")
		wantErr(t, "CreateUser, same email in other case", e.s.CreateUser(e.ctx, newUser("ADA@example.com")), storage.ErrConflict)
		dup := newUser("other@example.com")
		dup.ID = u.ID
		wantErr(t, "CreateUser, same id", e.s.CreateUser(e.ctx, dup), storage.ErrConflict)
		for _, bad := range []string{"", "ada", "ada@", "@example.com", "a@b@c", "ada lovelace@example.com",
			strings.Repeat("a", 65) + "@example.com", "a@" + strings.Repeat("b", 260)} {
			wantErr(t, fmt.Sprintf("CreateUser(%q)", bad), e.s.CreateUser(e.ctx, newUser(bad)), storage.ErrInvalidEmail)
		}
		_, err := e.s.GetUser(e.ctx, "nobody")
		wantErr(t, "GetUser(nobody)", err, storage.ErrNotFound)
		_, err = e.s.GetUserForUpdate(e.ctx, "nobody")
		wantErr(t, "GetUserForUpdate(nobody)", err, storage.ErrNotFound)
		_, err = e.s.GetUserByEmail(e.ctx, "nobody@example.com")
		wantErr(t, "GetUserByEmail(nobody@example.com)", err, storage.ErrNotFound)
		_, err = e.s.GetUserByEmail(e.ctx, "not an address")
		wantErr(t, "GetUserByEmail(not an address)", err, storage.ErrNotFound)
		wantErr(t, "UpdateUser(nobody)", e.s.UpdateUser(e.ctx, &storage.User{ID: "nobody", Email: "x@example.com"}), storage.ErrNotFound)
		wantErr(t, "DeleteUser(nobody)", e.s.DeleteUser(e.ctx, "nobody"), storage.ErrNotFound)
		users, err := e.s.ListUsers(e.ctx, "", 10)
		mustNoErr(t, "ListUsers", err)
		if len(users) != 1 {
			t.Errorf("after failed creates ListUsers = %d users, want 1", len(users))
		}
	}},
	{"Users/Update", func(t *testing.T, e *accEnv) {
		u := mustCreateUser(t, e, "ada@example.com")
		mustCreateUser(t, e, "taken@example.com")
		e.clock.Advance(time.Minute)
		// #nosec G101 -- a fixed hash for the conformance suite
		changed := storage.User{ID: u.ID, Email: "Countess@Example.com", EmailVerified: false, Name: "Countess",
			Picture: "https://example.com/c.png", Locale: "fr", Organization: "O2", Department: "D2", EmployeeID: "E2",
			PasswordHash: "$argon2id$new", PasswordChangedAt: e.now(), Disabled: true, CreatedAt: T0.Add(-24 * time.Hour)}
		mustNoErr(t, "UpdateUser", e.s.UpdateUser(e.ctx, &changed))
		want := changed
		want.Email, want.CreatedAt, want.UpdatedAt, want.PasswordChangedAt = "countess@example.com", ms(T0), ms(e.now()), ms(e.now())
		got, err := e.s.GetUser(e.ctx, u.ID)
		mustNoErr(t, "GetUser", err)
		if d := userDiff(got, &want); d != "" {
			t.Errorf("after UpdateUser: %s", d)
		}
		if changed.Email != "countess@example.com" || !changed.UpdatedAt.Equal(ms(e.now())) {
			t.Errorf("UpdateUser left the argument with email %q, UpdatedAt %v; want normalised, now", changed.Email, changed.UpdatedAt)
		}
		_, err = e.s.GetUserByEmail(e.ctx, "ada@example.com")
		wantErr(t, "GetUserByEmail(old email)", err, storage.ErrNotFound)
		changed.Email = "TAKEN@example.com"
		wantErr(t, "UpdateUser to a taken email", e.s.UpdateUser(e.ctx, &changed), storage.ErrConflict)
		changed.Email = "not an address"
		wantErr(t, "UpdateUser to an invalid email", e.s.UpdateUser(e.ctx, &changed), storage.ErrInvalidEmail)
	}},
	{"Users/List", func(t *testing.T, e *accEnv) {
		var ids []string
		for i := range 5 {
			u := mustCreateUser(t, e, fmt.Sprintf("u%d@example.com", i))
			ids = append(ids, u.ID)
		}
		slices.Sort(ids)
		var got []string
		after := ""
		for page := 0; page < 10; page++ {
			us, err := e.s.ListUsers(e.ctx, after, 2)
			mustNoErr(t, "ListUsers", err)
			if len(us) > 2 {
				t.Fatalf("ListUsers(limit 2) returned %d", len(us))
			}
			if len(us) == 0 {
				break
			}
			for _, u := range us {
				got = append(got, u.ID)
			}
			after = us[len(us)-1].ID
		}
		if !slices.Equal(got, ids) {
			t.Errorf("paging ListUsers by 2 gave %v, want %v", got, ids)
		}
		if us, err := e.s.ListUsers(e.ctx, "", 0); err != nil || len(us) != 0 {
			t.Errorf("ListUsers(limit 0) = %d users, %v; want none", len(us), err)
		}
	}},
	{"Users/Delete", func(t *testing.T, e *accEnv) {
		u := mustCreateUser(t, e, "ada@example.com")
		tok := &storage.AccountToken{Hash: tokenHash("t1"), UserID: u.ID, Purpose: storage.PurposeResetPassword,
			Email: u.Email, ExpiresAt: e.now().Add(time.Hour)}
		mustNoErr(t, "CreateAccountToken", e.s.CreateAccountToken(e.ctx, tok))
		mustNoErr(t, "DeleteUser", e.s.DeleteUser(e.ctx, u.ID))
		_, err := e.s.GetUser(e.ctx, u.ID)
		wantErr(t, "GetUser after DeleteUser", err, storage.ErrNotFound)
		_, err = e.s.GetAccountToken(e.ctx, tok.Hash, tok.Purpose, e.now())
		wantErr(t, "GetAccountToken after DeleteUser", err, storage.ErrNotFound)
		wantErr(t, "DeleteUser again", e.s.DeleteUser(e.ctx, u.ID), storage.ErrNotFound)
		// The address is free again.
		mustCreateUser(t, e, "ada@example.com")
	}},
	{"Users/Transaction", func(t *testing.T, e *accEnv) {
		u := mustCreateUser(t, e, "ada@example.com")
		for _, commit := range []bool{false, true} {
			txCtx, err := e.s.BeginTX(e.ctx)
			mustNoErr(t, "BeginTX", err)
			got, err := e.s.GetUserForUpdate(txCtx, u.ID)
			if err != nil {
				_ = e.s.Rollback(txCtx)
				t.Fatalf("GetUserForUpdate in tx: %v", err)
			}
			got.Name = fmt.Sprint("commit=", commit)
			if err := e.s.UpdateUser(txCtx, got); err != nil {
				_ = e.s.Rollback(txCtx)
				t.Fatalf("UpdateUser in tx: %v", err)
			}
			other := newUser(fmt.Sprintf("tx-%v@example.com", commit))
			if err := e.s.CreateUser(txCtx, other); err != nil {
				_ = e.s.Rollback(txCtx)
				t.Fatalf("CreateUser in tx: %v", err)
			}
			if commit {
				mustNoErr(t, "Commit", e.s.Commit(txCtx))
			} else {
				mustNoErr(t, "Rollback", e.s.Rollback(txCtx))
			}
			after, err := e.s.GetUser(e.ctx, u.ID)
			mustNoErr(t, "GetUser", err)
			_, err = e.s.GetUser(e.ctx, other.ID)
			switch {
			case commit && (after.Name != "commit=true" || err != nil):
				t.Errorf("after Commit: name %q, created user: %v; want both kept", after.Name, err)
			case !commit && (after.Name != "Ada Lovelace" || !errors.Is(err, storage.ErrNotFound)):
				t.Errorf("after Rollback: name %q, created user: %v; want both discarded", after.Name, err)
			}
		}
	}},
	{"Users/ConcurrentCreate", func(t *testing.T, e *accEnv) {
		errs := race(func() error { return e.s.CreateUser(e.ctx, newUser("Race@example.com")) })
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, storage.ErrConflict):
				t.Errorf("concurrent CreateUser of one email: %v, want nil or ErrConflict", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d of %d concurrent CreateUser of one email succeeded, want 1", ok, racers)
		}
	}},

	{"AccountTokens/ConsumeOnce", func(t *testing.T, e *accEnv) {
		u := mustCreateUser(t, e, "ada@example.com")
		tok := &storage.AccountToken{Hash: tokenHash("verify-1"), UserID: u.ID, Purpose: storage.PurposeVerifyEmail,
			Email: u.Email, ExpiresAt: e.now().Add(24 * time.Hour)}
		mustNoErr(t, "CreateAccountToken", e.s.CreateAccountToken(e.ctx, tok))
		want := storage.AccountToken{Hash: tokenHash("verify-1"), UserID: u.ID, Purpose: storage.PurposeVerifyEmail,
			Email: u.Email, CreatedAt: ms(T0), ExpiresAt: ms(T0.Add(24 * time.Hour))}
		got, err := e.s.GetAccountToken(e.ctx, tok.Hash, storage.PurposeVerifyEmail, e.now())
		mustNoErr(t, "GetAccountToken", err)
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("GetAccountToken = %+v, want %+v", *got, want)
		}
		_, err = e.s.GetAccountToken(e.ctx, tok.Hash, storage.PurposeResetPassword, e.now())
		wantErr(t, "GetAccountToken, other purpose", err, storage.ErrNotFound)
		_, err = e.s.ConsumeAccountToken(e.ctx, tok.Hash, storage.PurposeResetPassword, e.now())
		wantErr(t, "ConsumeAccountToken, other purpose", err, storage.ErrNotFound)

		e.clock.Advance(time.Minute)
		got, err = e.s.ConsumeAccountToken(e.ctx, tok.Hash, storage.PurposeVerifyEmail, e.now())
		mustNoErr(t, "ConsumeAccountToken", err)
		want.UsedAt = ms(e.now())
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("ConsumeAccountToken = %+v, want %+v", *got, want)
		}
		_, err = e.s.ConsumeAccountToken(e.ctx, tok.Hash, storage.PurposeVerifyEmail, e.now())
		wantErr(t, "ConsumeAccountToken again", err, storage.ErrNotFound)
		_, err = e.s.GetAccountToken(e.ctx, tok.Hash, storage.PurposeVerifyEmail, e.now())
		wantErr(t, "GetAccountToken after use", err, storage.ErrNotFound)
		_, err = e.s.ConsumeAccountToken(e.ctx, tokenHash("unknown"), storage.PurposeVerifyEmail, e.now())
		wantErr(t, "ConsumeAccountToken(unknown)", err, storage.ErrNotFound)
	}},
	{"AccountTokens/Expiry", func(t *testing.T, e *accEnv) {
		u := mustCreateUser(t, e, "ada@example.com")
		exp := e.now().Add(time.Hour)
		tok := &storage.AccountToken{Hash: tokenHash("reset-1"), UserID: u.ID, Purpose: storage.PurposeResetPassword, Email: u.Email, ExpiresAt: exp}
		mustNoErr(t, "CreateAccountToken", e.s.CreateAccountToken(e.ctx, tok))
		if _, err := e.s.GetAccountToken(e.ctx, tok.Hash, tok.Purpose, exp.Add(-time.Millisecond)); err != nil {
			t.Errorf("GetAccountToken 1ms before expiry: %v", err)
		}
		for _, at := range []time.Time{exp, exp.Add(time.Second)} {
			_, err := e.s.GetAccountToken(e.ctx, tok.Hash, tok.Purpose, at)
			wantErr(t, fmt.Sprintf("GetAccountToken at expiry+%v", at.Sub(exp)), err, storage.ErrNotFound)
			_, err = e.s.ConsumeAccountToken(e.ctx, tok.Hash, tok.Purpose, at)
			wantErr(t, fmt.Sprintf("ConsumeAccountToken at expiry+%v", at.Sub(exp)), err, storage.ErrNotFound)
		}
		if _, err := e.s.ConsumeAccountToken(e.ctx, tok.Hash, tok.Purpose, exp.Add(-time.Millisecond)); err != nil {
			t.Errorf("ConsumeAccountToken 1ms before expiry (not used by the failed attempts): %v", err)
		}
	}},
	{"AccountTokens/Errors", func(t *testing.T, e *accEnv) {
		u := mustCreateUser(t, e, "ada@example.com")
		tok := &storage.AccountToken{Hash: tokenHash("t"), UserID: u.ID, Purpose: storage.PurposeVerifyEmail, ExpiresAt: e.now().Add(time.Hour)}
		mustNoErr(t, "CreateAccountToken", e.s.CreateAccountToken(e.ctx, tok))
		wantErr(t, "CreateAccountToken, same hash", e.s.CreateAccountToken(e.ctx, tok), storage.ErrConflict)
		orphan := &storage.AccountToken{Hash: tokenHash("o"), UserID: "nobody", Purpose: storage.PurposeVerifyEmail, ExpiresAt: e.now().Add(time.Hour)}
		wantErr(t, "CreateAccountToken for an unknown user", e.s.CreateAccountToken(e.ctx, orphan), storage.ErrNotFound)
	}},
	{"AccountTokens/ConcurrentConsume", func(t *testing.T, e *accEnv) {
		u := mustCreateUser(t, e, "ada@example.com")
		tok := &storage.AccountToken{Hash: tokenHash("hot"), UserID: u.ID, Purpose: storage.PurposeResetPassword, ExpiresAt: e.now().Add(time.Hour)}
		mustNoErr(t, "CreateAccountToken", e.s.CreateAccountToken(e.ctx, tok))
		errs := race(func() error {
			_, err := e.s.ConsumeAccountToken(e.ctx, tok.Hash, tok.Purpose, e.now())
			return err
		})
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, storage.ErrNotFound):
				t.Errorf("concurrent ConsumeAccountToken: %v, want nil or ErrNotFound", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d of %d concurrent ConsumeAccountToken succeeded, want exactly 1", ok, racers)
		}
	}},
	{"AccountTokens/RollbackRestores", func(t *testing.T, e *accEnv) {
		u := mustCreateUser(t, e, "ada@example.com")
		tok := &storage.AccountToken{Hash: tokenHash("tx"), UserID: u.ID, Purpose: storage.PurposeResetPassword, ExpiresAt: e.now().Add(time.Hour)}
		mustNoErr(t, "CreateAccountToken", e.s.CreateAccountToken(e.ctx, tok))
		txCtx, err := e.s.BeginTX(e.ctx)
		mustNoErr(t, "BeginTX", err)
		if _, err := e.s.ConsumeAccountToken(txCtx, tok.Hash, tok.Purpose, e.now()); err != nil {
			_ = e.s.Rollback(txCtx)
			t.Fatalf("ConsumeAccountToken in tx: %v", err)
		}
		mustNoErr(t, "Rollback", e.s.Rollback(txCtx))
		if _, err := e.s.ConsumeAccountToken(e.ctx, tok.Hash, tok.Purpose, e.now()); err != nil {
			t.Errorf("ConsumeAccountToken after a rolled-back use: %v, want it usable", err)
		}
	}},
	{"AccountTokens/Delete", func(t *testing.T, e *accEnv) {
		u := mustCreateUser(t, e, "ada@example.com")
		v := mustCreateUser(t, e, "bob@example.com")
		now := e.now()
		mk := func(name, user, purpose string, exp time.Time) *storage.AccountToken {
			tok := &storage.AccountToken{Hash: tokenHash(name), UserID: user, Purpose: purpose, ExpiresAt: exp}
			mustNoErr(t, "CreateAccountToken "+name, e.s.CreateAccountToken(e.ctx, tok))
			return tok
		}
		r1 := mk("r1", u.ID, storage.PurposeResetPassword, now.Add(time.Hour))
		r2 := mk("r2", u.ID, storage.PurposeResetPassword, now.Add(time.Hour))
		v1 := mk("v1", u.ID, storage.PurposeVerifyEmail, now.Add(time.Hour))
		b1 := mk("b1", v.ID, storage.PurposeResetPassword, now.Add(time.Hour))
		mustNoErr(t, "DeleteAccountTokens(reset)", e.s.DeleteAccountTokens(e.ctx, u.ID, storage.PurposeResetPassword))
		alive := func(tok *storage.AccountToken) bool {
			_, err := e.s.GetAccountToken(e.ctx, tok.Hash, tok.Purpose, now)
			return err == nil
		}
		if alive(r1) || alive(r2) || !alive(v1) || !alive(b1) {
			t.Errorf("after DeleteAccountTokens(ada, reset): r1 %v r2 %v v1 %v b1 %v; want false false true true", alive(r1), alive(r2), alive(v1), alive(b1))
		}
		mustNoErr(t, "DeleteAccountTokens(all)", e.s.DeleteAccountTokens(e.ctx, u.ID, ""))
		if alive(v1) || !alive(b1) {
			t.Errorf("after DeleteAccountTokens(ada, all): v1 %v b1 %v; want false true", alive(v1), alive(b1))
		}
		// Expired and used ones are cleaned up.
		mk("e1", v.ID, storage.PurposeVerifyEmail, now.Add(time.Minute))
		used := mk("u1", v.ID, storage.PurposeVerifyEmail, now.Add(time.Hour))
		_, err := e.s.ConsumeAccountToken(e.ctx, used.Hash, used.Purpose, now)
		mustNoErr(t, "ConsumeAccountToken", err)
		n, err := e.s.DeleteExpiredAccountTokens(e.ctx, now.Add(2*time.Minute))
		if err != nil || n != 2 {
			t.Errorf("DeleteExpiredAccountTokens = %d, %v; want 2 (one expired, one used)", n, err)
		}
		if !alive(b1) {
			t.Error("DeleteExpiredAccountTokens removed a live token")
		}
	}},

	{"Audit/AppendList", func(t *testing.T, e *accEnv) {
		events := []storage.AuditEvent{
			{Type: storage.AuditUserRegistered, SubjectID: "u1", IP: "192.0.2.1", UserAgent: "UA <1>", RequestID: "r1", ClientID: "app",
				Details: map[string]any{"email_domain": "example.com", "n": 3, "nested": map[string]any{"b": true, "a": []any{"x"}}}},
			{Type: storage.AuditLoginFailed, SubjectID: "u2", Time: T0.Add(-time.Minute), Details: map[string]any{"reason": "bad_password"}},
			{Type: storage.AuditProfileUpdated, SubjectID: "u1", ActorID: "admin-1", Details: map[string]any{"fields": []string{"name"}}},
		}
		for i, ev := range events {
			mustNoErr(t, fmt.Sprintf("AppendAuditEvent %d", i), e.s.AppendAuditEvent(e.ctx, ev))
			e.clock.Advance(time.Second)
		}
		got, err := e.s.ListAuditEvents(e.ctx, storage.AuditFilter{})
		mustNoErr(t, "ListAuditEvents", err)
		if len(got) != 3 {
			t.Fatalf("ListAuditEvents = %d events, want 3", len(got))
		}
		wantTimes := []time.Time{ms(T0.Add(2 * time.Second)), ms(T0.Add(-time.Minute)), ms(T0)}
		for i, g := range got {
			if g.ID != int64(3-i) || !g.Time.Equal(wantTimes[i]) || g.Time.Location() != time.UTC || len(g.Hash) != 64 {
				t.Errorf("event %d: id %d time %v hash %q; want id %d, time %v UTC, a 64-hex-digit hash", i, g.ID, g.Time, g.Hash, 3-i, wantTimes[i])
			}
		}
		first := got[2]
		wantFirst := events[0]
		wantFirst.ID, wantFirst.Time, wantFirst.Hash = 1, ms(T0), first.Hash
		// Details come back as JSON decodes them.
		wantFirst.Details = map[string]any{"email_domain": "example.com", "n": float64(3), "nested": map[string]any{"b": true, "a": []any{"x"}}}
		if !reflect.DeepEqual(*first, wantFirst) {
			t.Errorf("first event = %+v\nwant %+v", *first, wantFirst)
		}
		// The first hash is SHA-256(32 zero bytes || canonical JSON).
		details, err := storage.MarshalAuditDetails(events[0].Details)
		mustNoErr(t, "MarshalAuditDetails", err)
		sum, err := storage.AuditChainHash(make([]byte, 32), first, details)
		mustNoErr(t, "AuditChainHash", err)
		if hex.EncodeToString(sum) != first.Hash {
			t.Errorf("first event hash %s, want AuditChainHash(zero, event) = %x", first.Hash, sum)
		}
		second, _ := hex.DecodeString(got[1].Hash)
		d2, _ := storage.MarshalAuditDetails(events[1].Details)
		if sum2, _ := storage.AuditChainHash(sum, got[1], d2); !bytes.Equal(sum2, second) {
			t.Errorf("second event hash %s, want AuditChainHash(first hash, event) = %x", got[1].Hash, sum2)
		}
		mustNoErr(t, "VerifyAuditChain", e.s.VerifyAuditChain(e.ctx))

		bySubject, err := e.s.ListAuditEvents(e.ctx, storage.AuditFilter{SubjectID: "u1"})
		mustNoErr(t, "ListAuditEvents(u1)", err)
		if len(bySubject) != 2 || bySubject[0].ID != 3 || bySubject[1].ID != 1 {
			t.Errorf("ListAuditEvents(subject u1) = %v, want events 3, 1", auditIDs(bySubject))
		}
		page, err := e.s.ListAuditEvents(e.ctx, storage.AuditFilter{Limit: 1, Before: 3})
		mustNoErr(t, "ListAuditEvents(before 3, limit 1)", err)
		if len(page) != 1 || page[0].ID != 2 {
			t.Errorf("ListAuditEvents(before 3, limit 1) = %v, want event 2", auditIDs(page))
		}
	}},
	{"Audit/EmptyChainVerifies", func(t *testing.T, e *accEnv) {
		mustNoErr(t, "VerifyAuditChain on an empty log", e.s.VerifyAuditChain(e.ctx))
		if got, err := e.s.ListAuditEvents(e.ctx, storage.AuditFilter{}); err != nil || len(got) != 0 {
			t.Errorf("ListAuditEvents on an empty log = %v, %v", got, err)
		}
		if err := e.s.AppendAuditEvent(e.ctx, storage.AuditEvent{}); err == nil {
			t.Error("AppendAuditEvent without a type succeeded, want an error")
		}
	}},
	{"Audit/JoinsTransaction", func(t *testing.T, e *accEnv) {
		mustNoErr(t, "AppendAuditEvent", e.s.AppendAuditEvent(e.ctx, storage.AuditEvent{Type: storage.AuditLogout, SubjectID: "u1"}))
		for _, commit := range []bool{false, true} {
			txCtx, err := e.s.BeginTX(e.ctx)
			mustNoErr(t, "BeginTX", err)
			u := newUser(fmt.Sprintf("tx-%v@example.com", commit))
			if err := e.s.CreateUser(txCtx, u); err != nil {
				_ = e.s.Rollback(txCtx)
				t.Fatalf("CreateUser in tx: %v", err)
			}
			if err := e.s.AppendAuditEvent(txCtx, storage.AuditEvent{Type: storage.AuditUserCreated, SubjectID: u.ID}); err != nil {
				_ = e.s.Rollback(txCtx)
				t.Fatalf("AppendAuditEvent in tx: %v", err)
			}
			if commit {
				mustNoErr(t, "Commit", e.s.Commit(txCtx))
			} else {
				mustNoErr(t, "Rollback", e.s.Rollback(txCtx))
			}
			got, err := e.s.ListAuditEvents(e.ctx, storage.AuditFilter{SubjectID: u.ID})
			mustNoErr(t, "ListAuditEvents", err)
			if want := map[bool]int{false: 0, true: 1}[commit]; len(got) != want {
				t.Errorf("commit=%v: %d events about the user, want %d", commit, len(got), want)
			}
		}
		// The rolled-back append left no gap: ids are 1, 2.
		all, err := e.s.ListAuditEvents(e.ctx, storage.AuditFilter{})
		mustNoErr(t, "ListAuditEvents", err)
		if ids := auditIDs(all); !slices.Equal(ids, []int64{2, 1}) {
			t.Errorf("event ids after a rollback and a commit = %v, want [2 1]", ids)
		}
		mustNoErr(t, "VerifyAuditChain", e.s.VerifyAuditChain(e.ctx))
	}},
	{"Audit/ConcurrentAppends", func(t *testing.T, e *accEnv) {
		const rounds = 3
		for r := range rounds {
			errs := race(func() error {
				return e.s.AppendAuditEvent(e.ctx, storage.AuditEvent{Type: storage.AuditLoginSucceeded, SubjectID: fmt.Sprint("u", r)})
			})
			for _, err := range errs {
				mustNoErr(t, "concurrent AppendAuditEvent", err)
			}
		}
		all, err := e.s.ListAuditEvents(e.ctx, storage.AuditFilter{Limit: 1000})
		mustNoErr(t, "ListAuditEvents", err)
		ids := auditIDs(all)
		slices.Reverse(ids)
		want := make([]int64, rounds*racers)
		for i := range want {
			want[i] = int64(i + 1)
		}
		if !slices.Equal(ids, want) {
			t.Errorf("ids after %d concurrent appends = %v, want 1..%d without gaps", len(want), ids, len(want))
		}
		mustNoErr(t, "VerifyAuditChain after concurrent appends", e.s.VerifyAuditChain(e.ctx))
	}},
}

func auditIDs(es []*storage.AuditEvent) []int64 {
	out := []int64{}
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

var testBackoff = storage.Backoff{Threshold: 3, Base: time.Second, Max: 4 * time.Second, Window: time.Hour}

var attemptCases = []attemptCase{
	{"LockoutProgression", func(t *testing.T, s storage.Attempts) {
		ctx := context.Background()
		now := ms(T0) // whole milliseconds, so that lock ends compare exactly
		st, err := s.GetAttempts(ctx, "account:u1", now)
		if err != nil || st != (storage.AttemptState{}) {
			t.Fatalf("GetAttempts(unknown) = %+v, %v; want the zero state", st, err)
		}
		steps := []struct {
			advance   time.Duration
			recorded  bool
			failures  int
			lockedFor time.Duration
		}{
			{0, true, 1, 0},
			{time.Second, true, 2, 0},
			{time.Second, true, 3, time.Second}, // threshold: 1s
			{500 * time.Millisecond, false, 3, 500 * time.Millisecond},
			{500 * time.Millisecond, true, 4, 2 * time.Second},
			{time.Second, false, 4, time.Second},
			{time.Second, true, 5, 4 * time.Second},
			{4 * time.Second, true, 6, 4 * time.Second}, // capped
		}
		for i, step := range steps {
			now = now.Add(step.advance)
			st, recorded, err := s.RecordFailure(ctx, "account:u1", now, testBackoff)
			mustNoErr(t, fmt.Sprintf("step %d: RecordFailure", i), err)
			locked, left := st.Locked(now)
			if recorded != step.recorded || st.Failures != step.failures || left != step.lockedFor || locked != (step.lockedFor > 0) {
				t.Errorf("step %d (+%v): RecordFailure = %+v, recorded %v, locked for %v; want recorded %v, %d failures, locked for %v",
					i, step.advance, st, recorded, left, step.recorded, step.failures, step.lockedFor)
			}
			if st.LastFailure.Location() != time.UTC || st.LastFailure.Nanosecond()%int(time.Millisecond) != 0 {
				t.Errorf("step %d: LastFailure %v, want UTC at millisecond precision", i, st.LastFailure)
			}
			got, err := s.GetAttempts(ctx, "account:u1", now)
			mustNoErr(t, "GetAttempts", err)
			if got != st {
				t.Errorf("step %d: GetAttempts = %+v, want what RecordFailure returned %+v", i, got, st)
			}
		}
		// Other keys are untouched.
		if st, _ := s.GetAttempts(ctx, "account:u2", now); st.Failures != 0 {
			t.Errorf("GetAttempts(other key) = %+v, want zero", st)
		}
		mustNoErr(t, "ResetAttempts", s.ResetAttempts(ctx, "account:u1"))
		if st, _ := s.GetAttempts(ctx, "account:u1", now); st != (storage.AttemptState{}) {
			t.Errorf("GetAttempts after ResetAttempts = %+v, want zero", st)
		}
		mustNoErr(t, "ResetAttempts(unknown)", s.ResetAttempts(ctx, "account:nobody"))
		st, recorded, err := s.RecordFailure(ctx, "account:u1", now, testBackoff)
		if err != nil || !recorded || st.Failures != 1 {
			t.Errorf("RecordFailure after ResetAttempts = %+v, %v, %v; want 1 failure", st, recorded, err)
		}
	}},
	{"WindowExpiry", func(t *testing.T, s storage.Attempts) {
		ctx := context.Background()
		now := T0
		for range 2 {
			_, _, err := s.RecordFailure(ctx, "ip:192.0.2.1", now, testBackoff)
			mustNoErr(t, "RecordFailure", err)
		}
		if st, _ := s.GetAttempts(ctx, "ip:192.0.2.1", now.Add(testBackoff.Window-time.Millisecond)); st.Failures != 2 {
			t.Errorf("GetAttempts just inside the window = %+v, want 2 failures", st)
		}
		later := now.Add(testBackoff.Window)
		if st, _ := s.GetAttempts(ctx, "ip:192.0.2.1", later); st != (storage.AttemptState{}) {
			t.Errorf("GetAttempts a window after the last failure = %+v, want zero", st)
		}
		st, _, err := s.RecordFailure(ctx, "ip:192.0.2.1", later, testBackoff)
		if err != nil || st.Failures != 1 {
			t.Errorf("RecordFailure after the window = %+v, %v; want counting from 1 again", st, err)
		}
		// A lock longer than the window keeps the state until it ends.
		long := storage.Backoff{Threshold: 1, Base: 2 * time.Hour, Max: 2 * time.Hour, Window: time.Minute}
		_, _, err = s.RecordFailure(ctx, "account:long", now, long)
		mustNoErr(t, "RecordFailure", err)
		if st, _ := s.GetAttempts(ctx, "account:long", now.Add(90*time.Minute)); st.Failures != 1 {
			t.Errorf("GetAttempts during a 2h lock with a 1m window = %+v, want the state kept", st)
		}
		n, err := s.DeleteExpiredAttempts(ctx, later.Add(testBackoff.Window))
		if err != nil || n < 1 {
			t.Errorf("DeleteExpiredAttempts = %d, %v; want at least 1", n, err)
		}
	}},
	{"ConcurrentFailuresLockOnce", func(t *testing.T, s storage.Attempts) {
		ctx := context.Background()
		for range testBackoff.Threshold - 1 {
			_, _, err := s.RecordFailure(ctx, "account:hot", T0, testBackoff)
			mustNoErr(t, "RecordFailure", err)
		}
		var n atomic.Int32
		errs := race(func() error {
			_, recorded, err := s.RecordFailure(ctx, "account:hot", T0, testBackoff)
			if recorded {
				n.Add(1)
			}
			return err
		})
		for _, err := range errs {
			mustNoErr(t, "concurrent RecordFailure", err)
		}
		if n.Load() != 1 {
			t.Errorf("%d of %d concurrent RecordFailure at the threshold recorded, want exactly 1 (the rest see the lock)", n.Load(), racers)
		}
	}},
	{"FailuresRaceResets", func(t *testing.T, s storage.Attempts) {
		// Sign-ins of one account from several browsers: each counts a
		// failure before checking the password and resets on success.
		ctx := context.Background()
		var i atomic.Int32
		for range 20 {
			errs := race(func() error {
				if i.Add(1)%2 == 0 {
					return s.ResetAttempts(ctx, "account:busy")
				}
				_, _, err := s.RecordFailure(ctx, "account:busy", T0, testBackoff)
				return err
			})
			for _, err := range errs {
				mustNoErr(t, "RecordFailure racing ResetAttempts", err)
			}
		}
	}},
}
