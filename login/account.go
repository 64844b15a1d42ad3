package login

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/authd/authd/account"
	"github.com/authd/authd/internal/render"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
)

// signedIn returns the browser's session and user, or sends the browser to
// sign in (coming back to the account page) and returns ok=false.
func (p *Pages) signedIn(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User, bool) {
	s := p.currentSession(r)
	if s == nil {
		p.redirect(w, r, pathLogin+"?return_to="+url.QueryEscape(pathAccount))
		return nil, nil, false
	}
	u, err := p.users.GetUser(r.Context(), s.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound) || err == nil && u.Disabled:
		// The account is gone or disabled: so is this session.
		if err := p.sessions.End(r.Context(), s); err != nil {
			p.log.ErrorContext(r.Context(), "end session of missing user", "err", err)
		}
		p.sessions.ClearCookie(w)
		p.redirect(w, r, pathLogin+"?return_to="+url.QueryEscape(pathAccount))
		return nil, nil, false
	case err != nil:
		p.internal(w, r, "load user", err)
		return nil, nil, false
	}
	return s, u, true
}

// accountPage shows the account.
func (p *Pages) accountPage(w http.ResponseWriter, r *http.Request) {
	s, u, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	data := render.AccountData{Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Picture: u.Picture,
		Locale: u.Locale, Phone: u.Phone}
	data.Notice = notices[r.URL.Query().Get("notice")]
	if p.sessions.TakeNotice(w, r) == session.NoticeSessionCap && data.Notice == "" {
		data.Notice = "Your oldest session was signed out: you can be signed in on at most %d at once."
		data.NoticeArgs = []any{p.sessions.MaxPerUser()}
	}
	p.renderAccount(w, r, http.StatusOK, s, u, data)
}

// renderAccount adds the sessions and applications to data and renders it.
func (p *Pages) renderAccount(w http.ResponseWriter, r *http.Request, status int, s *storage.Session, u *storage.User, data render.AccountData) {
	ctx := r.Context()
	data.Lang = render.Lang(u.Locale)
	data.Org = u.Organization
	data.MaxSessions = p.sessions.MaxPerUser()
	sessions, err := p.sessions.List(ctx, u.ID)
	if err != nil {
		p.internal(w, r, "list sessions", err)
		return
	}
	now := p.now()
	for _, o := range sessions {
		data.Sessions = append(data.Sessions, render.SessionItem{ID: o.ID, Device: describeDevice(o.UserAgent), IP: o.IP,
			LastSeen: o.LastSeenAt, LastSeenText: ago(now, o.LastSeenAt), Current: o.ID == s.ID})
	}
	consents, err := p.consents.ListUserConsents(ctx, u.ID)
	if err != nil {
		p.internal(w, r, "list consents", err)
		return
	}
	for _, c := range consents {
		name := c.ClientID
		switch cl, err := p.clients.GetStoredClient(ctx, c.ClientID); {
		case err == nil && cl.Name != "":
			name = cl.Name
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			p.internal(w, r, "load client", err)
			return
		}
		data.Apps = append(data.Apps, render.AppItem{ClientID: c.ClientID, ClientName: name, Scopes: describeScopes(c.Scopes)})
	}
	p.render.Render(w, r, status, "account", data)
}

// profileSubmit saves the profile.
func (p *Pages) profileSubmit(w http.ResponseWriter, r *http.Request) {
	s, u, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	pu := profileForm{
		Name:    strings.TrimSpace(r.PostForm.Get("name")),
		Picture: strings.TrimSpace(r.PostForm.Get("picture")),
		Locale:  strings.TrimSpace(r.PostForm.Get("locale")),
		Phone:   strings.TrimSpace(r.PostForm.Get("phone")),
	}
	data := render.AccountData{Email: u.Email, EmailVerified: u.EmailVerified, Name: truncate(pu.Name, maxNameLen),
		Picture: truncate(pu.Picture, 2048), Locale: truncate(pu.Locale, 35), Phone: truncate(pu.Phone, 32)}
	data.Errors = checkProfile(pu)
	if len(data.Errors) == 0 {
		err := p.accounts.UpdateProfile(r.Context(), u.ID, pu.update(), p.meta(r, "", s.ID))
		if err == nil {
			p.redirect(w, r, pathAccount+"?notice=profile_saved")
			return
		}
		input, ok := errors.AsType[*account.InputError](err)
		if !ok {
			p.internal(w, r, "update profile", err)
			return
		}
		data.Errors = data.Errors.Add(fieldOf(input.Field, "name", "picture", "locale", "phone"), input.Message)
	}
	p.renderAccount(w, r, http.StatusBadRequest, s, u, data)
}

// profileForm is the account page's profile form: every field replaces
// the stored one ("" clears it).
type profileForm struct {
	Name, Picture, Locale, Phone string
}

// update is the form as the account service takes it: all four fields set.
func (f profileForm) update() account.ProfileUpdate {
	return account.ProfileUpdate{Name: &f.Name, Picture: &f.Picture, Locale: &f.Locale, Phone: &f.Phone}
}

