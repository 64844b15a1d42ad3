package storage

import (
	"context"
	"fmt"
)

// Transactor begins, commits and rolls back a transaction carried by the
// context, which every other method of the store joins (storage/sql.Store).
type Transactor interface {
	BeginTX(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// InTx runs fn in a transaction of t and commits it; an error from fn, or
// a panic, rolls it back. It is how a domain service writes a change and
// its audit event together.
func InTx(ctx context.Context, t Transactor, fn func(ctx context.Context) error) error {
	txCtx, err := t.BeginTX(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = t.Rollback(txCtx)
		}
	}()
	if err := fn(txCtx); err != nil {
		return err
	}
	if err := t.Commit(txCtx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	return nil
}
