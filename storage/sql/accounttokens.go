package sql

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/authd/authd/storage"
)

type accountTokenRow struct {
	TokenHash string `gorm:"primaryKey"` // hex of the token's MAC
	UserID    string
	Purpose   string
	Email     string
	CreatedAt int64 `gorm:"autoCreateTime:false"`
	ExpiresAt int64
	UsedAt    *int64
}

func (accountTokenRow) TableName() string { return "account_tokens" }

func (r *accountTokenRow) toToken() *storage.AccountToken {
	t := &storage.AccountToken{UserID: r.UserID, Purpose: r.Purpose, Email: r.Email,
		CreatedAt: fromMillis(r.CreatedAt), ExpiresAt: fromMillis(r.ExpiresAt)}
	t.Hash, _ = hex.DecodeString(r.TokenHash)
	if r.UsedAt != nil {
		t.UsedAt = fromMillis(*r.UsedAt)
	}
	return t
}

// CreateAccountToken implements storage.AccountTokens.
func (s *Store) CreateAccountToken(ctx context.Context, t *storage.AccountToken) error {
	if len(t.Hash) == 0 || t.UserID == "" || t.Purpose == "" {
		return errors.New("sql: account token needs a hash, a user id and a purpose")
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	t.CreatedAt = t.CreatedAt.UTC().Truncate(timeMilli)
	t.ExpiresAt = t.ExpiresAt.UTC().Truncate(timeMilli)
	t.UsedAt = time.Time{}
	row := &accountTokenRow{TokenHash: hex.EncodeToString(t.Hash), UserID: t.UserID, Purpose: t.Purpose, Email: t.Email,
		CreatedAt: millis(t.CreatedAt), ExpiresAt: millis(t.ExpiresAt)}
	err := s.conn(ctx).Create(row).Error
	if isForeignKeyViolation(err) {
		return storageErrNotFound(err)
	}
	return mapErr(err)
}

func isForeignKeyViolation(err error) bool {
	return err != nil && (errors.Is(err, gorm.ErrForeignKeyViolated) || strings.Contains(err.Error(), "FOREIGN KEY constraint failed"))
}

// GetAccountToken implements storage.AccountTokens.
func (s *Store) GetAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*storage.AccountToken, error) {
	var row accountTokenRow
	err := s.conn(ctx).Where("token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?",
		hex.EncodeToString(hash), purpose, millis(now)).Take(&row).Error
	if err != nil {
		return nil, mapErr(err)
	}
	return row.toToken(), nil
}

// ConsumeAccountToken implements storage.AccountTokens with one
// conditional UPDATE: the database lets exactly one of concurrent
// consumers change the row.
func (s *Store) ConsumeAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*storage.AccountToken, error) {
	key, at := hex.EncodeToString(hash), millis(now)
	var row accountTokenRow
	err := s.inTx(ctx, func(tx txDB) error {
		res := tx.Model(&accountTokenRow{}).
			Where("token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?", key, purpose, at).
			Update("used_at", at)
		if res.Error != nil {
			return mapErr(res.Error)
		}
		if res.RowsAffected != 1 {
			return storage.ErrNotFound
		}
		return mapErr(tx.Where("token_hash = ?", key).Take(&row).Error)
	})
	if err != nil {
		return nil, err
	}
	return row.toToken(), nil
}

// DeleteAccountTokens implements storage.AccountTokens.
func (s *Store) DeleteAccountTokens(ctx context.Context, userID, purpose string) error {
	q := s.conn(ctx).Where("user_id = ?", userID)
	if purpose != "" {
		q = q.Where("purpose = ?", purpose)
	}
	return mapErr(q.Delete(&accountTokenRow{}).Error)
}

// DeleteExpiredAccountTokens implements storage.AccountTokens.
func (s *Store) DeleteExpiredAccountTokens(ctx context.Context, now time.Time) (int64, error) {
	at := millis(now)
	res := s.conn(ctx).Where("expires_at <= ? OR used_at <= ?", at, at).Delete(&accountTokenRow{})
	return res.RowsAffected, mapErr(res.Error)
}
