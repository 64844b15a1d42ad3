package mail_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/authd/authd/internal/jobs"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/mail/smtptest"
	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/internal/testdb"
	storesql "github.com/authd/authd/storage/sql"
)

// env is one process's mail path: a job queue on a real database, the
// send_mail worker and a sender.
type env struct {
	db      *sql.DB
	dialect string
	logs    *syncBuffer
	keyring *secrets.Keyring
	jobs    *jobs.Queue // the last one started
}

func newEnv(t *testing.T, url string) *env {
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
	key := make([]byte, secrets.MasterKeySize)
	rand.Read(key)
	kr, err := secrets.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	return &env{db: db, dialect: st.Dialect(), logs: &syncBuffer{}, keyring: kr}
}

// start starts a job queue working send_mail jobs with sender, like one
// authd process; it stops when t ends.
func (e *env) start(t *testing.T, sender mail.Sender, maxAttempts int) (*jobs.Queue, *mail.Queue) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	workers := river.NewWorkers()
	if err := mail.AddWorker(workers, sender, e.keyring, logger); err != nil {
		t.Fatal(err)
	}
	cfg := jobs.DefaultConfig()
	cfg.PollInterval = 50 * time.Millisecond
	cfg.MaxAttempts = maxAttempts
	q, err := jobs.Open(context.Background(), cfg, jobs.Deps{
		DB: e.db, Dialect: e.dialect, Logger: logger, Workers: workers, RetryPolicy: quickRetry{},
	})
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
	e.jobs = q
	return q, mail.NewQueue(q, e.keyring)
}

type quickRetry struct{}

func (quickRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(100 * time.Millisecond)
}

// mailJob waits for the only send_mail job to reach one of want.
func (e *env) mailJob(t *testing.T, want ...rivertype.JobState) *rivertype.JobRow {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var id int64
		var state string
		err := e.db.QueryRow("SELECT id, state FROM river_job WHERE kind = 'send_mail' ORDER BY id DESC LIMIT 1").Scan(&id, &state)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			t.Fatal(err)
		}
		for _, w := range want {
			if rivertype.JobState(state) == w {
				return e.job(t, id)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("send_mail job is %q after 20s, want %v", state, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) job(t *testing.T, id int64) *rivertype.JobRow {
	t.Helper()
	job, err := e.jobs.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func TestQueueDeliversMail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		srv := smtptest.Start(t)
		_, q := e.start(t, newSMTP(t, srv), 5)
		if err := q.Enqueue(context.Background(), welcome); err != nil {
			t.Fatal(err)
		}
		got := srv.WaitFor(t, func(m smtptest.Message) bool { return m.To[0] == "zoe@example.com" })
		checkWelcome(t, got)
		job := e.mailJob(t, rivertype.JobStateCompleted)
		if job.Attempt != 1 {
			t.Errorf("delivered after %d attempts, want 1", job.Attempt)
		}
		// The mail waits sealed: its link is not readable in the table.
		if bytes.Contains(job.EncodedArgs, []byte("verify?code")) || bytes.Contains(job.EncodedArgs, []byte("zoe@")) {
			t.Errorf("job args hold the mail in clear: %s", job.EncodedArgs)
		}
	})
}

func TestQueueEnqueueTx(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		srv := smtptest.Start(t)
		_, q := e.start(t, newSMTP(t, srv), 5)
		ctx := context.Background()
		tx, err := e.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.EnqueueTx(ctx, tx, mail.Message{To: "gone@example.com", Subject: "rolled back", Text: "x"}); err != nil {
			t.Fatal(err)
		}
		tx.Rollback()
		tx, err = e.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.EnqueueTx(ctx, tx, mail.Message{To: "kept@example.com", Subject: "committed", Text: "x"}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		srv.WaitFor(t, func(m smtptest.Message) bool { return m.Subject == "committed" })
		e.mailJob(t, rivertype.JobStateCompleted)
		for _, m := range srv.Messages() {
			if m.Subject == "rolled back" {
				t.Fatal("a mail enqueued in a rolled back transaction was sent")
			}
		}
	})
}

func TestQueueRetriesUntilServerUp(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now: connection refused
		s, err := mail.NewSMTP(smtpConfig("smtp://"+smtptest.DefaultUsername+":"+smtptest.DefaultPassword+"@"+addr), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, q := e.start(t, s, 50)
		if err := q.Enqueue(context.Background(), welcome); err != nil {
			t.Fatal(err)
		}
		// Wait until two attempts have failed, then bring the server up.
		var id int64
		if err := e.db.QueryRow("SELECT id FROM river_job WHERE kind = 'send_mail'").Scan(&id); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			if job := e.job(t, id); len(job.Errors) >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no retry within 20s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		srv := smtptest.Start(t, smtptest.WithAddr(addr))
		checkWelcome(t, srv.WaitFor(t, nil))
		job := e.mailJob(t, rivertype.JobStateCompleted)
		if job.Attempt < 3 || len(job.Errors) < 2 {
			t.Errorf("completed after %d attempts with %d errors, want retries", job.Attempt, len(job.Errors))
		}
		if !strings.Contains(job.Errors[0].Error, "connect") {
			t.Errorf("first error %q, want a connection failure", job.Errors[0].Error)
		}
		if n := len(srv.Messages()); n != 1 {
			t.Errorf("%d mails delivered, want 1", n)
		}
	})
}

