package login

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/authd/authd/account"
	"github.com/authd/authd/internal/render"

	"github.com/authd/authd/internal/telemetry"
)

// maxEmailLen bounds email input (RFC 5321 §4.5.3.1.3 allows 254 in a path).
const maxEmailLen = 254

// loginForm shows the sign-in form. Without an authorization request, a
// browser that is signed in already goes straight on.
func (p *Pages) loginForm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, ok := p.loadFlow(w, r, q.Get("ar"))
	if !ok {
		return
	}
	returnTo := safeReturnTo(q.Get("return_to"))
	if f == nil && p.currentSession(r) != nil {
		p.redirect(w, r, orDefault(returnTo, pathAccount))
		return
	}
	data := p.loginData(f, returnTo)
	data.Notice = notices[q.Get("notice")]
	if f != nil {
		data.Email = truncate(strings.TrimSpace(f.ar.Form.Get("login_hint")), maxEmailLen)
	}
	p.render.Render(w, r, http.StatusOK, "login", data)
}

func (p *Pages) loginData(f *flow, returnTo string) render.LoginData {
	d := render.LoginData{Page: f.page(), ClientName: f.clientName(), ClientLogo: f.clientLogo(),
		AuthRequestID: f.id(), HideRegister: !p.cfg.Registration}
	if f == nil {
		d.ReturnTo = returnTo
	}
	return d
}

// loginSubmit checks the password, starts the session and continues.
func (p *Pages) loginSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, ok := p.loadFlow(w, r, r.PostForm.Get("ar"))
	if !ok {
		return
	}
	returnTo := safeReturnTo(r.PostForm.Get("return_to"))
	email := strings.TrimSpace(r.PostForm.Get("email"))
	password := r.PostForm.Get("password")
	data := p.loginData(f, returnTo)
	data.Email = truncate(email, maxEmailLen)

	switch {
	case email == "":
		data.Errors = data.Errors.Add("email", "Enter your email address.")
	case len(email) > maxEmailLen:
		data.Errors = data.Errors.Add("email", "Enter a shorter email address.")
	}
	if password == "" {
		data.Errors = data.Errors.Add("password", "Enter your password.")
	}
	if len(data.Errors) > 0 {
		p.render.Render(w, r, http.StatusBadRequest, "login", data)
		return
	}
	if p.limiter != nil {
		if retry, ok := p.limiter.SignIn(ctx, telemetry.ClientIP(r), email); !ok {
			secs := retryAfterSeconds(retry)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
			data.Errors = data.Errors.Addf("", "Too many sign-in attempts. Wait %s and try again.", waitFor(retry))
			p.render.Render(w, r, http.StatusTooManyRequests, "login", data)
			return
		}
	}

	user, err := p.accounts.Authenticate(ctx, email, password, p.meta(r, f.clientID(), ""))
	if err != nil {
		p.loginFailed(w, r, data, err)
		return
	}
	s, err := p.sessions.Start(ctx, w, r, user.ID, []string{"pwd"}, "")
	if err != nil {
		p.internal(w, r, "start session", err)
		return
	}
	if f == nil {
		p.redirect(w, r, orDefault(returnTo, pathAccount))
		return
	}
	f.ar.SessionID, f.ar.LoginAt = s.ID, p.now().UTC()
	p.updateFlow(w, r, f)
}

// loginFailed shows why sign-in failed, without saying whether the email
// has an account.
func (p *Pages) loginFailed(w http.ResponseWriter, r *http.Request, data render.LoginData, err error) {
	locked, isLocked := errors.AsType[*account.LockedError](err)
	status := http.StatusUnauthorized
	switch {
	case errors.Is(err, account.ErrInvalidCredentials):
		data.Errors = data.Errors.Add("password", "Incorrect email or password.")
	case isLocked:
		status = http.StatusTooManyRequests
		data.Locked = true
		data.Errors = data.Errors.Addf("", "Too many attempts. Try again in %s, or reset your password.", waitFor(locked.RetryAfter))
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(locked.RetryAfter), 10))
	case errors.Is(err, account.ErrUnverified):
		status = http.StatusForbidden
		data.Unverified = true
		data.Errors = data.Errors.Add("", "Verify your email address first. We can send you a new link.")
	case errors.Is(err, account.ErrDisabled):
		status = http.StatusForbidden
		data.Errors = data.Errors.Add("", "This account is disabled. Contact your administrator.")
	default:
		p.internal(w, r, "authenticate", err)
		return
	}
	p.render.Render(w, r, status, "login", data)
}

// signedOut is the page after signing out.
func (p *Pages) signedOut(w http.ResponseWriter, r *http.Request) {
	p.render.Render(w, r, http.StatusOK, "signed_out", render.SignedOutData{})
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
