package main

import "testing"

// TestBrowserSignInInGerman: an app asks for German (ui_locales=de); a
// person whose browser prefers English signs in on the German pages by
// their German labels and buttons, allows access, and is back in the app.
func TestBrowserSignInInGerman(t *testing.T) {
	t.Parallel()
	e := startE2E(t, sqliteEnv(t))
	const email, password = "greta@example.com", "a passphrase that is long enough"
	e.user(email, password, "Greta")
	b := e.person("Greta's browser")

	b.expectPage(b.open(e.rp.base+"/login?ui_locales=de"), 200, "Anmelden")
	b.expectText("um mit Demo App fortzufahren", "Passwort vergessen?", "Konto erstellen")
	if lang := eval[string](b, `document.documentElement.lang`); lang != "de" {
		b.fatalf("html lang = %q, want de", lang)
	}
	b.fill("E-Mail", email)
	b.fill("Passwort", "not the password")
	b.expectPage(b.press("Anmelden"), 401, "Anmelden")
	b.expectText("E-Mail-Adresse oder Passwort ist falsch.")
	b.fill("Passwort", password)
	resp := b.press("Anmelden")
	if b.heading() == "Demo App möchte auf Ihr Konto zugreifen" {
		b.expectText("Damit erlauben Sie Demo App Folgendes:", "Bestätigen, wer Sie sind")
		resp = b.press("Erlauben")
	}
	e.rp.expectSignedIn(b, resp, email)
}
