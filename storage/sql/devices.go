package sql

import (
	"context"
	"strings"
	"time"

	"github.com/authd/authd/storage"
)

var _ storage.DeviceCodes = (*Store)(nil)

type deviceCodeRow struct {
	Signature     string `gorm:"primaryKey"`
	UserCode      string
	ClientID      string
	Scopes        string
	Status        string
	Subject       string
	SessionID     string
	GrantedScopes string
	Session       string
	IntervalMs    int64 `gorm:"column:interval_ms"`
	LastPolledAt  int64
	CreatedAt     int64 `gorm:"autoCreateTime:false"`
	ExpiresAt     int64
}

func (deviceCodeRow) TableName() string { return "device_codes" }

func (r *deviceCodeRow) toDeviceCode() *storage.DeviceCode {
	d := &storage.DeviceCode{Signature: r.Signature, UserCode: r.UserCode, ClientID: r.ClientID, Scopes: strings.Fields(r.Scopes),
		Status: storage.DeviceStatus(r.Status), Subject: r.Subject, SessionID: r.SessionID, GrantedScopes: strings.Fields(r.GrantedScopes),
		Interval: time.Duration(r.IntervalMs) * time.Millisecond, LastPolledAt: fromMillis(r.LastPolledAt),
		CreatedAt: fromMillis(r.CreatedAt), ExpiresAt: fromMillis(r.ExpiresAt)}
	if r.Session != "" {
		d.Session = []byte(r.Session)
	}
	return d
}

// CreateDeviceCode implements storage.DeviceCodes.
func (s *Store) CreateDeviceCode(ctx context.Context, d *storage.DeviceCode) error {
	row := deviceCodeRow{Signature: d.Signature, UserCode: d.UserCode, ClientID: d.ClientID, Scopes: strings.Join(d.Scopes, " "),
		Status: string(storage.DevicePending), IntervalMs: d.Interval.Milliseconds(), LastPolledAt: millis(d.LastPolledAt),
		CreatedAt: millis(d.CreatedAt), ExpiresAt: millis(d.ExpiresAt)}
	return mapErr(s.conn(ctx).Create(&row).Error)
}

// GetDeviceCode implements storage.DeviceCodes.
func (s *Store) GetDeviceCode(ctx context.Context, signature string) (*storage.DeviceCode, error) {
	var row deviceCodeRow
	if err := s.conn(ctx).Where("signature = ?", signature).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	return row.toDeviceCode(), nil
}

// GetPendingDeviceCode implements storage.DeviceCodes.
func (s *Store) GetPendingDeviceCode(ctx context.Context, userCode string, now time.Time) (*storage.DeviceCode, error) {
	var row deviceCodeRow
	err := s.conn(ctx).Where("user_code = ? AND status = ? AND expires_at > ?", userCode, string(storage.DevicePending), millis(now)).
		Take(&row).Error
	if err != nil {
		return nil, mapErr(err)
	}
	return row.toDeviceCode(), nil
}

// RecordDevicePoll implements storage.DeviceCodes.
func (s *Store) RecordDevicePoll(ctx context.Context, signature string, prev, at time.Time, interval time.Duration) error {
	res := s.conn(ctx).Model(&deviceCodeRow{}).Where("signature = ? AND last_polled_at = ?", signature, millis(prev)).
		Updates(map[string]any{"last_polled_at": millis(at), "interval_ms": interval.Milliseconds()})
	if res.Error != nil {
		return mapErr(res.Error)
	}
	if res.RowsAffected == 0 {
		if _, err := s.GetDeviceCode(ctx, signature); err != nil {
			return err
		}
		return storage.ErrConflict
	}
	return nil
}

// DecideDeviceCode implements storage.DeviceCodes.
func (s *Store) DecideDeviceCode(ctx context.Context, d *storage.DeviceCode, now time.Time) error {
	res := s.conn(ctx).Model(&deviceCodeRow{}).
		Where("signature = ? AND status = ? AND expires_at > ?", d.Signature, string(storage.DevicePending), millis(now)).
		Updates(map[string]any{"status": string(d.Status), "subject": d.Subject, "session_id": d.SessionID,
			"granted_scopes": strings.Join(d.GrantedScopes, " "), "session": string(d.Session)})
	if res.Error != nil {
		return mapErr(res.Error)
	}
	if res.RowsAffected == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// RedeemDeviceCode implements storage.DeviceCodes.
func (s *Store) RedeemDeviceCode(ctx context.Context, signature string) error {
	res := s.conn(ctx).Model(&deviceCodeRow{}).Where("signature = ? AND status = ?", signature, string(storage.DeviceApproved)).
		Update("status", string(storage.DeviceRedeemed))
	if res.Error != nil {
		return mapErr(res.Error)
	}
	if res.RowsAffected == 0 {
		return storage.ErrNotFound
	}
	return nil
}