func TestQueuePermanentFailureNotRetried(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		srv := smtptest.Start(t)
		srv.Reply("RCPT", 550, "5.1.1 <zoe@example.com>: Recipient address rejected")
		_, q := e.start(t, newSMTP(t, srv), 5)
		if err := q.Enqueue(context.Background(), welcome); err != nil {
			t.Fatal(err)
		}
		job := e.mailJob(t, rivertype.JobStateCancelled, rivertype.JobStateDiscarded, rivertype.JobStateCompleted)
		if job.State != rivertype.JobStateCancelled || job.Attempt != 1 {
			t.Fatalf("state %s after %d attempts, want cancelled after 1", job.State, job.Attempt)
		}
		if !strings.Contains(job.Errors[0].Error, "550") {
			t.Errorf("error %q does not carry the server's reply", job.Errors[0].Error)
		}
		// Cancelled is final in River: no attempt follows, so the count is
		// complete now.
		rcpts := 0
		for _, c := range srv.Commands() {
			if c == "RCPT" {
				rcpts++
			}
		}
		if rcpts != 1 {
			t.Fatalf("%d RCPT commands, want 1", rcpts)
		}
		if !strings.Contains(e.logs.String(), "mail rejected, not retrying") {
			t.Errorf("no warning logged for the rejected mail:\n%s", e.logs)
		}
	})
}

// A crash loses no mail: a mail enqueued while no process works jobs is
// sent by the next process to start.
func TestQueueSurvivesRestart(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		srv := smtptest.Start(t)
		sender := newSMTP(t, srv)

		first, q := e.start(t, sender, 5)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := first.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := q.Enqueue(ctx, welcome); err != nil {
			t.Fatal(err)
		}
		// Nothing works it: the job waits in the database, untried.
		if job := e.mailJob(t, rivertype.JobStateAvailable); job.Attempt != 0 {
			t.Fatalf("job tried %d times with no worker running", job.Attempt)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Fatalf("%d mails sent with no worker running", n)
		}

		e.start(t, sender, 5) // the next process, a fresh client on the same database
		checkWelcome(t, srv.WaitFor(t, nil))
		e.mailJob(t, rivertype.JobStateCompleted)
	})
}

func TestQueueRejectsHeaderInjection(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		srv := smtptest.Start(t)
		_, q := e.start(t, newSMTP(t, srv), 5)
		for _, m := range []mail.Message{
			{To: "a@example.com\r\nBcc: victim@example.com", Subject: "s", Text: "t"},
			{To: "a@example.com", Subject: "s\r\nBcc: victim@example.com", Text: "t"},
		} {
			if err := q.Enqueue(context.Background(), m); !errors.Is(err, mail.ErrInvalidMessage) {
				t.Errorf("Enqueue(%q, %q) = %v, want ErrInvalidMessage", m.To, m.Subject, err)
			}
		}
		var n int
		if err := e.db.QueryRow("SELECT count(*) FROM river_job WHERE kind = 'send_mail'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%d jobs enqueued for invalid mails", n)
		}
	})
}

// The SMTP password appears in no log line and no stored job error, through
// refused connections, failed AUTH and rejected recipients.
func TestQueueNeverLogsThePassword(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		const pw = "Sup3r-s3cret-pw"
		e := newEnv(t, url)
		srv := smtptest.Start(t, smtptest.WithCredentials("user", pw))
		srv.Reply("AUTH", 535, "5.7.8 Authentication credentials invalid")
		cfg := smtpConfig("smtp://user:" + pw + "@" + srv.Addr())
		s, err := mail.NewSMTP(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, q := e.start(t, s, 2)
		ctx := context.Background()
		if err := q.Enqueue(ctx, welcome); err != nil {
			t.Fatal(err)
		}
		e.mailJob(t, rivertype.JobStateDiscarded)
		srv.Reply("AUTH", 0, "")
		srv.Reply("RCPT", 550, "5.1.1 rejected")
		if err := q.Enqueue(ctx, welcome); err != nil {
			t.Fatal(err)
		}
		e.mailJob(t, rivertype.JobStateCancelled)
		srv.Close()
		if err := q.Enqueue(ctx, welcome); err != nil {
			t.Fatal(err)
		}
		e.mailJob(t, rivertype.JobStateDiscarded)
		slog.New(slog.NewTextHandler(e.logs, nil)).Info("config", "mail", cfg, "sender", s)

		if strings.Contains(e.logs.String(), pw) {
			t.Errorf("the password is in the log:\n%s", e.logs)
		}
		for _, want := range []string{"535", "mail given up", "mail rejected, not retrying", "connection refused"} {
			if !strings.Contains(e.logs.String(), want) {
				t.Errorf("no %q in the log:\n%s", want, e.logs)
			}
		}
		rows, err := e.db.Query("SELECT errors FROM river_job")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var errs []byte
			if err := rows.Scan(&errs); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(errs, []byte(pw)) {
				t.Errorf("a stored job error holds the password: %s", errs)
			}
		}
	})
}

func TestQueueWithLogSender(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		var out syncBuffer
		sender, err := mail.NewSender(mail.DefaultConfig(), slog.New(slog.NewTextHandler(&out, nil)))
		if err != nil {
			t.Fatal(err)
		}
		_, q := e.start(t, sender, 5)
		link := "http://127.0.0.1:8080/verify?code=Q7x"
		if err := q.Enqueue(context.Background(), mail.Message{To: "ann@example.com", Subject: "Verify", Text: "Open " + link}); err != nil {
			t.Fatal(err)
		}
		e.mailJob(t, rivertype.JobStateCompleted)
		if !strings.Contains(out.String(), link) {
			t.Fatalf("log %q lacks the link", out.String())
		}
	})
}

// syncBuffer is a bytes.Buffer for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
