package sql

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fstorage "github.com/ory/fosite/storage"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/authd/authd/storage"
)

// Compile-time proof that the backend satisfies every fosite storage
// contract the provider composes.
var (
	_ fosite.ClientManager               = (*Store)(nil)
	_ oauth2.CoreStorage                 = (*Store)(nil)
	_ oauth2.TokenRevocationStorage      = (*Store)(nil)
	_ pkce.PKCERequestStorage            = (*Store)(nil)
	_ openid.OpenIDConnectRequestStorage = (*Store)(nil)
	_ fstorage.Transactional             = (*Store)(nil)
	_ storage.Clients                    = (*Store)(nil)
	_ storage.Keys                       = (*Store)(nil)
	_ storage.Revocations                = (*Store)(nil)
	_ storage.Changes                    = (*Store)(nil)
	_ storage.Tokens                     = (*Store)(nil)
	_ storage.Sessions                   = (*Store)(nil)
	_ storage.Consents                   = (*Store)(nil)
	_ storage.AuthRequests               = (*Store)(nil)
	_ storage.Users                      = (*Store)(nil)
	_ storage.AccountTokens              = (*Store)(nil)
	_ storage.Attempts                   = (*Store)(nil)
	_ storage.Audit                      = (*Store)(nil)
)

// key hashes a token signature (or a raw code, which fosite's OpenID
// handler passes) so that no stored column can be replayed as a token.
func key(signature string) string {
	sum := sha256.Sum256([]byte(signature))
	return hex.EncodeToString(sum[:])
}

type codeRow struct {
	Signature string `gorm:"primaryKey"`
	RequestID string
	ClientID  string
	Active    bool
	Request   string
	ExpiresAt int64
}

func (codeRow) TableName() string { return "oauth2_codes" }

type refreshRow struct {
	Signature       string `gorm:"primaryKey"`
	RequestID       string
	ClientID        string
	Subject         string
	SessionID       string
	Active          bool
	Offline         bool
	AccessJTI       string `gorm:"column:access_jti"`
	AccessExpiresAt int64
	Request         string
	CreatedAt       int64 `gorm:"autoCreateTime:false"`
	ExpiresAt       int64
}

func (refreshRow) TableName() string { return "oauth2_refresh_tokens" }

type pkceRow struct {
	Signature string `gorm:"primaryKey"`
	ClientID  string
	Request   string
	ExpiresAt int64
}

func (pkceRow) TableName() string { return "oauth2_pkce" }

type oidcRow struct {
	Signature string `gorm:"primaryKey"`
	ClientID  string
	Request   string
	ExpiresAt int64
}

func (oidcRow) TableName() string { return "oidc_sessions" }

type jtiRow struct {
	JTI       string `gorm:"primaryKey;column:jti"`
	ExpiresAt int64
}

func (jtiRow) TableName() string { return "client_assertion_jtis" }

// storedRequest is the serialised form of a fosite.Requester. The form was
// sanitised by fosite before it reaches storage.
type storedRequest struct {
	ID                string          `json:"id"`
	RequestedAt       time.Time       `json:"requested_at"`
	ClientID          string          `json:"client_id"`
	RequestedScopes   []string        `json:"requested_scopes,omitempty"`
	GrantedScopes     []string        `json:"granted_scopes,omitempty"`
	RequestedAudience []string        `json:"requested_audience,omitempty"`
	GrantedAudience   []string        `json:"granted_audience,omitempty"`
	Form              url.Values      `json:"form,omitempty"`
	Session           json.RawMessage `json:"session,omitempty"`
}

func encodeRequest(r fosite.Requester) (string, error) {
	sess, err := json.Marshal(r.GetSession())
	if err != nil {
		return "", fmt.Errorf("encode session: %w", err)
	}
	b, err := json.Marshal(storedRequest{
		ID: r.GetID(), RequestedAt: r.GetRequestedAt(), ClientID: r.GetClient().GetID(),
		RequestedScopes: r.GetRequestedScopes(), GrantedScopes: r.GetGrantedScopes(),
		RequestedAudience: r.GetRequestedAudience(), GrantedAudience: r.GetGrantedAudience(),
		Form: r.GetRequestForm(), Session: sess,
	})
	return string(b), err
}

