package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config is the webhooks section (webhooks.* in config.example.yaml).
type Config struct {
	// RetrySchedule is the wait before each retry after a failed attempt
	// (Go durations); after the last one fails the delivery is
	// dead-lettered. Default like Svix: 5s, 5m, 30m, 2h, 5h, 10h, 10h
	// (eight attempts over about 28 hours). Each wait varies by ±10%.
	RetrySchedule []string `koanf:"retry_schedule"`
	// Timeout bounds one attempt, connecting to reading the answer.
	Timeout time.Duration `koanf:"timeout"`
	// MaxConcurrency bounds the attempts in flight to one endpoint from
	// one authd process.
	MaxConcurrency int `koanf:"max_concurrency"`
	// DisableAfter disables an endpoint that has failed every attempt for
	// this long (and notifies the administrators).
	DisableAfter time.Duration `koanf:"disable_after"`
	// SecretOverlap is how long the previous signing secret keeps signing
	// after a rotation.
	SecretOverlap time.Duration `koanf:"secret_overlap"`
	// AllowedNetworks are address prefixes (CIDR) deliveries may go to
	// although they are private, loopback or link-local. By default only
	// public addresses are reached, and loopback too while the issuer is
	// itself on loopback (development).
	AllowedNetworks []string `koanf:"allowed_networks"`
	// PollInterval is how often each process looks for new events.
	PollInterval time.Duration `koanf:"poll_interval"`
	// Retention is how long finished deliveries (succeeded and dead
	// letters) and their attempts are kept; replays reach this far back.
	Retention time.Duration `koanf:"retention"`
	// Streams bounds the Shared Signals streams receivers manage.
	Streams StreamsConfig `koanf:"streams"`
}

// StreamsConfig is webhooks.streams: the OpenID Shared Signals
// transmitter.
type StreamsConfig struct {
	// MaxPerClient bounds the streams one receiver (client) may create.
	MaxPerClient int `koanf:"max_per_client"`
	// MinVerificationInterval is the least time between two verification
	// events a receiver may ask for on one stream.
	MinVerificationInterval time.Duration `koanf:"min_verification_interval"`
}

// AlertConfig is the alerts section: where security alerts are mailed.
type AlertConfig struct {
	// Email lists the administrators' addresses; empty: alerts go to the
	// log and the webhook events only.
	Email []string `koanf:"email"`
	// Window de-duplicates: after an alert of a kind is mailed, further
	// alerts of that kind within the window are counted and mailed as one
	// summary when it ends.
	Window time.Duration `koanf:"window"`
}

// DefaultConfig is the default webhooks section.
func DefaultConfig() Config {
	return Config{
		RetrySchedule:   []string{"5s", "5m", "30m", "2h", "5h", "10h", "10h"},
		Timeout:         15 * time.Second,
		MaxConcurrency:  10,
		DisableAfter:    5 * 24 * time.Hour,
		SecretOverlap:   24 * time.Hour,
		AllowedNetworks: []string{},
		PollInterval:    200 * time.Millisecond,
		Retention:       30 * 24 * time.Hour,
		Streams:         StreamsConfig{MaxPerClient: 5, MinVerificationInterval: 10 * time.Second},
	}
}

// DefaultAlertConfig is the default alerts section.
func DefaultAlertConfig() AlertConfig {
	return AlertConfig{Email: []string{}, Window: 15 * time.Minute}
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	var errs []error
	if _, err := c.schedule(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.networks(); err != nil {
		errs = append(errs, err)
	}
	if c.Timeout <= 0 || c.Timeout > 5*time.Minute {
		errs = append(errs, errors.New("webhooks.timeout must be positive and at most 5m"))
	}
	if c.MaxConcurrency < 1 {
		errs = append(errs, errors.New("webhooks.max_concurrency must be at least 1"))
	}
	if c.DisableAfter <= 0 {
		errs = append(errs, errors.New("webhooks.disable_after must be positive"))
	}
	if c.SecretOverlap < 0 {
		errs = append(errs, errors.New("webhooks.secret_overlap must not be negative"))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, errors.New("webhooks.poll_interval must be positive"))
	}
	if c.Streams.MaxPerClient < 1 || c.Streams.MaxPerClient > 100 {
		errs = append(errs, errors.New("webhooks.streams.max_per_client must be between 1 and 100"))
	}
	if c.Streams.MinVerificationInterval < 0 {
		errs = append(errs, errors.New("webhooks.streams.min_verification_interval must not be negative"))
	}
	if c.Retention < time.Hour {
		errs = append(errs, errors.New("webhooks.retention must be at least 1h"))
	}
	return errors.Join(errs...)
}

func (c Config) schedule() ([]time.Duration, error) {
	if len(c.RetrySchedule) > 50 {
		return nil, errors.New("webhooks.retry_schedule has more than 50 entries")
	}
	out := make([]time.Duration, len(c.RetrySchedule))
	for i, s := range c.RetrySchedule {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < 0 || d > 7*24*time.Hour {
			return nil, fmt.Errorf("webhooks.retry_schedule[%d]: %q is not a duration between 0 and 168h", i, s)
		}
		out[i] = d
	}
	return out, nil
}

func (c Config) networks() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(c.AllowedNetworks))
	for _, s := range c.AllowedNetworks {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("webhooks.allowed_networks: %q is not a CIDR prefix", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Validate reports every invalid setting.
func (c AlertConfig) Validate() error {
	var errs []error
	for _, a := range c.Email {
		if !strings.Contains(a, "@") || strings.ContainsAny(a, "\r\n ") {
			errs = append(errs, fmt.Errorf("alerts.email: %q is not an address", a))
		}
	}
	if c.Window <= 0 {
		errs = append(errs, errors.New("alerts.window must be positive"))
	}
	return errors.Join(errs...)
}
