package jobs_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/authd/authd/internal/jobs"
)

func TestConfigValidate(t *testing.T) {
	if err := jobs.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	err := jobs.Config{}.Validate()
	if err == nil {
		t.Fatal("zero config validated")
	}
	for _, key := range []string{"jobs.workers", "jobs.poll_interval", "jobs.max_attempts", "jobs.retention"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

func TestOpenRejectsUnknownDialect(t *testing.T) {
	_, err := jobs.Open(context.Background(), jobs.DefaultConfig(), jobs.Deps{DB: &sql.DB{}, Dialect: "mysql"})
	if err == nil || !strings.Contains(err.Error(), "mysql") {
		t.Fatalf("err = %v, want unknown dialect", err)
	}
}

func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, dialect string) {
		ctx := context.Background()
		// Several "replicas" at once, each with its own handle would be
		// closer to life; one pool with many connections races the same way.
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { errs[i] = jobs.Migrate(ctx, db, dialect, nil) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("migrate %d: %v", i, err)
			}
		}
		if err := jobs.Migrate(ctx, db, dialect, nil); err != nil {
			t.Fatalf("migrate again: %v", err)
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM river_migration").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("no river_migration rows")
		}
	})
}

func TestSkipMigrateRefusesPending(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, dialect string) {
		_, err := jobs.Open(context.Background(), testConfig(), jobs.Deps{DB: db, Dialect: dialect, SkipMigrate: true})
		if err == nil || !strings.Contains(err.Error(), "pending") {
			t.Fatalf("err = %v, want migrations pending", err)
		}
		if err := jobs.Migrate(context.Background(), db, dialect, nil); err != nil {
			t.Fatal(err)
		}
		openQueue(t, db, dialect, testConfig(), jobs.Deps{SkipMigrate: true})
	})
}

func TestEnqueueTx(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, dialect string) {
		w := &blockWorker{started: make(chan string, 4), release: make(chan struct{})}
		close(w.release)
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		q := openQueue(t, db, dialect, testConfig(), jobs.Deps{Workers: workers})
		ctx := context.Background()

		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.EnqueueTx(ctx, tx, blockArgs{Name: "rolled back"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		tx, err = db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		id, err := q.EnqueueTx(ctx, tx, blockArgs{Name: "committed"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		waitState(t, q, id, rivertype.JobStateCompleted)
		if got := <-w.started; got != "committed" {
			t.Fatalf("worked %q, want committed", got)
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM river_job WHERE kind = 'test_block'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("%d jobs, want only the committed one", n)
		}
	})
}

func TestStopFinishesRunningJobs(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, dialect string) {
		w := &blockWorker{started: make(chan string, 4), release: make(chan struct{})}
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		cfg := testConfig()
		q, err := jobs.Open(context.Background(), cfg, jobs.Deps{DB: db, Dialect: dialect, Workers: workers, RetryPolicy: quickRetry{}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		id, err := q.Enqueue(ctx, blockArgs{Name: "slow"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-w.started
		st, err := q.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Running != 1 {
			t.Errorf("stats %+v, want one running", st)
		}
		if err := q.Ready(ctx); err != nil {
			t.Errorf("ready: %v", err)
		}

		stopped := make(chan error, 1)
		go func() { stopped <- q.Stop(context.Background()) }()
		select {
		case err := <-stopped:
			t.Fatalf("Stop returned (%v) while a job runs", err)
		case <-time.After(300 * time.Millisecond):
		}
		close(w.release)
		if err := <-stopped; err != nil {
			t.Fatalf("stop: %v", err)
		}
		job, err := q.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if job.State != rivertype.JobStateCompleted {
			t.Fatalf("state %s, want completed", job.State)
		}
		if err := q.Ready(ctx); err == nil {
			t.Fatal("ready after stop")
		}
	})
}

func TestStopDeadlineCancelsAndRequeues(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, dialect string) {
		w := &blockWorker{started: make(chan string, 4), release: make(chan struct{})}
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		q, err := jobs.Open(context.Background(), testConfig(), jobs.Deps{DB: db, Dialect: dialect, Workers: workers, RetryPolicy: quickRetry{}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		id, err := q.Enqueue(ctx, blockArgs{Name: "stuck"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-w.started
		sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if err := q.Stop(sctx); err == nil {
			t.Fatal("Stop returned nil past its deadline")
		}
		job, err := q.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if job.State != rivertype.JobStateAvailable && job.State != rivertype.JobStateRetryable {
			t.Fatalf("interrupted job is %s, want it waiting for another try", job.State)
		}

		// The next process works it.
		close(w.release)
		workers = river.NewWorkers()
		river.AddWorker(workers, w)
		q2 := openQueue(t, db, dialect, testConfig(), jobs.Deps{Workers: workers})
		waitState(t, q2, id, rivertype.JobStateCompleted)
	})
}
