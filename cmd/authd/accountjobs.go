package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/authd/authd/account"
	storesql "github.com/authd/authd/storage/sql"
)

// accountRequestArgs is the account_request job: one account.Request
// (which carries an email address), sealed while it waits.
type accountRequestArgs struct {
	Sealed []byte `json:"sealed"`
}

// Kind implements river.JobArgs.
func (accountRequestArgs) Kind() string { return "account_request" }

// accountRequestPurpose binds sealed requests to this use of the master key.
const accountRequestPurpose = "account-request-job"

// sealer seals job payloads (*secrets.Keyring).
type sealer interface {
	Seal(purpose string, plaintext []byte) ([]byte, error)
	Open(purpose string, sealed []byte) ([]byte, error)
}

// enqueuer is the job queue (*jobs.Queue).
type enqueuer interface {
	Enqueue(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error)
	EnqueueTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (int64, error)
}

// accountRequests queues account requests as account_request jobs
// (account.Requests), inside the caller's transaction when there is one.
type accountRequests struct {
	q    enqueuer
	seal sealer
}

func (a accountRequests) EnqueueRequest(ctx context.Context, r account.Request) error {
	plain, err := json.Marshal(r)
	if err != nil {
		return err
	}
	sealed, err := a.seal.Seal(accountRequestPurpose, plain)
	if err != nil {
		return fmt.Errorf("seal account request: %w", err)
	}
	args := accountRequestArgs{Sealed: sealed}
	if tx, ok := storesql.TxFromContext(ctx); ok {
		_, err = a.q.EnqueueTx(ctx, tx, args, nil)
	} else {
		_, err = a.q.Enqueue(ctx, args, nil)
	}
	return err
}

// accountRequestWorker works account_request jobs with the account
// service. The service is built after the job queue it sends its mail
// through, and River needs its workers before the queue opens, so the
// worker is given a function that returns the service once it exists.
type accountRequestWorker struct {
	river.WorkerDefaults[accountRequestArgs]
	accounts func() *account.Service
	seal     sealer
}

func (w *accountRequestWorker) Work(ctx context.Context, job *river.Job[accountRequestArgs]) error {
	plain, err := w.seal.Open(accountRequestPurpose, job.Args.Sealed)
	if err != nil {
		// Sealed under a master key no longer configured: it can never be
		// opened, so trying again is pointless.
		return river.JobCancel(fmt.Errorf("open account request: %w", err))
	}
	var r account.Request
	if err := json.Unmarshal(plain, &r); err != nil {
		return river.JobCancel(fmt.Errorf("decode account request: %w", err))
	}
	svc := w.accounts()
	if svc == nil {
		return errors.New("account service not ready yet")
	}
	return svc.Work(ctx, r)
}