// decodeRequest rebuilds a request, loading its client (which must still
// exist) and filling session, the caller's prototype. A nil session gets a
// default OpenID session, enough for callers that only need ids.
func (s *Store) decodeRequest(ctx context.Context, data string, session fosite.Session) (*fosite.Request, error) {
	var sr storedRequest
	if err := json.Unmarshal([]byte(data), &sr); err != nil {
		return nil, fmt.Errorf("decode stored request: %w", err)
	}
	lookup := s.GetStoredClient
	if s.clientLookup != nil {
		lookup = s.clientLookup
	}
	client, err := lookup(ctx, sr.ClientID)
	if err != nil {
		return nil, err
	}
	if session == nil {
		session = openid.NewDefaultSession()
	}
	if len(sr.Session) > 0 {
		if err := json.Unmarshal(sr.Session, session); err != nil {
			return nil, fmt.Errorf("decode stored session: %w", err)
		}
	}
	return &fosite.Request{
		ID: sr.ID, RequestedAt: sr.RequestedAt, Client: client,
		RequestedScope: sr.RequestedScopes, GrantedScope: sr.GrantedScopes,
		RequestedAudience: sr.RequestedAudience, GrantedAudience: sr.GrantedAudience,
		Form: sr.Form, Session: session,
	}, nil
}

func expiry(r fosite.Requester, tt fosite.TokenType, fallback time.Time) int64 {
	if r.GetSession() != nil {
		if t := r.GetSession().GetExpiresAt(tt); !t.IsZero() {
			return millis(t)
		}
	}
	return millis(fallback)
}

// GetClient implements fosite.ClientManager.
func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.GetStoredClient(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ClientAssertionJWTValid implements fosite.ClientManager: fosite.ErrJTIKnown
// if jti was seen and has not expired (RFC 7523 §3, replay protection).
func (s *Store) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	var n int64
	err := s.conn(ctx).Model(&jtiRow{}).Where("jti = ? AND expires_at > ?", key(jti), s.nowMilli()).Count(&n).Error
	if err != nil {
		return mapErr(err)
	}
	if n > 0 {
		return fosite.ErrJTIKnown
	}
	return nil
}

// SetClientAssertionJWT implements fosite.ClientManager.
func (s *Store) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	return s.inTx(ctx, func(tx txDB) error {
		if err := tx.Where("expires_at <= ?", s.nowMilli()).Delete(&jtiRow{}).Error; err != nil {
			return mapErr(err)
		}
		err := mapErr(tx.Create(&jtiRow{JTI: key(jti), ExpiresAt: millis(exp)}).Error)
		if errors.Is(err, storage.ErrConflict) {
			return fosite.ErrJTIKnown
		}
		return err
	})
}

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, signature string, r fosite.Requester) error {
	data, err := encodeRequest(r)
	if err != nil {
		return err
	}
	return mapErr(s.conn(ctx).Create(&codeRow{
		Signature: key(signature), RequestID: r.GetID(), ClientID: r.GetClient().GetID(), Active: true,
		Request: data, ExpiresAt: expiry(r, fosite.AuthorizeCode, s.now().Add(10*time.Minute)),
	}).Error)
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. A used
// code returns its request together with fosite.ErrInvalidatedAuthorizeCode,
// so fosite can revoke what the code issued (RFC 6749 §4.1.2).
func (s *Store) GetAuthorizeCodeSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	var row codeRow
	if err := s.conn(ctx).Where("signature = ?", key(signature)).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	r, err := s.decodeRequest(ctx, row.Request, session)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return r, fosite.ErrInvalidatedAuthorizeCode
	}
	return r, nil
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
// Only one caller can invalidate an active code; the loser of a race gets
// fosite.ErrInvalidatedAuthorizeCode.
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error {
	res := s.conn(ctx).Model(&codeRow{}).Where("signature = ? AND active", key(signature)).Update("active", false)
	if res.Error != nil {
		return mapErr(res.Error)
	}
	if res.RowsAffected == 0 {
		var n int64
		if err := s.conn(ctx).Model(&codeRow{}).Where("signature = ?", key(signature)).Count(&n).Error; err != nil {
			return mapErr(err)
		}
		if n == 0 {
			return storage.ErrNotFound
		}
		return fosite.ErrInvalidatedAuthorizeCode
	}
	return nil
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage. Access
// tokens are self-contained JWTs, so issuing one writes nothing: the
// revocation set, not a token table, says when one stops being valid.
func (s *Store) CreateAccessTokenSession(context.Context, string, fosite.Requester) error { return nil }

// GetAccessTokenSession implements oauth2.AccessTokenStorage: always
// storage.ErrNotFound, as access tokens are not stored.
func (s *Store) GetAccessTokenSession(context.Context, string, fosite.Session) (fosite.Requester, error) {
	return nil, storage.ErrNotFound
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage (a no-op).
func (s *Store) DeleteAccessTokenSession(context.Context, string) error { return nil }

// sessionIDer is implemented by sessions that belong to a browser session.
type sessionIDer interface{ BrowserSessionID() string }

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage. The
// access token issued with it is remembered by its jti, which is what the
// provider's access token strategy returns as its signature.
func (s *Store) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, r fosite.Requester) error {
	data, err := encodeRequest(r)
	if err != nil {
		return err
	}
	row := refreshRow{
		Signature: key(signature), RequestID: r.GetID(), ClientID: r.GetClient().GetID(), Active: true,
		Offline:   r.GetGrantedScopes().HasOneOf("offline_access", "offline"),
		AccessJTI: accessSignature, AccessExpiresAt: expiry(r, fosite.AccessToken, time.Time{}),
		Request: data, CreatedAt: s.nowMilli(),
		ExpiresAt: expiry(r, fosite.RefreshToken, s.now().Add(30*24*time.Hour)),
	}
	if sess := r.GetSession(); sess != nil {
		row.Subject = sess.GetSubject()
		if sid, ok := sess.(sessionIDer); ok {
			row.SessionID = sid.BrowserSessionID()
		}
	}
	return mapErr(s.conn(ctx).Create(&row).Error)
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage. An inactive
// (rotated or revoked) token returns its request with
// fosite.ErrInactiveToken, which is how fosite detects reuse.
func (s *Store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	var row refreshRow
	if err := s.conn(ctx).Where("signature = ?", key(signature)).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	r, err := s.decodeRequest(ctx, row.Request, session)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return r, fosite.ErrInactiveToken
	}
	return r, nil
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *Store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return mapErr(s.conn(ctx).Where("signature = ?", key(signature)).Delete(&refreshRow{}).Error)
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: the presented
// token becomes inactive and the access token issued with it is revoked.
// If another request rotated it first, fosite.ErrSerializationFailure.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	return s.inTxCtx(ctx, func(ctx context.Context, tx txDB) error {
		var row refreshRow
		err := tx.Clauses(s.forUpdate()...).Where("signature = ? AND request_id = ?", key(signature), requestID).Take(&row).Error
		if err != nil {
			return mapErr(err)
		}
		res := tx.Model(&refreshRow{}).Where("signature = ? AND active", row.Signature).Update("active", false)
		if res.Error != nil {
			return mapErr(res.Error)
		}
		if res.RowsAffected == 0 {
			return fosite.ErrSerializationFailure
		}
		if row.AccessJTI == "" || row.AccessExpiresAt <= s.nowMilli() {
			return nil
		}
		return s.addRevocation(ctx, tx, storage.Revocation{Kind: storage.RevokeToken, Value: row.AccessJTI,
			RevokedAt: s.now(), ExpiresAt: fromMillis(row.AccessExpiresAt)})
	})
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage: every
// refresh token of the grant becomes inactive (RFC 7009 §2.1).
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return mapErr(s.conn(ctx).Model(&refreshRow{}).Where("request_id = ? AND active", requestID).Update("active", false).Error)
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage: every access
// token of the grant is revoked, through one grant entry in the revocation
// set that lives as long as the longest access token it can cover.
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	now := s.now()
	return s.addRevocation(ctx, s.conn(ctx), storage.Revocation{Kind: storage.RevokeGrant, Value: requestID,
		RevokedAt: now, ExpiresAt: now.Add(s.maxAccessTTL)})
}

