package smtptest_test

import (
	"errors"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"

	"github.com/authd/authd/internal/mail/smtptest"
)

const raw = "From: a@example.com\r\nTo: b@example.com\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"Hallo Gr=C3=BC=C3=9Fe,\r\n.leading dot\r\nsoft=\r\nbreak\r\n"

func TestSendMailParsed(t *testing.T) {
	srv := smtptest.Start(t)
	auth := smtp.PlainAuth("", smtptest.DefaultUsername, smtptest.DefaultPassword, "127.0.0.1")
	if err := smtp.SendMail(srv.Addr(), auth, "a@example.com", []string{"b@example.com", "c@example.com"}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	m := srv.WaitFor(t, func(m smtptest.Message) bool { return m.Subject == "Grüße" })
	if m.ParseErr != nil {
		t.Fatal(m.ParseErr)
	}
	if m.From != "a@example.com" || strings.Join(m.To, ",") != "b@example.com,c@example.com" {
		t.Errorf("envelope %q -> %v", m.From, m.To)
	}
	if want := "Hallo Grüße,\n.leading dot\nsoftbreak"; m.Text != want {
		t.Errorf("Text %q, want %q", m.Text, want)
	}
	if string(m.Raw) != raw {
		t.Errorf("Raw %q, want %q (dot-unstuffed, as sent)", m.Raw, raw)
	}
	if got := len(srv.Messages()); got != 1 {
		t.Errorf("%d messages", got)
	}
}

func TestAuthRequired(t *testing.T) {
	srv := smtptest.Start(t)
	c, err := smtp.Dial(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Mail("a@example.com")
	var te *textproto.Error
	if !asTP(err, &te) || te.Code != 530 {
		t.Fatalf("MAIL without AUTH: %v, want 530", err)
	}
	if err := c.Auth(smtp.PlainAuth("", "user", "wrong", "127.0.0.1")); !asTP(err, &te) || te.Code != 535 {
		t.Fatalf("AUTH with a wrong password: %v, want 535", err)
	}
}

func TestReply(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithoutAuth())
	srv.Reply("RCPT", 550, "5.1.1 No such user")
	err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(raw))
	var te *textproto.Error
	if !asTP(err, &te) || te.Code != 550 {
		t.Fatalf("err = %v, want 550", err)
	}
	srv.Reply("RCPT", 0, "")
	if err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	srv.WaitFor(t, nil)
}

func TestClosedServerRefuses(t *testing.T) {
	srv := smtptest.Start(t)
	srv.Close()
	if err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(raw)); err == nil {
		t.Fatal("a closed server took mail")
	}
}

func asTP(err error, target **textproto.Error) bool { return errors.As(err, target) }
