// Package sql is the relational backend of authd on gorm: SQLite (pure Go,
// the embedded default) and Postgres (pgx). Its models stay private; the
// Store speaks the domain types of package storage and fosite's storage
// contracts.
package sql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/authd/authd/storage"
)

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Options tunes the connection pool.
type Options struct {
	// MaxOpenConns bounds the pool; 0: 8 on SQLite, DefaultPostgresMaxOpenConns
	// on Postgres. MaxIdleConns (0: MaxOpenConns) are kept open between
	// requests.
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	// SimpleProtocol makes pgx use the simple query protocol, needed behind
	// PgBouncer in transaction pooling mode.
	SimpleProtocol bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxAccessTokenTTL bounds how long any access token lives: revocation
	// entries that match several tokens live this long. Default 24h.
	MaxAccessTokenTTL time.Duration
	// OnRevoke, when set, is called with every revocation entry this store
	// writes, so the caller's revocation set learns of it at once: after
	// the transaction that wrote it commits (never for one rolled back),
	// or at once for a write outside any transaction.
	OnRevoke func(storage.Revocation)
	// Sealer encrypts sensitive user fields (the phone number) at rest;
	// *secrets.Keyring. Nil: storing such a field fails.
	Sealer Sealer
	// AuditKeys keys the audit chain (the keyring); nil: unkeyed SHA-256,
	// for tests and tools only: a store without it cannot append to or
	// verify a keyed chain.
	AuditKeys storage.AuditKeys
	// TracerProvider, when set, puts every statement in a span (see
	// tracing.go); nil adds no hook at all.
	TracerProvider trace.TracerProvider
}

// DefaultPostgresMaxOpenConns is the Postgres pool size when none is
// configured: 4 per core (GOMAXPROCS), at least 8. A bounded pool whose
// connections all stay idle between requests matters: database/sql alone
// has no bound and keeps 2 idle, so under concurrent load every other
// request opened a new Postgres session (a process fork and
// authentication) and closed it again; refresh rotation ran 7x slower.
func DefaultPostgresMaxOpenConns() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

// Store is the SQL backend. It is safe for concurrent use.
type Store struct {
	db           *gorm.DB
	dialect      string
	now          func() time.Time
	maxAccessTTL time.Duration
	onRevoke     func(storage.Revocation)
	sealer       Sealer
	auditKeys    storage.AuditKeys
	// clientLookup, when set (WithClientLookup), resolves the clients of
	// stored requests instead of a query.
	clientLookup ClientLookup
}

// ClientLookup returns the client with id, or storage.ErrNotFound
// (cache.Clients.GetStoredClient).
type ClientLookup func(ctx context.Context, id string) (*storage.Client, error)

// WithClientLookup returns a store, on the same database and pool as s,
// whose stored requests read back (authorization codes, refresh tokens,
// PKCE and OpenID Connect sessions) get their client from lookup, the
// in-process client cache, rather than from a query: the profile of refresh
// rotation put that query at a tenth of the request's database time, and
// exchanging a code ran it three times. s itself is unchanged (and is what
// the cache should read from).
func (s *Store) WithClientLookup(lookup ClientLookup) *Store {
	c := *s
	c.clientLookup = lookup
	return &c
}

// Open connects to rawURL: "sqlite://path/to/file.db" or "postgres://...".
// It does not migrate; call Migrate.
func Open(rawURL string, opts Options) (*Store, error) {
	dialect, dsn, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	var dialector gorm.Dialector
	switch dialect {
	case SQLite:
		dialector = sqlite.Open(dsn)
	case Postgres:
		dialector = postgres.New(postgres.Config{DSN: dsn, PreferSimpleProtocol: opts.SimpleProtocol})
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		PrepareStmt:            dialect == SQLite || !opts.SimpleProtocol,
		TranslateError:         true,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	if opts.TracerProvider != nil {
		if err := db.Use(newTracing(opts.TracerProvider, dialect)); err != nil {
			return nil, fmt.Errorf("open %s database: tracing: %w", dialect, err)
		}
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if opts.MaxOpenConns == 0 {
		if dialect == SQLite {
			// One writer at a time is all SQLite allows; WAL lets readers go on.
			opts.MaxOpenConns = 8
		} else {
			opts.MaxOpenConns = DefaultPostgresMaxOpenConns()
		}
	}
	if opts.MaxOpenConns > 0 {
		sqlDB.SetMaxOpenConns(opts.MaxOpenConns)
	}
	if opts.MaxIdleConns > 0 {
		sqlDB.SetMaxIdleConns(opts.MaxIdleConns)
	} else if opts.MaxOpenConns > 0 {
		sqlDB.SetMaxIdleConns(opts.MaxOpenConns)
	}
	if opts.ConnMaxLifetime > 0 {
		sqlDB.SetConnMaxLifetime(opts.ConnMaxLifetime)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if opts.MaxAccessTokenTTL <= 0 {
		opts.MaxAccessTokenTTL = 24 * time.Hour
	}
	return &Store{db: db, dialect: dialect, now: now, maxAccessTTL: opts.MaxAccessTokenTTL, onRevoke: opts.OnRevoke, sealer: opts.Sealer,
		auditKeys: opts.AuditKeys}, nil
}

// ParseURL splits a database URL into the dialect and the driver's DSN.
func ParseURL(rawURL string) (dialect, dsn string, err error) {
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		path := strings.TrimPrefix(rawURL, "sqlite://")
		if path == "" {
			return "", "", errors.New(`sqlite URL has no path; want "sqlite://path/to/authd.db"`)
		}
		q := url.Values{}
		for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"} {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		return SQLite, "file:" + path + "?" + q.Encode(), nil
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		if _, err := url.Parse(rawURL); err != nil {
			return "", "", fmt.Errorf("postgres URL: %w", err)
		}
		return Postgres, rawURL, nil
	}
	return "", "", errors.New(`database URL must start with "sqlite://" or "postgres://"`)
}

// Dialect returns SQLite or Postgres.
func (s *Store) Dialect() string { return s.dialect }

// Gorm returns the underlying handle, for wiring (query counting in tests,
// tracing hooks).
func (s *Store) Gorm() *gorm.DB { return s.db }

// SQLDB returns the database/sql handle.
func (s *Store) SQLDB() (*sql.DB, error) { return s.db.DB() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close closes the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

type txKey struct{}

// txState is a transaction carried by a context: the gorm handle, and the
// revocation entries written in it, reported to OnRevoke once it commits
// (never for a transaction rolled back: nobody must trust a revocation the
// database does not hold, nor miss one it does).
type txState struct {
	db *gorm.DB
	mu sync.Mutex
	// revs are the entries written so far. Guarded by mu.
	revs []storage.Revocation
}

func (st *txState) addRevocation(r storage.Revocation) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.revs = append(st.revs, r)
}

// takeRevocations returns the entries written and forgets them.
func (st *txState) takeRevocations() []storage.Revocation {
	st.mu.Lock()
	defer st.mu.Unlock()
	revs := st.revs
	st.revs = nil
	return revs
}

func txFrom(ctx context.Context) (*txState, bool) {
	st, ok := ctx.Value(txKey{}).(*txState)
	return st, ok
}

// BeginTX starts a transaction carried by the returned context; every Store
// method called with that context joins it. It implements fosite's
// storage.Transactional.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if _, ok := txFrom(ctx); ok {
		return ctx, errors.New("sql: transaction already open in this context")
	}
	tx := s.db.WithContext(ctx).Begin()
	if tx.Error != nil {
		return ctx, tx.Error
	}
	return context.WithValue(ctx, txKey{}, &txState{db: tx}), nil
}

