package sql_test

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sql"
)

// A valid Argon2id PHC string (m=19456,t=2,p=1) and one that is not.
const (
	importHash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Zk7QhWn0mwcT9l9q2l3L1sWm1fXx2mHk6p7o3m8x6Ns"
	bcryptHash = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
)

func newImportStore(t *testing.T, url string, opts sql.Options) *sql.Store {
	t.Helper()
	s, err := sql.Open(url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return s
}

// users yields us as lines 1, 2, ...
func users(us ...storage.User) iter.Seq2[sql.ImportUser, error] {
	return func(yield func(sql.ImportUser, error) bool) {
		for i, u := range us {
			if !yield(sql.ImportUser{Line: i + 1, User: u}, nil) {
				return
			}
		}
	}
}

// collect runs an import and returns its result, problems and error.
func collect(t *testing.T, s *sql.Store, src iter.Seq2[sql.ImportUser, error], opts sql.ImportOptions) (sql.ImportResult, []sql.ImportProblem, error) {
	t.Helper()
	var problems []sql.ImportProblem
	opts.OnProblem = func(p sql.ImportProblem) { problems = append(problems, p) }
	if opts.Actor == "" {
		opts.Actor = "test"
	}
	res, err := s.ImportUsers(context.Background(), src, opts)
	return res, problems, err
}

func countUsers(t *testing.T, s *sql.Store) int64 {
	t.Helper()
	var n int64
	if err := s.Gorm().Raw("SELECT COUNT(*) FROM users").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// importEvents returns the user.imported events, newest first.
func importEvents(t *testing.T, s *sql.Store) []*storage.AuditEvent {
	t.Helper()
	es, err := s.ListAuditEvents(context.Background(), storage.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []*storage.AuditEvent
	for _, e := range es {
		if e.Type == sql.AuditUsersImported {
			out = append(out, e)
		}
	}
	return out
}

func TestImportUsers(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		t.Parallel()
		ctx := context.Background()
		// The store under test has one connection, so the staging-table
		// check below looks at the very session the import ran on (other
		// tests import in parallel into the same database). Migrations
		// need a second connection (goose's lock): a store of their own.
		newImportStore(t, url, sql.Options{}).Close()
		s, err := sql.Open(url, sql.Options{Sealer: testKeyring(t), MaxOpenConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		created := time.Date(2020, 5, 17, 10, 0, 0, 123456789, time.UTC)
		res, problems, err := collect(t, s, users(
			storage.User{Email: " Ada@Example.COM ", PasswordHash: importHash, EmailVerified: true, Name: "Ada Lovelace",
				Organization: "Analytical Engines", Department: "Research", EmployeeID: "E-1815", Locale: "en"},
			storage.User{Email: "bob@example.com", ID: "legacy-42", CreatedAt: created, Disabled: true},
			storage.User{Email: "carol@example.com", Phone: "+15551234567", PhoneVerified: true, PasswordHash: importHash},
		), sql.ImportOptions{Details: func() map[string]any { return map[string]any{"source": "test"} }})
		if err != nil || len(problems) != 0 {
			t.Fatalf("ImportUsers = %+v, problems %v, %v", res, problems, err)
		}
		if res != (sql.ImportResult{Imported: 3}) {
			t.Errorf("result %+v, want 3 imported", res)
		}

		ada, err := s.GetUserByEmail(ctx, "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if ada.Email != "ada@example.com" || !ada.EmailVerified || ada.Name != "Ada Lovelace" || ada.PasswordHash != importHash ||
			ada.Organization != "Analytical Engines" || ada.Department != "Research" || ada.EmployeeID != "E-1815" || ada.Locale != "en" {
			t.Errorf("ada = %+v", ada)
		}
		if _, err := uuidV7(ada.ID); err != nil {
			t.Errorf("generated id %q: %v", ada.ID, err)
		}
		if ada.CreatedAt.IsZero() || !ada.PasswordChangedAt.Equal(ada.CreatedAt) || !ada.UpdatedAt.Equal(ada.CreatedAt) {
			t.Errorf("ada's times: created %v, password changed %v, updated %v; want all the import's time", ada.CreatedAt, ada.PasswordChangedAt, ada.UpdatedAt)
		}
		bob, err := s.GetUser(ctx, "legacy-42")
		if err != nil {
			t.Fatalf("the id given is kept: %v", err)
		}
		if !bob.CreatedAt.Equal(created.Truncate(time.Millisecond)) || !bob.PasswordChangedAt.IsZero() || bob.PasswordHash != "" || !bob.Disabled || bob.EmailVerified {
			t.Errorf("bob = %+v; want created_at as given, no password, disabled, unverified", bob)
		}

		// The phone is sealed with the store's Sealer, as CreateUser does.
		carol, err := s.GetUserByEmail(ctx, "carol@example.com")
		if err != nil || carol.Phone != "+15551234567" || !carol.PhoneVerified {
			t.Fatalf("carol = %+v, %v; want the phone back", carol, err)
		}
		var sealed, none []byte
		if err := s.Gorm().Raw("SELECT phone_sealed FROM users WHERE id = ?", carol.ID).Row().Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if len(sealed) == 0 || bytes.Contains(sealed, []byte("5551234567")) {
			t.Errorf("phone_sealed = %q, want it sealed", sealed)
		}
		if err := s.Gorm().Raw("SELECT phone_sealed FROM users WHERE id = ?", ada.ID).Row().Scan(&none); err != nil || none != nil {
			t.Errorf("phone_sealed without a phone = %q, %v; want NULL", none, err)
		}

		// One audit event for the import, on an intact chain.
		evs := importEvents(t, s)
		if len(evs) != 1 {
			t.Fatalf("%d %s events, want 1", len(evs), sql.AuditUsersImported)
		}
		d := evs[0].Details
		if evs[0].ActorID != "test" || d["count"] != float64(3) || d["complete"] != true || d["source"] != "test" ||
			d["first_id"] != ada.ID || d["last_id"] != carol.ID {
			t.Errorf("audit event %+v", evs[0])
		}
		if err := s.VerifyAuditChain(ctx); err != nil {
			t.Errorf("VerifyAuditChain: %v", err)
		}
		// The Postgres staging table does not outlive the import.
		if s.Dialect() == sql.Postgres {
			var left bool
			if err := s.Gorm().Raw("SELECT to_regclass('pg_temp.users_import') IS NOT NULL").Scan(&left).Error; err != nil || left {
				t.Errorf("users_import left in the session: %v, %v", left, err)
			}
		}
	})
}

func uuidV7(id string) (int, error) {
	if len(id) != 36 || id[14] != '7' {
		return 0, errors.New("not a UUIDv7")
	}
	return 7, nil
}

func TestImportDuplicates(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		t.Parallel()
		ctx := context.Background()
		s := newImportStore(t, url, sql.Options{})
		if err := s.CreateUser(ctx, &storage.User{Email: "taken@example.com"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, &storage.User{ID: "id-taken", Email: "other@example.com"}); err != nil {
			t.Fatal(err)
		}
		input := []storage.User{
			{Email: "a@example.com"},                 // 1
			{Email: "TAKEN@example.com"},             // 2: in the database
			{Email: "b@example.com"},                 // 3
			{Email: " A@EXAMPLE.com"},                // 4: line 1's
			{Email: "c@example.com", ID: "x-1"},      // 5
			{Email: "d@example.com", ID: "x-1"},      // 6: line 5's id
			{Email: "e@example.com", ID: "id-taken"}, // 7: an id in the database
			{Email: "f@example.com"},                 // 8
		}

		// fail: nothing is imported, whichever batch the conflict is in.
		for _, batch := range []int{1, 3, 100} {
			res, problems, err := collect(t, s, users(input...), sql.ImportOptions{OnConflict: sql.ImportFail, Batch: batch})
			if res.Imported != 0 {
				t.Errorf("batch %d, fail: %+v, want 0 imported", batch, res)
			}
			var ae *sql.ImportAbortedError
			if !errors.As(err, &ae) || ae.Problem.Line != 2 || ae.Problem.Kind != sql.ProblemDuplicate || !strings.Contains(err.Error(), "nothing was imported") {
				t.Errorf("batch %d, fail: err %v, want an ImportAbortedError at line 2", batch, err)
			}
			if len(problems) != 1 {
				t.Errorf("batch %d, fail: problems %v, want the one", batch, problems)
			}
			if n := countUsers(t, s); n != 2 {
				t.Errorf("batch %d, fail: %d users, want the 2 there were", batch, n)
			}
		}
		if evs := importEvents(t, s); len(evs) != 0 {
			t.Errorf("failed imports left %d audit events", len(evs))
		}
		// A later in-file duplicate is found before anything is written.
		_, _, err := collect(t, s, users(input[0], input[2], input[3]), sql.ImportOptions{OnConflict: sql.ImportFail})
		var ae *sql.ImportAbortedError
		if !errors.As(err, &ae) || ae.Problem.Line != 3 || !strings.Contains(ae.Problem.Reason, "line 1") {
			t.Errorf("fail on an in-file duplicate: %v", err)
		}

		// skip (the default): reported with their lines, the rest imported.
		res, problems, err := collect(t, s, users(input...), sql.ImportOptions{Batch: 3})
		if err != nil {
			t.Fatal(err)
		}
		if res != (sql.ImportResult{Imported: 4, Duplicates: 4}) || res.Skipped() != 4 {
			t.Errorf("skip: %+v, want 4 imported, 4 duplicates", res)
		}
		var lines []int
		for _, p := range problems {
			if p.Kind != sql.ProblemDuplicate {
				t.Errorf("problem %v is not a duplicate", p)
			}
			lines = append(lines, p.Line)
		}
		slices.Sort(lines)
		if !slices.Equal(lines, []int{2, 4, 6, 7}) {
			t.Errorf("duplicate lines %v (%v), want [2 4 6 7]", lines, problems)
		}
		for _, p := range problems {
			switch p.Line {
			case 4:
				if !strings.Contains(p.Reason, "line 1") {
					t.Errorf("line 4: %q, want it to name line 1", p.Reason)
				}
			case 6:
				if !strings.Contains(p.Reason, "id is on line 5") {
					t.Errorf("line 6: %q, want it to name line 5's id", p.Reason)
				}
			case 2, 7:
				if !strings.Contains(p.Reason, "exists already") {
					t.Errorf("line %d: %q, want it to say the user exists", p.Line, p.Reason)
				}
			}
		}
		if n := countUsers(t, s); n != 6 {
			t.Errorf("%d users, want 6", n)
		}

		// Again: everything is a duplicate now, nothing changes, no event.
		res, _, err = collect(t, s, users(input...), sql.ImportOptions{})
		if err != nil || res.Imported != 0 || res.Duplicates != 8 {
			t.Errorf("re-import: %+v, %v; want 8 duplicates", res, err)
		}
		if evs := importEvents(t, s); len(evs) != 1 || evs[0].Details["duplicates"] != float64(4) {
			t.Errorf("audit events %v, want the one import with 4 duplicates", evs)
		}
	})
}

func TestImportBadLines(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		t.Parallel()
		ctx := context.Background()
		s := newImportStore(t, url, sql.Options{})
		input := []storage.User{
			{Email: "good1@example.com", PasswordHash: importHash}, // 1
			{Email: "no-at-sign"}, // 2
			{Email: "bcrypt@example.com", PasswordHash: bcryptHash},                                            // 3
			{Email: "plain@example.com", PasswordHash: "hunter2"},                                              // 4
			{Email: "id@example.com", ID: "has space"},                                                         // 5
			{Email: "huge@example.com", PasswordHash: strings.Replace(importHash, "m=19456", "m=99999999", 1)}, // 6
			{Email: "good2@example.com"},                                                                       // 7
			{Email: ""},                                                                                        // 8
		}
		res, problems, err := collect(t, s, users(input...), sql.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res != (sql.ImportResult{Imported: 2, Invalid: 6}) {
			t.Errorf("%+v, want 2 imported and 6 invalid (%v)", res, problems)
		}
		want := map[int]string{2: "exactly one @", 3: "PHC", 4: "PHC", 5: "id must not contain spaces", 6: "PHC", 8: "empty"}
		for _, p := range problems {
			if p.Kind != sql.ProblemInvalid || !strings.Contains(p.Reason, want[p.Line]) || want[p.Line] == "" {
				t.Errorf("problem %v, want line %d to be invalid with %q", p, p.Line, want[p.Line])
			}
			delete(want, p.Line)
		}
		if len(want) > 0 {
			t.Errorf("lines not reported: %v", want)
		}
		if _, err := s.GetUserByEmail(ctx, "good2@example.com"); err != nil {
			t.Errorf("good2: %v", err)
		}

		// fail: the first invalid line aborts.
		_, _, err = collect(t, s, users(storage.User{Email: "good3@example.com"}, input[3]), sql.ImportOptions{OnConflict: sql.ImportFail})
		var ae *sql.ImportAbortedError
		if !errors.As(err, &ae) || ae.Problem.Line != 2 || ae.Problem.Kind != sql.ProblemInvalid {
			t.Errorf("fail on an invalid hash: %v", err)
		}
		if _, err := s.GetUserByEmail(ctx, "good3@example.com"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("good3 after a failed import: %v, want not found", err)
		}

		// An error from the input stops the import; with skip, the batches
		// committed stay and the audit trail says the import is partial.
		broken := func(yield func(sql.ImportUser, error) bool) {
			for i := range 5 {
				if !yield(sql.ImportUser{Line: i + 1, User: storage.User{Email: "p" + string(rune('a'+i)) + "@example.com"}}, nil) {
					return
				}
			}
			yield(sql.ImportUser{}, errors.New("line 6: not JSON"))
		}
		res, _, err = collect(t, s, broken, sql.ImportOptions{Batch: 2})
		if err == nil || !strings.Contains(err.Error(), "not JSON") {
			t.Fatalf("broken input: %v", err)
		}
		if res.Imported != 4 {
			t.Errorf("broken input: %+v, want the 2 full batches (4) imported", res)
		}
		if _, err := s.GetUserByEmail(ctx, "pe@example.com"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the unfinished batch's user: %v, want not found", err)
		}
		evs := importEvents(t, s)
		if len(evs) != 2 || evs[0].Details["complete"] != false || evs[0].Details["count"] != float64(4) {
			t.Errorf("audit events %+v, want a partial import of 4 last", evs)
		}
		if err := s.VerifyAuditChain(ctx); err != nil {
			t.Errorf("VerifyAuditChain: %v", err)
		}

		// Bad options.
		if _, err := s.ImportUsers(ctx, users(), sql.ImportOptions{OnConflict: "update"}); err == nil {
			t.Error("OnConflict update accepted")
		}
		if _, err := s.ImportUsers(ctx, users(), sql.ImportOptions{Batch: -1}); err == nil {
			t.Error("Batch -1 accepted")
		}
	})
}

// TestImportPhoneWithoutSealer: a phone number cannot be stored without
// the master keyring; the import stops at once.
func TestImportPhoneWithoutSealer(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		t.Parallel()
		s := newImportStore(t, url, sql.Options{})
		res, _, err := collect(t, s, users(storage.User{Email: "a@example.com"}, storage.User{Email: "b@example.com", Phone: "+15551234567"}),
			sql.ImportOptions{})
		if err == nil || !strings.Contains(err.Error(), "Sealer") || res.Imported != 0 || countUsers(t, s) != 0 {
			t.Errorf("phone without a Sealer: %+v, %v; want an error naming Options.Sealer and nothing imported", res, err)
		}
	})
}

