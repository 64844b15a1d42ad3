// Package ratelimit holds authd's defences against abuse that are not part of
// a protocol: rate limits on the endpoints people and clients can hammer
// (sign-in, authorization, token, registration, password reset), per client address, per
// account and per client. Brute-force lockout of accounts lives in
// package account (on storage.Attempts); both share Redis when one is
// configured, so limits hold across replicas.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
)

// Rule is one rate limit: PerMinute requests per minute sustained, and
// bursts of up to Burst at once after a quiet period. PerMinute 0 turns
// the rule off.
type Rule struct {
	PerMinute float64 `koanf:"per_minute"`
	Burst     int     `koanf:"burst"`
}

func (r Rule) off() bool { return r.PerMinute == 0 }

func (r Rule) limit() storage.Limit { return storage.Limit{Rate: r.PerMinute / 60, Burst: r.Burst} }

// Config holds the rules, by endpoint and what is counted. The keys of
// config.example.yaml's ratelimit section.
type Config struct {
	// SignInPerIP and SignInPerAccount limit POST /login by client address
	// and by the email address tried (normalised).
	SignInPerIP      Rule `koanf:"signin_per_ip"`
	SignInPerAccount Rule `koanf:"signin_per_account"`
	// TokenPerIP limits the token endpoint by client address (before
	// client authentication); TokenPerClient by authenticated client.
	TokenPerIP     Rule `koanf:"token_per_ip"`
	TokenPerClient Rule `koanf:"token_per_client"`
	// AuthorizePerIP limits the authorization endpoint by client address:
	// every request there may store an authorization request.
	AuthorizePerIP Rule `koanf:"authorize_per_ip"`
	// RegisterPerIP limits POST /register (and resending the verification
	// mail) by client address.
	RegisterPerIP Rule `koanf:"register_per_ip"`
	// ResetPerIP and ResetPerAccount limit POST /forgot-password and POST
	// /reset-password by client address and by email address.
	ResetPerIP      Rule `koanf:"reset_per_ip"`
	ResetPerAccount Rule `koanf:"reset_per_account"`
	// DevicePerIP limits POST /device (a user code typed on the device
	// verification page) by client address: it bounds guessing the codes
	// of devices waiting for approval.
	DevicePerIP Rule `koanf:"device_per_ip"`
}

// DefaultConfig returns the defaults: generous limits on what people do
// by hand, none on the token endpoint, where machine clients legitimately
// make many requests (turn those on per deployment).
func DefaultConfig() Config {
	return Config{
		SignInPerIP:      Rule{PerMinute: 60, Burst: 30},
		SignInPerAccount: Rule{PerMinute: 10, Burst: 10},
		RegisterPerIP:    Rule{PerMinute: 10, Burst: 10},
		ResetPerIP:       Rule{PerMinute: 10, Burst: 10},
		ResetPerAccount:  Rule{PerMinute: 1, Burst: 5},
		AuthorizePerIP:   Rule{PerMinute: 120, Burst: 60},
		DevicePerIP:      Rule{PerMinute: 10, Burst: 10},
	}
}

// rules lists the rules with their config keys.
func (c Config) rules() []struct {
	key  string
	rule Rule
} {
	return []struct {
		key  string
		rule Rule
	}{
		{"signin_per_ip", c.SignInPerIP}, {"signin_per_account", c.SignInPerAccount},
		{"token_per_ip", c.TokenPerIP}, {"token_per_client", c.TokenPerClient}, {"authorize_per_ip", c.AuthorizePerIP},
		{"register_per_ip", c.RegisterPerIP},
		{"reset_per_ip", c.ResetPerIP}, {"reset_per_account", c.ResetPerAccount},
		{"device_per_ip", c.DevicePerIP},
	}
}

// Validate reports every problem, naming the key.
func (c Config) Validate() error {
	var errs []error
	for _, r := range c.rules() {
		if r.rule.off() {
			continue
		}
		if err := r.rule.limit().Validate(); err != nil || r.rule.PerMinute < 0 {
			errs = append(errs, fmt.Errorf("ratelimit.%s: per_minute must be positive (0 turns the limit off) and burst at least 1, got %v and %d",
				r.key, r.rule.PerMinute, r.rule.Burst))
		}
	}
	return errors.Join(errs...)
}

// Limiter applies the rules through a storage.Limiter: the in-process one,
// or storage/redis's, shared by every replica. Safe for concurrent use.
type Limiter struct {
	cfg Config
	l   storage.Limiter
	log *slog.Logger
	m   *telemetry.Metrics
}

