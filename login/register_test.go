package login

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/authd/authd/internal/render"
)

func TestRegister(t *testing.T) {
	e := newEnv(t)
	ar := e.authRequest("ar-reg", nil)
	b := e.browser()

	// The login page links to registration, keeping the request.
	r := b.get("/login?ar=" + ar)
	doc := parse(t, r.body)
	if links := withText(doc, "a", "Create account"); len(links) != 1 || attr(links[0], "href") != "/register?ar="+ar {
		t.Fatalf("Create account link = %v", links)
	}

	r = b.get("/register?ar=" + ar)
	wantStatus(t, r, http.StatusOK)
	wantLabels(t, r.body, []string{"Email", "Password", "Name"}, []string{"Create account"}, []string{"Sign in"})
	wantBody(t, r, "Example App")
	golden(t, "register", r.body)

	// A weak password: the violations next to the Password field.
	r = b.post("/register", url.Values{"ar": {ar}, "email": {"new@example.com"}, "password": {"short"}, "name": {"New Person"}})
	wantStatus(t, r, http.StatusBadRequest)
	pw := labelled(parse(t, r.body), "Password")
	if attr(pw, "aria-invalid") != "true" || !strings.Contains(attr(pw, "aria-describedby"), "password-error") {
		t.Errorf("password field after a policy violation: %v", pw.Attr)
	}
	wantBody(t, r, `id="password-error"`, "Use at least 12 characters.", "Do not use a password that is easy to guess.", `value="New Person"`)
	if strings.Contains(r.body, `value="short"`) {
		t.Error("the page echoes the password")
	}
	golden(t, "register_error", r.body)

	// A good one: check your email.
	r = b.post("/register", url.Values{"ar": {ar}, "email": {"new@example.com"}, "password": {"a long enough password"}, "name": {"New Person"}})
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, "Check your email", "new@example.com", `href="/login?ar=`+ar+`"`)
	golden(t, "check_email", r.body)
	first := r.body
	if m := e.accounts.lastMeta(); m.ClientID != "app" {
		t.Errorf("Register meta = %+v, want client app", m)
	}

	// Registering again with the same address: the very same answer.
	b.get("/register?ar=" + ar)
	r = b.post("/register", url.Values{"ar": {ar}, "email": {"new@example.com"}, "password": {"another long password"}})
	wantStatus(t, r, http.StatusOK)
	if r.body != first {
		t.Errorf("registering an existing address answers differently:\n%s", r.body)
	}
}

func TestRegisterInputErrors(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		form url.Values
		want []string
	}{
		{"nothing", url.Values{}, []string{"Enter your email address.", "Enter a password."}},
		{"not an email", url.Values{"email": {"not-an-email"}, "password": {"a long enough password"}},
			[]string{"Enter an email address like name@example.com."}},
		{"long name", url.Values{"email": {"a@example.com"}, "password": {"a long enough password"}, "name": {strings.Repeat("n", 201)}},
			[]string{"Enter a shorter name."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			b.get("/register")
			before := len(e.accounts.callLog())
			r := b.post("/register", tc.form)
			wantStatus(t, r, http.StatusBadRequest)
			wantBody(t, r, tc.want...)
			if len(e.accounts.callLog()) != before {
				t.Error("the account service was called with plainly bad input")
			}
		})
	}
	t.Run("service down", func(t *testing.T) {
		e.accounts.fail = errBroken
		defer func() { e.accounts.fail = nil }()
		b := e.browser()
		b.get("/register")
		r := b.post("/register", url.Values{"email": {"a@example.com"}, "password": {"a long enough password"}})
		wantStatus(t, r, http.StatusInternalServerError)
		wantBody(t, r, "Something went wrong")
		if strings.Contains(r.body, errBroken.Error()) {
			t.Error("the error page shows the internal error")
		}
		if !strings.Contains(e.logs.String(), errBroken.Error()) {
			t.Error("the internal error is not logged")
		}
	})
}

