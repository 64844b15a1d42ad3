package sql

// Bulk import of users (`authd users import`): a million users in minutes.
//
// Rows go in batches. On Postgres each batch is COPYed (pgx's CopyFrom, on
// the pgx connection under the store's *sql.DB) into a temporary staging
// table and moved into users with one INSERT ... SELECT ... ON CONFLICT DO
// NOTHING RETURNING id; on SQLite a batch is a few multi-row INSERT ... ON
// CONFLICT DO NOTHING RETURNING id statements. Either way a row that
// conflicts with a user already in the database is skipped, not fatal, and
// the ids returned tell exactly which lines were skipped. Duplicates within
// the input (the same normalised email, or id, twice) are found before
// anything is written: the first line wins.
//
// The audit trail gets one summary event (AuditUsersImported: how many
// users, from what input) instead of one event per user. Events form a
// hash chain whose head row every append updates, so appends are
// serialised: a million of them would cost more than the import itself and
// double its writes, and a million identical "created by the CLI" events
// say nothing the summary (count, source name and SHA-256, id range) does
// not.

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"

	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/storage"
)

// AuditUsersImported is the type of the one audit event a bulk import
// appends. Details: count (users imported), duplicates, invalid (lines
// skipped), complete (false when the import stopped part way), first_id and
// last_id (the ids of the first and last user imported), and what the
// caller adds (the CLI: source and sha256 of the input).
const AuditUsersImported = storage.AuditUsersImported

// What ImportUsers does with a duplicate (an email or id that an earlier
// line or a user already in the database has) or an invalid user.
const (
	// ImportSkip reports the line (ImportOptions.OnProblem) and goes on.
	// Each batch commits in its own transaction, so a running server is
	// never held up for long; an import that stops part way keeps the
	// batches committed so far, and running it again with ImportSkip
	// imports the rest (the others are then duplicates).
	ImportSkip = "skip"
	// ImportFail makes the first duplicate or invalid line abort the
	// import with an *ImportAbortedError, and nothing is imported: the
	// whole import is one transaction (on SQLite, other writers wait for
	// it).
	ImportFail = "fail"
)

// Problem kinds.
const (
	ProblemDuplicate = "duplicate"
	ProblemInvalid   = "invalid"
)

// DefaultImportBatch is the default number of users per batch.
const DefaultImportBatch = 5000

// MaxImportBatch bounds ImportOptions.Batch.
const MaxImportBatch = 100000

// sqliteRowsPerInsert is how many rows one multi-row INSERT holds on
// SQLite. Few: the driver (glebarez/go-sqlite) matches every bound
// parameter to its argument by a linear search, so binding n parameters
// costs n²; at 1000 rows (16,000 parameters) binding took 85% of an
// import, at 16 rows it is noise. 8 to 32 measure the same.
const sqliteRowsPerInsert = 16

// importAnalyzeMin: after importing at least this many users, ANALYZE users
// (Postgres) so the planner's statistics know the table's new size.
const importAnalyzeMin = 10000

// ImportUser is one user to import and where it came from.
type ImportUser struct {
	// Line is its line in the input (1-based), for reports.
	Line int
	// User is the user as CreateUser takes it. PasswordHash, when set,
	// must be an Argon2id PHC string (password.ParseParams); empty means
	// no password. ID empty: a new UUIDv7. CreatedAt zero: the import's
	// start. PasswordChangedAt zero and a password hash: the same.
	User storage.User
	// Invalid, when set, says why the caller found the line invalid (not
	// JSON, a password against the policy, ...): it is reported and
	// counted like the invalid lines ImportUsers finds itself.
	Invalid string
}

// ImportProblem is a line that was not imported.
type ImportProblem struct {
	Line int `json:"line"`
	// Email is the address as given.
	Email string `json:"email,omitempty"`
	// Kind is ProblemDuplicate or ProblemInvalid.
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

func (p ImportProblem) String() string {
	if p.Email != "" {
		return fmt.Sprintf("line %d: %s: %s (%q)", p.Line, p.Kind, p.Reason, p.Email)
	}
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Kind, p.Reason)
}

// ImportAbortedError is the error of an ImportFail import that met a
// duplicate or invalid line; nothing was imported.
type ImportAbortedError struct{ Problem ImportProblem }