// ruleNames are the rule names check is given (and the rate-limit
// metric's label values).
var ruleNames = []string{"signin_ip", "signin_account", "register_ip", "reset_ip", "reset_account", "device_ip", "token_ip", "authorize_ip", "token_client"}

// WithMetrics makes l count its refusals (authd_rate_limited_total, by
// rule name) in m; call it before l is used.
func (l *Limiter) WithMetrics(m *telemetry.Metrics) *Limiter {
	l.m = m
	m.InitRateLimitRules(ruleNames...)
	return l
}

// New returns a limiter applying cfg (which must be valid) through l.
func New(cfg Config, l storage.Limiter, log *slog.Logger) *Limiter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Limiter{cfg: cfg, l: l, log: log}
}

// check counts one request against each (rule, key) in turn and refuses at
// the first that is exhausted, returning how long until it would allow
// one. A limiter error (an invalid rule, the request ending) never
// refuses: the request goes on and the error is logged.
func (l *Limiter) check(ctx context.Context, keys ...ruleKey) (time.Duration, bool) {
	for _, k := range keys {
		if k.rule.off() || k.value == "" {
			continue
		}
		d, err := l.l.Allow(ctx, k.name+":"+k.value, k.rule.limit())
		if err != nil {
			if ctx.Err() == nil {
				l.log.WarnContext(ctx, "rate limit not applied", "rule", k.name, "err", err)
			}
			continue
		}
		if !d.Allowed {
			l.m.RateLimited(k.name)
			l.log.InfoContext(ctx, "rate limited", "rule", k.name, "retry_after", d.RetryAfter.Round(time.Millisecond).String())
			return d.RetryAfter, false
		}
	}
	return 0, true
}

type ruleKey struct {
	name  string
	rule  Rule
	value string
}

// account is the per-account key of an email address: normalised as
// accounts are, so that case and Unicode variants share one budget.
func account(email string) string {
	if n, err := storage.NormalizeEmail(email); err == nil {
		return n
	}
	e := strings.ToLower(strings.TrimSpace(email))
	if len(e) > 254 {
		e = e[:254]
	}
	return e
}

// SignIn counts a sign-in attempt from ip for email.
func (l *Limiter) SignIn(ctx context.Context, ip, email string) (time.Duration, bool) {
	return l.check(ctx, ruleKey{"signin_ip", l.cfg.SignInPerIP, ip}, ruleKey{"signin_account", l.cfg.SignInPerAccount, account(email)})
}

// Register counts a registration (or verification resend) from ip.
func (l *Limiter) Register(ctx context.Context, ip string) (time.Duration, bool) {
	return l.check(ctx, ruleKey{"register_ip", l.cfg.RegisterPerIP, ip})
}

// Reset counts a password reset request or submission from ip, for email
// when known ("" when the submission carries only a token).
func (l *Limiter) Reset(ctx context.Context, ip, email string) (time.Duration, bool) {
	keys := []ruleKey{{"reset_ip", l.cfg.ResetPerIP, ip}}
	if email != "" {
		keys = append(keys, ruleKey{"reset_account", l.cfg.ResetPerAccount, account(email)})
	}
	return l.check(ctx, keys...)
}

// Device counts a user code typed on the device verification page from ip
// (login.Limiter).
func (l *Limiter) Device(ctx context.Context, ip string) (time.Duration, bool) {
	return l.check(ctx, ruleKey{"device_ip", l.cfg.DevicePerIP, ip})
}

// TokenByIP implements provider.Limiter.
func (l *Limiter) TokenByIP(ctx context.Context, ip string) (time.Duration, bool) {
	return l.check(ctx, ruleKey{"token_ip", l.cfg.TokenPerIP, ip})
}

// AuthorizeByIP implements provider.Limiter.
func (l *Limiter) AuthorizeByIP(ctx context.Context, ip string) (time.Duration, bool) {
	return l.check(ctx, ruleKey{"authorize_ip", l.cfg.AuthorizePerIP, ip})
}

// TokenByClient implements provider.Limiter.
func (l *Limiter) TokenByClient(ctx context.Context, clientID string) (time.Duration, bool) {
	return l.check(ctx, ruleKey{"token_client", l.cfg.TokenPerClient, clientID})
}

// RetryAfterSeconds is d as an HTTP Retry-After value: whole seconds,
// rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) int64 {
	return int64(max(time.Second, d+time.Second-1) / time.Second)
}
