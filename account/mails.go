package account

import (
	"bytes"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/internal/mail"
)

// Mails are plain sentences with one link; the HTML part says the same.
// Links are never shortened or tracked: they are the only secret a mail
// carries, and only its MAC is stored.

var mailHTML = template.Must(template.New("mail").Parse(`<!doctype html>
<html><body style="font-family: sans-serif; line-height: 1.5">
{{range .Paragraphs}}<p>{{.}}</p>
{{end}}{{with .Link}}<p><a href="{{.}}">{{$.LinkText}}</a></p>
<p style="font-size: small; color: #555">Or copy this address into your browser: {{.}}</p>
{{end}}</body></html>
`))

type mailBody struct {
	Paragraphs []string
	Link       string
	LinkText   string
}

func (s *Service) message(to, subject string, b mailBody) mail.Message {
	var text strings.Builder
	for _, p := range b.Paragraphs {
		text.WriteString(p + "\n\n")
	}
	if b.Link != "" {
		text.WriteString(b.LinkText + ":\n" + b.Link + "\n")
	}
	var html bytes.Buffer
	_ = mailHTML.Execute(&html, b) // the template and its data are ours: it cannot fail
	return mail.Message{To: to, Subject: subject, Text: text.String(), HTML: html.String()}
}

func (s *Service) site() string {
	if u, err := url.Parse(s.issuer); err == nil && u.Host != "" {
		return u.Host
	}
	return s.issuer
}

func (s *Service) verifyMail(to, link string, ttl time.Duration) mail.Message {
	return s.message(to, "Verify your email address", mailBody{
		Paragraphs: []string{
			"Someone, hopefully you, created an account at " + s.site() + " with this email address.",
			"To confirm it is yours, open the link below within " + humanDuration(ttl) + ". If it was not you, ignore this mail: the account stays unusable without it.",
		},
		Link: link, LinkText: "Verify your email address",
	})
}

func (s *Service) alreadyRegisteredMail(to string) mail.Message {
	return s.message(to, "Someone tried to register with your email address", mailBody{
		Paragraphs: []string{
			"Someone tried to create an account at " + s.site() + " with this email address, which already has one.",
			"If it was you, sign in instead, or reset your password from the sign-in page if you forgot it. If it was not you, you need not do anything: your account is unchanged.",
		},
	})
}

func (s *Service) resetMail(to, link string, ttl time.Duration) mail.Message {
	return s.message(to, "Reset your password", mailBody{
		Paragraphs: []string{
			"Someone, hopefully you, asked to reset the password of your account at " + s.site() + ".",
			"To choose a new password, open the link below within " + humanDuration(ttl) + ". It works once. If you did not ask for it, ignore this mail: your password stays as it is.",
		},
		Link: link, LinkText: "Choose a new password",
	})
}

func humanDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0 && d >= time.Hour && d <= 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d%(24*time.Hour) == 0 && d >= 24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	case d%time.Minute == 0 && d >= time.Minute:
		return plural(int(d/time.Minute), "minute")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
