package sql

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/authd/authd/storage"
)

type sessionRow struct {
	ID         string `gorm:"primaryKey"`
	SecretHash string
	UserID     string
	AuthTime   int64
	AMR        string `gorm:"column:amr"`
	ACR        string `gorm:"column:acr"`
	IP         string `gorm:"column:ip"`
	UserAgent  string
	CreatedAt  int64 `gorm:"autoCreateTime:false"`
	LastSeenAt int64
	ExpiresAt  int64
}

func (sessionRow) TableName() string { return "browser_sessions" }

func (r *sessionRow) toSession() *storage.Session {
	s := &storage.Session{ID: r.ID, UserID: r.UserID, AuthTime: fromMillis(r.AuthTime), ACR: r.ACR, IP: r.IP,
		UserAgent: r.UserAgent, CreatedAt: fromMillis(r.CreatedAt), LastSeenAt: fromMillis(r.LastSeenAt), ExpiresAt: fromMillis(r.ExpiresAt)}
	if r.AMR != "" {
		s.AMR = strings.Split(r.AMR, " ")
	}
	return s
}

type sessionClientRow struct {
	SessionID string `gorm:"primaryKey"`
	ClientID  string `gorm:"primaryKey"`
}

func (sessionClientRow) TableName() string { return "session_clients" }

// CreateSession implements storage.Sessions.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session, secretHash []byte) error {
	return mapErr(s.conn(ctx).Create(&sessionRow{
		ID: sess.ID, SecretHash: hex.EncodeToString(secretHash), UserID: sess.UserID, AuthTime: millis(sess.AuthTime),
		AMR: strings.Join(sess.AMR, " "), ACR: sess.ACR, IP: sess.IP, UserAgent: sess.UserAgent,
		CreatedAt: millis(sess.CreatedAt), LastSeenAt: millis(sess.LastSeenAt), ExpiresAt: millis(sess.ExpiresAt),
	}).Error)
}

// GetSessionBySecret implements storage.Sessions.
func (s *Store) GetSessionBySecret(ctx context.Context, secretHash []byte, now time.Time) (*storage.Session, error) {
	var row sessionRow
	err := s.conn(ctx).Where("secret_hash = ? AND expires_at > ?", hex.EncodeToString(secretHash), millis(now)).Take(&row).Error
	if err != nil {
		return nil, mapErr(err)
	}
	return row.toSession(), nil
}

// GetSession implements storage.Sessions.
func (s *Store) GetSession(ctx context.Context, id string) (*storage.Session, error) {
	var row sessionRow
	if err := s.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	return row.toSession(), nil
}

// RenewSession implements storage.Sessions.
func (s *Store) RenewSession(ctx context.Context, id string, secretHash []byte, authTime time.Time, amr []string, acr string) error {
	res := s.conn(ctx).Model(&sessionRow{}).Where("id = ?", id).Updates(map[string]any{
		"secret_hash": hex.EncodeToString(secretHash), "auth_time": millis(authTime), "amr": strings.Join(amr, " "),
		"acr": acr, "last_seen_at": millis(authTime),
	})
	if res.Error != nil {
		return mapErr(res.Error)
	}
	if res.RowsAffected == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// TouchSession implements storage.Sessions.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	return mapErr(s.conn(ctx).Model(&sessionRow{}).Where("id = ?", id).Update("last_seen_at", millis(at)).Error)
}

// ListUserSessions implements storage.Sessions.
func (s *Store) ListUserSessions(ctx context.Context, userID string, now time.Time) ([]*storage.Session, error) {
	var rows []sessionRow
	err := s.conn(ctx).Where("user_id = ? AND expires_at > ?", userID, millis(now)).Order("created_at DESC, id").Find(&rows).Error
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]*storage.Session, len(rows))
	for i := range rows {
		out[i] = rows[i].toSession()
	}
	return out, nil
}

