package session

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
	storesql "github.com/authd/authd/storage/sql"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	m      *Manager
	store  *storesql.Store
	clock  *clock
	ended  []string
	cookie *http.Cookie
}

func newFixture(t *testing.T, secure bool) *fixture {
	t.Helper()
	clk := &clock{t: time.Now().UTC()}
	store, err := storesql.Open(testdb.SQLite(t), storesql.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: store, clock: clk}
	f.m = New(Config{IdleTimeout: time.Hour, AbsoluteTimeout: 24 * time.Hour, RevokeOfflineOnLogout: true}, Options{
		Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Secure: secure, Now: clk.Now,
		OnEnd: func(_ context.Context, s *storage.Session, _ []string) { f.ended = append(f.ended, s.ID) },
	})
	return f
}

// request builds a request carrying the fixture's current cookie.
func (f *fixture) request() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://authd.test/", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	r.Header.Set("User-Agent", "test-browser")
	if f.cookie != nil {
		r.AddCookie(f.cookie)
	}
	return r
}

func (f *fixture) start(t *testing.T, user string) *storage.Session {
	t.Helper()
	w := httptest.NewRecorder()
	s, err := f.m.Start(context.Background(), w, f.request(), user, []string{"pwd"}, "")
	if err != nil {
		t.Fatal(err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Start set %d cookies, want 1", len(cookies))
	}
	f.cookie = cookies[0]
	return s
}

func (f *fixture) current(t *testing.T) *storage.Session {
	t.Helper()
	s, err := f.m.Current(f.request())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStartAndCurrent(t *testing.T) {
	f := newFixture(t, false)
	s := f.start(t, "alice")
	c := f.cookie
	if c.Name != "authd_session" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" {
		t.Fatalf("cookie %+v", c)
	}
	if s.IP != "192.0.2.7" || s.UserAgent != "test-browser" || s.ID == c.Value {
		t.Fatalf("session %+v: IP, user agent, and an id distinct from the cookie secret", s)
	}
	if got := f.current(t); got == nil || got.ID != s.ID || got.UserID != "alice" {
		t.Fatalf("Current = %+v, want session %s", got, s.ID)
	}
	for name, v := range map[string]string{"forged": "AAAA", "empty": "", "huge": string(make([]byte, 200))} {
		f.cookie = &http.Cookie{Name: "authd_session", Value: v}
		if got := f.current(t); got != nil {
			t.Fatalf("%s cookie gave session %s", name, got.ID)
		}
	}
}

func TestSecureCookie(t *testing.T) {
	f := newFixture(t, true)
	f.start(t, "alice")
	if f.cookie.Name != "__Host-authd_session" || !f.cookie.Secure {
		t.Fatalf("cookie on https: %+v", f.cookie)
	}
}

func TestExpiry(t *testing.T) {
	f := newFixture(t, false)
	f.start(t, "alice")
	f.clock.Add(59 * time.Minute)
	if f.current(t) == nil {
		t.Fatal("session ended before the idle timeout")
	}
	f.clock.Add(59 * time.Minute) // used a minute ago... then idle again
	if f.current(t) == nil {
		t.Fatal("use did not extend the idle timeout")
	}
	f.clock.Add(61 * time.Minute)
	if f.current(t) != nil {
		t.Fatal("session outlived the idle timeout")
	}

	f = newFixture(t, false)
	f.start(t, "bob")
	for range 25 { // used every 59 minutes: never idle, but absolute expiry wins
		f.clock.Add(59 * time.Minute)
		f.current(t)
	}
	if f.current(t) != nil {
		t.Fatal("session outlived the absolute timeout")
	}
}

func TestSignInAgain(t *testing.T) {
	f := newFixture(t, false)
	first := f.start(t, "alice")
	oldCookie := f.cookie
	f.clock.Add(time.Minute)
	again := f.start(t, "alice")
	if again.ID != first.ID || !again.AuthTime.After(first.AuthTime) {
		t.Fatalf("same person again: sid %s -> %s, auth time %v -> %v; want the same sid, a later auth time", first.ID, again.ID, first.AuthTime, again.AuthTime)
	}
	if f.cookie.Value == oldCookie.Value || len(f.ended) != 0 {
		t.Fatalf("the cookie secret must rotate and nothing end (ended %v)", f.ended)
	}
	f.cookie, oldCookie = oldCookie, f.cookie
	if f.current(t) != nil {
		t.Fatal("the cookie from before the sign-in still works")
	}
	f.cookie = oldCookie

	other := f.start(t, "bob")
	if other.ID == first.ID || len(f.ended) != 1 || f.ended[0] != first.ID {
		t.Fatalf("another person signing in must end the previous session: new %s, ended %v", other.ID, f.ended)
	}
	revs, _ := f.store.ListRevocations(context.Background(), time.Time{}, f.clock.Now())
	found := false
	for _, r := range revs {
		found = found || (r.Kind == storage.RevokeSession && r.Value == first.ID)
	}
	if !found {
		t.Fatalf("ending a session did not revoke its tokens: %v", revs)
	}
}

func TestEndUserSessions(t *testing.T) {
	f := newFixture(t, false)
	a1 := f.start(t, "alice")
	f.cookie = nil
	a2 := f.start(t, "alice")
	f.cookie = nil
	f.start(t, "bob")
	ctx := context.Background()
	if err := f.m.EndUserSessions(ctx, "alice", a2.ID); err != nil {
		t.Fatal(err)
	}
	list, err := f.m.List(ctx, "alice")
	if err != nil || len(list) != 1 || list[0].ID != a2.ID {
		t.Fatalf("List after EndUserSessions(except %s) = %v, %v", a2.ID, list, err)
	}
	if err := f.m.EndByID(ctx, "bob", a2.ID); err == nil {
		t.Fatal("bob ended alice's session")
	}
	if err := f.m.EndByID(ctx, "alice", a2.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := f.m.List(ctx, "alice"); len(list) != 0 {
		t.Fatalf("sessions left: %v", list)
	}
	if len(f.ended) != 2 || f.ended[0] != a1.ID {
		t.Fatalf("end hook heard %v", f.ended)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{IdleTimeout: time.Hour, AbsoluteTimeout: time.Minute}).Validate(); err == nil {
		t.Fatal("absolute < idle accepted")
	}
	if err := (Config{}).Validate(); err == nil {
		t.Fatal("zero config accepted")
	}
}

// TestMaxPerUser signs one person in on four browsers with a cap of two:
// each sign-in past the cap ends the oldest session (its tokens revoked),
// and the browser that signed in is told once.
func TestMaxPerUser(t *testing.T) {
	f := newFixture(t, false)
	f.m.cfg.MaxPerUser = 2
	ctx := context.Background()
	var sids []string
	for i := range 4 {
		f.clock.Add(time.Second)
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "http://authd.test/", nil) // a new browser: no cookie
		s, err := f.m.Start(ctx, w, r, "alice", []string{"pwd"}, "")
		if err != nil {
			t.Fatal(err)
		}
		sids = append(sids, s.ID)
		var notice *http.Cookie
		for _, c := range w.Result().Cookies() {
			if c.Name == noticeCookie {
				notice = c
			}
		}
		if (notice != nil) != (i >= 2) {
			t.Fatalf("sign-in %d: notice cookie %v, want one only past the cap", i, notice)
		}
		if notice != nil {
			r := httptest.NewRequest(http.MethodGet, "http://authd.test/account", nil)
			r.AddCookie(notice)
			w := httptest.NewRecorder()
			if got := f.m.TakeNotice(w, r); got != NoticeSessionCap {
				t.Fatalf("TakeNotice = %q", got)
			}
			if c := w.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
				t.Fatalf("TakeNotice did not clear the cookie: %v", c)
			}
		}
	}
	live, err := f.m.List(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 2 || live[0].ID != sids[3] || live[1].ID != sids[2] {
		t.Fatalf("live sessions %v, want the two newest %v", ids(live), sids[2:])
	}
	if len(f.ended) != 2 || f.ended[0] != sids[0] || f.ended[1] != sids[1] {
		t.Fatalf("ended %v, want the two oldest %v", f.ended, sids[:2])
	}
	revs, err := f.store.ListRevocations(ctx, time.Time{}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	revoked := map[string]bool{}
	for _, r := range revs {
		if r.Kind == storage.RevokeSession {
			revoked[r.Value] = true
		}
	}
	if !revoked[sids[0]] || !revoked[sids[1]] || revoked[sids[2]] || revoked[sids[3]] {
		t.Fatalf("session revocations %v, want exactly the ended sessions", revoked)
	}
	// A forged notice is ignored.
	r := httptest.NewRequest(http.MethodGet, "http://authd.test/account", nil)
	r.AddCookie(&http.Cookie{Name: noticeCookie, Value: "<script>"})
	if got := f.m.TakeNotice(httptest.NewRecorder(), r); got != "" {
		t.Fatalf("TakeNotice of a forged value = %q", got)
	}
}

func ids(ss []*storage.Session) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}
