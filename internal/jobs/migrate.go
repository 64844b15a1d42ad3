package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
)

// migrationLockTable serialises River migrations across replicas on
// Postgres; storage/sql's goose migrations use the same kind of lock.
const migrationLockTable = "river_migration_lock"

// Migrate applies River's pending migrations (its tables river_job,
// river_queue, river_leader, river_migration, ...). It is idempotent and safe
// when several processes start at once:
//
//   - River's migrator itself takes no lock: it reads the applied versions
//     and then applies the rest, one transaction each. So on Postgres,
//     Migrate first takes a lock held in a table (goose's table locker, the
//     one storage/sql uses, in table river_migration_lock): one replica
//     applies, the others wait, then find nothing left to do. A table lock,
//     not a session advisory lock, because PgBouncer in transaction pooling
//     mode breaks session state; a lock whose holder died expires after 30s.
//   - On SQLite every process is on one host and one file: all of River's
//     migrations run in one transaction, which SQLite serialises with its
//     write lock (storage/sql opens with _txlock=immediate); a process that
//     lost the race retries and finds them applied.
func Migrate(ctx context.Context, db *sql.DB, dialect string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	driver, err := newDriver(db, dialect)
	if err != nil {
		return err
	}
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: quietRiver(logger)})
	if err != nil {
		return fmt.Errorf("jobs: migrations: %w", err)
	}
	var applied int
	switch dialect {
	case Postgres:
		applied, err = migratePostgres(ctx, db, migrator, logger)
	default:
		applied, err = migrateSQLite(ctx, db, migrator)
	}
	if err != nil {
		return fmt.Errorf("jobs: migrate up: %w", err)
	}
	if applied > 0 {
		logger.InfoContext(ctx, "applied job queue migrations", "count", applied)
	}
	return nil
}

func migratePostgres(ctx context.Context, db *sql.DB, m *rivermigrate.Migrator[*sql.Tx], logger *slog.Logger) (int, error) {
	locker, err := lock.NewPostgresTableLocker(
		lock.WithTableName(migrationLockTable),
		// Check every ~0.5s for up to 5 minutes, not goose's every 5s: the
		// waiting replicas should start soon after the one migrating.
		lock.WithTableLockTimeout(500*time.Millisecond, 600),
		lock.WithTableLogger(logger),
	)
	if err != nil {
		return 0, err
	}
	if err := locker.Lock(ctx, db); err != nil {
		return 0, fmt.Errorf("lock: %w", err)
	}
	defer func() {
		if err := locker.Unlock(ctx, db); err != nil {
			logger.WarnContext(ctx, "release job queue migration lock", "error", err)
		}
	}()
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return 0, err
	}
	return len(res.Versions), nil
}

func migrateSQLite(ctx context.Context, db *sql.DB, m *rivermigrate.Migrator[*sql.Tx]) (int, error) {
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return 0, errors.Join(err, ctx.Err())
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		var n int
		if n, err = migrateSQLiteOnce(ctx, db, m); err == nil {
			return n, nil
		}
	}
	return 0, err
}

func migrateSQLiteOnce(ctx context.Context, db *sql.DB, m *rivermigrate.Migrator[*sql.Tx]) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	// One transaction for all versions: SQLite's DDL is transactional and
	// its migrations need no commit in between (Postgres' do, hence Migrate
	// there); River deprecates MigrateTx only for that reason.
	//lint:ignore SA1019 one transaction is what SQLite needs, see above
	res, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return len(res.Versions), nil
}

// checkMigrated fails when River's migrations are not all applied.
func checkMigrated(ctx context.Context, driver riverdriver.Driver[*sql.Tx], logger *slog.Logger) error {
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: quietRiver(logger)})
	if err != nil {
		return fmt.Errorf("jobs: migrations: %w", err)
	}
	res, err := migrator.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("jobs: check migrations: %w", err)
	}
	if !res.OK {
		return fmt.Errorf("jobs: the job queue's migrations are pending (%s); run `authd migrate up` or set database.auto_migrate", strings.Join(res.Messages, "; "))
	}
	return nil
}

// quietRiver drops River's migrator info lines ("No migrations to apply" at
// every start); Migrate logs what it applied itself.
func quietRiver(logger *slog.Logger) *slog.Logger {
	return slog.New(minLevel{logger.Handler(), slog.LevelWarn})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
