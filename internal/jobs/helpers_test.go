package jobs_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/authd/authd/internal/jobs"
	"github.com/authd/authd/internal/testdb"
	storesql "github.com/authd/authd/storage/sql"
)

// testDB opens url the way authd does (storage/sql), and closes it when t
// ends.
func testDB(t *testing.T, url string) (*sql.DB, string) {
	t.Helper()
	st, err := storesql.Open(url, storesql.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := st.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	return db, st.Dialect()
}

// quickRetry retries failed jobs after 100ms, so tests see several attempts.
type quickRetry struct{}

func (quickRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(100 * time.Millisecond)
}

func testConfig() jobs.Config {
	cfg := jobs.DefaultConfig()
	cfg.PollInterval = 50 * time.Millisecond
	cfg.MaxAttempts = 4
	return cfg
}

// openQueue starts a queue on db and stops it when t ends.
func openQueue(t *testing.T, db *sql.DB, dialect string, cfg jobs.Config, deps jobs.Deps) *jobs.Queue {
	t.Helper()
	deps.DB, deps.Dialect = db, dialect
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if deps.RetryPolicy == nil {
		deps.RetryPolicy = quickRetry{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := jobs.Open(ctx, cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return q
}

// waitState polls job id until it reaches one of want, and returns it.
func waitState(t *testing.T, q *jobs.Queue, id int64, want ...rivertype.JobState) *rivertype.JobRow {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		job, err := q.Job(context.Background(), id)
		if err != nil && !errors.Is(err, rivertype.ErrNotFound) {
			t.Fatal(err)
		}
		if job != nil {
			for _, s := range want {
				if job.State == s {
					return job
				}
			}
		}
		if time.Now().After(deadline) {
			state := rivertype.JobState("missing")
			if job != nil {
				state = job.State
			}
			t.Fatalf("job %d: state %s after 20s, want %v (errors %v)", id, state, want, jobErrors(job))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func jobErrors(job *rivertype.JobRow) []string {
	if job == nil {
		return nil
	}
	var out []string
	for _, e := range job.Errors {
		out = append(out, e.Error)
	}
	return out
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// each runs fn on SQLite and on Postgres.
func each(t *testing.T, fn func(t *testing.T, db *sql.DB, dialect string)) {
	testdb.Each(t, func(t *testing.T, url string) {
		db, dialect := testDB(t, url)
		fn(t, db, dialect)
	})
}

// blockArgs is a job whose worker waits until released.
type blockArgs struct {
	Name string `json:"name"`
}

func (blockArgs) Kind() string { return "test_block" }

type blockWorker struct {
	river.WorkerDefaults[blockArgs]
	started chan string
	release chan struct{}
}

func (w *blockWorker) Work(ctx context.Context, job *river.Job[blockArgs]) error {
	w.started <- job.Args.Name
	select {
	case <-w.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