// Commit commits the context's transaction, then reports the revocation
// entries written in it to OnRevoke.
func (s *Store) Commit(ctx context.Context) error {
	st, ok := txFrom(ctx)
	if !ok {
		return errors.New("sql: no transaction in context")
	}
	if err := st.db.Commit().Error; err != nil {
		st.takeRevocations()
		return mapErr(err)
	}
	s.revoked(st.takeRevocations())
	return nil
}

// Rollback rolls the context's transaction back; the revocation entries
// written in it are never reported.
func (s *Store) Rollback(ctx context.Context) error {
	st, ok := txFrom(ctx)
	if !ok {
		return errors.New("sql: no transaction in context")
	}
	st.takeRevocations()
	return st.db.Rollback().Error
}

// inTx runs fn in the context's transaction, or in a new one.
func (s *Store) inTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.inTxCtx(ctx, func(_ context.Context, tx *gorm.DB) error { return fn(tx) })
}

// inTxCtx runs fn in the context's transaction, or in a new one that fn's
// context carries (so that revocation entries written in it are reported
// once it commits).
func (s *Store) inTxCtx(ctx context.Context, fn func(ctx context.Context, tx *gorm.DB) error) error {
	if st, ok := txFrom(ctx); ok {
		return fn(ctx, st.db)
	}
	var st *txState
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		st = &txState{db: tx}
		return fn(context.WithValue(ctx, txKey{}, st), tx)
	})
	if err != nil {
		return mapErr(err)
	}
	s.revoked(st.takeRevocations())
	return nil
}

// revoked reports committed revocation entries to OnRevoke.
func (s *Store) revoked(revs []storage.Revocation) {
	if s.onRevoke == nil {
		return
	}
	for _, r := range revs {
		s.onRevoke(r)
	}
}

// conn returns the context's transaction or the pool.
func (s *Store) conn(ctx context.Context) *gorm.DB {
	if st, ok := txFrom(ctx); ok {
		return st.db
	}
	return s.db.WithContext(ctx)
}

func (s *Store) nowMilli() int64 { return s.now().UnixMilli() }

// mapErr translates driver errors into storage sentinels.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return storageErrNotFound(err)
	case errors.Is(err, gorm.ErrDuplicatedKey), isUniqueViolation(err):
		return storageErrConflict(err)
	}
	return err
}

func isUniqueViolation(err error) bool {
	// glebarez/sqlite does not translate errors for gorm; match its text.
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "constraint failed: PRIMARY KEY")
}

// millis is t in Unix milliseconds, 0 for the zero time. Times too far
// out for milliseconds in an int64 (past the year 292,000,000) saturate
// rather than wrap: an expiry that wrapped would be in the past.
func millis(t time.Time) int64 {
	const maxSec = math.MaxInt64 / 1000
	switch sec := t.Unix(); {
	case t.IsZero():
		return 0
	case sec >= maxSec:
		return math.MaxInt64
	case sec <= -maxSec:
		return math.MinInt64
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

type txDB = *gorm.DB

//lint:ignore ST1011 it is the unit: times are stored to the millisecond
const timeMilli = time.Millisecond

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// TxFromContext returns the database/sql transaction carried by ctx (see
// BeginTX), so that other code on the same database (the job queue) can
// write inside it. On SQLite that is a must: the transaction holds the
// only write lock, and a write on another connection would wait for it.
func TxFromContext(ctx context.Context) (*sql.Tx, bool) {
	st, ok := txFrom(ctx)
	if !ok {
		return nil, false
	}
	pool := st.db.Statement.ConnPool
	if p, ok := pool.(*gorm.PreparedStmtTX); ok {
		pool = p.Tx
	}
	sqlTx, ok := pool.(*sql.Tx)
	return sqlTx, ok
}
