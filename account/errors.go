package account

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/storage"
)

// Errors the service returns; test with errors.Is and errors.As. Anything
// else is unexpected (storage down, a bug).
var (
	// ErrInvalidCredentials: wrong email or password, or wrong current
	// password. Unknown addresses get it too.
	ErrInvalidCredentials = errors.New("account: invalid email or password")
	// ErrUnverified: the password is right but the email address is not
	// verified yet (and Config.AllowUnverifiedLogin is off).
	ErrUnverified = errors.New("account: email address not verified")
	// ErrDisabled: the password is right but the account is disabled.
	ErrDisabled = errors.New("account: account disabled")
	// ErrLocked: too many failed attempts; the error is a *LockedError.
	ErrLocked = errors.New("account: too many failed attempts")
	// ErrInvalidToken: a verification or reset link is unknown, expired or
	// used.
	ErrInvalidToken = errors.New("account: link is invalid, expired or already used")
	// ErrEmailTaken: CreateUser (an operator) asked for an address that
	// has an account. Self-registration never returns it.
	ErrEmailTaken = errors.New("account: email address already has an account")
	// ErrNotFound: no user with that id (operator and account-page calls).
	ErrNotFound = storage.ErrNotFound
)

// LockedError says how long attempts stay refused. It matches ErrLocked.
type LockedError struct {
	// RetryAfter is the time left, rounded up to whole seconds.
	RetryAfter time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("account: too many failed attempts; try again in %v", e.RetryAfter)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

func locked(left time.Duration) *LockedError {
	return &LockedError{RetryAfter: (left + time.Second - 1).Truncate(time.Second)}
}

// PolicyError lists how a new password breaks the policy.
type PolicyError struct {
	Violations []password.Violation
}

func (e *PolicyError) Error() string {
	return "account: the password " + strings.Join(e.Messages(), "; ")
}

// Messages returns the violations as sentences about "the password"
// ("must be at least 12 characters long (it has 8)").
func (e *PolicyError) Messages() []string {
	out := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		out[i] = v.Message
	}
	return out
}

// InputError is an invalid field.
type InputError struct {
	// Field is "email", "name", "picture", "locale", "phone",
	// "organization", "department" or "employee_id".
	Field string
	// Message is a sentence for people ("is not a web address").
	Message string
	// Err is the cause, when there is one (storage.ErrInvalidEmail).
	Err error
}

func (e *InputError) Error() string { return "account: " + e.Field + " " + e.Message }

func (e *InputError) Unwrap() error { return e.Err }
