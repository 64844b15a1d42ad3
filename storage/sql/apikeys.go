package sql

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/authd/authd/storage"
)

type apiKeyRow struct {
	ID         string `gorm:"primaryKey"`
	Name       string
	Hash       []byte
	MACKey     string `gorm:"column:mac_key"`
	Scopes     string
	Tier       string
	CreatedBy  string
	CreatedAt  int64 `gorm:"autoCreateTime:false"`
	ExpiresAt  int64
	LastUsedAt int64
	LastUsedIP string `gorm:"column:last_used_ip"`
	RevokedAt  int64
}

func (apiKeyRow) TableName() string { return "api_keys" }

var _ storage.APIKeys = (*Store)(nil)

func (r *apiKeyRow) toKey() *storage.APIKey {
	return &storage.APIKey{
		ID: r.ID, Name: r.Name, Hash: r.Hash, MACKeyID: r.MACKey, Scopes: strings.Fields(r.Scopes), Tier: r.Tier, CreatedBy: r.CreatedBy,
		CreatedAt: fromMillis(r.CreatedAt), ExpiresAt: fromOptMillis(r.ExpiresAt), LastUsedAt: fromOptMillis(r.LastUsedAt),
		LastUsedIP: r.LastUsedIP, RevokedAt: fromOptMillis(r.RevokedAt),
	}
}

// fromOptMillis is fromMillis with 0 meaning "never" (the zero time).
func fromOptMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return fromMillis(ms)
}

func optMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return millis(t)
}

// CreateAPIKey implements storage.APIKeys. It publishes the change too, so
// that instances that cached the id as unknown look again.
func (s *Store) CreateAPIKey(ctx context.Context, k *storage.APIKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	k.CreatedAt = k.CreatedAt.UTC().Truncate(timeMilli)
	row := apiKeyRow{ID: k.ID, Name: k.Name, Hash: k.Hash, MACKey: k.MACKeyID, Scopes: strings.Join(k.Scopes, " "), Tier: k.Tier,
		CreatedBy: k.CreatedBy, CreatedAt: millis(k.CreatedAt), ExpiresAt: optMillis(k.ExpiresAt)}
	return s.inTx(ctx, func(tx txDB) error {
		if err := mapErr(tx.Create(&row).Error); err != nil {
			return err
		}
		return s.publish(tx, storage.TopicAPIKey, k.ID)
	})
}

// GetAPIKey implements storage.APIKeys.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*storage.APIKey, error) {
	var row apiKeyRow
	if err := s.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	return row.toKey(), nil
}

// ListAPIKeys implements storage.APIKeys.
func (s *Store) ListAPIKeys(ctx context.Context, after string, limit int) ([]*storage.APIKey, error) {
	if limit <= 0 {
		return nil, nil
	}
	var rows []apiKeyRow
	if err := s.conn(ctx).Where("id > ?", after).Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
	out := make([]*storage.APIKey, len(rows))
	for i := range rows {
		out[i] = rows[i].toKey()
	}
	return out, nil
}

// RevokeAPIKey implements storage.APIKeys.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, t time.Time) error {
	return s.inTx(ctx, func(tx txDB) error {
		var row apiKeyRow
		if err := tx.Clauses(s.forUpdate()...).Where("id = ?", id).Take(&row).Error; err != nil {
			return mapErr(err)
		}
		if row.RevokedAt != 0 {
			return nil
		}
		if err := tx.Model(&apiKeyRow{}).Where("id = ?", id).Update("revoked_at", millis(t)).Error; err != nil {
			return mapErr(err)
		}
		return s.publish(tx, storage.TopicAPIKey, id)
	})
}

// TouchAPIKeys implements storage.APIKeys. It does not publish: last use
// is bookkeeping, not something caches act on.
func (s *Store) TouchAPIKeys(ctx context.Context, uses map[string]storage.APIKeyUse) error {
	return s.inTx(ctx, func(tx txDB) error {
		for id, u := range uses {
			ms := millis(u.At)
			err := tx.Model(&apiKeyRow{}).Where("id = ? AND last_used_at < ?", id, ms).
				Updates(map[string]any{"last_used_at": ms, "last_used_ip": u.IP}).Error
			if err != nil {
				return mapErr(err)
			}
		}
		return nil
	})
}

// SearchUsers implements storage.Users.
func (s *Store) SearchUsers(ctx context.Context, f storage.UserFilter) ([]*storage.User, error) {
	if f.Limit <= 0 {
		return nil, nil
	}
	q := s.conn(ctx)
	if f.After != "" {
		// Only when paging on: "id > ''" on the first page makes the
		// Postgres planner expect every row and sort rather than walk
		// the primary key.
		q = q.Where("id > ?", f.After)
	}
	if f.Organization != "" {
		q = q.Where("organization = ?", f.Organization)
	}
	if f.Disabled != nil {
		q = q.Where("disabled = ?", *f.Disabled)
	}
	if f.Offset > 0 {
		q = q.Offset(f.Offset)
	}
	return s.findUsers(q.Order(clause.OrderByColumn{Column: clause.Column{Name: "id"}}).Limit(f.Limit))
}

// CountUsers implements storage.Users: how many users match f (After,
// Offset and Limit ignored).
func (s *Store) CountUsers(ctx context.Context, f storage.UserFilter) (int64, error) {
	q := s.conn(ctx).Model(&userRow{})
	if f.Organization != "" {
		q = q.Where("organization = ?", f.Organization)
	}
	if f.Disabled != nil {
		q = q.Where("disabled = ?", *f.Disabled)
	}
	var n int64
	return n, mapErr(q.Count(&n).Error)
}

func (s *Store) findUsers(q *gorm.DB) ([]*storage.User, error) {
	var rows []userRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
	out := make([]*storage.User, 0, len(rows))
	for i := range rows {
		u, err := s.toUser(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// ListOrganizations implements storage.Users: distinct non-empty
// organization names greater than after, in order (an index scan of
// users_organization).
func (s *Store) ListOrganizations(ctx context.Context, after string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []string
	err := s.conn(ctx).Model(&userRow{}).Distinct("organization").Where("organization > ?", after).
		Order("organization").Limit(limit).Pluck("organization", &out).Error
	return out, mapErr(err)
}

type apiKeyAddressRow struct {
	KeyID     string `gorm:"primaryKey"`
	IP        string `gorm:"primaryKey;column:ip"`
	FirstSeen int64
}

func (apiKeyAddressRow) TableName() string { return "api_key_addresses" }

// AddAPIKeyAddress implements storage.APIKeys.
func (s *Store) AddAPIKeyAddress(ctx context.Context, id, ip string, t time.Time) (bool, int, error) {
	var added bool
	var known int64
	err := s.inTx(ctx, func(tx txDB) error {
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&apiKeyAddressRow{KeyID: id, IP: ip, FirstSeen: millis(t)})
		if res.Error != nil {
			return mapErr(res.Error)
		}
		added = res.RowsAffected == 1
		return mapErr(tx.Model(&apiKeyAddressRow{}).Where("key_id = ? AND ip <> ?", id, ip).Count(&known).Error)
	})
	return added, int(known), err
}