// RevokeSessionTokens implements storage.Tokens.
func (s *Store) RevokeSessionTokens(ctx context.Context, sid string, includeOffline bool) error {
	return s.revokeTokensWhere(ctx, "session_id = ?", []any{sid}, includeOffline,
		storage.Revocation{Kind: storage.RevokeSession, Value: sid})
}

// RevokeSubjectTokens implements storage.Tokens.
func (s *Store) RevokeSubjectTokens(ctx context.Context, subject string) error {
	return s.revokeTokensWhere(ctx, "subject = ?", []any{subject}, true,
		storage.Revocation{Kind: storage.RevokeSubject, Value: subject})
}

// RevokeClientSubjectTokens implements storage.Tokens.
func (s *Store) RevokeClientSubjectTokens(ctx context.Context, clientID, subject string) error {
	if clientID == "" {
		return errors.New("sql: refusing to revoke tokens for an empty client id")
	}
	return s.revokeTokensWhere(ctx, "client_id = ? AND subject = ?", []any{clientID, subject}, true,
		storage.Revocation{Kind: storage.RevokeClientSubject, Value: storage.ClientSubjectKey(clientID, subject)})
}

func (s *Store) revokeTokensWhere(ctx context.Context, where string, args []any, includeOffline bool, rev storage.Revocation) error {
	for _, a := range args {
		if a == "" {
			return errors.New("sql: refusing to revoke tokens for an empty id")
		}
	}
	now := s.now()
	life := s.maxAccessTTL
	if rev.Kind == storage.RevokeSession {
		life = max(life, storage.MaxAuthorizeCodeTTL) // it also refuses the session's unspent codes
	}
	rev.RevokedAt, rev.ExpiresAt = now, now.Add(life)
	return s.inTxCtx(ctx, func(ctx context.Context, tx txDB) error {
		q := tx.Model(&refreshRow{}).Where(where+" AND active", args...)
		if !includeOffline {
			q = q.Where("NOT offline")
		}
		if err := q.Update("active", false).Error; err != nil {
			return mapErr(err)
		}
		return s.addRevocation(ctx, tx, rev)
	})
}

