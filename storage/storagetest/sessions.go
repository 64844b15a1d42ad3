package storagetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// SessionsFactory returns a fresh, empty session store. It registers
// whatever cleanup the store needs with t.
type SessionsFactory func(t *testing.T) storage.Sessions

// RunSessionTests runs the storage.Sessions contract on a backend that
// holds browser sessions only (Redis); full stores run the same tests as
// the "Sessions" group of RunTests. Times are around T0, years ahead of
// the wall clock, so stores that expire records by the wall clock keep
// them for the whole test.
func RunSessionTests(t *testing.T, newStore SessionsFactory) {
	for _, tc := range sessionCases {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// sessionTests adapt sessionCases to RunTests's stores.
var sessionTests = func() []namedTest {
	out := make([]namedTest, len(sessionCases))
	for i, tc := range sessionCases {
		out[i] = namedTest{tc.name, func(t *testing.T, e *env) {
			s, ok := e.s.(storage.Sessions)
			if !ok {
				t.Fatalf("%T does not implement storage.Sessions", e.s)
			}
			tc.fn(t, s)
		}}
	}
	return out
}()

type sessionCase struct {
	name string
	fn   func(t *testing.T, s storage.Sessions)
}

// secretHash is how the session manager keys sessions: SHA-256 of the
// cookie secret.
func secretHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// newBrowserSession returns a session of user created at created (not UTC,
// below millisecond precision, as callers may pass), living a week.
func newBrowserSession(id, user string, created time.Time) *storage.Session {
	return &storage.Session{
		ID: id, UserID: user, AuthTime: created.Add(-time.Second), AMR: []string{"pwd", "otp"}, ACR: "urn:authd:acr:mfa",
		IP: "192.0.2.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Test/" + id,
		CreatedAt: created, LastSeenAt: created, ExpiresAt: created.Add(7 * 24 * time.Hour),
	}
}

func mustCreateSession(t *testing.T, s storage.Sessions, sess *storage.Session, secret string) {
	t.Helper()
	mustNoErr(t, fmt.Sprintf("CreateSession(%q)", sess.ID), s.CreateSession(context.Background(), sess, secretHash(secret)))
}

// sessionDiff describes how got differs from want; empty if they match.
// Times must come back UTC at millisecond precision.
func sessionDiff(got, want *storage.Session) string {
	if got == nil {
		return "got nil session"
	}
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s: got %v, want %v", field, g, w)) }
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{
		{"AuthTime", got.AuthTime, want.AuthTime}, {"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"LastSeenAt", got.LastSeenAt, want.LastSeenAt}, {"ExpiresAt", got.ExpiresAt, want.ExpiresAt},
	} {
		if !f.got.Equal(ms(f.want)) {
			add(f.name, f.got, ms(f.want))
		}
		if !f.got.IsZero() && (f.got.Location() != time.UTC || f.got.Nanosecond()%int(time.Millisecond) != 0) {
			add(f.name, f.got, "UTC at millisecond precision")
		}
	}
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.UserID != want.UserID {
		add("UserID", got.UserID, want.UserID)
	}
	if !sameStrings(got.AMR, want.AMR) {
		add("AMR", got.AMR, want.AMR)
	}
	if got.ACR != want.ACR {
		add("ACR", got.ACR, want.ACR)
	}
	if got.IP != want.IP {
		add("IP", got.IP, want.IP)
	}
	if got.UserAgent != want.UserAgent {
		add("UserAgent", got.UserAgent, want.UserAgent)
	}
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

func sessionIDs(ss []*storage.Session) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}

var sessionCases = []sessionCase{
	{"CreateAndGet", func(t *testing.T, s storage.Sessions) {
		ctx := context.Background()
		want := newBrowserSession("sid-1", "alice", T0)
		mustCreateSession(t, s, want, "secret-1")

		got, err := s.GetSessionBySecret(ctx, secretHash("secret-1"), T0)
		mustNoErr(t, "GetSessionBySecret", err)
		if d := sessionDiff(got, want); d != "" {
			t.Errorf("GetSessionBySecret: %s", d)
		}
		got, err = s.GetSession(ctx, "sid-1")
		mustNoErr(t, "GetSession", err)
		if d := sessionDiff(got, want); d != "" {
			t.Errorf("GetSession: %s", d)
		}

		_, err = s.GetSessionBySecret(ctx, secretHash("secret-2"), T0)
		wantErr(t, "GetSessionBySecret(unknown secret)", err, storage.ErrNotFound)
		_, err = s.GetSession(ctx, "sid-unknown")
		wantErr(t, "GetSession(unknown id)", err, storage.ErrNotFound)
		_, err = s.GetSession(ctx, "secret-1")
		wantErr(t, "GetSession(the secret instead of the id)", err, storage.ErrNotFound)
	}},
	{"MinimalFields", func(t *testing.T, s storage.Sessions) {
		want := &storage.Session{ID: "sid-min", UserID: "bob", AuthTime: T0, CreatedAt: T0, LastSeenAt: T0, ExpiresAt: T0.Add(time.Hour)}
		mustCreateSession(t, s, want, "secret-min")
		got, err := s.GetSession(context.Background(), "sid-min")
		mustNoErr(t, "GetSession", err)
		if d := sessionDiff(got, want); d != "" {
			t.Errorf("GetSession: %s", d)
		}
	}},
	{"DuplicateID", func(t *testing.T, s storage.Sessions) {
		mustCreateSession(t, s, newBrowserSession("sid-1", "alice", T0), "secret-1")
		err := s.CreateSession(context.Background(), newBrowserSession("sid-1", "mallory", T0), secretHash("secret-2"))
		wantErr(t, "CreateSession(taken id)", err, storage.ErrConflict)
		got, err := s.GetSession(context.Background(), "sid-1")
		mustNoErr(t, "GetSession", err)
		if got.UserID != "alice" {
			t.Errorf("the conflicting create changed the session: user %q, want alice", got.UserID)
		}
	}},
	{"ExpiredBySecret", func(t *testing.T, s storage.Sessions) {
		ctx := context.Background()
		sess := newBrowserSession("sid-1", "alice", T0)
		mustCreateSession(t, s, sess, "secret-1")
		_, err := s.GetSessionBySecret(ctx, secretHash("secret-1"), sess.ExpiresAt.Add(-time.Millisecond))
		mustNoErr(t, "GetSessionBySecret just before expiry", err)
		_, err = s.GetSessionBySecret(ctx, secretHash("secret-1"), sess.ExpiresAt)
		wantErr(t, "GetSessionBySecret at expiry", err, storage.ErrNotFound)
	}},
	{"Touch", func(t *testing.T, s storage.Sessions) {
		ctx := context.Background()
		want := newBrowserSession("sid-1", "alice", T0)
		mustCreateSession(t, s, want, "secret-1")
		want.LastSeenAt = T0.Add(90 * time.Minute)
		mustNoErr(t, "TouchSession", s.TouchSession(ctx, "sid-1", want.LastSeenAt))
		got, err := s.GetSessionBySecret(ctx, secretHash("secret-1"), T0)
		mustNoErr(t, "GetSessionBySecret", err)
		if d := sessionDiff(got, want); d != "" {
			t.Errorf("after TouchSession: %s", d)
		}
	}},
	{"Renew", func(t *testing.T, s storage.Sessions) {
		ctx := context.Background()
		want := newBrowserSession("sid-1", "alice", T0)
		mustCreateSession(t, s, want, "secret-1")
		mustNoErr(t, "AddSessionClient", s.AddSessionClient(ctx, "sid-1", "app"))
		renewed := T0.Add(3 * time.Hour)
		mustNoErr(t, "RenewSession", s.RenewSession(ctx, "sid-1", secretHash("secret-2"), renewed, []string{"pwd", "webauthn"}, "urn:authd:acr:phr"))
		want.AuthTime, want.LastSeenAt, want.AMR, want.ACR = renewed, renewed, []string{"pwd", "webauthn"}, "urn:authd:acr:phr"

		_, err := s.GetSessionBySecret(ctx, secretHash("secret-1"), renewed)
		wantErr(t, "GetSessionBySecret(old secret) after RenewSession", err, storage.ErrNotFound)
		got, err := s.GetSessionBySecret(ctx, secretHash("secret-2"), renewed)
		mustNoErr(t, "GetSessionBySecret(new secret)", err)
		if d := sessionDiff(got, want); d != "" {
			t.Errorf("after RenewSession: %s", d)
		}
		clients, err := s.ListSessionClients(ctx, "sid-1")
		mustNoErr(t, "ListSessionClients", err)
		if !sameStrings(clients, []string{"app"}) {
			t.Errorf("ListSessionClients after RenewSession = %v, want [app]", clients)
		}
		ss, err := s.ListUserSessions(ctx, "alice", renewed)
		mustNoErr(t, "ListUserSessions", err)
		if got := sessionIDs(ss); !slices.Equal(got, []string{"sid-1"}) {
			t.Errorf("ListUserSessions after RenewSession = %v, want [sid-1]", got)
		}
		wantErr(t, "RenewSession(unknown)", s.RenewSession(ctx, "sid-unknown", secretHash("secret-3"), renewed, nil, ""), storage.ErrNotFound)
		// Deleting the renewed session forgets the new secret too.
		mustNoErr(t, "DeleteSession", s.DeleteSession(ctx, "sid-1"))
		_, err = s.GetSessionBySecret(ctx, secretHash("secret-2"), renewed)
		wantErr(t, "GetSessionBySecret(new secret) after DeleteSession", err, storage.ErrNotFound)
	}},
	{"ListNewestFirst", func(t *testing.T, s storage.Sessions) {
		ctx := context.Background()
		mustCreateSession(t, s, newBrowserSession("a-old", "alice", T0), "s1")
		mustCreateSession(t, s, newBrowserSession("a-new", "alice", T0.Add(2*time.Hour)), "s2")
		mustCreateSession(t, s, newBrowserSession("a-mid", "alice", T0.Add(time.Hour)), "s3")
		mustCreateSession(t, s, newBrowserSession("a-mid2", "alice", T0.Add(time.Hour)), "s4") // same time: by id
		short := newBrowserSession("a-short", "alice", T0.Add(3*time.Hour))
		short.ExpiresAt = T0.Add(4 * time.Hour)
		mustCreateSession(t, s, short, "s5")
		mustCreateSession(t, s, newBrowserSession("b-1", "bob", T0), "s6")

		list := func(user string, now time.Time) []string {
			t.Helper()
			ss, err := s.ListUserSessions(ctx, user, now)
			mustNoErr(t, "ListUserSessions", err)
			for _, sess := range ss {
				if sess.UserID != user {
					t.Errorf("ListUserSessions(%q) returned %q of %q", user, sess.ID, sess.UserID)
				}
			}
			return sessionIDs(ss)
		}
		if got, want := list("alice", T0), []string{"a-short", "a-new", "a-mid", "a-mid2", "a-old"}; !slices.Equal(got, want) {
			t.Errorf("ListUserSessions(alice) = %v, want %v", got, want)
		}
		if got, want := list("alice", T0.Add(5*time.Hour)), []string{"a-new", "a-mid", "a-mid2", "a-old"}; !slices.Equal(got, want) {
			t.Errorf("ListUserSessions(alice) after a-short expired = %v, want %v", got, want)
		}
		if got, want := list("bob", T0), []string{"b-1"}; !slices.Equal(got, want) {
			t.Errorf("ListUserSessions(bob) = %v, want %v", got, want)
		}
		if got := list("nobody", T0); len(got) != 0 {
			t.Errorf("ListUserSessions(nobody) = %v, want none", got)
		}
		// The listed sessions are whole.
		ss, err := s.ListUserSessions(ctx, "bob", T0)
		mustNoErr(t, "ListUserSessions", err)
		if d := sessionDiff(ss[0], newBrowserSession("b-1", "bob", T0)); d != "" {
			t.Errorf("listed session: %s", d)
		}
	}},
	{"Delete", func(t *testing.T, s storage.Sessions) {
		ctx := context.Background()
		mustCreateSession(t, s, newBrowserSession("sid-1", "alice", T0), "secret-1")
		mustCreateSession(t, s, newBrowserSession("sid-2", "alice", T0), "secret-2")
		mustNoErr(t, "AddSessionClient", s.AddSessionClient(ctx, "sid-1", "app"))
		mustNoErr(t, "DeleteSession", s.DeleteSession(ctx, "sid-1"))

		_, err := s.GetSession(ctx, "sid-1")
		wantErr(t, "GetSession after delete", err, storage.ErrNotFound)
		_, err = s.GetSessionBySecret(ctx, secretHash("secret-1"), T0)
		wantErr(t, "GetSessionBySecret after delete", err, storage.ErrNotFound)
		ss, err := s.ListUserSessions(ctx, "alice", T0)
		mustNoErr(t, "ListUserSessions", err)
		if got := sessionIDs(ss); !slices.Equal(got, []string{"sid-2"}) {
			t.Errorf("ListUserSessions after delete = %v, want [sid-2]", got)
		}
		clients, err := s.ListSessionClients(ctx, "sid-1")
		mustNoErr(t, "ListSessionClients", err)
		if len(clients) != 0 {
			t.Errorf("ListSessionClients after delete = %v, want none", clients)
		}
		wantErr(t, "DeleteSession again", s.DeleteSession(ctx, "sid-1"), storage.ErrNotFound)
		wantErr(t, "DeleteSession(unknown)", s.DeleteSession(ctx, "sid-unknown"), storage.ErrNotFound)
	}},
	{"DeleteUserSessions", func(t *testing.T, s storage.Sessions) {
		ctx := context.Background()
		for i, id := range []string{"a-1", "a-2", "a-3"} {
			mustCreateSession(t, s, newBrowserSession(id, "alice", T0.Add(time.Duration(i)*time.Minute)), "secret-"+id)
		}
		mustCreateSession(t, s, newBrowserSession("b-1", "bob", T0), "secret-b-1")

		ids, err := s.DeleteUserSessions(ctx, "alice", "a-2")
		mustNoErr(t, "DeleteUserSessions", err)
		slices.Sort(ids)
		if want := []string{"a-1", "a-3"}; !slices.Equal(ids, want) {
			t.Errorf("DeleteUserSessions(alice, except a-2) = %v, want %v", ids, want)
		}
		for _, id := range []string{"a-1", "a-3"} {
			_, err := s.GetSessionBySecret(ctx, secretHash("secret-"+id), T0)
			wantErr(t, "GetSessionBySecret("+id+") after DeleteUserSessions", err, storage.ErrNotFound)
		}
		for user, want := range map[string][]string{"alice": {"a-2"}, "bob": {"b-1"}} {
			ss, err := s.ListUserSessions(ctx, user, T0)
			mustNoErr(t, "ListUserSessions", err)
			if got := sessionIDs(ss); !slices.Equal(got, want) {
				t.Errorf("ListUserSessions(%s) after DeleteUserSessions = %v, want %v", user, got, want)
			}
		}
		ids, err = s.DeleteUserSessions(ctx, "alice", "a-2")
		mustNoErr(t, "DeleteUserSessions again", err)
		if len(ids) != 0 {
			t.Errorf("DeleteUserSessions again removed %v, want none", ids)
		}
		ids, err = s.DeleteUserSessions(ctx, "alice", "")
		mustNoErr(t, "DeleteUserSessions(except none)", err)
		if !slices.Equal(ids, []string{"a-2"}) {
			t.Errorf("DeleteUserSessions(alice, except none) = %v, want [a-2]", ids)
		}
	}},
	{"SessionClients", func(t *testing.T, s storage.Sessions) {
		ctx := context.Background()
		mustCreateSession(t, s, newBrowserSession("sid-1", "alice", T0), "secret-1")
		mustCreateSession(t, s, newBrowserSession("sid-2", "alice", T0), "secret-2")
		for _, c := range []string{"web", "cli", "web"} {
			mustNoErr(t, "AddSessionClient", s.AddSessionClient(ctx, "sid-1", c))
		}
		mustNoErr(t, "AddSessionClient", s.AddSessionClient(ctx, "sid-2", "mobile"))
		for sid, want := range map[string][]string{"sid-1": {"cli", "web"}, "sid-2": {"mobile"}, "sid-none": nil} {
			got, err := s.ListSessionClients(ctx, sid)
			mustNoErr(t, "ListSessionClients", err)
			if !sameStrings(got, want) {
				t.Errorf("ListSessionClients(%s) = %v, want %v", sid, got, want)
			}
		}
	}},
}
