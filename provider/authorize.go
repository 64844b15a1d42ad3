package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/policy"
	"github.com/authd/authd/storage"
)

// handleAuthorize is the authorization endpoint (RFC 6749 §3.1, OpenID
// Connect Core §3.1.2): response_type=code only, exact redirect URI
// matching, PKCE S256 (required for public clients). When the browser has
// a session and consent is known, it answers at once; otherwise it stores
// the request and sends the person to the hosted pages, which return to
// handleResume.
func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		p.renderError(w, r, http.StatusMethodNotAllowed, "Unsupported request", "The authorization endpoint takes GET or POST.")
		return
	}
	if !p.limitAuthorize(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	pushed := false
	if err := r.ParseForm(); err == nil { // else fosite refuses it
		// A repeated client_id or redirect_uri leaves no redirect URI to
		// trust with the error: the person is told on a page.
		if err := refuseRepeated(url.Values{"client_id": r.Form["client_id"], "redirect_uri": r.Form["redirect_uri"],
			"request": r.Form["request"], "request_uri": r.Form["request_uri"]}); err != nil {
			p.authorizeError(w, r, nil, err)
			return
		}
		// A pushed request (RFC 9126) or a request object (RFC 9101)
		// replaces the request by its own parameters; until it is found
		// or verifies, no redirect URI is trusted.
		var form url.Values
		var err error
		switch {
		case r.Form.Get("request_uri") != "":
			form, err = p.pushedForm(ctx, r.Form)
			pushed = err == nil
		case r.Form.Get("request") != "":
			form, err = p.requestObjectForm(ctx, r.Form)
		}
		if err != nil {
			p.authorizeError(w, r, nil, err)
			return
		}
		if form != nil {
			r.Form, r.PostForm, r.URL.RawQuery = form, url.Values{}, form.Encode()
		}
		if !p.redirectURIRegistered(ctx, r.Form) {
			p.authorizeError(w, r, nil, errRedirectNotRegistered)
			return
		}
	}
	ar, err := p.oauth2.NewAuthorizeRequest(ctx, r)
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	if err := refuseRepeated(r.Form); err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	if !pushed && p.mustPush(ar.GetClient()) {
		p.authorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHintf("This client must push its authorization requests to %s (RFC 9126).", p.cfg.Issuer+PathPAR))
		return
	}
	if err := p.checkAuthorizeRequest(ar); err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	form, err := boundedForm(ar.GetRequestForm())
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	now := p.now().UTC()
	rec := &storage.AuthRequest{ID: randomID(), ClientID: ar.GetClient().GetID(), Form: form,
		ClientAddr: telemetry.ClientIP(r), CreatedAt: now, ExpiresAt: now.Add(p.cfg.Authorize.PendingTTL)}
	p.dispatch(w, r, ar, rec, false)
}

// checkAuthorizeRequest adds the rules fosite leaves to us: only the code
// flow (RFC 9700 §2.1.2), sane prompt combinations. (fosite refuses
// response modes but query and form_post: storage.Client.GetResponseModes.)
func (p *Provider) checkAuthorizeRequest(ar fosite.AuthorizeRequester) error {
	if !ar.GetResponseTypes().ExactOne("code") {
		return fosite.ErrUnsupportedResponseType.WithHint("Only response_type=code is supported.")
	}
	if err := p.checkPKCE(ar); err != nil {
		return err
	}
	prompts := strings.Fields(ar.GetRequestForm().Get("prompt"))
	for _, v := range prompts {
		if !slices.Contains([]string{"none", "login", "consent", "select_account"}, v) {
			return fosite.ErrInvalidRequest.WithHintf("Unknown prompt value '%s'.", truncate(v, 32))
		}
	}
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other values.")
	}
	if ma := ar.GetRequestForm().Get("max_age"); ma != "" {
		if n, err := strconv.ParseInt(ma, 10, 64); err != nil || n < 0 {
			return fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer.")
		}
	}
	if _, err := parseClaimsRequest(ar.GetRequestForm().Get("claims")); err != nil {
		return err
	}
	if err := p.fapiKeys(ar.GetClient()); err != nil {
		return err
	}
	if isFAPI2(ar.GetClient()) && ar.GetRequestForm().Get("redirect_uri") == "" {
		return fosite.ErrInvalidRequest.WithHint("A FAPI 2.0 client must send redirect_uri (FAPI 2.0 §5.3.2.2).")
	}
	if jkt := ar.GetRequestForm().Get("dpop_jkt"); jkt != "" && (len(jkt) != 43 || !canonicalBase64URL(jkt)) {
		return fosite.ErrInvalidRequest.WithHint("dpop_jkt must be the base64url SHA-256 JWK thumbprint of the DPoP key (RFC 9449 §10).")
	}
	switch f := ar.GetRequestForm(); {
	case f.Get("request") != "":
		return fosite.ErrRequestNotSupported.WithHint("Request objects are not supported.")
	case f.Get("request_uri") != "":
		return fosite.ErrRequestURINotSupported.WithHint("request_uri is not supported.")
	case f.Get("registration") != "":
		return fosite.ErrRegistrationNotSupported
	}
	return nil
}