// DeleteSession implements storage.Sessions.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx txDB) error {
		res := tx.Where("id = ?", id).Delete(&sessionRow{})
		if res.Error != nil {
			return mapErr(res.Error)
		}
		if res.RowsAffected == 0 {
			return storage.ErrNotFound
		}
		return mapErr(tx.Where("session_id = ?", id).Delete(&sessionClientRow{}).Error)
	})
}

// DeleteUserSessions implements storage.Sessions.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) ([]string, error) {
	var ids []string
	err := s.inTx(ctx, func(tx txDB) error {
		if err := tx.Model(&sessionRow{}).Where("user_id = ? AND id <> ?", userID, except).Pluck("id", &ids).Error; err != nil {
			return mapErr(err)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := tx.Where("id IN ?", ids).Delete(&sessionRow{}).Error; err != nil {
			return mapErr(err)
		}
		return mapErr(tx.Where("session_id IN ?", ids).Delete(&sessionClientRow{}).Error)
	})
	return ids, err
}

// AddSessionClient implements storage.Sessions.
func (s *Store) AddSessionClient(ctx context.Context, sid, clientID string) error {
	return mapErr(s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&sessionClientRow{SessionID: sid, ClientID: clientID}).Error)
}

// ListSessionClients implements storage.Sessions.
func (s *Store) ListSessionClients(ctx context.Context, sid string) ([]string, error) {
	var ids []string
	err := s.conn(ctx).Model(&sessionClientRow{}).Where("session_id = ?", sid).Order("client_id").Pluck("client_id", &ids).Error
	return ids, mapErr(err)
}

type consentRow struct {
	UserID    string `gorm:"primaryKey"`
	ClientID  string `gorm:"primaryKey"`
	Scopes    string
	CreatedAt int64 `gorm:"autoCreateTime:false"`
	UpdatedAt int64 `gorm:"autoUpdateTime:false"`
}

func (consentRow) TableName() string { return "consents" }

func (r *consentRow) toConsent() *storage.Consent {
	return &storage.Consent{UserID: r.UserID, ClientID: r.ClientID, Scopes: strings.Fields(r.Scopes),
		CreatedAt: fromMillis(r.CreatedAt), UpdatedAt: fromMillis(r.UpdatedAt)}
}

// GetConsent implements storage.Consents.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error) {
	var row consentRow
	if err := s.conn(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	return row.toConsent(), nil
}

// SaveConsent implements storage.Consents.
func (s *Store) SaveConsent(ctx context.Context, c *storage.Consent) error {
	now := s.nowMilli()
	row := consentRow{UserID: c.UserID, ClientID: c.ClientID, Scopes: strings.Join(c.Scopes, " "), CreatedAt: now, UpdatedAt: now}
	return mapErr(s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"scopes", "updated_at"}),
	}).Create(&row).Error)
}

// ListUserConsents implements storage.Consents.
func (s *Store) ListUserConsents(ctx context.Context, userID string) ([]*storage.Consent, error) {
	var rows []consentRow
	if err := s.conn(ctx).Where("user_id = ?", userID).Order("client_id").Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
	out := make([]*storage.Consent, len(rows))
	for i := range rows {
		out[i] = rows[i].toConsent()
	}
	return out, nil
}

// DeleteConsent implements storage.Consents.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	res := s.conn(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Delete(&consentRow{})
	if res.Error != nil {
		return mapErr(res.Error)
	}
	if res.RowsAffected == 0 {
		return storage.ErrNotFound
	}
	return nil
}

type authRequestRow struct {
	ID            string `gorm:"primaryKey"`
	ClientID      string
	Form          string
	SessionID     string
	LoginAt       int64
	ConsentGiven  bool
	ConsentDenied bool
	GrantedScopes string
	ClientAddr    string
	CreatedAt     int64 `gorm:"autoCreateTime:false"`
	ExpiresAt     int64
}

func (authRequestRow) TableName() string { return "auth_requests" }

