package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/authd/authd/internal/render"
	"github.com/authd/authd/provider"
	"github.com/authd/authd/storage"
)

// IDTokenHints verifies an id_token_hint (provider.Provider): an ID token
// the issuer signed, whose audiences include clientID when one is given.
type IDTokenHints interface {
	VerifyIDTokenHint(ctx context.Context, raw, clientID string) (*provider.IDTokenHint, error)
}

// logoutRequest is an RP-Initiated Logout 1.0 request, checked.
type logoutRequest struct {
	form     url.Values
	hint     *provider.IDTokenHint // nil without id_token_hint
	client   *storage.Client       // nil when neither the hint nor client_id names one
	redirect string                // a registered post_logout_redirect_uri, or ""
}

// logoutParams are the parameters a confirmation form carries back.
var logoutParams = []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales"}

// handleLogout is RP-Initiated Logout 1.0 at /oauth2/logout. With an
// id_token_hint naming the current session, the session ends at once;
// otherwise the person confirms with a "Sign out" button (a POST with a
// CSRF token). A post_logout_redirect_uri must be registered for the
// client the hint or client_id names, else nothing redirects (no open
// redirect). An RP may send the request as a cross-site GET or POST, so
// only the confirmation carries (and is checked for) a CSRF token.
func (p *Pages) handleLogout(w http.ResponseWriter, r *http.Request) {
	lr, ok := p.parseLogout(w, r)
	if !ok {
		return
	}
	if sess := p.currentSession(r); sess != nil {
		confirmed := r.Method == http.MethodPost && lr.form.Get("confirm") == "yes"
		if confirmed && p.csrf.Verify(r) != nil {
			p.fail(w, r, http.StatusForbidden, "Sign-out was not confirmed", "The form expired. Please try again.", nil)
			return
		}
		sameSession := lr.hint != nil && lr.hint.SID != "" && lr.hint.SID == sess.ID
		if !confirmed && !sameSession {
			p.confirmLogout(w, r, lr)
			return
		}
		if !p.endLogoutSession(w, r, sess, lr) {
			return
		}
	}
	if lr.redirect == "" {
		p.redirect(w, r, pathSignedOut)
		return
	}
	u, _ := url.Parse(lr.redirect)
	if st := lr.form.Get("state"); st != "" {
		q := u.Query()
		q.Set("state", st)
		u.RawQuery = q.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusSeeOther) // #nosec G710 -- a post_logout_redirect_uri registered for the client, matched exactly
}

// parseLogout reads and checks the request; on failure it has answered.
func (p *Pages) parseLogout(w http.ResponseWriter, r *http.Request) (*logoutRequest, bool) {
	ctx := r.Context()
	invalid := func(msg string) (*logoutRequest, bool) {
		p.fail(w, r, http.StatusBadRequest, "The sign-out request is invalid", msg, nil)
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.fail(w, r, http.StatusBadRequest, "Unreadable sign-out request", "The request could not be read.", nil)
		return nil, false
	}
	lr := &logoutRequest{form: r.Form}
	clientID := lr.form.Get("client_id")
	if raw := lr.form.Get("id_token_hint"); raw != "" {
		hint, err := p.hints.VerifyIDTokenHint(ctx, raw, clientID)
		if errors.Is(err, provider.ErrNotIDToken) {
			return invalid("The id_token_hint is not an ID token issued here.")
		}
		if err != nil {
			return invalid("client_id does not match the id_token_hint.")
		}
		lr.hint, clientID = hint, hint.ClientID
	}
	if clientID != "" {
		c, err := p.clients.GetStoredClient(ctx, clientID)
		if err != nil {
			return invalid("The application is unknown.")
		}
		lr.client = c
	}
	if lr.redirect = lr.form.Get("post_logout_redirect_uri"); lr.redirect != "" &&
		(lr.client == nil || !slices.Contains(lr.client.PostLogoutRedirectURIs, lr.redirect)) {
		return invalid("The address to return to after sign-out is not registered for this application.")
	}
	return lr, true
}

// confirmLogout asks whether to sign out; the form posts the request's
// parameters back with confirm=yes.
func (p *Pages) confirmLogout(w http.ResponseWriter, r *http.Request, lr *logoutRequest) {
	hidden := map[string]string{"confirm": "yes"}
	for _, k := range logoutParams {
		if v := lr.form.Get(k); v != "" {
			hidden[k] = v
		}
	}
	data := render.LogoutConfirmData{Hidden: hidden}
	if lr.client != nil {
		data.ClientName = lr.client.Name
	}
	p.render.Render(w, r, http.StatusOK, "logout_confirm", data)
}

// endLogoutSession ends sess (which revokes its tokens and sends the
// back-channel logouts), clears the cookie and records the event; on
// failure it has answered.
func (p *Pages) endLogoutSession(w http.ResponseWriter, r *http.Request, sess *storage.Session, lr *logoutRequest) bool {
	if err := p.sessions.End(r.Context(), sess); err != nil {
		p.log.ErrorContext(r.Context(), "logout: end session", "err", err)
		p.fail(w, r, http.StatusInternalServerError, "Sign-out failed", "Please try again.", nil)
		return false
	}
	p.sessions.ClearCookie(w)
	clientID := ""
	if lr.client != nil {
		clientID = lr.client.ID
	}
	p.auditEvent(r, storage.AuditLogout, sess.UserID, clientID, map[string]any{"sid": sess.ID})
	return true
}

// RenderError shows the error page (provider.ErrorPages): for requests the
// provider cannot answer to a client.
// title and message are catalogue keys (internal/i18n), message
// formatted with args.
func (p *Pages) RenderError(w http.ResponseWriter, r *http.Request, status int, title, message string, args ...any) {
	render.SetHeaders(w)
	p.failf(w, r, status, title, nil, message, args...)
}