// checkPKCE rejects a bad PKCE request before anyone signs in (fosite
// would only notice when issuing the code): S256 only (RFC 9700 §2.1.1),
// required for public clients and, with require_pkce, for all.
func (p *Provider) checkPKCE(ar fosite.AuthorizeRequester) error {
	f := ar.GetRequestForm()
	challenge, method := f.Get("code_challenge"), f.Get("code_challenge_method")
	if challenge == "" {
		if method != "" {
			return fosite.ErrInvalidRequest.WithHint("code_challenge_method without code_challenge.")
		}
		if ar.GetClient().IsPublic() || p.cfg.RequirePKCE || isFAPI2(ar.GetClient()) {
			return fosite.ErrInvalidRequest.WithHint("PKCE is required: send code_challenge with code_challenge_method=S256.")
		}
		return nil
	}
	if method != "S256" {
		return fosite.ErrInvalidRequest.WithHint("code_challenge_method must be S256.")
	}
	if len(challenge) != 43 || strings.Trim(challenge, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return fosite.ErrInvalidRequest.WithHint("code_challenge must be the base64url SHA-256 of the verifier (43 characters).")
	}
	return nil
}

// handleResume continues a stored request after a hosted page did its step.
// The request id is a random capability, single use: it is deleted when
// the code is issued.
func (p *Provider) handleResume(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("ar")
	rec, err := p.store.GetAuthRequest(ctx, id, p.now())
	if err == nil && strings.HasPrefix(id, pushedPrefix) {
		err = storage.ErrNotFound // a pushed request starts at the authorization endpoint
	}
	if err == nil && strings.HasPrefix(id, storage.DeviceAuthRequestPrefix) {
		p.resumeDevice(w, r, rec)
		return
	}
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			p.log.ErrorContext(ctx, "load authorization request", "err", err)
		}
		p.renderError(w, r, http.StatusBadRequest, "This sign-in has expired",
			"The sign-in took too long or was already completed. Go back to the application and start again.")
		return
	}
	if !p.redirectURIRegistered(ctx, rec.Form) { // the registration may have changed meanwhile
		p.authorizeError(w, r, nil, errRedirectNotRegistered)
		return
	}
	req := r.Clone(ctx)
	req.Method = http.MethodGet
	req.URL.RawQuery = rec.Form.Encode()
	req.Form, req.PostForm, req.Body = nil, nil, http.NoBody
	ar, err := p.oauth2.NewAuthorizeRequest(ctx, req)
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	p.dispatch(w, r, ar, rec, true)
}