func (e *ImportAbortedError) Error() string {
	return e.Problem.String() + "; nothing was imported"
}

// ImportOptions tune ImportUsers.
type ImportOptions struct {
	// Batch is how many users go in one COPY (Postgres) or one
	// transaction of multi-row INSERTs (SQLite); DefaultImportBatch when 0.
	Batch int
	// OnConflict is ImportSkip (the default) or ImportFail.
	OnConflict string
	// Actor names who imports in the audit event ("cli").
	Actor string
	// Details are added to the audit event's details (at the end, when
	// the input has been read: the CLI adds the input's SHA-256).
	Details func() map[string]any
	// OnProblem, when set, is called with every line skipped, in line
	// order within a batch (a batch's problems are reported when it is
	// written).
	OnProblem func(ImportProblem)
	// OnBatch, when set, is called after every batch commits (with
	// ImportFail: is written) with the totals so far.
	OnBatch func(ImportResult)
}

// ImportResult counts what an import did.
type ImportResult struct {
	Imported   int64 `json:"imported"`
	Duplicates int64 `json:"duplicates"`
	Invalid    int64 `json:"invalid"`
}

// Skipped is Duplicates + Invalid.
func (r ImportResult) Skipped() int64 { return r.Duplicates + r.Invalid }

// importColumns are the users columns an import writes, in order.
var importColumns = []string{
	"id", "email", "email_verified", "name", "picture", "locale", "phone_sealed", "phone_verified",
	"organization", "department", "employee_id", "password_hash", "password_changed_at", "disabled",
	"created_at", "updated_at",
}

func (r *userRow) importValues() []any {
	var phone any // NULL, not an empty BLOB, without a phone number
	if len(r.PhoneSealed) > 0 {
		phone = r.PhoneSealed
	}
	return []any{
		r.ID, r.Email, r.EmailVerified, r.Name, r.Picture, r.Locale, phone, r.PhoneVerified,
		r.Organization, r.Department, r.EmployeeID, r.PasswordHash, r.PasswordChangedAt, r.Disabled,
		r.CreatedAt, r.UpdatedAt,
	}
}

// ImportUsers stores the users src yields, in batches (see ImportOptions
// and the file comment). An error from src, or from the database, stops
// the import: with ImportSkip the batches committed before it stay (the
// result counts them), with ImportFail nothing stays (Imported is 0). Problems that are not
// errors (duplicates, invalid users) go to OnProblem and the counts. One
// AuditUsersImported event records the import when at least one user was
// imported.
func (s *Store) ImportUsers(ctx context.Context, src iter.Seq2[ImportUser, error], opts ImportOptions) (ImportResult, error) {
	switch opts.OnConflict {
	case "":
		opts.OnConflict = ImportSkip
	case ImportSkip, ImportFail:
	default:
		return ImportResult{}, fmt.Errorf("sql: import: OnConflict must be %q or %q, got %q", ImportSkip, ImportFail, opts.OnConflict)
	}
	switch {
	case opts.Batch == 0:
		opts.Batch = DefaultImportBatch
	case opts.Batch < 1 || opts.Batch > MaxImportBatch:
		return ImportResult{}, fmt.Errorf("sql: import: batch must be between 1 and %d, got %d", MaxImportBatch, opts.Batch)
	}
	if ctx.Value(txKey{}) != nil {
		return ImportResult{}, errors.New("sql: import: runs its own transactions; call it outside one")
	}
	imp := &importer{
		opts:    opts,
		now:     s.now().UTC().Truncate(timeMilli),
		emails:  map[string]int{},
		ids:     map[string]int{},
		dialect: s.dialect,
	}
	// One connection for the whole import: Postgres's staging table is a
	// temporary table of that session, and COPY needs that session's pgx
	// connection. The store's own methods (AppendAuditEvent) then run on
	// it too, through a copy of the store whose pool is that connection.
	err := s.db.WithContext(ctx).Connection(func(cdb *gorm.DB) error {
		conn, ok := cdb.Statement.ConnPool.(*sql.Conn)
		if !ok {
			return fmt.Errorf("sql: import: unexpected connection type %T", cdb.Statement.ConnPool)
		}
		pinned := *s
		pinned.db = cdb.Session(&gorm.Session{})
		imp.s, imp.conn = &pinned, conn
		return imp.run(ctx, src)
	})
	if err != nil && imp.fail() {
		imp.res.Imported = 0 // rolled back
	}
	if err == nil && imp.res.Imported >= importAnalyzeMin && s.dialect == Postgres {
		// Fresh statistics, so plans fit the new size at once rather
		// than after autovacuum's next analyze.
		err = s.db.WithContext(ctx).Exec("ANALYZE users").Error
	}
	return imp.res, err
}

