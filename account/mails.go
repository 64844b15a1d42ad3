package account

import (
	"bytes"
	"html/template"
	"net/url"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/authd/authd/internal/i18n"
	"github.com/authd/authd/internal/mail"
)

// Mails are plain sentences with one link; the HTML part says the same.
// Links are never shortened or tracked: they are the only secret a mail
// carries, and only its MAC is stored.

var mailHTML = template.Must(template.New("mail").Parse(`<!doctype html>
<html lang="{{.Lang}}"><body style="font-family: sans-serif; line-height: 1.5">
{{range .Paragraphs}}<p>{{.}}</p>
{{end}}{{with .Link}}<p><a href="{{.}}">{{$.LinkText}}</a></p>
<p style="font-size: small; color: #555">{{$.CopyText}} {{.}}</p>
{{end}}</body></html>
`))

type mailBody struct {
	Lang       string
	Paragraphs []string
	Link       string
	LinkText   string
	CopyText   string
}

// mailLang is the language of locale (Meta.Locale), English for "" or
// one authd has no catalogue for.
func mailLang(locale string) language.Tag { return i18n.Choose(locale, "", language.English) }

func (s *Service) message(tag language.Tag, to, subject string, b mailBody) mail.Message {
	p := i18n.Printer(tag)
	b.Lang = tag.String()
	b.CopyText = i18n.T(p, "Or copy this address into your browser:")
	var text strings.Builder
	for _, para := range b.Paragraphs {
		text.WriteString(para + "\n\n")
	}
	if b.Link != "" {
		text.WriteString(i18n.T(p, "%s:", b.LinkText) + "\n" + b.Link + "\n")
	}
	var html bytes.Buffer
	_ = mailHTML.Execute(&html, b) // the template and its data are ours: it cannot fail
	return mail.Message{To: to, Subject: subject, Text: text.String(), HTML: html.String()}
}

// site names where the account is: the product name when configured
// (branding.product_name), else the issuer's host.
func (s *Service) site() string {
	if s.product != "" {
		return s.product
	}
	if u, err := url.Parse(s.issuer); err == nil && u.Host != "" {
		return u.Host
	}
	return s.issuer
}

func (s *Service) verifyMail(lang, to, link string, ttl time.Duration) mail.Message {
	tag := mailLang(lang)
	p := i18n.Printer(tag)
	return s.message(tag, to, i18n.T(p, "Verify your email address"), mailBody{
		Paragraphs: []string{
			i18n.T(p, "Someone, hopefully you, created an account at %s with this email address.", s.site()),
			i18n.T(p, "To confirm it is yours, open the link below within %s. If it was not you, ignore this mail: the account stays unusable without it.", humanDuration(ttl)),
		},
		Link: link, LinkText: i18n.T(p, "Verify your email address"),
	})
}

func (s *Service) alreadyRegisteredMail(lang, to string) mail.Message {
	tag := mailLang(lang)
	p := i18n.Printer(tag)
	return s.message(tag, to, i18n.T(p, "Someone tried to register with your email address"), mailBody{
		Paragraphs: []string{
			i18n.T(p, "Someone tried to create an account at %s with this email address, which already has one.", s.site()),
			i18n.T(p, "If it was you, sign in instead, or reset your password from the sign-in page if you forgot it. If it was not you, you need not do anything: your account is unchanged."),
		},
	})
}

func (s *Service) resetMail(lang, to, link string, ttl time.Duration) mail.Message {
	tag := mailLang(lang)
	p := i18n.Printer(tag)
	return s.message(tag, to, i18n.T(p, "Reset your password"), mailBody{
		Paragraphs: []string{
			i18n.T(p, "Someone, hopefully you, asked to reset the password of your account at %s.", s.site()),
			i18n.T(p, "To choose a new password, open the link below within %s. It works once. If you did not ask for it, ignore this mail: your password stays as it is.", humanDuration(ttl)),
		},
		Link: link, LinkText: i18n.T(p, "Choose a new password"),
	})
}

// humanDuration is d in words (localized when formatted by i18n.T), or
// Go's notation when no whole unit fits.
func humanDuration(d time.Duration) any {
	switch {
	case d%time.Hour == 0 && d >= time.Hour && d <= 48*time.Hour:
		return i18n.Count(int64(d/time.Hour), "hour")
	case d%(24*time.Hour) == 0 && d >= 24*time.Hour:
		return i18n.Count(int64(d/(24*time.Hour)), "day")
	case d%time.Minute == 0 && d >= time.Minute:
		return i18n.Count(int64(d/time.Minute), "minute")
	}
	return d.String()
}
