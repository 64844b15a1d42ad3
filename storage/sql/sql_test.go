package sql_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sql"
	"github.com/authd/authd/storage/storagetest"
)

const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ---------------------------------------------------------------- SQLite

func openSQLite(t *testing.T, opts sql.Options) *sql.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authd.db")
	s, err := sql.Open("sqlite://"+path, opts)
	if err != nil {
		t.Fatalf("Open(sqlite://%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func migrate(t *testing.T, s *sql.Store) {
	t.Helper()
	if _, err := s.Migrate(context.Background(), nil); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
}

func newSQLite(t *testing.T, opts sql.Options) *sql.Store {
	t.Helper()
	s := openSQLite(t, opts)
	migrate(t, s)
	return s
}

// ---------------------------------------------------------------- Postgres

func postgresURL() string {
	if u := os.Getenv("AUTHD_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return defaultPostgresURL
}

// pgAdmin is the setup connection that creates and drops test schemas. It
// fails the test loudly when Postgres does not answer.
type pgAdmin struct {
	base string
	db   *sql.Store
}

func newPGAdmin(t *testing.T) *pgAdmin {
	t.Helper()
	base := postgresURL()
	hint := fmt.Sprintf("Postgres is required for these tests (%s, set AUTHD_TEST_POSTGRES_URL to change it); "+
		"start one, e.g.: docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16", redact(base))
	db, err := sql.Open(base, sql.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("open Postgres: %v\n%s", err, hint)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Postgres is unreachable: %v\n%s", err, hint)
	}
	return &pgAdmin{base: base, db: db}
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	return u.Redacted()
}

// schema creates a fresh schema dropped when t ends and returns the store
// URL that uses it.
func (a *pgAdmin) schema(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	if err := a.db.Gorm().Exec("CREATE SCHEMA " + name).Error; err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := a.db.Gorm().Exec("DROP SCHEMA " + name + " CASCADE").Error; err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(a.base)
	if err != nil {
		t.Fatalf("parse %s: %v", redact(a.base), err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

func (a *pgAdmin) open(t *testing.T, rawURL string, opts sql.Options) *sql.Store {
	t.Helper()
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = 10
	}
	s, err := sql.Open(rawURL, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", redact(rawURL), err)
	}
	// Registered after the schema's cleanup, so it runs first.
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (a *pgAdmin) newStore(t *testing.T, opts sql.Options) *sql.Store {
	t.Helper()
	s := a.open(t, a.schema(t), opts)
	migrate(t, s)
	return s
}

// ---------------------------------------------------------------- backends

type backend struct {
	name string
	// newStore returns a fresh, migrated, empty store.
	newStore func(t *testing.T, opts sql.Options) *sql.Store
}

func backends(t *testing.T) []backend {
	pg := newPGAdmin(t)
	return []backend{
		{sql.SQLite, newSQLite},
		{sql.Postgres, pg.newStore},
	}
}

func TestConformance(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			storagetest.RunTests(t, func(t *testing.T, now func() time.Time) storagetest.Store {
				return b.newStore(t, sql.Options{Now: now})
			})
		})
	}
}

// TestNoRawSignatures checks that no column of any table holds a raw token
// signature, code or assertion jti: they are stored hashed.
func TestNoRawSignatures(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := b.newStore(t, sql.Options{})
			ctx := context.Background()
			c := &storage.Client{ID: "app", Name: "App"}
			if err := s.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			req := func(id string) *fosite.Request {
				sess := openid.NewDefaultSession()
				sess.Subject = "alice"
				sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
				r := fosite.NewRequest()
				r.ID, r.Client, r.Session, r.GrantedScope = id, c, sess, fosite.Arguments{"openid"}
				return r
			}
			secrets := map[string]func(string) error{
				"raw-sig-XYZ":   func(v string) error { return s.CreateRefreshTokenSession(ctx, v, "jti-1", req("r1")) },
				"raw-code-XYZ":  func(v string) error { return s.CreateAuthorizeCodeSession(ctx, v, req("r2")) },
				"raw-pkce-XYZ":  func(v string) error { return s.CreatePKCERequestSession(ctx, v, req("r3")) },
				"raw-oidc-XYZ":  func(v string) error { return s.CreateOpenIDConnectSession(ctx, v, req("r4")) },
				"raw-jwtid-XYZ": func(v string) error { return s.SetClientAssertionJWT(ctx, v, time.Now().Add(time.Hour)) },
			}
			for v, create := range secrets {
				if err := create(v); err != nil {
					t.Fatalf("store %q: %v", v, err)
				}
			}
			if err := s.RotateRefreshToken(ctx, "r1", "raw-sig-XYZ"); err != nil {
				t.Fatalf("RotateRefreshToken: %v", err)
			}
			tables := listTables(t, s)
			if len(tables) < 9 {
				t.Fatalf("found tables %v, want at least the 9 of the schema", tables)
			}
			rowsSeen := 0
			for _, table := range tables {
				rows, err := s.Gorm().Raw("SELECT * FROM " + table).Rows()
				if err != nil {
					t.Fatalf("scan %s: %v", table, err)
				}
				cols, _ := rows.Columns()
				for rows.Next() {
					rowsSeen++
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					if err := rows.Scan(ptrs...); err != nil {
						t.Fatalf("scan %s: %v", table, err)
					}
					for i, v := range vals {
						text := fmt.Sprintf("%v", v)
						if b, ok := v.([]byte); ok {
							text = string(b)
						}
						for secret := range secrets {
							if strings.Contains(text, secret) {
								t.Errorf("%s.%s holds the raw value %q: %s", table, cols[i], secret, text)
							}
						}
					}
				}
				if err := rows.Err(); err != nil {
					t.Fatalf("scan %s: %v", table, err)
				}
				rows.Close()
			}
			if rowsSeen < len(secrets) {
				t.Errorf("scanned only %d rows, want at least %d", rowsSeen, len(secrets))
			}
		})
	}
}

