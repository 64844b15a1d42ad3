package mail_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/mail/smtptest"
)

func smtpConfig(url string) mail.Config {
	cfg := mail.DefaultConfig()
	cfg.SMTPURL = url
	cfg.From = "Authd Tëst <noreply@authd.example>"
	cfg.Timeout = 5 * time.Second
	return cfg
}

func newSMTP(t *testing.T, srv *smtptest.Server) *mail.SMTP {
	t.Helper()
	s, err := mail.NewSMTP(smtpConfig(srv.URL()), srv.ClientTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var welcome = mail.Message{
	To:      "Zoë <zoe@example.com>",
	Subject: "Bestätigen Sie Ihre E-Mail-Adresse – ein sehr langer Betreff, der gefaltet werden muss ✓",
	Text:    "Hallo Zoë,\n\nbitte bestätigen: https://auth.example/verify?code=abc123&x=1\n.\n.a line starting with a dot\n" + strings.Repeat("long line ", 20),
	HTML:    `<p>Hallo Zoë,</p><p><a href="https://auth.example/verify?code=abc123&amp;x=1">bestätigen</a></p>`,
}

func TestSMTPSendsRFC5322(t *testing.T) {
	srv := smtptest.Start(t)
	if err := newSMTP(t, srv).Send(context.Background(), welcome); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, nil)
	if got.ParseErr != nil {
		t.Fatalf("parse: %v\n%s", got.ParseErr, got.Raw)
	}
	checkWelcome(t, got)
	if want := []string{"EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"}; strings.Join(srv.Commands(), " ") != strings.Join(want, " ") {
		t.Errorf("commands %v, want %v", srv.Commands(), want)
	}
}

// checkWelcome checks a received copy of welcome, header by header.
func checkWelcome(t *testing.T, got smtptest.Message) {
	t.Helper()
	if got.From != "noreply@authd.example" || len(got.To) != 1 || got.To[0] != "zoe@example.com" {
		t.Errorf("envelope from %q to %v", got.From, got.To)
	}
	if got.Subject != welcome.Subject {
		t.Errorf("Subject %q, want %q", got.Subject, welcome.Subject)
	}
	if got.Text != welcome.Text {
		t.Errorf("Text %q, want %q", got.Text, welcome.Text)
	}
	if got.HTML != welcome.HTML {
		t.Errorf("HTML %q, want %q", got.HTML, welcome.HTML)
	}
	from, err := netmail.ParseAddress(got.Header.Get("From"))
	if err != nil || from.Name != "Authd Tëst" || from.Address != "noreply@authd.example" {
		t.Errorf("From %q (%v)", got.Header.Get("From"), err)
	}
	to, err := netmail.ParseAddress(got.Header.Get("To"))
	if err != nil || to.Name != "Zoë" || to.Address != "zoe@example.com" {
		t.Errorf("To %q (%v)", got.Header.Get("To"), err)
	}
	if d, err := got.Header.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date %q (%v)", got.Header.Get("Date"), err)
	}
	if id := got.Header.Get("Message-Id"); !regexp.MustCompile(`^<[0-9a-f]{32}@authd\.example>$`).MatchString(id) {
		t.Errorf("Message-ID %q", id)
	}
	if v := got.Header.Get("Mime-Version"); v != "1.0" {
		t.Errorf("MIME-Version %q", v)
	}
	if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative;") {
		t.Errorf("Content-Type %q", ct)
	}
	// Wire format: CRLF only, 7-bit, no body line past 78 characters (QP
	// keeps them short), no header line past 998 (folding), and headers
	// encoded.
	raw := string(got.Raw)
	if strings.Contains(strings.ReplaceAll(raw, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(raw, "\r\n", ""), "\r") {
		t.Error("bare CR or LF in the message")
	}
	header, body, _ := strings.Cut(raw, "\r\n\r\n")
	for i, line := range strings.Split(header, "\r\n") {
		if len(line) > 998 || (len(line) > 78 && !strings.Contains(line, "=?utf-8?")) {
			t.Errorf("header line %d is %d long: %q", i, len(line), line)
		}
	}
	for i, line := range strings.Split(raw, "\r\n") {
		if len(line) > 78 && strings.Contains(body, line) {
			t.Errorf("line %d is %d long: %q", i, len(line), line)
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Errorf("line %d has 8-bit data: %q", i, line)
				break
			}
		}
	}
	if !strings.Contains(raw, "Subject: =?utf-8?q?") {
		t.Errorf("Subject not RFC 2047 encoded:\n%s", raw)
	}
	if !strings.Contains(raw, "Content-Transfer-Encoding: quoted-printable") {
		t.Errorf("body not quoted-printable:\n%s", raw)
	}
}