// checkProfile catches what is plainly wrong; the account service has the
// last word.
func checkProfile(pu profileForm) render.Errors {
	var errs render.Errors
	if len(pu.Name) > maxNameLen {
		errs = errs.Add("name", "Enter a shorter name.")
	}
	if pu.Picture != "" {
		u, err := url.Parse(pu.Picture)
		if err != nil || u.Scheme != "https" || u.Host == "" || len(pu.Picture) > 2048 {
			errs = errs.Add("picture", "Enter a link starting with https://, or leave it empty.")
		}
	}
	if pu.Locale != "" && render.Lang(pu.Locale) != pu.Locale {
		errs = errs.Add("locale", "Enter a language code like en or fr-CA, or leave it empty.")
	}
	if pu.Phone != "" && !phoneOK(pu.Phone) {
		errs = errs.Add("phone", "Enter a phone number like +44 20 7946 0000, or leave it empty.")
	}
	return errs
}

func phoneOK(s string) bool {
	digits := 0
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' && i == 0, c == ' ', c == '-', c == '(', c == ')', c == '.':
		default:
			return false
		}
	}
	return digits >= 4 && digits <= 15 && len(s) <= 32
}

// passwordSubmit changes the password.
func (p *Pages) passwordSubmit(w http.ResponseWriter, r *http.Request) {
	s, u, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	current, next := r.PostForm.Get("current_password"), r.PostForm.Get("new_password")
	data := render.AccountData{Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Picture: u.Picture,
		Locale: u.Locale, Phone: u.Phone}
	if current == "" {
		data.Errors = data.Errors.Add("current_password", "Enter your current password.")
	}
	if next == "" {
		data.Errors = data.Errors.Add("new_password", "Enter a new password.")
	}
	if len(data.Errors) == 0 {
		err := p.accounts.ChangePassword(r.Context(), u.ID, current, next, p.meta(r, "", s.ID))
		if err == nil {
			p.redirect(w, r, pathAccount+"?notice=password_changed")
			return
		}
		locked, isLocked := errors.AsType[*account.LockedError](err)
		policy, isPolicy := errors.AsType[*account.PolicyError](err)
		switch {
		case errors.Is(err, account.ErrInvalidCredentials):
			data.Errors = data.Errors.Add("current_password", "Your current password is incorrect.")
		case isLocked:
			data.Errors = data.Errors.Addf("", "Too many attempts. Try again in %s.", waitFor(locked.RetryAfter))
		case isPolicy:
			data.Errors = policyErrors(data.Errors, "new_password", policy)
		default:
			p.internal(w, r, "change password", err)
			return
		}
	}
	p.renderAccount(w, r, http.StatusBadRequest, s, u, data)
}

// endSession signs one of the person's sessions out. Ending this
// browser's own session signs it out.
func (p *Pages) endSession(w http.ResponseWriter, r *http.Request) {
	s, u, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	sid := r.PostForm.Get("sid")
	if sid == s.ID {
		if err := p.sessions.End(r.Context(), s); err != nil {
			p.internal(w, r, "end session", err)
			return
		}
		p.auditEvent(r, storage.AuditLogout, u.ID, "", map[string]any{"sid": s.ID})
		p.sessions.ClearCookie(w)
		p.redirect(w, r, pathSignedOut)
		return
	}
	// Someone else's session, or one already ended: the same answer.
	switch err := p.sessions.EndByID(r.Context(), u.ID, sid); {
	case err == nil:
		p.auditEvent(r, storage.AuditSessionRevoked, u.ID, "", map[string]any{"sid": sid})
	case !errors.Is(err, storage.ErrNotFound):
		p.internal(w, r, "end session", err)
		return
	}
	p.redirect(w, r, pathAccount+"?notice=session_ended")
}

// endAllSessions signs the person out everywhere, here included.
func (p *Pages) endAllSessions(w http.ResponseWriter, r *http.Request) {
	_, u, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	if err := p.sessions.EndUserSessions(r.Context(), u.ID, ""); err != nil {
		p.internal(w, r, "end all sessions", err)
		return
	}
	p.auditEvent(r, storage.AuditSessionRevoked, u.ID, "", map[string]any{"all": true})
	p.sessions.ClearCookie(w)
	p.redirect(w, r, pathSignedOut)
}

// revokeConsent removes an application's access: its tokens for this
// person first (revoking is idempotent), then the remembered consent.
func (p *Pages) revokeConsent(w http.ResponseWriter, r *http.Request) {
	_, u, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	clientID := r.PostForm.Get("client_id")
	if clientID == "" || len(clientID) > 255 {
		p.fail(w, r, http.StatusBadRequest, "No application chosen",
			"Go back to your account and choose the application to remove.", &render.Link{Href: p.base + pathAccount, Text: "Back to your account"})
		return
	}
	if _, err := p.consents.GetConsent(ctx, u.ID, clientID); errors.Is(err, storage.ErrNotFound) {
		p.redirect(w, r, pathAccount+"?notice=app_revoked") // nothing to revoke; same answer
		return
	} else if err != nil {
		p.internal(w, r, "load consent", err)
		return
	}
	if err := p.tokens.RevokeClientSubjectTokens(ctx, clientID, u.ID); err != nil {
		p.internal(w, r, "revoke client tokens", err)
		return
	}
	if err := p.consents.DeleteConsent(ctx, u.ID, clientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		p.internal(w, r, "delete consent", err)
		return
	}
	p.auditEvent(r, storage.AuditConsentRevoked, u.ID, clientID, nil)
	p.redirect(w, r, pathAccount+"?notice=app_revoked")
}