type importer struct {
	s       *Store // the pinned copy
	conn    *sql.Conn
	dialect string
	opts    ImportOptions
	now     time.Time
	res     ImportResult
	// emails and ids map what earlier lines hold to their line.
	emails, ids map[string]int
	// firstID and lastID are the first and last ids imported.
	firstID, lastID string
	// txCtx carries the open transaction (Store.BeginTX), or is nil.
	txCtx context.Context
	// staged: the Postgres staging table exists in this session.
	staged bool
	// rows and lines are the batch being built; pending its problems.
	rows    []*userRow
	lines   []int
	pending []ImportProblem
}

func (imp *importer) fail() bool { return imp.opts.OnConflict == ImportFail }

func (imp *importer) run(ctx context.Context, src iter.Seq2[ImportUser, error]) (err error) {
	defer func() {
		if imp.txCtx != nil {
			_ = imp.s.Rollback(imp.txCtx)
			imp.txCtx = nil
		}
		if imp.staged {
			// The session goes back to the pool: leave nothing behind.
			_, _ = imp.conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS pg_temp.users_import")
		}
		if err != nil && !imp.fail() && imp.res.Imported > 0 {
			// Batches were committed: the trail must say so even though
			// the import did not finish.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if aerr := imp.s.AppendAuditEvent(actx, imp.event(false)); aerr != nil {
				err = errors.Join(err, fmt.Errorf("recording the partial import in the audit trail: %w", aerr))
			}
		}
	}()
	for iu, err := range src {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		row, problem, err := imp.check(&iu)
		if err != nil {
			return err
		}
		if problem != nil {
			if imp.fail() {
				// Write the lines before it first: one of them may
				// conflict with the database, and the first problem
				// is the one to report.
				if err := imp.flush(ctx, false); err != nil {
					return err
				}
				return imp.problem(*problem)
			}
			imp.pending = append(imp.pending, *problem)
		} else {
			imp.rows = append(imp.rows, row)
			imp.lines = append(imp.lines, iu.Line)
		}
		if len(imp.rows)+len(imp.pending) >= imp.opts.Batch {
			if err := imp.flush(ctx, false); err != nil {
				return err
			}
		}
	}
	return imp.flush(ctx, true)
}

// problem reports a line that is not imported; with ImportFail it is the
// import's error.
func (imp *importer) problem(p ImportProblem) error {
	if p.Kind == ProblemDuplicate {
		imp.res.Duplicates++
	} else {
		imp.res.Invalid++
	}
	if imp.opts.OnProblem != nil {
		imp.opts.OnProblem(p)
	}
	if imp.fail() {
		return &ImportAbortedError{Problem: p}
	}
	return nil
}

