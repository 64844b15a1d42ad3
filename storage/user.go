package storage

import (
	"context"
	"time"
)

// User is a local account.
type User struct {
	ID string `json:"id"`
	// Email is normalised (see NormalizeEmail) and unique.
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name,omitempty"`
	Picture       string `json:"picture,omitempty"`
	Locale        string `json:"locale,omitempty"`
	// Phone is sensitive: backends store it sealed under the master key.
	Phone         string `json:"phone_number,omitempty"`
	PhoneVerified bool   `json:"phone_number_verified,omitempty"`
	Organization  string `json:"organization,omitempty"`
	Department    string `json:"department,omitempty"`
	EmployeeID    string `json:"employee_id,omitempty"`
	// PasswordHash is an Argon2id hash in PHC string format; never printed.
	PasswordHash      string    `json:"-"`
	PasswordChangedAt time.Time `json:"password_changed_at,omitzero"`
	Disabled          bool      `json:"disabled"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// Users manages local accounts.
type Users interface {
	// CreateUser stores u; ErrConflict if the email is taken.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns the user or ErrNotFound.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByEmail looks up a normalised email; ErrNotFound if absent.
	GetUserByEmail(ctx context.Context, email string) (*User, error)
	// ListUsers returns up to limit users with id > after, ordered by id.
	ListUsers(ctx context.Context, after string, limit int) ([]*User, error)
	// UpdateUser replaces the mutable fields; ErrNotFound if absent,
	// ErrConflict if the new email is taken.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser removes the user; ErrNotFound if absent.
	DeleteUser(ctx context.Context, id string) error
}
