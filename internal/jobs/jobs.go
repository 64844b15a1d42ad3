// Package jobs is authd's durable background work: a River queue kept in
// authd's own database (SQLite or Postgres), so a job enqueued is as safe as
// any other row, survives restarts and crashes, and is worked by whichever
// replica fetches it first.
//
// Kinds worked here:
//
//	backchannel_logout  OpenID Connect Back-Channel Logout 1.0 delivery (backchannel.go)
//
// Other packages add their own kinds to Deps.Workers (package mail adds
// send_mail).
//
// On SQLite River uses riversqlite over the very *sql.DB the store opened
// (glebarez/go-sqlite bundles a SQLite with RETURNING); its notifications
// are polled from a table, so jobs enqueued by another process (the CLI)
// start within ~50ms. On Postgres River uses riverdatabasesql over the
// store's pgx pool in poll-only mode: no LISTEN connection, so it works
// behind PgBouncer in transaction pooling mode; jobs enqueued by another
// replica, or inside a transaction, start within jobs.poll_interval.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel/trace"
)

// Dialects, as storage/sql names them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

const (
	// jobTimeout bounds one attempt of a job whose worker sets no timeout
	// (less when Config.RescueAfter is shorter than twice this).
	jobTimeout = time.Minute
	// keepFailed is the least time cancelled and discarded jobs are kept.
	keepFailed = 7 * 24 * time.Hour
)

// Deps are what Open needs from the rest of authd.
type Deps struct {
	// DB is the store's pool (storage/sql Store.SQLDB); never nil. River's
	// tables live beside authd's. A SQLite pool must be opened as
	// storage/sql opens it: WAL, busy_timeout and _txlock=immediate, so
	// River's writers and authd's queue for the lock instead of failing.
	DB *sql.DB
	// Dialect is "sqlite" or "postgres".
	Dialect string
	// Logger receives River's logs and ours; nil discards them.
	Logger *slog.Logger
	// Workers holds the workers of other packages' kinds (mail.AddWorker);
	// Open adds this package's own. Nil: only this package's kinds.
	Workers *river.Workers
	// HTTPClient delivers back-channel logouts; nil: http.DefaultTransport.
	// Whatever is given, deliveries time out after 5s and never follow
	// redirects (Open uses a copy with CheckRedirect replaced).
	HTTPClient *http.Client
	// RetryPolicy decides when a failed job is tried again; nil: River's
	// default, attempt⁴ seconds ±10% jitter (1s, 16s, 81s, 4m16s,
	// 10m25s, ...). Tests shorten it.
	RetryPolicy river.ClientRetryPolicy
	// TxFromContext finds the database transaction a context carries
	// (storage/sql.TxFromContext), which EnqueueMany joins; nil: none.
	TxFromContext func(ctx context.Context) (*sql.Tx, bool)
	// TracerProvider, when set, traces every job: its insert, and its work
	// as a child of the request that queued it. The request id and trace
	// context travel in the job's metadata either way.
	TracerProvider trace.TracerProvider
	// Failures hears of jobs that failed for good (Sentry); nil: none.
	Failures FailureReporter
	// SkipMigrate makes Open check River's migrations instead of applying
	// them (database.auto_migrate: false): it fails while any is pending.
	SkipMigrate bool
}

// Queue enqueues and works jobs. It is safe for concurrent use.
type Queue struct {
	client  *river.Client[*sql.Tx]
	db      *sql.DB
	dialect string
	logger  *slog.Logger
	txFrom  func(ctx context.Context) (*sql.Tx, bool)
}