func listTables(t *testing.T, s *sql.Store) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
	if s.Dialect() == sql.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`
	}
	var tables []string
	if err := s.Gorm().Raw(q).Scan(&tables).Error; err != nil {
		t.Fatalf("list tables: %v", err)
	}
	return tables
}

// TestOnRevoke checks that every revocation entry the store writes reaches
// Options.OnRevoke.
func TestOnRevoke(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			seen := map[string]storage.Revocation{}
			s := b.newStore(t, sql.Options{OnRevoke: func(r storage.Revocation) {
				mu.Lock()
				defer mu.Unlock()
				seen[string(r.Kind)+":"+r.Value] = r
			}})
			ctx := context.Background()
			c := &storage.Client{ID: "app", Name: "App"}
			if err := s.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			sess := openid.NewDefaultSession()
			sess.Subject = "alice"
			sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
			r := fosite.NewRequest()
			r.ID, r.Client, r.Session = "grant-1", c, sess
			steps := []struct {
				name string
				fn   func() error
			}{
				{"CreateRefreshTokenSession", func() error { return s.CreateRefreshTokenSession(ctx, "rt", "jti-1", r) }},
				{"RotateRefreshToken", func() error { return s.RotateRefreshToken(ctx, "grant-1", "rt") }},
				{"RevokeAccessToken", func() error { return s.RevokeAccessToken(ctx, "grant-1") }},
				{"RevokeSubjectTokens", func() error { return s.RevokeSubjectTokens(ctx, "alice") }},
				{"RevokeSessionTokens", func() error { return s.RevokeSessionTokens(ctx, "sid-1", true) }},
				{"AddRevocation", func() error {
					return s.AddRevocation(ctx, storage.Revocation{Kind: storage.RevokeToken, Value: "jti-2",
						RevokedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
				}},
			}
			for _, st := range steps {
				if err := st.fn(); err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
			}
			stored, err := s.ListRevocations(ctx, time.Time{}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(stored) != 5 || len(seen) != len(stored) {
				t.Errorf("stored %d revocations %+v, OnRevoke saw %d %+v; want 5 each", len(stored), stored, len(seen), seen)
			}
			for _, st := range stored {
				got, ok := seen[string(st.Kind)+":"+st.Value]
				if !ok {
					t.Errorf("stored revocation %+v was not reported to OnRevoke", st)
					continue
				}
				// The revocation set works in milliseconds.
				if got.RevokedAt.UnixMilli() != st.RevokedAt.UnixMilli() || got.ExpiresAt.UnixMilli() != st.ExpiresAt.UnixMilli() {
					t.Errorf("OnRevoke got %+v, stored %+v: want the same times (ms)", got, st)
				}
			}
		})
	}
}

// TestOnRevokeAfterCommit checks that revocation entries written inside a
// transaction reach OnRevoke only once it commits, and never when it rolls
// back; outside a transaction they arrive at once.
func TestOnRevokeAfterCommit(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var seen []string
			s := b.newStore(t, sql.Options{OnRevoke: func(r storage.Revocation) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, string(r.Kind)+":"+r.Value)
			}})
			got := func() []string {
				mu.Lock()
				defer mu.Unlock()
				return append([]string(nil), seen...)
			}
			ctx := context.Background()
			for _, tc := range []struct {
				name   string
				commit bool
				value  string
			}{{"commit", true, "alice"}, {"rollback", false, "bob"}} {
				txCtx, err := s.BeginTX(ctx)
				if err != nil {
					t.Fatal(err)
				}
				before := len(got())
				if err := s.RevokeSubjectTokens(txCtx, tc.value); err != nil {
					s.Rollback(txCtx)
					t.Fatalf("%s: RevokeSubjectTokens: %v", tc.name, err)
				}
				if err := s.AddRevocation(txCtx, storage.Revocation{Kind: storage.RevokeToken, Value: "jti-" + tc.value,
					RevokedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
					s.Rollback(txCtx)
					t.Fatal(err)
				}
				if g := got(); len(g) != before {
					s.Rollback(txCtx)
					t.Fatalf("%s: OnRevoke called before the transaction ended: %v", tc.name, g[before:])
				}
				if tc.commit {
					err = s.Commit(txCtx)
				} else {
					err = s.Rollback(txCtx)
				}
				if err != nil {
					t.Fatal(err)
				}
				want := []string{}
				if tc.commit {
					want = []string{"subject:" + tc.value, "jti:jti-" + tc.value}
				}
				if g := got()[before:]; !slices.Equal(g, want) {
					t.Fatalf("%s: OnRevoke saw %v, want %v", tc.name, g, want)
				}
			}
			// Outside a transaction: at once (RevokeSubjectTokens opens
			// and commits its own).
			if err := s.RevokeSubjectTokens(ctx, "carol"); err != nil {
				t.Fatal(err)
			}
			if g := got(); len(g) != 3 || g[2] != "subject:carol" {
				t.Fatalf("OnRevoke after a write outside a transaction saw %v", g)
			}
			stored, err := s.ListRevocations(ctx, time.Time{}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range stored {
				if r.Value == "bob" || r.Value == "jti-bob" {
					t.Fatalf("a rolled back revocation is stored: %+v", r)
				}
			}
		})
	}
}

// ---------------------------------------------------------------- migrations and URLs

func TestParseURL(t *testing.T) {
	tests := []struct {
		in          string
		wantDialect string
		wantDSN     string // prefix
		wantErr     bool
	}{
		{"sqlite:///var/lib/authd/authd.db", sql.SQLite, "file:/var/lib/authd/authd.db?", false},
		{"sqlite://authd.db", sql.SQLite, "file:authd.db?", false},
		{"sqlite://", "", "", true},
		{"postgres://u:p@db:5432/authd?sslmode=disable", sql.Postgres, "postgres://u:p@db:5432/authd?sslmode=disable", false},
		{"postgresql://db/authd", sql.Postgres, "postgresql://db/authd", false},
		{"postgres://bad host:5432/%zz", "", "", true},
		{"mysql://db/authd", "", "", true},
		{"/var/lib/authd.db", "", "", true},
		{"", "", "", true},
	}
	for _, tc := range tests {
		dialect, dsn, err := sql.ParseURL(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseURL(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if dialect != tc.wantDialect || !strings.HasPrefix(dsn, tc.wantDSN) {
			t.Errorf("ParseURL(%q) = (%q, %q), want (%q, %q...)", tc.in, dialect, dsn, tc.wantDialect, tc.wantDSN)
		}
		if dialect == sql.SQLite {
			for _, p := range []string{"busy_timeout", "journal_mode", "foreign_keys", "_txlock=immediate"} {
				if !strings.Contains(dsn, p) {
					t.Errorf("ParseURL(%q) DSN %q lacks %q", tc.in, dsn, p)
				}
			}
		}
	}
}

func TestMigrate(t *testing.T) {
	pg := newPGAdmin(t)
	opens := []struct {
		name string
		open func(t *testing.T) *sql.Store
	}{
		{sql.SQLite, func(t *testing.T) *sql.Store { return openSQLite(t, sql.Options{}) }},
		{sql.Postgres, func(t *testing.T) *sql.Store { return pg.open(t, pg.schema(t), sql.Options{}) }},
	}
	for _, o := range opens {
		t.Run(o.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := o.open(t)
			pending, err := s.Pending(ctx)
			if err != nil || pending == 0 {
				t.Fatalf("Pending on a fresh database = %d, %v; want > 0, nil", pending, err)
			}
			n, err := s.Migrate(ctx, nil)
			if err != nil || n != pending {
				t.Fatalf("first Migrate = %d, %v; want %d, nil", n, err, pending)
			}
			n, err = s.Migrate(ctx, nil)
			if err != nil || n != 0 {
				t.Errorf("second Migrate = %d, %v; want 0, nil", n, err)
			}
			st, err := s.MigrationStatus(ctx)
			if err != nil {
				t.Fatalf("MigrationStatus: %v", err)
			}
			if len(st) != pending {
				t.Errorf("MigrationStatus lists %d migrations, want %d", len(st), pending)
			}
			for _, m := range st {
				if !m.Applied || m.AppliedAt.IsZero() || m.Version == 0 || m.Name == "" {
					t.Errorf("MigrationStatus entry %+v, want applied with a version, name and time", m)
				}
			}
			if p, err := s.Pending(ctx); err != nil || p != 0 {
				t.Errorf("Pending after Migrate = %d, %v; want 0, nil", p, err)
			}
		})
	}
	t.Run("PostgresConcurrent", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		u := pg.schema(t)
		const n = 3
		stores := make([]*sql.Store, n)
		for i := range stores {
			stores[i] = pg.open(t, u, sql.Options{})
		}
		applied := make([]int, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				applied[i], errs[i] = s.Migrate(ctx, nil)
			}()
		}
		wg.Wait()
		total := 0
		for i := range stores {
			if errs[i] != nil {
				t.Errorf("store %d: concurrent Migrate: %v", i, errs[i])
			}
			total += applied[i]
		}
		st, err := stores[0].MigrationStatus(ctx)
		if err != nil {
			t.Fatalf("MigrationStatus: %v", err)
		}
		if total != len(st) {
			t.Errorf("%d concurrent Migrate applied %v migrations in all, want %d (each exactly once)", n, applied, len(st))
		}
		for _, m := range st {
			if !m.Applied {
				t.Errorf("migration %+v not applied after concurrent Migrate", m)
			}
		}
		// The schema works.
		if err := stores[1].CreateClient(ctx, &storage.Client{ID: "c"}); err != nil {
			t.Errorf("CreateClient after concurrent Migrate: %v", err)
		}
	})
}

func TestTxFromContext(t *testing.T) {
	for name, url := range map[string]string{"sqlite": testdb.SQLite(t), "postgres": testdb.Postgres(t)} {
		t.Run(name, func(t *testing.T) {
			s, err := sql.Open(url, sql.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if _, ok := sql.TxFromContext(ctx); ok {
				t.Fatal("a plain context carries a transaction")
			}
			txCtx, err := s.BeginTX(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tx, ok := sql.TxFromContext(txCtx)
			if !ok || tx == nil {
				t.Fatal("no *sql.Tx in the transaction's context")
			}
			if _, err := tx.ExecContext(txCtx, "SELECT 1"); err != nil {
				t.Fatalf("the *sql.Tx does not work: %v", err)
			}
			if err := s.Rollback(txCtx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWithClientLookup checks that stored requests read back through
// WithClientLookup get their client from the lookup (the client cache), not
// from a query, that the lookup's answer, not found included, is what
// counts, and that the store it was made from still queries.
func TestWithClientLookup(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := b.newStore(t, sql.Options{})
			ctx := context.Background()
			c := &storage.Client{ID: "app", Name: "App in the database"}
			if err := s.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			sess := openid.NewDefaultSession()
			sess.Subject = "alice"
			sess.SetExpiresAt(fosite.RefreshToken, time.Now().Add(time.Hour))
			r := fosite.NewRequest()
			r.ID, r.Client, r.Session = "grant-1", c, sess
			if err := s.CreateRefreshTokenSession(ctx, "rt", "jti-1", r); err != nil {
				t.Fatal(err)
			}
			readFrom := func(s *sql.Store) (fosite.Requester, error) {
				return s.GetRefreshTokenSession(ctx, "rt", openid.NewDefaultSession())
			}
			got, err := readFrom(s)
			if err != nil || got.GetClient().(*storage.Client).Name != "App in the database" {
				t.Fatalf("without a lookup: %v, %+v; want the client from the database", err, got)
			}

			cached := &storage.Client{ID: "app", Name: "App in the cache"}
			var mu sync.Mutex
			var asked []string
			cachedStore := s.WithClientLookup(func(_ context.Context, id string) (*storage.Client, error) {
				mu.Lock()
				defer mu.Unlock()
				asked = append(asked, id)
				if len(asked) > 1 {
					return nil, storage.ErrNotFound
				}
				return cached, nil
			})
			got, err = readFrom(cachedStore)
			if err != nil || got.GetClient() != fosite.Client(cached) {
				t.Fatalf("with a lookup: %v, client %+v; want the lookup's", err, got.GetClient())
			}
			if got, err := readFrom(s); err != nil || got.GetClient().(*storage.Client).Name != "App in the database" {
				t.Fatalf("the store WithClientLookup was called on: %v, %+v; want the client from the database", err, got)
			}
			if _, err := readFrom(cachedStore); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("lookup says not found: err %v, want storage.ErrNotFound", err)
			}
			if !slices.Equal(asked, []string{"app", "app"}) {
				t.Errorf("lookup asked for %q, want app twice", asked)
			}
		})
	}
}

// Under concurrent load the default pool reuses its connections instead of
// opening a new Postgres session for most requests and closing it again.
func TestDefaultPoolKeepsConnections(t *testing.T) {
	t.Parallel()
	s, err := sql.Open(testdb.Postgres(t), sql.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := s.Gorm().DB()
	if err != nil {
		t.Fatal(err)
	}
	bound := sql.DefaultPostgresMaxOpenConns()
	if got := db.Stats().MaxOpenConnections; got != bound {
		t.Errorf("MaxOpenConnections = %d, want %d", got, bound)
	}
	for range 3 {
		var wg sync.WaitGroup
		for range 2 * bound {
			wg.Go(func() {
				if err := db.QueryRow("SELECT pg_sleep(0.02)").Scan(new(any)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if st := db.Stats(); st.MaxIdleClosed != 0 || st.OpenConnections > bound {
		t.Errorf("pool stats %+v: connections were closed for want of idle slots, or more opened than the bound", st)
	}
}
