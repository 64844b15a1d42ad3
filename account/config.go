package account

import (
	"errors"
	"fmt"
	"time"

	"github.com/authd/authd/storage"
)

// Config configures the account service. config.example.yaml documents it
// under "accounts".
type Config struct {
	// AllowUnverifiedLogin lets people sign in before they verified their
	// email address.
	AllowUnverifiedLogin bool `koanf:"allow_unverified_login"`
	// VerifyEmailTTL is how long an email verification link works.
	VerifyEmailTTL time.Duration `koanf:"verify_email_ttl"`
	// ResetPasswordTTL is how long a password reset link works.
	ResetPasswordTTL time.Duration `koanf:"reset_password_ttl"`
	// Lockout is the brute-force protection of password checks.
	Lockout LockoutConfig `koanf:"lockout"`
}

// LockoutConfig sets the progressive delays after failed password checks.
// After Threshold consecutive failures a key is locked for BaseDelay,
// doubling with every further failure up to MaxDelay; while locked, attempts
// are refused without checking the password. A success resets the account
// (not the address). Failures are forgotten Window after the last one.
type LockoutConfig struct {
	// AccountThreshold is how many consecutive failures lock one account
	// (keyed by user id, or by the normalised email for unknown ones).
	AccountThreshold int `koanf:"account_threshold"`
	// IPThreshold is how many consecutive failures lock one client address
	// across all accounts; 0 turns the per-address lock off (e.g. when
	// every request seems to come from one proxy).
	IPThreshold int           `koanf:"ip_threshold"`
	BaseDelay   time.Duration `koanf:"base_delay"`
	MaxDelay    time.Duration `koanf:"max_delay"`
	Window      time.Duration `koanf:"window"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		AllowUnverifiedLogin: false,
		VerifyEmailTTL:       24 * time.Hour,
		ResetPasswordTTL:     time.Hour,
		Lockout: LockoutConfig{
			AccountThreshold: 5,
			IPThreshold:      20,
			BaseDelay:        time.Second,
			MaxDelay:         15 * time.Minute,
			Window:           24 * time.Hour,
		},
	}
}

// Validate reports every problem with c, naming the config key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("accounts.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.VerifyEmailTTL < time.Minute || c.VerifyEmailTTL > 30*24*time.Hour {
		bad("verify_email_ttl", "must be between 1m and 720h, got %v", c.VerifyEmailTTL)
	}
	if c.ResetPasswordTTL < time.Minute || c.ResetPasswordTTL > 24*time.Hour {
		bad("reset_password_ttl", "must be between 1m and 24h, got %v", c.ResetPasswordTTL)
	}
	l := c.Lockout
	if l.AccountThreshold < 1 || l.AccountThreshold > 1000 {
		bad("lockout.account_threshold", "must be between 1 and 1000, got %d", l.AccountThreshold)
	}
	if l.IPThreshold < 0 || l.IPThreshold > 100000 {
		bad("lockout.ip_threshold", "must be 0 (off) or up to 100000, got %d", l.IPThreshold)
	}
	if l.BaseDelay < 10*time.Millisecond || l.BaseDelay > time.Hour {
		bad("lockout.base_delay", "must be between 10ms and 1h, got %v", l.BaseDelay)
	}
	if l.MaxDelay < l.BaseDelay || l.MaxDelay > 24*time.Hour {
		bad("lockout.max_delay", "must be between base_delay and 24h, got %v", l.MaxDelay)
	}
	if l.Window < time.Minute || l.Window > 30*24*time.Hour {
		bad("lockout.window", "must be between 1m and 720h, got %v", l.Window)
	}
	return errors.Join(errs...)
}

func (l LockoutConfig) account() storage.Backoff {
	return storage.Backoff{Threshold: l.AccountThreshold, Base: l.BaseDelay, Max: l.MaxDelay, Window: l.Window}
}

func (l LockoutConfig) ip() storage.Backoff {
	return storage.Backoff{Threshold: l.IPThreshold, Base: l.BaseDelay, Max: l.MaxDelay, Window: l.Window}
}