// Open migrates River's tables (unless deps.SkipMigrate), and starts working
// jobs with cfg.Workers workers. ctx bounds start-up only: call Stop to end.
func Open(ctx context.Context, cfg Config, deps Deps) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.DB == nil {
		return nil, errors.New("jobs: no database")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "jobs")
	driver, err := newDriver(deps.DB, deps.Dialect)
	if err != nil {
		return nil, err
	}
	if deps.SkipMigrate {
		if err := checkMigrated(ctx, driver, logger); err != nil {
			return nil, err
		}
	} else if err := Migrate(ctx, deps.DB, deps.Dialect, logger); err != nil {
		return nil, err
	}

	workers := deps.Workers
	if workers == nil {
		workers = river.NewWorkers()
	}
	if err := river.AddWorkerSafely(workers, newBackchannelWorker(deps.HTTPClient)); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}

	keepDone := cfg.Retention
	client, err := river.NewClient(driver, &river.Config{
		Logger:            logger,
		Workers:           workers,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		FetchPollInterval: cfg.PollInterval,
		// The least time between two fetches: with a 100ms cooldown a busy
		// process took at most Workers jobs ten times a second, which
		// capped webhook delivery below 1000/s however many workers ran.
		FetchCooldown:               min(cfg.PollInterval, 100*time.Millisecond) / 10,
		MaxAttempts:                 cfg.MaxAttempts,
		RetryPolicy:                 deps.RetryPolicy,
		CompletedJobRetentionPeriod: keepDone,
		CancelledJobRetentionPeriod: max(keepDone, keepFailed),
		DiscardedJobRetentionPeriod: max(keepDone, keepFailed),
		JobTimeout:                  min(jobTimeout, cfg.RescueAfter/2),
		RescueStuckJobsAfter:        cfg.RescueAfter,
		// Poll-only on Postgres: riverdatabasesql has no LISTEN support
		// anyway, and none is wanted behind PgBouncer.
		PollOnly:   deps.Dialect == Postgres,
		Middleware: []rivertype.Middleware{newObserver(deps.TracerProvider, deps.Failures)},
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	// Stop, not the caller's context, ends the client.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, fmt.Errorf("jobs: start: %w", err)
	}
	txFrom := deps.TxFromContext
	if txFrom == nil {
		txFrom = func(context.Context) (*sql.Tx, bool) { return nil, false }
	}
	return &Queue{client: client, db: deps.DB, dialect: deps.Dialect, logger: logger, txFrom: txFrom}, nil
}

func newDriver(db *sql.DB, dialect string) (riverdriver.Driver[*sql.Tx], error) {
	switch dialect {
	case SQLite:
		return riversqlite.New(db), nil
	case Postgres:
		return riverdatabasesql.New(db), nil
	}
	return nil, fmt.Errorf("jobs: unknown database dialect %q; want %q or %q", dialect, SQLite, Postgres)
}

// Enqueue inserts a job and returns its id. The job is durable once
// Enqueue returns. opts may be nil.
func (q *Queue) Enqueue(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error) {
	res, err := q.client.Insert(ctx, args, opts)
	if err != nil {
		return 0, fmt.Errorf("jobs: enqueue %s: %w", args.Kind(), err)
	}
	return res.Job.ID, nil
}

// EnqueueTx inserts a job in tx, a transaction on the same database: the
// job exists if and only if tx commits, and is worked after it commits.
func (q *Queue) EnqueueTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (int64, error) {
	res, err := q.client.InsertTx(ctx, tx, args, opts)
	if err != nil {
		return 0, fmt.Errorf("jobs: enqueue %s: %w", args.Kind(), err)
	}
	return res.Job.ID, nil
}

// EnqueueMany inserts jobs in one statement (River's InsertMany): in the
// transaction ctx carries (Deps.TxFromContext), so that they exist if and
// only if it commits, or on their own.
func (q *Queue) EnqueueMany(ctx context.Context, params []river.InsertManyParams) error {
	return enqueueMany(ctx, q.client, q.txFrom, params)
}

// Job returns the job with id; rivertype.ErrNotFound if there is none
// (any more: finished jobs are deleted after jobs.retention).
func (q *Queue) Job(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	return q.client.JobGet(ctx, id)
}

// River returns the underlying client, for what this package does not
// wrap (listing jobs for an admin API, subscribing to events in tests).
func (q *Queue) River() *river.Client[*sql.Tx] { return q.client }

