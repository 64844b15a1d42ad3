package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"time"
)

// smtpURL is a parsed mail.smtp_url. pass never leaves this package.
type smtpURL struct {
	implicitTLS bool
	host, port  string
	user, pass  string
}

func (u smtpURL) addr() string { return net.JoinHostPort(u.host, u.port) }

// redacted is the URL without its password.
func (u smtpURL) redacted() string {
	scheme := "smtp"
	if u.implicitTLS {
		scheme = "smtps"
	}
	userinfo := ""
	if u.user != "" {
		userinfo = url.User(u.user).String() + "@"
	}
	return scheme + "://" + userinfo + u.addr()
}

// parseSMTPURL parses smtp:// and smtps:// URLs. Its errors never quote
// the URL: it holds a password.
func parseSMTPURL(raw string) (smtpURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return smtpURL{}, errors.New(`not a URL; want smtp://user:pass@host:port or smtps://… (percent-encode special characters in the password)`)
	}
	var s smtpURL
	switch u.Scheme {
	case "smtp":
		s.port = "25"
	case "smtps":
		s.implicitTLS, s.port = true, "465"
	default:
		return smtpURL{}, fmt.Errorf("scheme %q is not smtp or smtps", u.Scheme)
	}
	s.host = u.Hostname()
	if s.host == "" {
		return smtpURL{}, errors.New("no host; want smtp://user:pass@host:port")
	}
	if p := u.Port(); p != "" {
		s.port = p
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return smtpURL{}, errors.New("unexpected path, query or fragment; want smtp://user:pass@host:port")
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
		if s.user == "" {
			return smtpURL{}, errors.New("password without user name")
		}
	}
	return s, nil
}

// SMTP sends mail through one SMTP server: STARTTLS when the server offers
// it (or TLS from the start with smtps://), then AUTH PLAIN when the URL
// has credentials. It refuses to send a password over a connection that is
// neither encrypted nor to the local host. It is safe for concurrent use;
// each Send uses its own connection.
type SMTP struct {
	u       smtpURL
	from    *mail.Address
	timeout time.Duration
	tls     *tls.Config
	helo    string
	now     func() time.Time
}

// NewSMTP returns a sender for cfg.SMTPURL. tlsConfig, when not nil, is
// used for STARTTLS and smtps (tests pass their own roots); nil verifies
// the server against the system roots.
func NewSMTP(cfg Config, tlsConfig *tls.Config) (*SMTP, error) {
	if cfg.SMTPURL == "" {
		return nil, errors.New("mail.smtp_url: empty")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, _ := parseSMTPURL(cfg.SMTPURL)
	from, _ := parseFrom(cfg.From)
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if tlsConfig != nil {
		t = tlsConfig.Clone()
	}
	if t.ServerName == "" {
		t.ServerName = u.host
	}
	return &SMTP{u: u, from: from, timeout: cfg.Timeout, tls: t, helo: heloName(), now: time.Now}, nil
}

// heloName is this host's name if it looks qualified, else "localhost".
func heloName() string {
	h, err := os.Hostname()
	if err != nil || !strings.Contains(h, ".") || strings.ContainsAny(h, "\r\n ") {
		return "localhost"
	}
	return h
}

// String names the server without the password. (Value receivers, so
// that printing an SMTP value, not only a pointer, hides it too.)
func (s SMTP) String() string { return s.u.redacted() }

// GoString keeps %#v from printing the password.
func (s SMTP) GoString() string { return "mail.SMTP(" + s.u.redacted() + ")" }

// LogValue keeps the password out of logs.
func (s SMTP) LogValue() slog.Value { return slog.StringValue(s.u.redacted()) }

// Timeout is how long one Send may take at most.
func (s *SMTP) Timeout() time.Duration { return s.timeout }

// Send delivers m in one SMTP session, within mail.timeout.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := checkMessage(m)
	if err != nil {
		return err
	}
	msg, err := compose(m, s.from, s.now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	conn, err := s.dial(ctx)
	if err != nil {
		return s.fail("connect", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// Cancelling ctx interrupts whatever the session is waiting for.
	defer context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })()

	c, err := smtp.NewClient(conn, s.u.host)
	if err != nil {
		return s.fail("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.helo); err != nil {
		return s.fail("ehlo", err)
	}
	if !s.u.implicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tls); err != nil {
				return s.fail("starttls", err)
			}
		}
	}
	if s.u.user != "" {
		if err := s.auth(c); err != nil {
			return err
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return s.fail("mail", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return s.fail("rcpt", err)
	}
	w, err := c.Data()
	if err != nil {
		return s.fail("data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return s.fail("data", err)
	}
	if err := w.Close(); err != nil {
		return s.fail("data", err)
	}
	// The server has taken the mail; a failing QUIT changes nothing.
	_ = c.Quit()
	return nil
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	if s.u.implicitTLS {
		d := tls.Dialer{Config: s.tls}
		return d.DialContext(ctx, "tcp", s.u.addr())
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.u.addr())
}

func (s *SMTP) auth(c *smtp.Client) error {
	if ok, _ := c.Extension("AUTH"); !ok {
		return s.fail("auth", errors.New("the server offers no AUTH, but mail.smtp_url has credentials"))
	}
	_, isTLS := c.TLSConnectionState()
	if !isTLS && !isLoopback(s.u.host) {
		return s.fail("auth", errors.New("refusing to send the password unencrypted: the server offers no STARTTLS (use smtps:// or a server with STARTTLS)"))
	}
	// net/smtp's PlainAuth repeats the same check, and its errors never
	// hold the credentials.
	if err := c.Auth(smtp.PlainAuth("", s.u.user, s.u.pass, s.u.host)); err != nil {
		return s.fail("auth", err)
	}
	return nil
}

// isLoopback matches what net/smtp's PlainAuth lets through unencrypted.
func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

func (s *SMTP) fail(stage string, err error) error {
	return &sendError{addr: s.u.addr(), stage: stage, err: err}
}

// sendError is a failed SMTP session: where it failed and why.
type sendError struct {
	addr, stage string
	err         error
}

func (e *sendError) Error() string {
	return "mail: smtp " + e.addr + ": " + e.stage + ": " + e.err.Error()
}

func (e *sendError) Unwrap() error { return e.err }

// permanent: the server refused this mail (RFC 5321 §4.2.1, 5yz) in reply
// to MAIL, RCPT or DATA. A 5yz elsewhere (greeting, AUTH), or one about
// authentication anywhere (RFC 4954: 530, 534, 535, 538), is about the
// server or authd's configuration, and may pass once that is fixed.
func (e *sendError) permanent() bool {
	var te *textproto.Error
	if !errors.As(e.err, &te) || te.Code < 500 || te.Code > 599 {
		return false
	}
	switch te.Code {
	case 530, 534, 535, 538:
		return false
	}
	return e.stage == "mail" || e.stage == "rcpt" || e.stage == "data"
}

// IsPermanent reports whether err means sending the same mail again can
// never succeed: an invalid Message, or a 5xx reply to MAIL, RCPT or DATA.
func IsPermanent(err error) bool {
	if errors.Is(err, ErrInvalidMessage) {
		return true
	}
	var se *sendError
	return errors.As(err, &se) && se.permanent()
}