// check validates iu and makes its row, or says why it is not imported.
// An error (no master key for a phone number) stops the import.
func (imp *importer) check(iu *ImportUser) (*userRow, *ImportProblem, error) {
	u := iu.User
	invalid := func(reason string) (*userRow, *ImportProblem, error) {
		return nil, &ImportProblem{Line: iu.Line, Email: u.Email, Kind: ProblemInvalid, Reason: reason}, nil
	}
	if iu.Invalid != "" {
		return invalid(iu.Invalid)
	}
	if u.PasswordHash != "" {
		if _, err := password.ParseParams(u.PasswordHash); err != nil {
			return invalid("password_hash is not an Argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")
		}
	}
	if u.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, nil, err
		}
		u.ID = id.String()
	} else if msg := checkImportID(u.ID); msg != "" {
		return invalid("id " + msg)
	}
	if u.Phone != "" && imp.s.sealer == nil {
		return nil, nil, errors.New("sql: import: a user has a phone number and Options.Sealer (the master keyring) is not set")
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = imp.now
	}
	u.CreatedAt = u.CreatedAt.UTC().Truncate(timeMilli)
	u.UpdatedAt = imp.now
	if u.PasswordHash != "" && u.PasswordChangedAt.IsZero() {
		u.PasswordChangedAt = u.CreatedAt
	}
	row, err := imp.s.toUserRow(&u)
	if err != nil {
		if errors.Is(err, storage.ErrInvalidEmail) {
			return invalid(err.Error())
		}
		return nil, nil, fmt.Errorf("line %d: %w", iu.Line, err)
	}
	if first, dup := imp.emails[row.Email]; dup {
		return nil, &ImportProblem{Line: iu.Line, Email: u.Email, Kind: ProblemDuplicate,
			Reason: fmt.Sprintf("the email is on line %d already", first)}, nil
	}
	if first, dup := imp.ids[row.ID]; dup {
		return nil, &ImportProblem{Line: iu.Line, Email: u.Email, Kind: ProblemDuplicate,
			Reason: fmt.Sprintf("the id is on line %d already", first)}, nil
	}
	imp.emails[row.Email] = iu.Line
	if iu.User.ID != "" {
		// Generated ids are unique; only given ones need remembering.
		imp.ids[row.ID] = iu.Line
	}
	return row, nil, nil
}

// checkImportID accepts an id given in the input: what a subject may be.
func checkImportID(id string) string {
	switch {
	case len(id) > 255:
		return "is longer than 255 bytes"
	case !utf8.ValidString(id):
		return "is not UTF-8"
	case strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "must not contain spaces or control characters"
	}
	return ""
}

// flush writes the batch being built, in its own transaction (ImportSkip)
// or the import's one (ImportFail). The last flush also appends the audit
// event in that transaction, and commits.
func (imp *importer) flush(ctx context.Context, last bool) error {
	if imp.txCtx == nil && (len(imp.rows) > 0 || (last && imp.res.Imported > 0)) {
		tctx, err := imp.s.BeginTX(ctx)
		if err != nil {
			return err
		}
		imp.txCtx = tctx
	}
	if len(imp.rows) > 0 {
		inserted, err := imp.write(imp.txCtx)
		if err != nil {
			return err
		}
		imp.res.Imported += int64(len(inserted))
		if len(inserted) < len(imp.rows) {
			// The others conflict with users in the database.
			for i, row := range imp.rows {
				if !inserted[row.ID] {
					imp.pending = append(imp.pending, ImportProblem{Line: imp.lines[i], Email: row.Email,
						Kind: ProblemDuplicate, Reason: "a user with this email or id exists already"})
				}
			}
		}
		for _, row := range imp.rows {
			if inserted[row.ID] {
				if imp.firstID == "" {
					imp.firstID = row.ID
				}
				imp.lastID = row.ID
			}
		}
		clear(imp.rows)
		imp.rows, imp.lines = imp.rows[:0], imp.lines[:0]
	}
	// The batch's problems, in line order.
	slices.SortFunc(imp.pending, func(a, b ImportProblem) int { return cmp.Compare(a.Line, b.Line) })
	for _, p := range imp.pending {
		if err := imp.problem(p); err != nil {
			imp.pending = imp.pending[:0]
			return err
		}
	}
	imp.pending = imp.pending[:0]
	if last && imp.res.Imported > 0 {
		if err := imp.s.AppendAuditEvent(imp.txCtx, imp.event(true)); err != nil {
			return err
		}
	}
	if imp.txCtx != nil && (last || !imp.fail()) {
		err := imp.s.Commit(imp.txCtx)
		imp.txCtx = nil
		if err != nil {
			return err
		}
	}
	if imp.opts.OnBatch != nil {
		imp.opts.OnBatch(imp.res)
	}
	return nil
}

func (imp *importer) event(complete bool) storage.AuditEvent {
	details := map[string]any{
		"count": imp.res.Imported, "duplicates": imp.res.Duplicates, "invalid": imp.res.Invalid,
		"complete": complete, "first_id": imp.firstID, "last_id": imp.lastID,
	}
	if imp.opts.Details != nil {
		for k, v := range imp.opts.Details() {
			details[k] = v
		}
	}
	return storage.AuditEvent{Type: AuditUsersImported, ActorID: imp.opts.Actor, Details: details}
}

