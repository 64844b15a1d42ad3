package sql

import (
	"context"
	"time"

	"github.com/authd/authd/storage"
)

type keyRow struct {
	KID           string `gorm:"primaryKey;column:kid"`
	Algorithm     string
	SealedPrivate []byte
	CreatedAt     int64 `gorm:"autoCreateTime:false"`
	RetiredAt     *int64
}

func (keyRow) TableName() string { return "signing_keys" }

// CreateKey implements storage.Keys.
func (s *Store) CreateKey(ctx context.Context, k *storage.SigningKey) error {
	row := keyRow{KID: k.KID, Algorithm: k.Algorithm, SealedPrivate: k.SealedPrivate, CreatedAt: millis(k.CreatedAt)}
	if k.RetiredAt != nil {
		ms := millis(*k.RetiredAt)
		row.RetiredAt = &ms
	}
	return s.inTx(ctx, func(tx txDB) error {
		if err := mapErr(tx.Create(&row).Error); err != nil {
			return err
		}
		return s.publish(tx, storage.TopicKeys, k.KID)
	})
}

// ListKeys implements storage.Keys.
func (s *Store) ListKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	var rows []keyRow
	if err := s.conn(ctx).Order("created_at DESC, kid").Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
	out := make([]*storage.SigningKey, 0, len(rows))
	for _, r := range rows {
		k := &storage.SigningKey{KID: r.KID, Algorithm: r.Algorithm, SealedPrivate: r.SealedPrivate, CreatedAt: fromMillis(r.CreatedAt)}
		if r.RetiredAt != nil {
			t := fromMillis(*r.RetiredAt)
			k.RetiredAt = &t
		}
		out = append(out, k)
	}
	return out, nil
}

// RetireKeys implements storage.Keys.
func (s *Store) RetireKeys(ctx context.Context, keep string, t time.Time) error {
	return s.inTx(ctx, func(tx txDB) error {
		res := tx.Model(&keyRow{}).Where("kid <> ? AND retired_at IS NULL", keep).Update("retired_at", millis(t))
		if res.Error != nil {
			return mapErr(res.Error)
		}
		return s.publish(tx, storage.TopicKeys, keep)
	})
}

// DeleteKeysRetiredBefore implements storage.Keys.
func (s *Store) DeleteKeysRetiredBefore(ctx context.Context, t time.Time) error {
	return mapErr(s.conn(ctx).Where("retired_at IS NOT NULL AND retired_at < ?", millis(t)).Delete(&keyRow{}).Error)
}
