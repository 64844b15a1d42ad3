package login

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestForgotPassword(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	b := e.browser()

	r := b.get("/login")
	if links := withText(parse(t, r.body), "a", "Forgot password?"); len(links) != 1 || attr(links[0], "href") != "/forgot-password" {
		t.Fatalf("Forgot password? link = %v", links)
	}
	r = b.get("/forgot-password")
	wantStatus(t, r, http.StatusOK)
	wantLabels(t, r.body, []string{"Email"}, []string{"Send link"}, nil)
	golden(t, "forgot_password", r.body)

	// The same answer whether or not the address has an account.
	var pages []string
	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		b.get("/forgot-password")
		r = b.post("/forgot-password", url.Values{"email": {email}})
		wantStatus(t, r, http.StatusOK)
		wantBody(t, r, "If an account exists for that address, we sent a link.")
		if strings.Contains(r.body, email) {
			t.Errorf("the answer repeats the address %s", email)
		}
		pages = append(pages, r.body)
	}
	if pages[0] != pages[1] {
		t.Errorf("answers differ:\n%s\n---\n%s", pages[0], pages[1])
	}
	golden(t, "forgot_password_sent", pages[0])

	b.get("/forgot-password")
	r = b.post("/forgot-password", url.Values{"email": {""}})
	wantStatus(t, r, http.StatusBadRequest)
	wantBody(t, r, "Enter your email address.")

	e.accounts.fail = errBroken
	b.get("/forgot-password")
	r = b.post("/forgot-password", url.Values{"email": {"ada@example.com"}})
	wantStatus(t, r, http.StatusInternalServerError)
}

func TestResetPassword(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	b := e.browser()
	b.get("/forgot-password")
	b.post("/forgot-password", url.Values{"email": {"ada@example.com"}})
	token := "reset-ada@example.com"

	r := b.get("/reset-password?token=" + url.QueryEscape(token))
	wantStatus(t, r, http.StatusOK)
	wantLabels(t, r.body, []string{"New password"}, []string{"Set new password"}, nil)
	golden(t, "reset_password", r.body)

	// Too weak: the policy's words next to the field; the token still works.
	r = b.post("/reset-password", url.Values{"token": {token}, "new_password": {"short"}})
	wantStatus(t, r, http.StatusBadRequest)
	wantBody(t, r, "Use at least 12 characters.", `aria-describedby="new_password-hint new_password-error"`)

	r = b.post("/reset-password", url.Values{"token": {token}, "new_password": {"a brand new passphrase"}})
	wantRedirect(t, r, "/login?notice=password_reset")
	r = b.get(r.location)
	wantBody(t, r, `role="status"`, "Your password has been changed. Sign in with your new password.")
	b.post("/login", url.Values{"email": {"ada@example.com"}, "password": {"a brand new passphrase"}})
	if b.cookie("authd_session") == "" {
		t.Error("cannot sign in with the new password")
	}

	// The token is used up now; unknown and missing tokens alike.
	b.get("/forgot-password")
	for _, form := range []url.Values{
		{"token": {token}, "new_password": {"yet another passphrase"}},
		{"token": {""}, "new_password": {"yet another passphrase"}},
	} {
		r = b.post("/reset-password", form)
		wantStatus(t, r, http.StatusBadRequest)
		wantBody(t, r, "This link does not work", `href="/forgot-password"`)
	}
	r = b.get("/reset-password")
	wantStatus(t, r, http.StatusBadRequest)
	golden(t, "reset_password_invalid", r.body)
	// A used or unknown link says so before anyone types a new password.
	for _, tok := range []string{token, "bogus"} {
		r = b.get("/reset-password?token=" + url.QueryEscape(tok))
		wantStatus(t, r, http.StatusBadRequest)
		wantBody(t, r, "This link does not work")
	}

	r = b.get("/reset-password?token=t")
	r = b.post("/reset-password", url.Values{"token": {"t"}, "new_password": {""}})
	wantStatus(t, r, http.StatusBadRequest)
	wantBody(t, r, "Enter a new password.")
}
