package login

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/authd/authd/account"
	"github.com/authd/authd/internal/render"

	"github.com/authd/authd/internal/telemetry"
)

// forgotForm asks for the address to send a reset link to. Asked from a
// sign-in (ar), it carries that authorization request on.
func (p *Pages) forgotForm(w http.ResponseWriter, r *http.Request) {
	f, ok := p.loadFlow(w, r, r.URL.Query().Get("ar"))
	if !ok {
		return
	}
	p.render.Render(w, r, http.StatusOK, "forgot_password", render.ForgotPasswordData{
		Page: f.page(), AuthRequestID: f.id()})
}

// forgotSubmit requests a reset link and gives the same answer whether or
// not the address has an account. This browser remembers the sign-in it
// came from, so that the reset link, opened here, leads back into it.
func (p *Pages) forgotSubmit(w http.ResponseWriter, r *http.Request) {
	f, ok := p.loadFlow(w, r, r.PostForm.Get("ar"))
	if !ok {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	data := render.ForgotPasswordData{Page: f.page(), AuthRequestID: f.id(), Email: truncate(email, maxEmailLen)}
	if data.Errors = checkEmail(nil, email); len(data.Errors) > 0 {
		p.render.Render(w, r, http.StatusBadRequest, "forgot_password", data)
		return
	}
	if p.limiter != nil {
		if retry, ok := p.limiter.Reset(r.Context(), telemetry.ClientIP(r), email); !ok {
			p.tooMany(w, r, retry)
			return
		}
	}
	if err := p.accounts.RequestPasswordReset(r.Context(), email, p.meta(r, f.clientID(), "")); err != nil {
		if !knownAccountError(err) {
			p.internal(w, r, "request password reset", err)
			return
		}
	}
	p.rememberFlow(w, f)
	p.render.Render(w, r, http.StatusOK, "forgot_password", render.ForgotPasswordData{
		Page: f.page(), AuthRequestID: f.id(), Sent: true})
}

// badResetLink is the page for a reset token that does not work.
func (p *Pages) badResetLink(w http.ResponseWriter, r *http.Request) {
	p.fail(w, r, http.StatusBadRequest, "This link does not work",
		"The password reset link is not valid: it may have expired or already been used. You can ask for a new one.",
		&render.Link{Href: p.base + "/forgot-password", Text: "Send me a new link"})
}

// resetForm asks for the new password, once the link is known to work
// (it is used up only on submit).
func (p *Pages) resetForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if token == "" || len(token) > 512 {
		p.badResetLink(w, r)
		return
	}
	if err := p.accounts.CheckResetToken(r.Context(), token); err != nil {
		if !errors.Is(err, account.ErrInvalidToken) {
			p.internal(w, r, "check reset link", err)
			return
		}
		p.badResetLink(w, r)
		return
	}
	p.render.Render(w, r, http.StatusOK, "reset_password", render.ResetPasswordData{Token: token, AuthRequestID: p.rememberedFlow(r)})
}

// resetSubmit sets the new password and sends the person to sign in: into
// the sign-in this browser asked for the reset from, while it is open.
func (p *Pages) resetSubmit(w http.ResponseWriter, r *http.Request) {
	token := r.PostForm.Get("token")
	password := r.PostForm.Get("new_password")
	if token == "" || len(token) > 512 {
		p.badResetLink(w, r)
		return
	}
	if p.limiter != nil {
		if retry, ok := p.limiter.Reset(r.Context(), telemetry.ClientIP(r), ""); !ok {
			p.tooMany(w, r, retry)
			return
		}
	}
	data := render.ResetPasswordData{Token: token, AuthRequestID: p.rememberedFlow(r)}
	if password == "" {
		data.Errors = data.Errors.Add("new_password", "Enter a new password.")
		p.render.Render(w, r, http.StatusBadRequest, "reset_password", data)
		return
	}
	if _, err := p.accounts.ResetPassword(r.Context(), token, password, p.meta(r, "", "")); err != nil {
		policy, isPolicy := errors.AsType[*account.PolicyError](err)
		switch {
		case errors.Is(err, account.ErrInvalidToken):
			p.badResetLink(w, r)
		case isPolicy:
			data.Errors = policyErrors(data.Errors, "new_password", policy)
			p.render.Render(w, r, http.StatusBadRequest, "reset_password", data)
		default:
			p.internal(w, r, "reset password", err)
		}
		return
	}
	next := pathLogin + "?notice=password_reset"
	if data.AuthRequestID != "" {
		next += "&ar=" + url.QueryEscape(data.AuthRequestID)
	}
	p.redirect(w, r, next)
}