func TestSMTPTextOnly(t *testing.T) {
	srv := smtptest.Start(t)
	m := mail.Message{To: "ann@example.com", Subject: "Plain", Text: "Code: 123456"}
	if err := newSMTP(t, srv).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, nil)
	if ct := got.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if got.Text != m.Text || got.Subject != "Plain" || got.HTML != "" {
		t.Errorf("got subject %q text %q html %q", got.Subject, got.Text, got.HTML)
	}
}

func TestSMTPStartTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithStartTLS())
	if err := newSMTP(t, srv).Send(context.Background(), welcome); err != nil {
		t.Fatal(err)
	}
	srv.WaitFor(t, nil)
	if got, want := strings.Join(srv.Commands(), " "), "EHLO STARTTLS EHLO AUTH MAIL RCPT DATA QUIT"; got != want {
		t.Errorf("commands %q, want %q", got, want)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithImplicitTLS())
	if !strings.HasPrefix(srv.URL(), "smtps://") {
		t.Fatalf("URL %s", srv.URL())
	}
	if err := newSMTP(t, srv).Send(context.Background(), welcome); err != nil {
		t.Fatal(err)
	}
	checkWelcome(t, srv.WaitFor(t, nil))
}

func TestSMTPVerifiesCertificate(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithStartTLS())
	s, err := mail.NewSMTP(smtpConfig(srv.URL()), nil) // system roots: the test CA is unknown
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), welcome)
	if err == nil || !strings.Contains(err.Error(), "starttls") || mail.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient starttls failure", err)
	}
	if len(srv.Messages()) != 0 {
		t.Fatal("mail delivered over an unverified connection")
	}
}

func TestSMTPWithoutAuth(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithoutAuth())
	if strings.Contains(srv.URL(), "@") {
		t.Fatalf("URL %s has credentials", srv.URL())
	}
	if err := newSMTP(t, srv).Send(context.Background(), welcome); err != nil {
		t.Fatal(err)
	}
	srv.WaitFor(t, nil)
}

func TestSMTPRefusesPasswordInClear(t *testing.T) {
	// 127.0.0.2 is loopback on Linux but not "localhost" to net/smtp: it
	// stands for a remote server that offers no STARTTLS.
	srv := smtptest.Start(t, smtptest.WithAddr("127.0.0.2:0"))
	err := newSMTP(t, srv).Send(context.Background(), welcome)
	if err == nil || !strings.Contains(err.Error(), "unencrypted") {
		t.Fatalf("err = %v, want refusal to send the password unencrypted", err)
	}
	for _, c := range srv.Commands() {
		if c == "AUTH" {
			t.Fatal("the client sent AUTH over a clear connection")
		}
	}
}

func TestSMTPErrorsClassified(t *testing.T) {
	for _, tc := range []struct {
		verb      string
		code      int
		permanent bool
	}{
		{"RCPT", 550, true},
		{"MAIL", 553, true},
		{".", 554, true},
		{"RCPT", 450, false},
		{".", 451, false},
		{"AUTH", 535, false}, // credentials: fixed by the operator, then retried
		{"MAIL", 530, false}, // authentication required: the same
		{"EHLO", 421, false},
	} {
		t.Run(fmt.Sprintf("%s_%d", tc.verb, tc.code), func(t *testing.T) {
			srv := smtptest.Start(t)
			srv.Reply(tc.verb, tc.code, "x.y.z nope")
			err := newSMTP(t, srv).Send(context.Background(), welcome)
			if err == nil {
				t.Fatal("sent")
			}
			if got := mail.IsPermanent(err); got != tc.permanent {
				t.Fatalf("IsPermanent(%v) = %v, want %v", err, got, tc.permanent)
			}
		})
	}
}

func TestSMTPServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, err := mail.NewSMTP(smtpConfig("smtp://user:pass@"+addr), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), welcome)
	if err == nil || mail.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
}

