package mail

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// Enqueuer is the durable job queue (*jobs.Queue).
type Enqueuer interface {
	Enqueue(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error)
	EnqueueTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (int64, error)
}

// Sealer encrypts mails while they wait in the job table: they carry
// verification and reset links. *secrets.Keyring implements it.
type Sealer interface {
	Seal(purpose string, plaintext []byte) ([]byte, error)
	Open(purpose string, sealed []byte) ([]byte, error)
}

// sealPurpose binds sealed mails to this use of the master key.
const sealPurpose = "mail-job"

// SendArgs is the send_mail job: one Message, sealed when the Queue has a
// Sealer.
type SendArgs struct {
	// Sealed is the Message as JSON, sealed for sealPurpose.
	Sealed []byte `json:"sealed,omitempty"`
	// Message is set instead when there is no Sealer.
	Message *Message `json:"message,omitempty"`
}

// Kind implements river.JobArgs.
func (SendArgs) Kind() string { return "send_mail" }

// Queue sends mails through the job queue: Enqueue returns once the mail
// is stored, and a worker (AddWorker) sends it, retrying with backoff.
type Queue struct {
	jobs   Enqueuer
	sealer Sealer
}

// NewQueue returns a Queue on jobs. sealer may be nil (mails are then
// stored in clear until sent and jobs.retention has passed).
func NewQueue(jobs Enqueuer, sealer Sealer) *Queue {
	return &Queue{jobs: jobs, sealer: sealer}
}

// Enqueue stores m for sending. It refuses, with an error wrapping
// ErrInvalidMessage, a Message that could never be sent (a line break in To
// or Subject, an invalid address, no Text).
func (q *Queue) Enqueue(ctx context.Context, m Message) error {
	args, err := q.args(m)
	if err != nil {
		return err
	}
	if _, err := q.jobs.Enqueue(ctx, args, nil); err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	return nil
}

// EnqueueTx is Enqueue inside tx: the mail is sent if and only if tx
// commits.
func (q *Queue) EnqueueTx(ctx context.Context, tx *sql.Tx, m Message) error {
	args, err := q.args(m)
	if err != nil {
		return err
	}
	if _, err := q.jobs.EnqueueTx(ctx, tx, args, nil); err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	return nil
}

func (q *Queue) args(m Message) (SendArgs, error) {
	if _, err := checkMessage(m); err != nil {
		return SendArgs{}, err
	}
	if q.sealer == nil {
		return SendArgs{Message: &m}, nil
	}
	plain, err := json.Marshal(m)
	if err != nil {
		return SendArgs{}, err
	}
	sealed, err := q.sealer.Seal(sealPurpose, plain)
	if err != nil {
		return SendArgs{}, fmt.Errorf("mail: seal: %w", err)
	}
	return SendArgs{Sealed: sealed}, nil
}

// AddWorker registers the send_mail worker, which sends with sender and
// opens sealed mails with sealer (nil when the Queue has none). logger
// receives one warning per mail given up on (rejected, or failed
// jobs.max_attempts times); River logs every failed attempt at info.
func AddWorker(workers *river.Workers, sender Sender, sealer Sealer, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return river.AddWorkerSafely(workers, &sendWorker{sender: sender, sealer: sealer, logger: logger})
}

type sendWorker struct {
	river.WorkerDefaults[SendArgs]
	sender Sender
	sealer Sealer
	logger *slog.Logger
}

// Timeout lets a Sender with its own timeout use all of it.
func (w *sendWorker) Timeout(*river.Job[SendArgs]) time.Duration {
	if t, ok := w.sender.(interface{ Timeout() time.Duration }); ok {
		return t.Timeout() + 10*time.Second
	}
	return 0
}

// Work sends the mail. Permanent failures cancel the job: it is not tried
// again.
func (w *sendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	m, err := w.open(job.Args)
	if err != nil {
		w.logger.WarnContext(ctx, "mail dropped: cannot read the queued mail", "job_id", job.ID, "error", err)
		return river.JobCancel(err)
	}
	err = w.sender.Send(ctx, m)
	switch {
	case err == nil:
		return nil
	case IsPermanent(err):
		w.logger.WarnContext(ctx, "mail rejected, not retrying", "job_id", job.ID, "error", err)
		return river.JobCancel(err)
	case job.Attempt >= job.MaxAttempts:
		w.logger.WarnContext(ctx, "mail given up", "job_id", job.ID, "attempts", job.Attempt, "error", err)
	}
	return err
}

func (w *sendWorker) open(a SendArgs) (Message, error) {
	if a.Message != nil {
		return *a.Message, nil
	}
	if w.sealer == nil {
		return Message{}, errors.New("mail: the queued mail is sealed and this worker has no Sealer")
	}
	plain, err := w.sealer.Open(sealPurpose, a.Sealed)
	if err != nil {
		return Message{}, fmt.Errorf("mail: open sealed mail: %w", err)
	}
	var m Message
	if err := json.Unmarshal(plain, &m); err != nil {
		return Message{}, fmt.Errorf("mail: decode queued mail: %w", err)
	}
	return m, nil
}
