package account_test

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sql"
	"github.com/authd/authd/storage/storagetest"
)

const issuer = "https://id.example.com/auth"

// goodPassword passes the default policy.
const goodPassword = "correct horse battery staple"

// fakeMailer records queued mail; when fail is set, Enqueue returns it.
type fakeMailer struct {
	mu   sync.Mutex
	msgs []mail.Message
	fail error
}

func (f *fakeMailer) Enqueue(ctx context.Context, m mail.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.msgs = append(f.msgs, m)
	return nil
}

func (f *fakeMailer) sent() []mail.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.msgs)
}

func (f *fakeMailer) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// fakeSessions records EndUserSessions calls as "user except".
type fakeSessions struct {
	mu    sync.Mutex
	calls []string
	fail  error
}

func (f *fakeSessions) EndUserSessions(ctx context.Context, userID, exceptSID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.calls = append(f.calls, userID+" except="+exceptSID)
	return nil
}

func (f *fakeSessions) EndByID(ctx context.Context, userID, sid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.calls = append(f.calls, userID+" sid="+sid)
	return nil
}

func (f *fakeSessions) ended() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeSessions) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// faultyStore is the real store whose audit log can be made to fail.
type faultyStore struct {
	*sql.Store
	mu        sync.Mutex
	auditFail error
}

func (f *faultyStore) AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error {
	f.mu.Lock()
	fail := f.auditFail
	f.mu.Unlock()
	if fail != nil {
		return fail
	}
	return f.Store.AppendAuditEvent(ctx, e)
}

var errInjected = errors.New("injected failure")

// env is one test's service on a real database.
type env struct {
	requests *fakeRequests // the last newService's
	t        testing.TB
	ctx      context.Context
	store    *faultyStore
	clock    *storagetest.Clock
	mailer   *fakeMailer
	sessions *fakeSessions
	keyring  *secrets.Keyring
	hasher   *password.Hasher
	svc      *account.Service
	cfg      account.Config
}

// cheapPasswords is the default policy with Argon2id parameters cheap
// enough for tests.
func cheapPasswords() password.Config {
	c := password.DefaultConfig()
	c.Memory, c.Time, c.Threads = 64, 1, 1
	return c
}

// forEachDB runs fn once on SQLite and once on Postgres.
func forEachDB(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Helper()
	testdb.Each(t, func(t *testing.T, u string) {
		t.Parallel()
		fn(t, u)
	})
}

func newEnv(t testing.TB, dbURL string, mutate ...func(*account.Config)) *env {
	t.Helper()
	key, _ := secrets.ParseMasterKey(secrets.GenerateMasterKey())
	kr, err := secrets.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	clock := storagetest.NewClock(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC))
	s, err := sql.Open(dbURL, sql.Options{Now: clock.Now, Sealer: kr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	cfg := account.DefaultConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	e := &env{t: t, ctx: context.Background(), store: &faultyStore{Store: s}, clock: clock, mailer: &fakeMailer{},
		sessions: &fakeSessions{}, keyring: kr, cfg: cfg}
	e.hasher = mustHasher(t, cheapPasswords())
	e.svc = e.newService(e.hasher)
	return e
}

func mustHasher(t testing.TB, c password.Config) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(c)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// newService builds a service on e's store with another hasher. Its
// requests are worked at once, in the caller's goroutine, as the job
// queue would work them a moment later (unless e.requests.hold is set).
func (e *env) newService(h *password.Hasher) *account.Service {
	e.t.Helper()
	reqs := &fakeRequests{}
	svc, err := account.New(e.cfg, account.Deps{
		Store: e.store, Attempts: e.store.Store, Hasher: h, MAC: e.keyring, Mailer: e.mailer, Requests: reqs,
		Sessions: e.sessions, Issuer: issuer, Now: e.clock.Now,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	reqs.svc = svc
	e.requests = reqs
	return svc
}

// fakeRequests is the job queue of account requests: it records each and,
// unless hold is set, works it at once. As with the queue, a failed job
// is not the requester's error: it is recorded in failed (the queue would
// try it again).
type fakeRequests struct {
	mu     sync.Mutex
	svc    *account.Service
	hold   bool
	queued []account.Request
	failed []error
}

func (f *fakeRequests) EnqueueRequest(ctx context.Context, r account.Request) error {
	f.mu.Lock()
	f.queued = append(f.queued, r)
	hold := f.hold
	f.mu.Unlock()
	if hold {
		return nil
	}
	if err := f.svc.Work(ctx, r); err != nil {
		f.mu.Lock()
		f.failed = append(f.failed, err)
		f.mu.Unlock()
	}
	return nil
}

// lastFailure returns the error of the last failed request, or nil.
func (f *fakeRequests) lastFailure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.failed) == 0 {
		return nil
	}
	return f.failed[len(f.failed)-1]
}

// take returns and forgets what was queued.
func (f *fakeRequests) take() []account.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queued
	f.queued = nil
	return q
}

