package sql

import (
	"context"
	"time"

	"gorm.io/gorm/clause"

	"github.com/authd/authd/storage"
)

type initialTokenRow struct {
	ID          string `gorm:"primaryKey"`
	Description string
	Hash        []byte
	MACKey      string `gorm:"column:mac_key"`
	CreatedBy   string
	CreatedAt   int64 `gorm:"autoCreateTime:false"`
	ExpiresAt   int64
	MaxUses     int
	Uses        int
	RevokedAt   int64
}

func (initialTokenRow) TableName() string { return "initial_access_tokens" }

type clientRegistrationRow struct {
	ClientID       string `gorm:"primaryKey"`
	TokenHash      []byte
	MACKey         string `gorm:"column:mac_key"`
	InitialTokenID string
	Metadata       string
	CreatedAt      int64 `gorm:"autoCreateTime:false"`
	UpdatedAt      int64 `gorm:"autoUpdateTime:false"`
}

func (clientRegistrationRow) TableName() string { return "client_registrations" }

var _ storage.Registrations = (*Store)(nil)

func (r *initialTokenRow) toToken() *storage.InitialAccessToken {
	return &storage.InitialAccessToken{ID: r.ID, Description: r.Description, Hash: r.Hash, MACKeyID: r.MACKey, CreatedBy: r.CreatedBy,
		CreatedAt: fromMillis(r.CreatedAt), ExpiresAt: fromOptMillis(r.ExpiresAt), MaxUses: r.MaxUses, Uses: r.Uses,
		RevokedAt: fromOptMillis(r.RevokedAt)}
}

// CreateInitialAccessToken implements storage.Registrations.
func (s *Store) CreateInitialAccessToken(ctx context.Context, t *storage.InitialAccessToken) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	t.CreatedAt = t.CreatedAt.UTC().Truncate(timeMilli)
	row := initialTokenRow{ID: t.ID, Description: t.Description, Hash: t.Hash, MACKey: t.MACKeyID, CreatedBy: t.CreatedBy,
		CreatedAt: millis(t.CreatedAt), ExpiresAt: optMillis(t.ExpiresAt), MaxUses: t.MaxUses}
	return mapErr(s.conn(ctx).Create(&row).Error)
}

// GetInitialAccessToken implements storage.Registrations.
func (s *Store) GetInitialAccessToken(ctx context.Context, id string) (*storage.InitialAccessToken, error) {
	var row initialTokenRow
	if err := s.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	return row.toToken(), nil
}

// ListInitialAccessTokens implements storage.Registrations.
func (s *Store) ListInitialAccessTokens(ctx context.Context) ([]*storage.InitialAccessToken, error) {
	var rows []initialTokenRow
	if err := s.conn(ctx).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
	out := make([]*storage.InitialAccessToken, len(rows))
	for i := range rows {
		out[i] = rows[i].toToken()
	}
	return out, nil
}

// RevokeInitialAccessToken implements storage.Registrations.
func (s *Store) RevokeInitialAccessToken(ctx context.Context, id string, t time.Time) error {
	return s.inTx(ctx, func(tx txDB) error {
		var n int64
		if err := tx.Model(&initialTokenRow{}).Where("id = ?", id).Count(&n).Error; err != nil {
			return mapErr(err)
		}
		if n == 0 {
			return storage.ErrNotFound
		}
		return mapErr(tx.Model(&initialTokenRow{}).Where("id = ? AND revoked_at = 0", id).Update("revoked_at", millis(t)).Error)
	})
}

// UseInitialAccessToken implements storage.Registrations: the conditions
// are in the UPDATE's WHERE, which Postgres evaluates again on the row
// version it locks, so concurrent uses cannot exceed max_uses.
func (s *Store) UseInitialAccessToken(ctx context.Context, id string, now time.Time) error {
	res := s.conn(ctx).Model(&initialTokenRow{}).
		Where("id = ? AND revoked_at = 0 AND (expires_at = 0 OR expires_at > ?) AND (max_uses = 0 OR uses < max_uses)", id, millis(now)).
		Update("uses", clause.Expr{SQL: "uses + 1"})
	if res.Error != nil {
		return mapErr(res.Error)
	}
	if res.RowsAffected == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// PutClientRegistration implements storage.Registrations.
func (s *Store) PutClientRegistration(ctx context.Context, r *storage.ClientRegistration) error {
	now := s.now().UTC().Truncate(timeMilli)
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC().Truncate(timeMilli), now
	if len(r.Metadata) == 0 {
		r.Metadata = []byte("{}")
	}
	row := clientRegistrationRow{ClientID: r.ClientID, TokenHash: r.TokenHash, MACKey: r.MACKeyID, InitialTokenID: r.InitialTokenID,
		Metadata: string(r.Metadata), CreatedAt: millis(r.CreatedAt), UpdatedAt: millis(r.UpdatedAt)}
	return mapErr(s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "client_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"token_hash", "mac_key", "initial_token_id", "metadata", "updated_at"}),
	}).Create(&row).Error)
}

// GetClientRegistration implements storage.Registrations.
func (s *Store) GetClientRegistration(ctx context.Context, clientID string) (*storage.ClientRegistration, error) {
	var row clientRegistrationRow
	if err := s.conn(ctx).Where("client_id = ?", clientID).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	return &storage.ClientRegistration{ClientID: row.ClientID, TokenHash: row.TokenHash, MACKeyID: row.MACKey,
		InitialTokenID: row.InitialTokenID, Metadata: []byte(row.Metadata), CreatedAt: fromMillis(row.CreatedAt),
		UpdatedAt: fromMillis(row.UpdatedAt)}, nil
}