func TestRegistrationOff(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *render.Options) { c.Registration = false })
	b := e.browser()
	if r := b.get("/register"); r.status != http.StatusNotFound {
		t.Errorf("GET /register with registration off: %d, want 404", r.status)
	}
	r := b.get("/login")
	if len(withText(parse(t, r.body), "a", "Create account")) != 0 {
		t.Error("login links to registration while it is off")
	}
}

func TestVerifyEmail(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.get("/register")
	b.post("/register", url.Values{"email": {"new@example.com"}, "password": {"a long enough password"}})

	r := b.get("/verify-email?token=verify-new@example.com")
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, "Email address verified")
	if links := withText(parse(t, r.body), "a", "Continue"); len(links) != 1 || attr(links[0], "href") != "/login" {
		t.Errorf("Continue link = %v", links)
	}
	golden(t, "verify_email", r.body)

	// Used, unknown or missing token: a friendly page offering a new link.
	for _, q := range []string{"?token=verify-new@example.com", "?token=bogus", ""} {
		r = b.get("/verify-email" + q)
		wantStatus(t, r, http.StatusBadRequest)
		wantBody(t, r, "This link does not work")
		wantLabels(t, r.body, []string{"Email"}, []string{"Send a new link"}, nil)
	}
	golden(t, "verify_email_invalid", r.body)

	r = b.post("/verify-email/resend", url.Values{"email": {"new@example.com"}})
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, "Check your email")
	if calls := e.accounts.callLog(); !slices.Contains(calls, "ResendVerification new@example.com") {
		t.Errorf("calls = %v, want a resend", calls)
	}

	e.accounts.fail = errBroken
	r = b.get("/verify-email?token=whatever")
	wantStatus(t, r, http.StatusInternalServerError)
}

// TestResendFromLogin: the unverified sign-in offers a resend that goes
// to the same address, within the request.
func TestResendFromLogin(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", false)
	ar := e.authRequest("ar-resend", nil)
	b := e.browser()
	b.get("/login?ar=" + ar)
	b.post("/login", url.Values{"ar": {ar}, "email": {"ada@example.com"}, "password": {"correct horse battery"}})
	r := b.post("/verify-email/resend", url.Values{"ar": {ar}, "email": {"ada@example.com"}})
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, "Check your email", `href="/login?ar=`+ar+`"`)
	if calls := e.accounts.callLog(); calls[len(calls)-1] != "ResendVerification ada@example.com" {
		t.Errorf("last call = %v", calls)
	}
	r = b.post("/verify-email/resend", url.Values{"email": {""}})
	wantStatus(t, r, http.StatusBadRequest)
}

// TestVerifyEmailContinuesTheSignIn: verifying in the browser that
// registered from an authorization request leads back into that sign-in.
func TestVerifyEmailContinuesTheSignIn(t *testing.T) {
	e := newEnv(t)
	ar := e.authRequest("flowAuthRequest0123456789abcdef", url.Values{"scope": {"openid"}})
	b := e.browser()
	b.get("/register?ar=" + ar)
	b.post("/register", url.Values{"ar": {ar}, "email": {"flow@example.com"}, "password": {"a long enough password"}})
	r := b.get("/verify-email?token=verify-flow@example.com")
	wantStatus(t, r, http.StatusOK)
	if links := withText(parse(t, r.body), "a", "Continue"); len(links) != 1 || attr(links[0], "href") != "/login?ar="+ar {
		t.Fatalf("Continue link = %v, want /login?ar=%s", links, ar)
	}
	// Another browser (say, the phone the mail was opened on) just signs in.
	other := e.browser()
	r = other.get("/verify-email?token=verify-flow@example.com")
	if links := withText(parse(t, r.body), "a", "Continue"); len(links) == 1 && attr(links[0], "href") != "/login" {
		t.Fatalf("a browser that did not register got %q", attr(links[0], "href"))
	}
}