// CreateAuthRequest implements storage.AuthRequests. The bound counts
// the address's requests that have not expired; expired ones are the
// janitor's (DeleteExpired).
func (s *Store) CreateAuthRequest(ctx context.Context, r *storage.AuthRequest, maxPerAddr int) error {
	row, err := toAuthRequestRow(r)
	if err != nil {
		return err
	}
	if maxPerAddr <= 0 || r.ClientAddr == "" {
		return mapErr(s.conn(ctx).Create(row).Error)
	}
	return s.inTxCtx(ctx, func(ctx context.Context, tx *gorm.DB) error {
		// The newest maxPerAddr-1 waiting requests stay; older ones go.
		keep := tx.Model(&authRequestRow{}).Select("id").
			Where("client_addr = ? AND expires_at > ?", r.ClientAddr, millis(s.now())).
			Order("created_at DESC, id DESC").Limit(maxPerAddr - 1)
		del := tx.Where("client_addr = ? AND id NOT IN (?)", r.ClientAddr, keep)
		if maxPerAddr == 1 {
			del = tx.Where("client_addr = ?", r.ClientAddr)
		}
		if err := del.Delete(&authRequestRow{}).Error; err != nil {
			return mapErr(err)
		}
		return mapErr(tx.Create(row).Error)
	})
}

func toAuthRequestRow(r *storage.AuthRequest) (*authRequestRow, error) {
	form, err := json.Marshal(r.Form)
	if err != nil {
		return nil, err
	}
	return &authRequestRow{ID: r.ID, ClientID: r.ClientID, Form: string(form), SessionID: r.SessionID,
		LoginAt: millis(r.LoginAt), ConsentGiven: r.ConsentGiven, ConsentDenied: r.ConsentDenied,
		GrantedScopes: strings.Join(r.GrantedScopes, " "), ClientAddr: r.ClientAddr, CreatedAt: millis(r.CreatedAt), ExpiresAt: millis(r.ExpiresAt)}, nil
}

// GetAuthRequest implements storage.AuthRequests.
func (s *Store) GetAuthRequest(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error) {
	var row authRequestRow
	if err := s.conn(ctx).Where("id = ? AND expires_at > ?", id, millis(now)).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	form := url.Values{}
	if err := json.Unmarshal([]byte(row.Form), &form); err != nil {
		return nil, err
	}
	return &storage.AuthRequest{ID: row.ID, ClientID: row.ClientID, Form: form, SessionID: row.SessionID,
		LoginAt: fromMillis(row.LoginAt), ConsentGiven: row.ConsentGiven, ConsentDenied: row.ConsentDenied,
		GrantedScopes: strings.Fields(row.GrantedScopes), ClientAddr: row.ClientAddr, CreatedAt: fromMillis(row.CreatedAt),
		ExpiresAt: fromMillis(row.ExpiresAt)}, nil
}

// UpdateAuthRequest implements storage.AuthRequests.
func (s *Store) UpdateAuthRequest(ctx context.Context, r *storage.AuthRequest) error {
	row, err := toAuthRequestRow(r)
	if err != nil {
		return err
	}
	greatest := "MAX" // SQLite's scalar max
	if s.dialect == Postgres {
		greatest = "GREATEST"
	}
	res := s.conn(ctx).Model(&authRequestRow{}).Where("id = ?", r.ID).Updates(map[string]any{
		"session_id": row.SessionID, "login_at": row.LoginAt, "consent_given": row.ConsentGiven,
		"consent_denied": row.ConsentDenied, "granted_scopes": row.GrantedScopes,
		"expires_at": gorm.Expr(greatest+"(expires_at, created_at + ?)", storage.AuthRequestMaxTTL.Milliseconds()),
	})
	if res.Error != nil {
		return mapErr(res.Error)
	}
	if res.RowsAffected == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// DeleteAuthRequest implements storage.AuthRequests.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	res := s.conn(ctx).Where("id = ?", id).Delete(&authRequestRow{})
	if res.Error != nil {
		return mapErr(res.Error)
	}
	if res.RowsAffected == 0 {
		return storage.ErrNotFound
	}
	return nil
}
