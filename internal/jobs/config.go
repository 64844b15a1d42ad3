package jobs

import (
	"errors"
	"fmt"
	"time"
)

// Config tunes the job queue. config.example.yaml documents it under "jobs".
type Config struct {
	// Workers is how many jobs this process works at once.
	Workers int `koanf:"workers"`
	// PollInterval is how often an idle process looks for new jobs enqueued
	// by other processes. Jobs this process enqueues outside a transaction
	// start at once.
	PollInterval time.Duration `koanf:"poll_interval"`
	// MaxAttempts is how often a job is tried before it is given up
	// (discarded). Retries back off as attempt⁴ seconds ±10%: with 8, a job
	// is given up about 78 minutes after its first failure.
	MaxAttempts int `koanf:"max_attempts"`
	// Retention is how long finished jobs stay in the database. Cancelled
	// and discarded jobs stay at least a week, for operators to inspect.
	Retention time.Duration `koanf:"retention"`
	// RescueAfter is when a job still marked running is taken to belong to
	// a process that died, and is tried again by another: longer than any
	// job runs (mail and back-channel logout: a minute; a webhook delivery:
	// webhooks.timeout plus 5s).
	RescueAfter time.Duration `koanf:"rescue_after"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Workers: 4, PollInterval: time.Second, MaxAttempts: 8, Retention: 24 * time.Hour, RescueAfter: 5 * time.Minute}
}

// Validate reports every problem with c, naming the config key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Workers < 1 || c.Workers > 1000 {
		bad("jobs.workers", "must be between 1 and 1000, got %d", c.Workers)
	}
	if c.PollInterval < 10*time.Millisecond || c.PollInterval > time.Hour {
		bad("jobs.poll_interval", "must be a duration between 10ms and 1h such as 1s, got %v", c.PollInterval)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		bad("jobs.max_attempts", "must be between 1 and 100, got %d", c.MaxAttempts)
	}
	if c.Retention < time.Minute {
		bad("jobs.retention", "must be a duration of at least 1m such as 24h, got %v", c.Retention)
	}
	if c.RescueAfter < 10*time.Second {
		bad("jobs.rescue_after", "must be a duration of at least 10s such as 5m, got %v", c.RescueAfter)
	}
	return errors.Join(errs...)
}