var meta = account.Meta{IP: "192.0.2.10", UserAgent: "test-agent", RequestID: "req-1", ClientID: "app", SID: "sid-current"}

// createUser makes a verified account through the operator path.
func (e *env) createUser(email string) *storage.User {
	e.t.Helper()
	u, err := e.svc.CreateUser(e.ctx, account.NewUser{Email: email, Password: goodPassword, Verified: true, Name: "Ada"}, "test", meta)
	if err != nil {
		e.t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

func (e *env) user(id string) *storage.User {
	e.t.Helper()
	u, err := e.store.GetUser(e.ctx, id)
	if err != nil {
		e.t.Fatalf("GetUser(%s): %v", id, err)
	}
	return u
}

// events returns the types of the audit events about subject, oldest
// first ("" for every event).
func (e *env) events(subject string) []storage.AuditType {
	e.t.Helper()
	es, err := e.store.ListAuditEvents(e.ctx, storage.AuditFilter{SubjectID: subject, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	out := []storage.AuditType{}
	for i := len(es) - 1; i >= 0; i-- {
		out = append(out, es[i].Type)
	}
	return out
}

func (e *env) lastEvent(subject string) *storage.AuditEvent {
	e.t.Helper()
	es, err := e.store.ListAuditEvents(e.ctx, storage.AuditFilter{SubjectID: subject, Limit: 1})
	if err != nil || len(es) == 0 {
		e.t.Fatalf("no audit event about %q (%v)", subject, err)
	}
	return es[0]
}

func (e *env) countUsers() int {
	e.t.Helper()
	us, err := e.store.ListUsers(e.ctx, "", 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(us)
}

func (e *env) countRows(table string) int {
	e.t.Helper()
	var n int
	if err := e.store.Gorm().Raw("SELECT COUNT(*) FROM " + table).Row().Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

var linkRE = regexp.MustCompile(`https://\S+`)

// link returns the link in m and its token.
func link(t testing.TB, m mail.Message) (string, string) {
	t.Helper()
	l := linkRE.FindString(m.Text)
	if l == "" {
		t.Fatalf("mail %q has no link:\n%s", m.Subject, m.Text)
	}
	u, err := url.Parse(l)
	if err != nil {
		t.Fatal(err)
	}
	return l, u.Query().Get("token")
}

// lastLink returns the token of the last mail to addr.
func (e *env) lastToken(addr string) string {
	e.t.Helper()
	msgs := e.mailer.sent()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To == addr {
			_, tok := link(e.t, msgs[i])
			return tok
		}
	}
	e.t.Fatalf("no mail to %s", addr)
	return ""
}

func wantErrIs(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

func wantEvents(t *testing.T, what string, got []storage.AuditType, want ...storage.AuditType) {
	t.Helper()
	if want == nil {
		want = []storage.AuditType{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: audit events %q, want %q", what, got, want)
	}
}

// slicesCount counts the events of type typ.
func slicesCount(evs []storage.AuditType, typ storage.AuditType) int {
	n := 0
	for _, e := range evs {
		if e == typ {
			n++
		}
	}
	return n
}
