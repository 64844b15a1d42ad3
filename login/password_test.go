package login

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
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
	wantBody(t, r, "Use at least 12 characters.", `aria-describedby="new_password-hint new_password-error"`,
		`<li><a href="#new_password">New password: Use at least 12 characters.</a></li>`)
	wantErrorSummary(t, r.body)

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

// TestResetPasswordContinuesTheSignIn: "Forgot password?" on a sign-in
// for an application carries its authorization request through the form,
// and the reset link, opened in the same browser, ends back in that
// sign-in; signing in with the new password continues to the application.
func TestResetPasswordContinuesTheSignIn(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	ar := e.authRequest("resetAuthRequest0123456789abcdef", url.Values{"scope": {"openid"}})
	b := e.browser()

	r := b.get("/login?ar=" + ar)
	links := withText(parse(t, r.body), "a", "Forgot password?")
	if len(links) != 1 || attr(links[0], "href") != "/forgot-password?ar="+ar {
		t.Fatalf("Forgot password? link = %v, want /forgot-password?ar=%s", links, ar)
	}
	r = b.get(attr(links[0], "href"))
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, `<input type="hidden" name="ar" value="`+ar+`">`, `<a href="/login?ar=`+ar+`">Back to sign in</a>`)
	golden(t, "forgot_password_flow", r.body)
	r = b.post("/forgot-password", url.Values{"ar": {ar}, "email": {"ada@example.com"}})
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, "If an account exists for that address, we sent a link.", `<a href="/login?ar=`+ar+`">Back to sign in</a>`)

	token := "reset-ada@example.com"
	r = b.get("/reset-password?token=" + url.QueryEscape(token))
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, `<a href="/login?ar=`+ar+`">Back to sign in</a>`)
	r = b.post("/reset-password", url.Values{"token": {token}, "new_password": {"a brand new passphrase"}})
	wantRedirect(t, r, "/login?notice=password_reset&ar="+ar)
	r = b.get(r.location)
	wantBody(t, r, "Your password has been changed.", `<input type="hidden" name="ar" value="`+ar+`">`, "Example App")
	r = b.post("/login", url.Values{"ar": {ar}, "email": {"ada@example.com"}, "password": {"a brand new passphrase"}})
	wantRedirect(t, r, "/oauth2/authorize/resume?ar="+ar)
	if e.getAuthRequest(ar).SessionID == "" {
		t.Error("the authorization request has no session after signing in with the new password")
	}
}

// TestResetPasswordFlowRefused: an unknown or malformed ar on the forgot
// password form is the expired sign-in page, as on the login page; a
// reset link opened in another browser, or after the sign-in closed,
// leads to a plain sign-in.
func TestResetPasswordFlowRefused(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	b := e.browser()
	for _, ar := range []string{"no-such-request", "bad<id>"} {
		r := b.get("/forgot-password?ar=" + url.QueryEscape(ar))
		wantStatus(t, r, http.StatusBadRequest)
		wantBody(t, r, "This sign-in has expired")
		b.get("/forgot-password")
		r = b.post("/forgot-password", url.Values{"ar": {ar}, "email": {"ada@example.com"}})
		wantStatus(t, r, http.StatusBadRequest)
		wantBody(t, r, "This sign-in has expired")
	}

	ar := e.authRequest("resetAuthRequest0123456789abcdef", nil)
	b.get("/forgot-password?ar=" + ar)
	b.post("/forgot-password", url.Values{"ar": {ar}, "email": {"ada@example.com"}})
	other := e.browser()
	other.get("/reset-password?token=reset-ada@example.com")
	r := other.post("/reset-password", url.Values{"token": {"reset-ada@example.com"}, "new_password": {"a brand new passphrase"}})
	wantRedirect(t, r, "/login?notice=password_reset")

	b.get("/forgot-password?ar=" + ar)
	b.post("/forgot-password", url.Values{"ar": {ar}, "email": {"ada@example.com"}})
	e.clock.Advance(31 * time.Minute) // the sign-in expired meanwhile
	b.get("/reset-password?token=reset-ada@example.com")
	r = b.post("/reset-password", url.Values{"token": {"reset-ada@example.com"}, "new_password": {"another new passphrase"}})
	wantRedirect(t, r, "/login?notice=password_reset")
}