// dispatch gathers the request's state, asks policy.Next for the next
// step (sign in, consent, deny, or issue the code) and takes it. stored
// says rec is in the database.
func (p *Provider) dispatch(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, rec *storage.AuthRequest, stored bool) {
	ctx := r.Context()
	sess, user, err := p.currentUser(ctx, r)
	if err != nil {
		e := fosite.ErrServerError
		if errors.Is(err, storage.ErrUnavailable) { // the session store (Redis) is down: try again later
			e = fosite.ErrTemporarilyUnavailable
		}
		p.authorizeError(w, r, ar, e.WithWrap(err))
		return
	}
	state := requestState(ar, rec, stored, sess, p.now())
	granted := ar.GetRequestedScopes()
	if policy.NeedsStoredConsent(state) {
		if granted, state.ConsentCovers, err = p.storedConsent(ctx, ar, rec, stored, user); err != nil {
			p.authorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
	}
	switch step := policy.Next(state); step.Kind {
	case policy.SignIn:
		p.redirectToStep(w, r, ar, rec, stored, PathLogin)
	case policy.Consent:
		p.redirectToStep(w, r, ar, rec, stored, PathConsent)
	case policy.Deny:
		p.authorizeError(w, r, ar, denial(step))
	case policy.Issue:
		if stored { // single use: exactly one caller may finish this request
			if err := p.store.DeleteAuthRequest(ctx, rec.ID); err != nil {
				p.renderError(w, r, http.StatusBadRequest, "This sign-in was already completed",
					"Go back to the application and start again.")
				return
			}
		}
		p.issueCode(w, r, ar, rec, stored, sess, user, granted)
	default:
		// LinkAccount, SecondFactor, EnrolFactor: no state authd builds
		// today leads there (see package policy).
		p.authorizeError(w, r, ar, fosite.ErrServerError.WithHintf("The step %q is not available.", step.Kind))
	}
}

// requestState is what policy.Next decides on, but the stored consent.
func requestState(ar fosite.AuthorizeRequester, rec *storage.AuthRequest, stored bool, sess *storage.Session, now time.Time) policy.State {
	form := ar.GetRequestForm()
	s := policy.State{Now: now, Prompts: strings.Fields(form.Get("prompt"))}
	if ma, err := strconv.ParseInt(form.Get("max_age"), 10, 64); err == nil {
		d := time.Duration(ma) * time.Second
		s.MaxAge = &d
	}
	if sess != nil {
		s.SignedIn, s.SessionID, s.AuthTime, s.AMR = true, sess.ID, sess.AuthTime, sess.AMR
	}
	if stored {
		if !rec.LoginAt.IsZero() {
			s.SignInSessionID = rec.SessionID
		}
		s.ConsentGiven, s.ConsentDenied = rec.ConsentGiven, rec.ConsentDenied
	}
	if c, ok := ar.GetClient().(*storage.Client); ok {
		s.FirstParty = c.FirstParty
	}
	return s
}

// storedConsent returns the scopes to grant and whether the user's stored
// consent covers them. Consent given on the consent page during this
// request grants what was allowed there, but only as far as this user's
// stored consent covers it, so a consent cannot pass to whoever holds the
// browser session at resume.
func (p *Provider) storedConsent(ctx context.Context, ar fosite.AuthorizeRequester, rec *storage.AuthRequest, stored bool,
	user *storage.User) ([]string, bool, error) {
	want := ar.GetRequestedScopes()
	if stored && rec.ConsentGiven {
		want = intersect(want, rec.GrantedScopes)
	}
	prior, err := p.store.GetConsent(ctx, user.ID, ar.GetClient().GetID())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	for _, s := range want {
		if !slices.Contains(prior.Scopes, s) {
			return nil, false, nil
		}
	}
	return want, true, nil
}

// denial is the OAuth error of a Deny step.
func denial(step policy.Step) error {
	var e *fosite.RFC6749Error
	switch step.Error {
	case policy.ErrLoginRequired:
		e = fosite.ErrLoginRequired
	case policy.ErrConsentRequired:
		e = fosite.ErrConsentRequired
	case policy.ErrInteractionRequired:
		e = fosite.ErrInteractionRequired
	default:
		e = fosite.ErrAccessDenied
	}
	return e.WithHint(step.Hint)
}

// redirectToStep stores the request (if new) and sends the browser to a
// hosted page.
func (p *Provider) redirectToStep(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, rec *storage.AuthRequest, stored bool, path string) {
	ctx := r.Context()
	if !stored {
		if err := p.store.CreateAuthRequest(ctx, rec, p.cfg.Authorize.MaxPendingPerAddress); err != nil {
			p.authorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
	}
	http.Redirect(w, r, p.cfg.Issuer+path+"?ar="+url.QueryEscape(rec.ID), http.StatusSeeOther)
}

// issueCode grants the scopes, builds the session fosite stores with the
// code (ID token claims included) and redirects back to the client.
func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, rec *storage.AuthRequest, stored bool,
	sess *storage.Session, user *storage.User, granted []string) {
	ctx := r.Context()
	for _, s := range granted {
		ar.GrantScope(s)
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	requestedAt := p.now().UTC()
	authTime := sess.AuthTime
	if stored {
		requestedAt = rec.CreatedAt
		if !rec.LoginAt.IsZero() && rec.SessionID == sess.ID {
			authTime = rec.LoginAt
		}
	}
	fs := p.userSession(user, sess, ar.GetGrantedScopes(), ar.GetClient().GetID())
	claimsReq, err := parseClaimsRequest(ar.GetRequestForm().Get("claims"))
	if err == nil {
		err = applyClaimsRequest(fs, user, sess.ACR, claimsReq)
	}
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	if jkt := ar.GetRequestForm().Get("dpop_jkt"); jkt != "" { // the code exchange must prove this key (RFC 9449 §10)
		fs.DPoPJKT, fs.DPoPCodeBound = jkt, true
	}
	fs.Claims.RequestedAt = requestedAt.Truncate(time.Second)
	fs.Claims.AuthTime = authTime.UTC().Truncate(time.Second)
	if fs.Claims.AuthTime.After(fs.Claims.RequestedAt) && !stored {
		fs.Claims.AuthTime = fs.Claims.RequestedAt
	}
	// acr_values, login_hint and ui_locales stay recorded in the stored
	// request form; with acr_values and no stronger method (MFA comes
	// later), fosite reports acr "0" in the ID token (OIDC Core §2).
	if isFAPI2(ar.GetClient()) {
		ctx = context.WithValue(ctx, codeLifespanKey{}, storage.MaxFAPI2CodeTTL)
	}
	resp, err := p.oauth2.NewAuthorizeResponse(ctx, ar, fs)
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	resp.AddParameter("iss", p.cfg.Issuer) // RFC 9207
	if err := p.sessionClients.AddSessionClient(ctx, sess.ID, ar.GetClient().GetID()); err != nil {
		p.log.WarnContext(ctx, "record session client", "err", err)
	}
	if ar.GetResponseMode() == fosite.ResponseModeFormPost {
		writeFormPost(w, ar.GetRedirectURI(), resp.GetParameters())
		return
	}
	p.oauth2.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// authRequestStore keeps authorization requests while a person is on the
// hosted pages (storage.AuthRequests) and reads remembered consent.
type authRequestStore interface {
	CreateAuthRequest(ctx context.Context, r *storage.AuthRequest, maxPerAddr int) error
	GetAuthRequest(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error)
	DeleteAuthRequest(ctx context.Context, id string) error
	GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error)
}

// currentUser returns the browser's session and its user, or nils. A
// session whose user is gone or disabled is ended.
func (p *Provider) currentUser(ctx context.Context, r *http.Request) (*storage.Session, *storage.User, error) {
	sess, err := p.browser.Sessions.Current(r)
	if err != nil || sess == nil {
		return nil, nil, err
	}
	user, err := p.browser.Users.GetUser(ctx, sess.UserID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && user.Disabled) {
		return nil, nil, p.browser.Sessions.End(ctx, sess)
	}
	if err != nil {
		return nil, nil, err
	}
	return sess, user, nil
}

// authorizeError sends err to the client's redirect URI when it is known
// good, with iss (RFC 9207); otherwise it shows an error page, never
// redirecting to an unverified URI.
func (p *Provider) authorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	ctx := r.Context()
	rfc := fosite.ErrorToRFC6749Error(err)
	level := p.log.InfoContext
	if rfc.CodeField >= 500 {
		level = p.log.ErrorContext
	}
	level(ctx, "authorization request refused", "error", rfc.ErrorField, "hint", rfc.HintField, "debug", rfc.DebugField, "cause", errString(rfc.Unwrap()))
	if ar == nil || !ar.IsRedirectURIValid() {
		// Plain words for the person; fosite's hint (for developers) is in
		// the log line above, with the request id the page shows.
		msg := "The application sent a sign-in request that cannot be completed. Go back to the application and try again; if it keeps happening, contact its support."
		if errors.Is(err, fosite.ErrInvalidClient) {
			msg = "The application is not registered here. Go back to the application and contact its support."
		}
		p.renderError(w, r, rfc.CodeField, "This sign-in request cannot be completed", msg)
		return
	}
	if ar.GetResponseMode() == fosite.ResponseModeFormPost {
		params := rfc.ToValues()
		params.Set("state", ar.GetState())
		params.Set("iss", p.cfg.Issuer) // RFC 9207
		writeFormPost(w, ar.GetRedirectURI(), params)
		return
	}
	if a, ok := ar.(*fosite.AuthorizeRequest); ok {
		a.ResponseMode = fosite.ResponseModeQuery // a refused response mode (fragment) is answered in the query
	}
	p.oauth2.WriteAuthorizeError(ctx, &issWriter{ResponseWriter: w, iss: p.cfg.Issuer}, ar, err)
}

// issWriter adds iss to the error redirect fosite writes (RFC 9207 §2).
type issWriter struct {
	http.ResponseWriter
	iss string
}

func (w *issWriter) WriteHeader(code int) {
	if loc := w.Header().Get("Location"); loc != "" && code >= 300 && code < 400 {
		if u, err := url.Parse(loc); err == nil {
			q := u.Query()
			q.Set("iss", w.iss)
			u.RawQuery = q.Encode()
			w.Header().Set("Location", u.String())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (p *Provider) renderError(w http.ResponseWriter, r *http.Request, status int, title, msg string, args ...any) {
	p.browser.Errors.RenderError(w, r, status, title, msg, args...)
}

func intersect(a, b []string) []string {
	var out []string
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