func TestHeaderInjectionRejected(t *testing.T) {
	srv := smtptest.Start(t)
	s := newSMTP(t, srv)
	for name, m := range map[string]mail.Message{
		"to CRLF":        {To: "a@example.com\r\nBcc: victim@example.com", Subject: "s", Text: "t"},
		"to LF":          {To: "a@example.com\nBcc: victim@example.com", Subject: "s", Text: "t"},
		"subject CRLF":   {To: "a@example.com", Subject: "hi\r\nBcc: victim@example.com", Text: "t"},
		"subject CR":     {To: "a@example.com", Subject: "hi\rBcc: victim@example.com", Text: "t"},
		"subject LF":     {To: "a@example.com", Subject: "hi\nContent-Type: text/html", Text: "t"},
		"two addresses":  {To: "a@example.com, b@example.com", Subject: "s", Text: "t"},
		"not an address": {To: "nobody", Subject: "s", Text: "t"},
		"no text":        {To: "a@example.com", Subject: "s"},
	} {
		t.Run(name, func(t *testing.T) {
			err := s.Send(context.Background(), m)
			if !errors.Is(err, mail.ErrInvalidMessage) || !mail.IsPermanent(err) {
				t.Fatalf("err = %v, want ErrInvalidMessage", err)
			}
		})
	}
	if n := len(srv.Commands()); n != 0 {
		t.Fatalf("the server saw %d commands; invalid mails must not even connect", n)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := mail.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	const pw = "hunter2-Secret"
	for name, tc := range map[string]struct {
		cfg  mail.Config
		keys []string
	}{
		"no from":      {mail.Config{SMTPURL: "smtp://u:" + pw + "@host:25", Timeout: time.Second}, []string{"mail.from"}},
		"bad scheme":   {mail.Config{SMTPURL: "http://u:" + pw + "@host", From: "a@b.c", Timeout: time.Second}, []string{"mail.smtp_url"}},
		"bad escape":   {mail.Config{SMTPURL: "smtp://u:" + pw + "%zz@host", From: "a@b.c", Timeout: time.Second}, []string{"mail.smtp_url"}},
		"no host":      {mail.Config{SMTPURL: "smtp://u:" + pw + "@", From: "a@b.c", Timeout: time.Second}, []string{"mail.smtp_url"}},
		"bad from":     {mail.Config{From: "a@b.c\r\nBcc: x@y.z", Timeout: time.Second}, []string{"mail.from"}},
		"zero timeout": {mail.Config{}, []string{"mail.timeout"}},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil {
				t.Fatal("validated")
			}
			for _, k := range tc.keys {
				if !strings.Contains(err.Error(), k) {
					t.Errorf("error %q does not name %s", err, k)
				}
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error %q holds the password", err)
			}
		})
	}
}

func TestPasswordNeverPrinted(t *testing.T) {
	const pw = "hunter2-Secret"
	cfg := smtpConfig("smtps://user:" + pw + "@mail.example:465")
	s, err := mail.NewSMTP(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("config", "mail", cfg, "sender", s)
	fmt.Fprintf(&buf, "%v %+v %#v %s %v %+v", s, s, s, s, cfg.LogValue(), *s)
	if strings.Contains(buf.String(), pw) {
		t.Fatalf("password printed: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "smtps://user@mail.example:465") {
		t.Errorf("server not named: %s", buf.String())
	}
}

func TestLogSenderPrintsTheLink(t *testing.T) {
	var buf bytes.Buffer
	s, err := mail.NewSender(mail.DefaultConfig(), slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*mail.LogSender); !ok {
		t.Fatalf("NewSender without smtp_url = %T, want *mail.LogSender", s)
	}
	m := mail.Message{To: "ann@example.com", Subject: "Verify your email", Text: "Open https://127.0.0.1:8080/verify?code=Zx9 to verify."}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"level=INFO", "ann@example.com", "Verify your email", "https://127.0.0.1:8080/verify?code=Zx9"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
	if err := s.Send(context.Background(), mail.Message{To: "a@b.c\nBcc: x@y.z", Text: "t"}); !errors.Is(err, mail.ErrInvalidMessage) {
		t.Errorf("log sender accepted an injected header: %v", err)
	}
}
