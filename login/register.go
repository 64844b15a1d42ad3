package login

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/internal/render"

	"github.com/authd/authd/internal/telemetry"
)

// maxNameLen bounds display names.
const maxNameLen = 200

// registerForm shows the registration form.
func (p *Pages) registerForm(w http.ResponseWriter, r *http.Request) {
	f, ok := p.loadFlow(w, r, r.URL.Query().Get("ar"))
	if !ok {
		return
	}
	p.render.Render(w, r, http.StatusOK, "register", render.RegisterData{
		Page: f.page(), AuthRequestID: f.id(), ClientName: f.clientName(), ClientLogo: f.clientLogo()})
}

// registerSubmit registers and says to check the mail, whether or not the
// address had an account.
func (p *Pages) registerSubmit(w http.ResponseWriter, r *http.Request) {
	f, ok := p.loadFlow(w, r, r.PostForm.Get("ar"))
	if !ok {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	password := r.PostForm.Get("password")
	name := strings.TrimSpace(r.PostForm.Get("name"))
	data := render.RegisterData{Page: f.page(), AuthRequestID: f.id(), ClientName: f.clientName(), ClientLogo: f.clientLogo(),
		Email: truncate(email, maxEmailLen), Name: truncate(name, maxNameLen)}
	data.Errors = checkEmail(data.Errors, email)
	if password == "" {
		data.Errors = data.Errors.Add("password", "Enter a password.")
	}
	if len(name) > maxNameLen {
		data.Errors = data.Errors.Add("name", "Enter a shorter name.")
	}
	if len(data.Errors) > 0 {
		p.render.Render(w, r, http.StatusBadRequest, "register", data)
		return
	}
	if p.limiter != nil {
		if retry, ok := p.limiter.Register(r.Context(), telemetry.ClientIP(r)); !ok {
			p.tooMany(w, r, retry)
			return
		}
	}
	if err := p.accounts.Register(r.Context(), email, password, name, p.meta(r, f.clientID(), "")); err != nil {
		policy, isPolicy := errors.AsType[*account.PolicyError](err)
		input, isInput := errors.AsType[*account.InputError](err)
		switch {
		case isPolicy:
			data.Errors = policyErrors(data.Errors, "password", policy)
		case isInput:
			data.Errors = data.Errors.Add(fieldOf(input.Field, "email", "password", "name"), input.Message)
		default:
			p.internal(w, r, "register", err)
			return
		}
		p.render.Render(w, r, http.StatusBadRequest, "register", data)
		return
	}
	p.rememberFlow(w, f) // so the verification link, opened in this browser, can lead back into the sign-in
	p.render.Render(w, r, http.StatusOK, "check_email", render.CheckEmailData{
		Page: f.page(), Email: email, AuthRequestID: f.id()})
}

// flowCookie remembers, in the browser that registered or asked for a
// password reset, the authorization request it came from. The links in
// the mail carry only their token: the request id stays out of mailboxes,
// and a link opened elsewhere leads to a plain sign-in.
const flowCookie = "authd_flow"

// rememberFlow sets flowCookie to f, while f is open; nothing for no f.
func (p *Pages) rememberFlow(w http.ResponseWriter, f *flow) {
	if f == nil {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: f.id(), Path: p.base + "/", HttpOnly: true, // #nosec G124 -- Secure whenever the issuer is https (plain http is for loopback only)
		Secure: p.secureCookies(), SameSite: http.SameSiteLaxMode, MaxAge: max(1, int(time.Until(f.ar.ExpiresAt).Seconds()))})
}

// rememberedFlow returns the id in flowCookie while that authorization
// request is still open, else "".
func (p *Pages) rememberedFlow(r *http.Request) string {
	if c, err := r.Cookie(flowCookie); err == nil && validID(c.Value) {
		if _, err := p.ars.GetAuthRequest(r.Context(), c.Value, p.now()); err == nil {
			return c.Value
		}
	}
	return ""
}

// secureCookies reports whether the issuer is https (the CSRF cookie then
// carries the __Host- prefix).
func (p *Pages) secureCookies() bool { return strings.HasPrefix(p.csrf.CookieName(), "__Host-") }

// continueURL is where "Continue" leads after verifying an email: back into
// the sign-in this browser registered from, while it is still open.
func (p *Pages) continueURL(r *http.Request) string {
	if id := p.rememberedFlow(r); id != "" {
		return p.base + pathLogin + "?ar=" + url.QueryEscape(id)
	}
	return p.base + pathLogin
}

// verifyEmail consumes the verification link's token.
func (p *Pages) verifyEmail(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if token == "" || len(token) > 512 {
		p.render.Render(w, r, http.StatusBadRequest, "verify_email", render.VerifyEmailData{})
		return
	}
	if _, err := p.accounts.VerifyEmail(r.Context(), token, p.meta(r, "", "")); err != nil {
		if !errors.Is(err, account.ErrInvalidToken) {
			p.internal(w, r, "verify email", err)
			return
		}
		p.render.Render(w, r, http.StatusBadRequest, "verify_email", render.VerifyEmailData{})
		return
	}
	p.render.Render(w, r, http.StatusOK, "verify_email", render.VerifyEmailData{Verified: true, ContinueURL: p.continueURL(r)})
}

// resendVerification sends a new verification link and says to check the
// mail, whatever the address.
func (p *Pages) resendVerification(w http.ResponseWriter, r *http.Request) {
	f, ok := p.loadFlow(w, r, r.PostForm.Get("ar"))
	if !ok {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	if errs := checkEmail(nil, email); len(errs) > 0 {
		p.fail(w, r, http.StatusBadRequest, "Enter your email address",
			"We need a valid email address to send the link to. Go back and try again.", &render.Link{Href: p.base + pathLogin, Text: "Back to sign in"})
		return
	}
	if p.limiter != nil {
		if retry, ok := p.limiter.Register(r.Context(), telemetry.ClientIP(r)); !ok {
			p.tooMany(w, r, retry)
			return
		}
	}
	if err := p.accounts.ResendVerification(r.Context(), email, p.meta(r, f.clientID(), "")); err != nil {
		if !knownAccountError(err) {
			p.internal(w, r, "resend verification", err)
			return
		}
	}
	p.rememberFlow(w, f) // so the verification link, opened in this browser, can lead back into the sign-in
	p.render.Render(w, r, http.StatusOK, "check_email", render.CheckEmailData{
		Page: f.page(), Email: email, AuthRequestID: f.id()})
}

// checkEmail adds a problem with an email address to errs, if it has one.
// The account service validates properly; this catches what is plainly
// not an address.
func checkEmail(errs render.Errors, email string) render.Errors {
	switch {
	case email == "":
		return errs.Add("email", "Enter your email address.")
	case len(email) > maxEmailLen:
		return errs.Add("email", "Enter a shorter email address.")
	case !strings.Contains(email, "@") || strings.HasPrefix(email, "@") || strings.HasSuffix(email, "@") || strings.ContainsAny(email, " \t\r\n<>"):
		return errs.Add("email", "Enter an email address like name@example.com.")
	}
	return errs
}

// fieldOf returns field when it is one of the form's fields, else "" (the
// form as a whole).
func fieldOf(field string, fields ...string) string {
	for _, f := range fields {
		if f == field {
			return f
		}
	}
	return ""
}
