package account_test

import (
	"strings"
	"testing"
)

// TestMailsInTheRequestLanguage: a mail is in the language of the page
// whose request triggered it (Meta.Locale), including when the request
// waits in the queue; an unknown locale is English.
func TestMailsInTheRequestLanguage(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		fr := meta
		fr.Locale = "fr"
		if err := e.svc.Register(e.ctx, "ada@example.com", goodPassword, "Ada", fr); err != nil {
			t.Fatal(err)
		}
		msgs := e.mailer.sent()
		if len(msgs) != 1 {
			t.Fatalf("%d mails, want 1", len(msgs))
		}
		m := msgs[0]
		if m.Subject != "Vérifiez votre adresse e-mail" {
			t.Errorf("subject %q, want the French one", m.Subject)
		}
		for _, want := range []string{"Quelqu’un, vous sans doute, a créé un compte", "dans un délai de 24 heures", "Vérifiez votre adresse e-mail\u00a0:\n" + issuer + "/verify-email?token="} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("text lacks %q:\n%s", want, m.Text)
			}
		}
		for _, want := range []string{`<html lang="fr">`, "Ou copiez cette adresse dans votre navigateur"} {
			if !strings.Contains(m.HTML, want) {
				t.Errorf("HTML lacks %q:\n%s", want, m.HTML)
			}
		}
		if strings.Contains(m.Text, "Someone") || strings.Contains(m.HTML, "copy this address") {
			t.Errorf("English left in the French mail:\n%s\n%s", m.Text, m.HTML)
		}

		// Registering the address again mails its owner, in German now.
		de := meta
		de.Locale = "de"
		if err := e.svc.Register(e.ctx, "ada@example.com", goodPassword, "Ada", de); err != nil {
			t.Fatal(err)
		}
		if msgs = e.mailer.sent(); len(msgs) != 2 || msgs[1].Subject != "Jemand hat versucht, sich mit Ihrer E-Mail-Adresse zu registrieren" {
			t.Errorf("second mail = %+v, want the German already-registered mail", msgs[len(msgs)-1])
		}

		// A reset request from a page in an unsupported language: English.
		ja := meta
		ja.Locale = "ja"
		if err := e.svc.RequestPasswordReset(e.ctx, "ada@example.com", ja); err != nil {
			t.Fatal(err)
		}
		if msgs = e.mailer.sent(); len(msgs) != 3 || msgs[2].Subject != "Reset your password" || !strings.Contains(msgs[2].HTML, `<html lang="en">`) {
			t.Errorf("reset mail = %+v, want English", msgs[len(msgs)-1])
		}
	})
}