// TestImportMany imports enough users for several full batches and
// statements (SQLite's multi-row INSERTs hold 1000 rows).
func TestImportMany(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		t.Parallel()
		ctx := context.Background()
		s := newImportStore(t, url, sql.Options{})
		const n = 12345
		src := func(yield func(sql.ImportUser, error) bool) {
			for i := range n {
				u := storage.User{Email: "user" + itoa(i) + "@example.com", PasswordHash: importHash, EmailVerified: true}
				if !yield(sql.ImportUser{Line: i + 1, User: u}, nil) {
					return
				}
			}
		}
		var batches int
		res, err := s.ImportUsers(ctx, src, sql.ImportOptions{Batch: 2500, OnBatch: func(sql.ImportResult) { batches++ }})
		if err != nil || res.Imported != n {
			t.Fatalf("ImportUsers = %+v, %v; want %d", res, err, n)
		}
		if batches != 5 {
			t.Errorf("%d batches, want 5", batches)
		}
		if c := countUsers(t, s); c != n {
			t.Errorf("%d users, want %d", c, n)
		}
		u, err := s.GetUserByEmail(ctx, "user12344@example.com")
		if err != nil || !u.EmailVerified || u.PasswordHash != importHash {
			t.Errorf("last user: %+v, %v", u, err)
		}
		// Generated ids sort in input order (UUIDv7).
		first, _ := s.GetUserByEmail(ctx, "user0@example.com")
		if first == nil || first.ID >= u.ID {
			t.Errorf("ids: first %v, last %s; want the first to sort first", first, u.ID)
		}
	})
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
