package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
)

// typLogoutToken is the JWS typ of logout tokens (Back-Channel Logout 1.0 §2.4).
const typLogoutToken = "logout+jwt" // #nosec G101 -- a JWS typ, not a credential

// backchannelLogoutEvent is the events member of a logout token.
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// handleLogout is RP-Initiated Logout 1.0. With an id_token_hint naming the
// current session, the session ends at once; otherwise the person confirms
// with a "Sign out" button (a POST with a CSRF token). A
// post_logout_redirect_uri must be registered for the client the hint or
// client_id names, else nothing redirects (no open redirect).
func (p *Provider) handleLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		p.renderError(w, r, http.StatusMethodNotAllowed, "Unsupported request", "Sign-out takes GET or POST.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Unreadable sign-out request", "The request could not be read.")
		return
	}
	f := r.Form
	hint, clientID, err := p.logoutClient(ctx, f.Get("id_token_hint"), f.Get("client_id"))
	if err != nil {
		p.renderError(w, r, http.StatusBadRequest, "The sign-out request is invalid", err.Error())
		return
	}
	var client *storage.Client
	if clientID != "" {
		if client, err = p.clients.GetStoredClient(ctx, clientID); err != nil {
			p.renderError(w, r, http.StatusBadRequest, "The sign-out request is invalid", "The application is unknown.")
			return
		}
	}
	redirect := f.Get("post_logout_redirect_uri")
	if redirect != "" && (client == nil || !slices.Contains(client.PostLogoutRedirectURIs, redirect)) {
		p.renderError(w, r, http.StatusBadRequest, "The sign-out request is invalid",
			"The address to return to after sign-out is not registered for this application.")
		return
	}

	sess, err := p.browser.Sessions.Current(r)
	if err != nil {
		p.log.ErrorContext(ctx, "logout: read session", "err", err)
		p.renderError(w, r, http.StatusInternalServerError, "Sign-out failed", "Please try again.")
		return
	}
	if sess != nil {
		confirmed := r.Method == http.MethodPost && f.Get("confirm") == "yes"
		if confirmed {
			if err := p.browser.CSRF.Verify(r); err != nil {
				p.renderError(w, r, http.StatusForbidden, "Sign-out was not confirmed", "The form expired. Please try again.")
				return
			}
		}
		sameSession := hint != nil && hint.SID != "" && hint.SID == sess.ID
		if !confirmed && !sameSession {
			hidden := map[string]string{"confirm": "yes"}
			for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales"} {
				if v := f.Get(k); v != "" {
					hidden[k] = v
				}
			}
			page := LogoutConfirmPage{Hidden: hidden}
			if client != nil {
				page.ClientName = client.Name
			}
			w.Header().Set("Cache-Control", "no-store")
			p.browser.Pages.Render(w, r, http.StatusOK, page)
			return
		}
		if err := p.browser.Sessions.End(ctx, sess); err != nil {
			p.log.ErrorContext(ctx, "logout: end session", "err", err)
			p.renderError(w, r, http.StatusInternalServerError, "Sign-out failed", "Please try again.")
			return
		}
		p.browser.Sessions.ClearCookie(w)
		p.audit(ctx, r, storage.AuditEvent{Type: "logout", ActorID: sess.UserID, SubjectID: sess.UserID, ClientID: clientID,
			Details: map[string]any{"sid": sess.ID}})
	}
	if redirect != "" {
		u, _ := url.Parse(redirect)
		if st := f.Get("state"); st != "" {
			q := u.Query()
			q.Set("state", st)
			u.RawQuery = q.Encode()
		}
		http.Redirect(w, r, u.String(), http.StatusSeeOther) // #nosec G710 -- a post_logout_redirect_uri registered for the client, matched exactly
		return
	}
	http.Redirect(w, r, p.cfg.Issuer+PathSignedOut, http.StatusSeeOther)
}

// hintClaims are what logout needs from an id_token_hint.
type hintClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience audience `json:"aud"`
	SID      string   `json:"sid"`
}

// audience accepts a string or an array (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = []string{one}
		return nil
	}
	var many []string
	err := json.Unmarshal(b, &many)
	*a = many
	return err
}

// logoutClient verifies the id_token_hint (signed by one of our published
// keys, our issuer; expiry does not matter) and works out the client.
func (p *Provider) logoutClient(ctx context.Context, rawHint, clientID string) (*hintClaims, string, error) {
	if rawHint == "" {
		return nil, clientID, nil
	}
	tok, err := idTokenSigner{p: p}.Decode(ctx, rawHint)
	if tok == nil || (err != nil && !isExpiredOnly(err)) {
		//lint:ignore ST1005 the message is shown to people as is
		return nil, "", errors.New("The id_token_hint is not an ID token issued here.")
	}
	b, _ := json.Marshal(tok.Claims)
	var h hintClaims
	if err := json.Unmarshal(b, &h); err != nil || h.Issuer != p.cfg.Issuer || len(h.Audience) == 0 {
		//lint:ignore ST1005 the message is shown to people as is
		return nil, "", errors.New("The id_token_hint is not an ID token issued here.")
	}
	if clientID != "" && !slices.Contains(h.Audience, clientID) {
		//lint:ignore ST1005 the message is shown to people as is
		return nil, "", errors.New("client_id does not match the id_token_hint.")
	}
	return &h, h.Audience[0], nil
}

// SessionEnded sends back-channel logout tokens to the clients that got
// tokens in session s and registered a back-channel logout URI. It is the
// session manager's end hook.
func (p *Provider) SessionEnded(ctx context.Context, s *storage.Session, clientIDs []string) {
	if p.browser == nil || p.browser.Logout == nil {
		return
	}
	for _, id := range clientIDs {
		c, err := p.clients.GetStoredClient(ctx, id)
		if err != nil || c.BackchannelLogoutURI == "" {
			continue
		}
		tok, err := p.logoutToken(c.ID, s)
		if err == nil {
			err = p.browser.Logout.EnqueueBackchannelLogout(ctx, c.ID, c.BackchannelLogoutURI, tok)
		}
		if err != nil {
			p.log.ErrorContext(ctx, "back-channel logout not queued", "client_id", c.ID, "err", err)
		}
	}
}

// logoutToken builds a logout token (Back-Channel Logout 1.0 §2.4).
func (p *Provider) logoutToken(clientID string, s *storage.Session) (string, error) {
	now := p.now()
	claims := map[string]any{
		"iss": p.cfg.Issuer, "aud": clientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": newJTI(now), "sub": s.UserID, "sid": s.ID,
		"events": map[string]any{backchannelLogoutEvent: map[string]any{}},
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return p.keys.Load().active.sign(typLogoutToken, payload)
}

func (p *Provider) audit(ctx context.Context, r *http.Request, e storage.AuditEvent) {
	if p.browser == nil || p.browser.Audit == nil {
		return
	}
	e.Time = p.now().UTC()
	e.IP = telemetry.ClientIP(r)
	e.UserAgent = truncate(r.UserAgent(), 512)
	if err := p.browser.Audit.AppendAuditEvent(ctx, e); err != nil {
		p.log.ErrorContext(ctx, "audit event not written", "type", e.Type, "err", err)
	}
}

// isExpiredOnly reports whether a JWT validation error is about expiry
// alone (an expired id_token_hint is still a fine hint).
func isExpiredOnly(err error) bool {
	var ve *fjwt.ValidationError
	return errors.As(err, &ve) && ve.Errors == fjwt.ValidationErrorExpired
}
