package sql

import (
	"context"
	"time"

	"github.com/authd/authd/storage"
)

type revocationRow struct {
	Kind      string `gorm:"primaryKey"`
	Value     string `gorm:"primaryKey"`
	RevokedAt int64
	ExpiresAt int64
}

func (revocationRow) TableName() string { return "revocations" }

type changeRow struct {
	ID        int64 `gorm:"primaryKey;autoIncrement"`
	Topic     string
	Ref       string
	CreatedAt int64 `gorm:"autoCreateTime:false"`
}

func (changeRow) TableName() string { return "changes" }

// AddRevocation implements storage.Revocations.
func (s *Store) AddRevocation(ctx context.Context, r storage.Revocation) error {
	return s.addRevocation(ctx, s.conn(ctx), r)
}

// ListRevocations implements storage.Revocations.
func (s *Store) ListRevocations(ctx context.Context, since, now time.Time) ([]storage.Revocation, error) {
	var rows []revocationRow
	err := s.conn(ctx).Where("revoked_at >= ? AND expires_at > ?", millis(since), millis(now)).
		Order("revoked_at").Find(&rows).Error
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]storage.Revocation, len(rows))
	for i, r := range rows {
		out[i] = storage.Revocation{Kind: storage.RevocationKind(r.Kind), Value: r.Value,
			RevokedAt: fromMillis(r.RevokedAt), ExpiresAt: fromMillis(r.ExpiresAt)}
	}
	return out, nil
}

// DeleteExpiredRevocations implements storage.Revocations.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int64, error) {
	res := s.conn(ctx).Where("expires_at <= ?", millis(now)).Delete(&revocationRow{})
	return res.RowsAffected, mapErr(res.Error)
}

// PublishChange implements storage.Changes.
func (s *Store) PublishChange(ctx context.Context, topic, ref string) error {
	return s.publish(s.conn(ctx), topic, ref)
}

func (s *Store) publish(tx txDB, topic, ref string) error {
	return mapErr(tx.Create(&changeRow{Topic: topic, Ref: ref, CreatedAt: s.nowMilli()}).Error)
}

// ListChanges implements storage.Changes.
func (s *Store) ListChanges(ctx context.Context, since time.Time) ([]storage.Change, error) {
	var rows []changeRow
	if err := s.conn(ctx).Where("created_at >= ?", millis(since)).Order("id").Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
	out := make([]storage.Change, len(rows))
	for i, r := range rows {
		out[i] = storage.Change{ID: r.ID, Topic: r.Topic, Ref: r.Ref, CreatedAt: fromMillis(r.CreatedAt)}
	}
	return out, nil
}

// DeleteChangesBefore implements storage.Changes.
func (s *Store) DeleteChangesBefore(ctx context.Context, t time.Time) (int64, error) {
	res := s.conn(ctx).Where("created_at < ?", millis(t)).Delete(&changeRow{})
	return res.RowsAffected, mapErr(res.Error)
}
