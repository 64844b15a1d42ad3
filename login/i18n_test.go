package login

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/render"
	"github.com/authd/authd/storage"
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

// fakeRegistrations holds the registration metadata of clients.
type fakeRegistrations map[string]string

func (f fakeRegistrations) GetClientRegistration(_ context.Context, clientID string) (*storage.ClientRegistration, error) {
	m, ok := f[clientID]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return &storage.ClientRegistration{ClientID: clientID, Metadata: []byte(m)}, nil
}

// TestClientLogo: a client's registered https logo_uri is on its sign-in,
// registration and consent pages, with alt text; any other scheme is not.
func TestClientLogo(t *testing.T) {
	regs := fakeRegistrations{"app": `{"logo_uri":"https://app.example/logo.png?s=1&t=2"}`, "other": `{"logo_uri":"javascript:alert(1)"}`}
	e := newEnv(t, depsOption(func(d *Deps) { d.Registrations = regs }))
	ar := e.authRequest("ar-logo", url.Values{"ui_locales": {"fr"}})
	b := e.browser()
	for _, path := range []string{"/login?ar=" + ar, "/register?ar=" + ar} {
		r := b.get(path)
		wantBody(t, r, `<img class="client-logo" src="https://app.example/logo.png?s=1&amp;t=2" alt="Logo de Example App">`)
	}
	// Another client whose logo_uri is not https: no image, the page works.
	now := e.clock.Now()
	if err := e.store.CreateAuthRequest(context.Background(), &storage.AuthRequest{ID: "ar-logo-2", ClientID: "other",
		Form: url.Values{"client_id": {"other"}, "scope": {"openid"}}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, 0); err != nil {
		t.Fatal(err)
	}
	other := "ar-logo-2"
	r := b.get("/login?ar=" + other)
	wantStatus(t, r, http.StatusOK)
	wantNotBody(t, r, "client-logo", "javascript:")
	// Without an authorization request, no client, no logo.
	wantNotBody(t, b.get("/login"), "client-logo")
}

// TestOrganizationBranding: the sign-in of a client an organization lists
// carries that organization's branding; /account carries the branding of
// the signed-in user's organization.
func TestOrganizationBranding(t *testing.T) {
	e := newEnv(t, func(_ *Config, o *render.Options) {
		o.Branding = render.Branding{ProductName: "Example ID", Organizations: []render.OrgBranding{
			{Name: "Acme", Clients: []string{"app"}, ProductName: "Acme Login"},
		}}
	})
	ar := e.authRequest("ar-org", nil)
	b := e.browser()
	wantBody(t, b.get("/login?ar="+ar), "<title>Sign in – Acme Login</title>")
	wantBody(t, b.get("/login"), "<title>Sign in – Example ID</title>")
}
