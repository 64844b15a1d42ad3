package sql

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/authd/authd/storage"
)

type attemptRow struct {
	Key         string `gorm:"primaryKey"`
	Failures    int
	LastFailure int64
	LockedUntil int64
	ExpiresAt   int64
}

func (attemptRow) TableName() string { return "login_attempts" }

func (r *attemptRow) state() storage.AttemptState {
	return storage.AttemptState{Failures: r.Failures, LastFailure: fromMillis(r.LastFailure), LockedUntil: fromMillis(r.LockedUntil)}
}

// GetAttempts implements storage.Attempts.
func (s *Store) GetAttempts(ctx context.Context, key string, now time.Time) (storage.AttemptState, error) {
	var row attemptRow
	err := s.conn(ctx).Where("key = ? AND expires_at > ?", key, millis(now)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return storage.AttemptState{}, nil
	}
	if err != nil {
		return storage.AttemptState{}, mapErr(err)
	}
	return row.state(), nil
}

// RecordFailure implements storage.Attempts. It makes sure the row exists
// (INSERT ... ON CONFLICT DO NOTHING), then reads it under a row lock
// (Postgres; SQLite serialises writers) and writes the new state, all in
// one transaction.
func (s *Store) RecordFailure(ctx context.Context, key string, now time.Time, b storage.Backoff) (storage.AttemptState, bool, error) {
	at := millis(now)
	var st storage.AttemptState
	var recorded bool
	err := s.inTx(ctx, func(tx txDB) error {
		// A concurrent ResetAttempts may delete the row between the insert
		// and the locking read (READ COMMITTED): then insert it again.
		var row attemptRow
		for try := 0; ; try++ {
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&attemptRow{Key: key}).Error; err != nil {
				return mapErr(err)
			}
			err := tx.Clauses(s.forUpdate()...).Where("key = ?", key).Take(&row).Error
			if err == nil {
				break
			}
			if !errors.Is(err, gorm.ErrRecordNotFound) || try == 2 {
				return mapErr(err)
			}
		}
		if row.ExpiresAt <= at { // expired (or just created): start afresh
			row = attemptRow{Key: key}
		}
		if at < row.LockedUntil {
			st = row.state()
			return nil
		}
		row.Failures++
		row.LastFailure = at
		row.LockedUntil = 0
		if d := b.Delay(row.Failures); d > 0 {
			row.LockedUntil = millis(now.Add(d))
		}
		row.ExpiresAt = max(at, row.LockedUntil) + b.Window.Milliseconds()
		if err := tx.Model(&attemptRow{}).Where("key = ?", key).Updates(map[string]any{
			"failures": row.Failures, "last_failure": row.LastFailure, "locked_until": row.LockedUntil, "expires_at": row.ExpiresAt,
		}).Error; err != nil {
			return mapErr(err)
		}
		st, recorded = row.state(), true
		return nil
	})
	return st, recorded, err
}

// ResetAttempts implements storage.Attempts.
func (s *Store) ResetAttempts(ctx context.Context, key string) error {
	return mapErr(s.conn(ctx).Where("key = ?", key).Delete(&attemptRow{}).Error)
}

// DeleteExpiredAttempts implements storage.Attempts.
func (s *Store) DeleteExpiredAttempts(ctx context.Context, now time.Time) (int64, error) {
	res := s.conn(ctx).Where("expires_at <= ?", millis(now)).Delete(&attemptRow{})
	return res.RowsAffected, mapErr(res.Error)
}