// write inserts the batch, skipping rows that conflict with users in the
// database, and returns the ids inserted.
func (imp *importer) write(ctx context.Context) (map[string]bool, error) {
	tx, ok := TxFromContext(ctx)
	if !ok {
		return nil, errors.New("sql: import: no transaction")
	}
	if imp.dialect == Postgres {
		return imp.writePostgres(ctx, tx)
	}
	return imp.writeSQLite(ctx, tx)
}

// writeSQLite: multi-row INSERTs of up to sqliteRowsPerInsert rows, the
// full-size one prepared once per batch.
func (imp *importer) writeSQLite(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	inserted := make(map[string]bool, len(imp.rows))
	args := make([]any, 0, sqliteRowsPerInsert*len(importColumns))
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	for start := 0; start < len(imp.rows); start += sqliteRowsPerInsert {
		chunk := imp.rows[start:min(start+sqliteRowsPerInsert, len(imp.rows))]
		args = args[:0]
		for _, r := range chunk {
			args = append(args, r.importValues()...)
		}
		var rows *sql.Rows
		var err error
		if len(chunk) == sqliteRowsPerInsert {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, sqliteInsertFull); err != nil {
					return nil, mapErr(err)
				}
			}
			rows, err = full.QueryContext(ctx, args...)
		} else {
			rows, err = tx.QueryContext(ctx, buildSQLiteInsert(len(chunk)), args...)
		}
		if err != nil {
			return nil, mapErr(err)
		}
		if err := collectIDs(rows, inserted); err != nil {
			return nil, err
		}
	}
	return inserted, nil
}

var sqliteInsertFull = buildSQLiteInsert(sqliteRowsPerInsert)

func buildSQLiteInsert(n int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(importColumns)), ",") + ")"
	var b strings.Builder
	b.WriteString("INSERT INTO users (")
	b.WriteString(strings.Join(importColumns, ", "))
	b.WriteString(") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
	}
	b.WriteString(" ON CONFLICT DO NOTHING RETURNING id")
	return b.String()
}

func collectIDs(rows *sql.Rows, into map[string]bool) error {
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		into[id] = true
	}
	return mapErr(rows.Err())
}

// writePostgres: COPY into the session's staging table, then one
// INSERT ... SELECT that skips conflicts and returns the ids inserted.
func (imp *importer) writePostgres(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	if !imp.staged {
		// Temporary (never logged, this session only), no indexes or
		// constraints: COPY into it only appends. It is created in the
		// transaction but survives it (ImportSkip commits each batch).
		if _, err := tx.ExecContext(ctx, "CREATE TEMP TABLE IF NOT EXISTS users_import (line BIGINT NOT NULL, LIKE users)"); err != nil {
			return nil, fmt.Errorf("sql: import: create the staging table: %w", err)
		}
		imp.staged = true
	}
	cols := append([]string{"line"}, importColumns...)
	var copied int64
	// The transaction is open on this very connection, so the COPY runs
	// inside it.
	err := imp.conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("sql: import: the Postgres driver connection is %T, not pgx's", dc)
		}
		i := -1
		src := pgx.CopyFromFunc(func() ([]any, error) {
			i++
			if i >= len(imp.rows) {
				return nil, nil
			}
			return append([]any{int64(imp.lines[i])}, imp.rows[i].importValues()...), nil
		})
		var err error
		copied, err = sc.Conn().CopyFrom(ctx, pgx.Identifier{"pg_temp", "users_import"}, cols, src)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sql: import: COPY: %w", err)
	}
	if copied != int64(len(imp.rows)) {
		return nil, fmt.Errorf("sql: import: COPY wrote %d rows of %d", copied, len(imp.rows))
	}
	list := strings.Join(importColumns, ", ")
	// #nosec G202 -- list is importColumns, constants of this package
	rows, err := tx.QueryContext(ctx, "INSERT INTO users ("+list+") SELECT "+list+
		" FROM pg_temp.users_import ORDER BY line ON CONFLICT DO NOTHING RETURNING id")
	if err != nil {
		return nil, mapErr(err)
	}
	inserted := make(map[string]bool, len(imp.rows))
	if err := collectIDs(rows, inserted); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "TRUNCATE pg_temp.users_import"); err != nil {
		return nil, err
	}
	return inserted, nil
}
