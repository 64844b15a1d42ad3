package sql

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/authd/authd/storage"
)

// Sealer encrypts sensitive fields at rest; *secrets.Keyring implements
// it. Sealed values carry the id of the master key that sealed them, so
// they still open after a master key rotation.
type Sealer interface {
	Seal(purpose string, plaintext []byte) ([]byte, error)
	Open(purpose string, sealed []byte) ([]byte, error)
}

// sealPhone is the sealing purpose of users.phone_sealed: a value sealed
// for another column never opens as a phone number.
const sealPhone = "user/phone"

type userRow struct {
	ID                string `gorm:"primaryKey"`
	Email             string
	EmailVerified     bool
	Name              string
	Picture           string
	Locale            string
	PhoneSealed       []byte
	PhoneVerified     bool
	Organization      string
	Department        string
	EmployeeID        string
	PasswordHash      string
	PasswordChangedAt int64
	Disabled          bool
	CreatedAt         int64 `gorm:"autoCreateTime:false"`
	UpdatedAt         int64 `gorm:"autoUpdateTime:false"`
}

func (userRow) TableName() string { return "users" }

// var _ storage.Users = (*Store)(nil) lives with the others in oauth2.go.

func (s *Store) toUserRow(u *storage.User) (*userRow, error) {
	email, err := storage.NormalizeEmail(u.Email)
	if err != nil {
		return nil, err
	}
	row := &userRow{
		ID: u.ID, Email: email, EmailVerified: u.EmailVerified, Name: u.Name, Picture: u.Picture, Locale: u.Locale,
		PhoneVerified: u.PhoneVerified, Organization: u.Organization, Department: u.Department, EmployeeID: u.EmployeeID,
		PasswordHash: u.PasswordHash, PasswordChangedAt: millis(u.PasswordChangedAt), Disabled: u.Disabled,
		CreatedAt: millis(u.CreatedAt), UpdatedAt: millis(u.UpdatedAt),
	}
	if u.Phone != "" {
		if s.sealer == nil {
			return nil, errors.New("sql: storing a phone number needs Options.Sealer (the master keyring)")
		}
		if row.PhoneSealed, err = s.sealer.Seal(sealPhone, []byte(u.Phone)); err != nil {
			return nil, fmt.Errorf("seal phone number: %w", err)
		}
	}
	return row, nil
}

func (s *Store) toUser(r *userRow) (*storage.User, error) {
	u := &storage.User{
		ID: r.ID, Email: r.Email, EmailVerified: r.EmailVerified, Name: r.Name, Picture: r.Picture, Locale: r.Locale,
		PhoneVerified: r.PhoneVerified, Organization: r.Organization, Department: r.Department, EmployeeID: r.EmployeeID,
		PasswordHash: r.PasswordHash, PasswordChangedAt: fromMillis(r.PasswordChangedAt), Disabled: r.Disabled,
		CreatedAt: fromMillis(r.CreatedAt), UpdatedAt: fromMillis(r.UpdatedAt),
	}
	if len(r.PhoneSealed) > 0 {
		if s.sealer == nil {
			return nil, fmt.Errorf("sql: user %s has a sealed phone number and Options.Sealer is not set", r.ID)
		}
		pt, err := s.sealer.Open(sealPhone, r.PhoneSealed)
		if err != nil {
			return nil, fmt.Errorf("user %s: open phone number: %w", r.ID, err)
		}
		u.Phone = string(pt)
	}
	return u, nil
}

// CreateUser implements storage.Users.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	if u.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		u.ID = id.String()
	}
	now := s.now().UTC().Truncate(timeMilli)
	cp := *u
	cp.CreatedAt, cp.UpdatedAt = now, now
	row, err := s.toUserRow(&cp)
	if err != nil {
		return err
	}
	if err := mapErr(s.conn(ctx).Create(row).Error); err != nil {
		return err
	}
	u.Email, u.CreatedAt, u.UpdatedAt = row.Email, now, now
	u.PasswordChangedAt = fromMillis(row.PasswordChangedAt)
	return nil
}

// GetUser implements storage.Users.
func (s *Store) GetUser(ctx context.Context, id string) (*storage.User, error) {
	return s.getUser(s.conn(ctx), "id = ?", id)
}

// GetUserForUpdate implements storage.Users: on Postgres it takes the row
// lock (SELECT ... FOR UPDATE); SQLite serialises writing transactions
// already (BEGIN IMMEDIATE).
func (s *Store) GetUserForUpdate(ctx context.Context, id string) (*storage.User, error) {
	return s.getUser(s.conn(ctx).Clauses(s.forUpdate()...), "id = ?", id)
}

// GetUserByEmail implements storage.Users.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*storage.User, error) {
	norm, err := storage.NormalizeEmail(email)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", storage.ErrNotFound, err)
	}
	return s.getUser(s.conn(ctx), "email = ?", norm)
}

func (s *Store) getUser(db *gorm.DB, where string, arg string) (*storage.User, error) {
	var row userRow
	if err := db.Where(where, arg).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	return s.toUser(&row)
}

// ListUsers implements storage.Users.
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]*storage.User, error) {
	return s.SearchUsers(ctx, storage.UserFilter{After: after, Limit: limit})
}

// UpdateUser implements storage.Users.
func (s *Store) UpdateUser(ctx context.Context, u *storage.User) error {
	now := s.now().UTC().Truncate(timeMilli)
	cp := *u
	cp.UpdatedAt = now
	row, err := s.toUserRow(&cp)
	if err != nil {
		return err
	}
	res := s.conn(ctx).Model(&userRow{}).Where("id = ?", u.ID).Updates(map[string]any{
		"email": row.Email, "email_verified": row.EmailVerified, "name": row.Name, "picture": row.Picture,
		"locale": row.Locale, "phone_sealed": row.PhoneSealed, "phone_verified": row.PhoneVerified,
		"organization": row.Organization, "department": row.Department, "employee_id": row.EmployeeID,
		"password_hash": row.PasswordHash, "password_changed_at": row.PasswordChangedAt, "disabled": row.Disabled,
		"updated_at": row.UpdatedAt,
	})
	if res.Error != nil {
		return mapErr(res.Error)
	}
	if res.RowsAffected == 0 {
		return storage.ErrNotFound
	}
	u.Email, u.UpdatedAt = row.Email, now
	u.PasswordChangedAt = fromMillis(row.PasswordChangedAt)
	return nil
}

// DeleteUser implements storage.Users. The user's account tokens go with
// it (also by the foreign key's cascade); audit events about it stay.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx txDB) error {
		if err := tx.Where("user_id = ?", id).Delete(&accountTokenRow{}).Error; err != nil {
			return mapErr(err)
		}
		res := tx.Where("id = ?", id).Delete(&userRow{})
		if res.Error != nil {
			return mapErr(res.Error)
		}
		if res.RowsAffected == 0 {
			return storage.ErrNotFound
		}
		return nil
	})
}
