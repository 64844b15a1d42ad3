// Package password hashes and checks user passwords.
//
// Hashes are Argon2id (RFC 9106) in the PHC string format
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// with standard base64 without padding, a 16-byte random salt and a 32-byte
// key. The default parameters are OWASP's minimum for Argon2id (19 MiB,
// two passes, one lane). Every hash carries its parameters, so raising them
// in config keeps old hashes verifiable; Verify reports when a hash was made
// with other parameters so the caller can store a new one (NeedsRehash).
//
// Argon2id is deliberately expensive in memory and time, so a Hasher lets
// at most a fixed number of hashes run at once; the others queue (and give
// up when their context ends). A flood of sign-ins then costs a bounded
// amount of memory and CPU and cannot starve the rest of the server.
//
// Passwords are normalised to Unicode NFKC before they are checked or
// hashed (NIST SP 800-63B §5.1.1.2), so the same password typed on
// different keyboards or systems hashes the same.
//
// Check applies the password policy: length in characters, optional
// character classes, a list of common passwords shipped with the binary
// (see common.go) and the email address's local part.
package password

import (
	"errors"
	"fmt"
	"runtime"
)

// Config is the password policy and the Argon2id parameters.
// config.example.yaml documents it under "password".
type Config struct {
	// Memory is Argon2id's memory cost in KiB.
	Memory uint32 `koanf:"memory"`
	// Time is Argon2id's number of passes over the memory.
	Time uint32 `koanf:"time"`
	// Threads is Argon2id's degree of parallelism (lanes).
	Threads uint8 `koanf:"threads"`
	// MaxConcurrent is how many hashes may run at once in this process;
	// others wait. 0: GOMAXPROCS.
	MaxConcurrent int `koanf:"max_concurrent"`
	// MinLength and MaxLength bound a password's length in characters
	// (Unicode code points, after NFKC normalisation).
	MinLength int `koanf:"min_length"`
	MaxLength int `koanf:"max_length"`
	// RequireClasses is how many of the four classes (lowercase, uppercase,
	// digit, symbol) a password must use, 0 to 4.
	RequireClasses int `koanf:"require_classes"`
	// RejectCommon rejects passwords on the shipped common-password list.
	RejectCommon bool `koanf:"reject_common"`
}

// DefaultConfig returns the defaults: OWASP's Argon2id minimum
// (m=19456 KiB, t=2, p=1) and NIST SP 800-63B's policy shape (length and a
// blocklist rather than composition rules).
func DefaultConfig() Config {
	return Config{
		Memory:         19456,
		Time:           2,
		Threads:        1,
		MaxConcurrent:  0,
		MinLength:      12,
		MaxLength:      128,
		RequireClasses: 0,
		RejectCommon:   true,
	}
}

// Limits on the parameters Validate accepts and on the hashes Verify will
// compute: a hostile or corrupt stored hash must not make the server
// allocate gigabytes or spin for minutes.
const (
	maxMemory  = 1 << 21 // KiB: 2 GiB
	maxTime    = 64
	maxThreads = 64
	// MaxInputBytes is the longest password, in bytes, Hash and Verify
	// accept at all; the policy's MaxLength (in characters) is checked by
	// Check. Longer input is refused before any work is done.
	MaxInputBytes = 4096
	minMinLength  = 8
	minMaxLength  = 128
)

// Validate reports every problem with c, naming the config key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("password.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Threads < 1 || c.Threads > maxThreads {
		bad("threads", "must be between 1 and %d, got %d", maxThreads, c.Threads)
	}
	if c.Memory < 8*uint32(max(c.Threads, 1)) || c.Memory > maxMemory {
		bad("memory", "must be between 8×threads and %d KiB, got %d (OWASP's minimum for Argon2id is 19456 with time 2)", maxMemory, c.Memory)
	}
	if c.Time < 1 || c.Time > maxTime {
		bad("time", "must be between 1 and %d, got %d", maxTime, c.Time)
	}
	if c.MaxConcurrent < 0 {
		bad("max_concurrent", "must be 0 (GOMAXPROCS) or positive, got %d", c.MaxConcurrent)
	}
	if c.MinLength < minMinLength {
		bad("min_length", "must be at least %d (NIST SP 800-63B), got %d", minMinLength, c.MinLength)
	}
	if c.MaxLength < minMaxLength || c.MaxLength > MaxInputBytes/4 {
		bad("max_length", "must be between %d and %d, got %d", minMaxLength, MaxInputBytes/4, c.MaxLength)
	}
	if c.MinLength > c.MaxLength {
		bad("min_length", "must not exceed max_length (%d), got %d", c.MaxLength, c.MinLength)
	}
	if c.RequireClasses < 0 || c.RequireClasses > 4 {
		bad("require_classes", "must be between 0 and 4, got %d", c.RequireClasses)
	}
	return errors.Join(errs...)
}

// Params are the Argon2id parameters a hash was made with.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// Params returns the Argon2id parameters of c.
func (c Config) Params() Params {
	return Params{Memory: c.Memory, Time: c.Time, Threads: c.Threads}
}

func (c Config) maxConcurrent() int {
	if c.MaxConcurrent > 0 {
		return c.MaxConcurrent
	}
	return runtime.GOMAXPROCS(0)
}
