// Package mail sends authd's mails (verification links, password resets,
// notices): a Sender speaking SMTP, or one writing mails to the log when no
// SMTP server is configured (the embedded default shows verification links
// that way), and a Queue that hands mails to the durable job queue so a
// crash or an SMTP outage loses none.
//
//	login --Enqueue--> Queue --send_mail job--> (jobs: River) --> worker --> Sender (SMTP | log)
//
// The worker retries transient failures with backoff (jobs.max_attempts)
// and gives up at once on a permanent one: a 5xx reply to MAIL, RCPT or
// DATA. Nothing here ever logs or returns the SMTP password.
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"
)

// Sender delivers one mail.
type Sender interface {
	// Send delivers m or returns why not. IsPermanent tells whether trying
	// again could help. A Message that fails validation (a line break in
	// To or Subject, no Text) is a permanent error, wrapping
	// ErrInvalidMessage.
	Send(ctx context.Context, m Message) error
}

// Config configures outgoing mail; config.example.yaml documents it under
// "mail".
type Config struct {
	// SMTPURL is smtp://user:pass@host:port (STARTTLS when the server
	// offers it) or smtps://user:pass@host:port (TLS from the first byte).
	// Empty: mails are written to the log instead of being sent. It holds
	// a password: set it by environment (AUTHD_MAIL_SMTP_URL).
	SMTPURL string `koanf:"smtp_url"`
	// From is the From header and envelope sender, "Name <addr>" or a bare
	// address. Required with SMTPURL.
	From string `koanf:"from"`
	// Timeout bounds one delivery attempt: connect, TLS, AUTH and DATA. At
	// most 2m.
	Timeout time.Duration `koanf:"timeout"`
}

// DefaultConfig returns the defaults: no SMTP (mails go to the log).
func DefaultConfig() Config {
	return Config{Timeout: 30 * time.Second}
}

// Validate reports every problem with c, naming the config key. It never
// repeats the SMTP URL, which holds a password.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.SMTPURL != "" {
		if _, err := parseSMTPURL(c.SMTPURL); err != nil {
			bad("mail.smtp_url", "%v", err)
		}
		if c.From == "" {
			bad("mail.from", "required with mail.smtp_url, e.g. \"Example <noreply@example.com>\"")
		}
	}
	if c.From != "" {
		if _, err := parseFrom(c.From); err != nil {
			bad("mail.from", "%v", err)
		}
	}
	// The job queue takes a send still running after 5 minutes for one
	// whose process died, and tries it again: stay well below.
	if c.Timeout <= 0 || c.Timeout > 2*time.Minute {
		bad("mail.timeout", "must be a duration between 1s and 2m such as 30s, got %v", c.Timeout)
	}
	return errors.Join(errs...)
}

// LogValue keeps the SMTP password out of logs.
func (c Config) LogValue() slog.Value {
	smtpURL := ""
	if u, err := parseSMTPURL(c.SMTPURL); err == nil {
		smtpURL = u.redacted()
	} else if c.SMTPURL != "" {
		smtpURL = "(invalid)"
	}
	return slog.GroupValue(slog.String("smtp_url", smtpURL), slog.String("from", c.From), slog.Duration("timeout", c.Timeout))
}

// NewSender returns the SMTP sender when cfg names a server, else the log
// sender. logger must not be nil.
func NewSender(cfg Config, logger *slog.Logger) (Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.SMTPURL == "" {
		return NewLogSender(logger), nil
	}
	return NewSMTP(cfg, nil)
}

func parseFrom(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("contains a line break")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("not an address: %w", err)
	}
	return a, nil
}