// addRevocation writes r with tx and reports it to OnRevoke: once ctx's
// transaction commits, or at once when ctx carries none.
func (s *Store) addRevocation(ctx context.Context, tx txDB, r storage.Revocation) error {
	r.RevokedAt = r.RevokedAt.UTC().Truncate(time.Millisecond)
	row := revocationRow{Kind: string(r.Kind), Value: r.Value, RevokedAt: millis(r.RevokedAt), ExpiresAt: millis(r.ExpiresAt)}
	greatest := "MAX" // SQLite's scalar max
	if s.dialect == Postgres {
		greatest = "GREATEST"
	}
	err := tx.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "kind"}, {Name: "value"}},
		DoUpdates: clause.Set{
			{Column: clause.Column{Name: "revoked_at"}, Value: gorm.Expr(greatest + "(revocations.revoked_at, excluded.revoked_at)")},
			{Column: clause.Column{Name: "expires_at"}, Value: gorm.Expr(greatest + "(revocations.expires_at, excluded.expires_at)")},
		},
	}).Create(&row).Error
	if err != nil {
		return mapErr(err)
	}
	if st, ok := txFrom(ctx); ok {
		st.addRevocation(r)
		return nil
	}
	s.revoked([]storage.Revocation{r})
	return nil
}

func (s *Store) forUpdate() []clause.Expression {
	if s.dialect == Postgres {
		return []clause.Expression{clause.Locking{Strength: "UPDATE"}}
	}
	return nil // SQLite serialises writers already (BEGIN IMMEDIATE).
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) CreatePKCERequestSession(ctx context.Context, signature string, r fosite.Requester) error {
	data, err := encodeRequest(r)
	if err != nil {
		return err
	}
	return mapErr(s.conn(ctx).Create(&pkceRow{Signature: key(signature), ClientID: r.GetClient().GetID(), Request: data,
		ExpiresAt: expiry(r, fosite.AuthorizeCode, s.now().Add(10*time.Minute))}).Error)
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	var row pkceRow
	if err := s.conn(ctx).Where("signature = ?", key(signature)).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	return s.decodeRequest(ctx, row.Request, session)
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return mapErr(s.conn(ctx).Where("signature = ?", key(signature)).Delete(&pkceRow{}).Error)
}

// CreateOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *Store) CreateOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) error {
	data, err := encodeRequest(r)
	if err != nil {
		return err
	}
	return mapErr(s.conn(ctx).Create(&oidcRow{Signature: key(code), ClientID: r.GetClient().GetID(), Request: data,
		ExpiresAt: expiry(r, fosite.AuthorizeCode, s.now().Add(10*time.Minute))}).Error)
}

// GetOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *Store) GetOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) (fosite.Requester, error) {
	var row oidcRow
	if err := s.conn(ctx).Where("signature = ?", key(code)).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, openid.ErrNoSessionFound
		}
		return nil, mapErr(err)
	}
	return s.decodeRequest(ctx, row.Request, r.GetSession())
}

// DeleteOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *Store) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return mapErr(s.conn(ctx).Where("signature = ?", key(code)).Delete(&oidcRow{}).Error)
}

// DeleteExpired implements storage.Tokens: it removes token state, replay
// records, revocations, sessions, authorization requests, device codes, account tokens,
// lockout records and change-feed entries that can no longer matter.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	ms := millis(now)
	for _, m := range []any{&codeRow{}, &refreshRow{}, &pkceRow{}, &oidcRow{}, &jtiRow{}, &revocationRow{}, &sessionRow{}, &authRequestRow{}, &deviceCodeRow{}} {
		res := s.conn(ctx).Where("expires_at <= ?", ms).Delete(m)
		if res.Error != nil {
			return total, mapErr(res.Error)
		}
		total += res.RowsAffected
	}
	res := s.conn(ctx).Where("session_id NOT IN (?)", s.conn(ctx).Model(&sessionRow{}).Select("id")).Delete(&sessionClientRow{})
	if res.Error != nil {
		return total, mapErr(res.Error)
	}
	total += res.RowsAffected
	res = s.conn(ctx).Where("created_at < ?", millis(now.Add(-time.Hour))).Delete(&changeRow{})
	if res.Error != nil {
		return total, mapErr(res.Error)
	}
	total += res.RowsAffected
	for _, del := range []func(context.Context, time.Time) (int64, error){s.DeleteExpiredAccountTokens, s.DeleteExpiredAttempts} {
		n, err := del(ctx, now)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}
