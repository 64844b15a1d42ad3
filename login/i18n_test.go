package login

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPagesInTheRequestedLanguage: ui_locales of the authorization request
// chooses the language of every page of its sign-in, before the browser's
// Accept-Language; a sign-up records it for the mails it triggers.
func TestPagesInTheRequestedLanguage(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	de := e.authRequest("ar-de", url.Values{"ui_locales": {"ja de-CH fr"}})
	b := e.browser()
	b.lang = "fr-FR,fr;q=0.9,en;q=0.5" // ui_locales beats it

	r := b.get("/login?ar=" + de)
	wantStatus(t, r, http.StatusOK)
	if got := r.header.Get("Content-Language"); got != "de" {
		t.Errorf("Content-Language = %q, want de", got)
	}
	wantLabels(t, r.body, []string{"E-Mail", "Passwort"}, []string{"Anmelden"}, []string{"Konto erstellen", "Passwort vergessen?"})
	wantBody(t, r, `<html lang="de">`, "um mit <strong>Example App</strong> fortzufahren", "<title>Anmelden – authd</title>")
	wantNotBody(t, r, "Sign in", "Forgot password?")

	// A wrong password: the error is German too.
	r = b.post("/login", url.Values{"ar": {de}, "email": {"ada@example.com"}, "password": {"wrong"}})
	wantStatus(t, r, http.StatusUnauthorized)
	wantBody(t, r, "E-Mail-Adresse oder Passwort ist falsch.", "Es gibt ein Problem")

	// Registration and forgot password continue in German.
	r = b.get("/register?ar=" + de)
	wantLabels(t, r.body, []string{"E-Mail", "Passwort", "Name"}, []string{"Konto erstellen"}, []string{"Anmelden"})
	r = b.get("/forgot-password?ar=" + de)
	wantBody(t, r, `<html lang="de">`, "Passwort zurücksetzen", "Link senden")

	// Without ui_locales, Accept-Language decides: French.
	fr := e.authRequest("ar-fr", nil)
	r = b.get("/register?ar=" + fr)
	wantBody(t, r, `<html lang="fr">`, "Créer un compte", "Vous avez déjà un compte\u00a0?")
	r = b.post("/register", url.Values{"ar": {fr}, "email": {"new@example.com"}, "password": {"a long enough password"}})
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, "Consultez vos e-mails", "<strong>new@example.com</strong>")
	if m := e.accounts.lastMeta(); m.Locale != "fr" {
		t.Errorf("Register meta locale = %q, want fr: the verification mail is in the page's language", m.Locale)
	}

	// Neither: the default, English.
	b.lang = ""
	r = b.get("/login")
	wantBody(t, r, `<html lang="en">`, "Sign in")
	b.lang = "xx;;q=bogus"
	r = b.get("/login")
	wantBody(t, r, `<html lang="en">`, "Sign in")
}

func wantNotBody(t *testing.T, r response, substrings ...string) {
	t.Helper()
	for _, s := range substrings {
		if strings.Contains(r.body, s) {
			t.Errorf("page has %q", s)
		}
	}
}