// Stop stops fetching jobs and waits for running ones to finish. If ctx
// ends first, running jobs are cancelled (they are tried again later, by
// this or another process) and Stop returns ctx's error. Stop does not
// close the database.
func (q *Queue) Stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	if err == nil || ctx.Err() == nil {
		return err
	}
	hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := q.client.StopAndCancel(hard); err != nil {
		q.logger.WarnContext(ctx, "jobs still running after stop", "error", err)
	}
	return fmt.Errorf("jobs: stop: %w", err)
}

// Stats counts unfinished jobs by state.
type Stats struct {
	// Available jobs wait for a worker now; a growing number means the
	// workers do not keep up.
	Available int64 `json:"available"`
	// Running jobs are being worked by some process.
	Running int64 `json:"running"`
	// Retryable jobs failed and wait for their next attempt; Scheduled ones
	// wait for a time set when they were enqueued.
	Retryable int64 `json:"retryable"`
	Scheduled int64 `json:"scheduled"`
}

// Stats counts unfinished jobs with one indexed query.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT state, count(*) FROM river_job
		WHERE state IN ('available', 'running', 'retryable', 'scheduled') GROUP BY state`)
	if err != nil {
		return Stats{}, fmt.Errorf("jobs: stats: %w", err)
	}
	defer rows.Close()
	var s Stats
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return Stats{}, fmt.Errorf("jobs: stats: %w", err)
		}
		switch rivertype.JobState(state) {
		case rivertype.JobStateAvailable:
			s.Available = n
		case rivertype.JobStateRunning:
			s.Running = n
		case rivertype.JobStateRetryable:
			s.Retryable = n
		case rivertype.JobStateScheduled:
			s.Scheduled = n
		}
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("jobs: stats: %w", err)
	}
	return s, nil
}

// Ready reports whether the queue works: the client runs and its table
// answers. A backlog does not make it unready (taking a replica out of the
// load balancer would not shrink it); Stats shows the backlog.
func (q *Queue) Ready(ctx context.Context) error {
	select {
	case <-q.client.Stopped():
		return errors.New("jobs: stopped")
	default:
	}
	if _, err := q.Stats(ctx); err != nil {
		return err
	}
	return nil
}

// Inserter enqueues jobs without working any: what a CLI command uses to
// hand work to the servers (a retried webhook delivery), which pick it up
// within jobs.poll_interval.
type Inserter struct {
	client *river.Client[*sql.Tx]
	txFrom func(ctx context.Context) (*sql.Tx, bool)
}

// NewInserter builds an inserter on deps.DB; River's tables must exist
// (a server migrated them). Workers, RetryPolicy and SkipMigrate are not
// used.
func NewInserter(deps Deps) (*Inserter, error) {
	driver, err := newDriver(deps.DB, deps.Dialect)
	if err != nil {
		return nil, err
	}
	client, err := river.NewClient(driver, &river.Config{Logger: deps.Logger,
		Middleware: []rivertype.Middleware{newObserver(deps.TracerProvider, nil)}})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	txFrom := deps.TxFromContext
	if txFrom == nil {
		txFrom = func(context.Context) (*sql.Tx, bool) { return nil, false }
	}
	return &Inserter{client: client, txFrom: txFrom}, nil
}

// EnqueueMany is Queue.EnqueueMany.
func (q *Inserter) EnqueueMany(ctx context.Context, params []river.InsertManyParams) error {
	return enqueueMany(ctx, q.client, q.txFrom, params)
}

func enqueueMany(ctx context.Context, c *river.Client[*sql.Tx], txFrom func(context.Context) (*sql.Tx, bool), params []river.InsertManyParams) error {
	var err error
	if tx, ok := txFrom(ctx); ok {
		_, err = c.InsertManyTx(ctx, tx, params)
	} else {
		_, err = c.InsertMany(ctx, params)
	}
	if err != nil {
		return fmt.Errorf("jobs: enqueue %d jobs: %w", len(params), err)
	}
	return nil
}
