package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/internal/render"
	"github.com/authd/authd/policy"
	"github.com/authd/authd/provider"
	"github.com/authd/authd/storage"
)

// scopeDescriptions say in plain words what the scopes authd knows allow.
var scopeDescriptions = map[string]string{
	"openid":         "Confirm who you are",
	"profile":        "See your name, profile picture and language",
	"email":          "See your email address",
	"phone":          "See your phone number",
	"address":        "See your postal address",
	"offline_access": "Keep access while you are not using it",
}

// describeScopes returns scopes in plain words, in the order given.
func describeScopes(scopes []string) []render.Scope {
	out := make([]render.Scope, 0, len(scopes))
	for _, s := range scopes {
		out = append(out, render.Scope{Name: s, Description: scopeDescriptions[s]})
	}
	return out
}

// requestedScopes are the request's scopes, without duplicates.
func requestedScopes(ar *storage.AuthRequest) []string {
	var out []string
	for _, s := range strings.Fields(ar.Form.Get("scope")) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// mustSignIn asks policy.Next, as the provider does, whether the person
// must sign in (again) before being asked to consent: the session that
// signed in during this request when one did, a sign-in fresh enough for
// prompt and max_age otherwise. The consent page is interactive, so
// prompt=none plays no part here (such a request never reaches it).
func (p *Pages) mustSignIn(ar *storage.AuthRequest, s *storage.Session) bool {
	st := policy.State{SignedIn: true, SessionID: s.ID, AuthTime: s.AuthTime, AMR: s.AMR, SignInSessionID: ar.SessionID,
		Now: p.now(), ConsentCovers: true}
	for _, v := range strings.Fields(ar.Form.Get("prompt")) {
		if v != "none" {
			st.Prompts = append(st.Prompts, v)
		}
	}
	if ma, err := strconv.ParseInt(ar.Form.Get("max_age"), 10, 64); err == nil {
		d := time.Duration(ma) * time.Second
		st.MaxAge = &d
	}
	return policy.Next(st).Kind == policy.SignIn
}

// consentFlow loads the request and checks that the browser is signed in
// as the person it is for: the session that signed in during this request
// when one did, else any session (the provider found one to send us here).
// Otherwise it sends the browser to sign in and returns ok=false.
func (p *Pages) consentFlow(w http.ResponseWriter, r *http.Request, id string) (*flow, *storage.Session, *storage.User, bool) {
	if id == "" {
		p.fail(w, r, http.StatusBadRequest, "This sign-in has expired",
			"The sign-in took too long or was already completed. Go back to the application and start again.", nil)
		return nil, nil, nil, false
	}
	f, ok := p.loadFlow(w, r, id)
	if !ok {
		return nil, nil, nil, false
	}
	s := p.currentSession(r)
	if s == nil || p.mustSignIn(f.ar, s) {
		p.redirect(w, r, pathLogin+"?ar="+url.QueryEscape(f.ar.ID))
		return nil, nil, nil, false
	}
	u, err := p.users.GetUser(r.Context(), s.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound) || err == nil && u.Disabled:
		p.redirect(w, r, pathLogin+"?ar="+url.QueryEscape(f.ar.ID))
		return nil, nil, nil, false
	case err != nil:
		p.internal(w, r, "load user", err)
		return nil, nil, nil, false
	}
	return f, s, u, true
}

// consentForm shows what the client asks for.
func (p *Pages) consentForm(w http.ResponseWriter, r *http.Request) {
	f, _, u, ok := p.consentFlow(w, r, r.URL.Query().Get("ar"))
	if !ok {
		return
	}
	data := render.ConsentData{
		Page: f.page(), AuthRequestID: f.ar.ID, ClientName: f.clientName(), ClientLogo: f.clientLogo(),
		UserEmail: u.Email, Scopes: describeScopes(requestedScopes(f.ar))}
	if strings.HasPrefix(f.ar.ID, storage.DeviceAuthRequestPrefix) {
		data.DeviceUserCode = provider.FormatUserCode(f.ar.Form.Get("user_code"))
	}
	p.render.Render(w, r, http.StatusOK, "consent", data)
}

// consentSubmit records Allow or Deny and returns to the provider.
func (p *Pages) consentSubmit(w http.ResponseWriter, r *http.Request) {
	action := r.PostForm.Get("action")
	if action != "allow" && action != "deny" {
		p.fail(w, r, http.StatusBadRequest, "Choose Allow or Deny",
			"The form did not say whether you allow access. Go back and choose Allow or Deny.", nil)
		return
	}
	f, s, u, ok := p.consentFlow(w, r, r.PostForm.Get("ar"))
	if !ok {
		return
	}
	if action == "deny" {
		f.ar.ConsentGiven, f.ar.ConsentDenied, f.ar.GrantedScopes = false, true, nil
		p.updateFlow(w, r, f)
		return
	}
	scopes := requestedScopes(f.ar)
	// The consent and its audit event together, or neither.
	err := p.inTx(r.Context(), func(ctx context.Context) error {
		if err := p.rememberConsent(ctx, u.ID, f.ar.ClientID, scopes); err != nil {
			return err
		}
		return p.record(ctx, r, storage.AuditConsentGranted, u.ID, f.ar.ClientID, map[string]any{"scopes": scopes, "sid": s.ID})
	})
	if err != nil {
		p.internal(w, r, "save consent", err)
		return
	}
	f.ar.ConsentGiven, f.ar.ConsentDenied, f.ar.GrantedScopes = true, false, scopes
	p.updateFlow(w, r, f)
}

// rememberConsent adds scopes to what userID granted clientID before.
func (p *Pages) rememberConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	all := slices.Clone(scopes)
	prior, err := p.consents.GetConsent(ctx, userID, clientID)
	switch {
	case err == nil:
		all = slices.Clone(prior.Scopes)
		for _, s := range scopes {
			if !slices.Contains(all, s) {
				all = append(all, s)
			}
		}
	case !errors.Is(err, storage.ErrNotFound):
		return err
	}
	return p.consents.SaveConsent(ctx, &storage.Consent{UserID: userID, ClientID: clientID, Scopes: all})
}
