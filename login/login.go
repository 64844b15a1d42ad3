package login

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/internal/csrf"
	"github.com/authd/authd/internal/i18n"
	"github.com/authd/authd/internal/render"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/provider"
	"github.com/authd/authd/session"
	"github.com/authd/authd/static"
	"github.com/authd/authd/storage"
)

// Config configures the hosted pages.
type Config struct {
	// Registration lets people create accounts themselves (/register).
	Registration bool `koanf:"registration"`
}

// DefaultConfig returns the defaults: registration on.
func DefaultConfig() Config { return Config{Registration: true} }

// Validate reports every problem; there are none to find yet.
func (c Config) Validate() error { return nil }

// Accounts is the account service (*account.Service), as the pages use
// it. Its errors are account's: the pages tell them apart with errors.Is
// and errors.As (ErrInvalidCredentials, *LockedError, *PolicyError, ...).
type Accounts interface {
	// Register creates an unverified account and mails a verification
	// link. It returns nil when the email already has an account (and
	// mails that person instead): the answer never reveals it.
	Register(ctx context.Context, email, password, name string, meta account.Meta) error
	// VerifyEmail consumes a verification token.
	VerifyEmail(ctx context.Context, token string, meta account.Meta) (*storage.User, error)
	// ResendVerification mails a new link if the address has an
	// unverified account; nil otherwise too.
	ResendVerification(ctx context.Context, email string, meta account.Meta) error
	// Authenticate checks a password.
	Authenticate(ctx context.Context, email, password string, meta account.Meta) (*storage.User, error)
	// RequestPasswordReset mails a reset link if the address has an
	// account; nil otherwise too.
	RequestPasswordReset(ctx context.Context, email string, meta account.Meta) error
	// CheckResetToken says whether a reset token still works, without
	// using it up (account.ErrInvalidToken when it does not).
	CheckResetToken(ctx context.Context, token string) error
	// ResetPassword consumes a reset token and sets the password.
	ResetPassword(ctx context.Context, token, newPassword string, meta account.Meta) (*storage.User, error)
	ChangePassword(ctx context.Context, userID, current, newPassword string, meta account.Meta) error
	UpdateProfile(ctx context.Context, userID string, u account.ProfileUpdate, meta account.Meta) error
}

// knownAccountError reports whether err is one of the account service's
// documented answers (rather than storage down or a bug).
func knownAccountError(err error) bool {
	for _, target := range []error{account.ErrInvalidCredentials, account.ErrUnverified, account.ErrDisabled,
		account.ErrLocked, account.ErrInvalidToken} {
		if errors.Is(err, target) {
			return true
		}
	}
	_, policy := errors.AsType[*account.PolicyError](err)
	_, input := errors.AsType[*account.InputError](err)
	return policy || input
}

// AuthRequests is what the pages do with authorization requests in
// progress (storage.AuthRequests).
type AuthRequests interface {
	// GetAuthRequest returns the request or storage.ErrNotFound (also once
	// expired at now).
	GetAuthRequest(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error)
	// UpdateAuthRequest stores the progress fields; storage.ErrNotFound if
	// absent.
	UpdateAuthRequest(ctx context.Context, r *storage.AuthRequest) error
}

// Consents is remembered consent (storage.Consents).
type Consents interface {
	GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error)
	SaveConsent(ctx context.Context, c *storage.Consent) error
	ListUserConsents(ctx context.Context, userID string) ([]*storage.Consent, error)
	// DeleteConsent returns storage.ErrNotFound if there is none.
	DeleteConsent(ctx context.Context, userID, clientID string) error
}

// Clients looks up registered clients; storage.ErrNotFound if unknown.
// cmd/authd gives the shared in-process client cache (storage/cache), so a
// page that names the client makes no query.
type Clients interface {
	GetStoredClient(ctx context.Context, id string) (*storage.Client, error)
}

// Users looks up accounts; storage.ErrNotFound if unknown.
type Users interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
}

// Tokens revokes what an application holds for a person when they revoke
// its access (storage.Tokens).
type Tokens interface {
	// RevokeClientSubjectTokens ends every grant of subject at clientID.
	RevokeClientSubjectTokens(ctx context.Context, clientID, subject string) error
}

// Tx opens a transaction carried by the context (storage/sql.Store): a
// consent and its audit event are written together.
type Tx interface {
	BeginTX(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Auditor appends to the audit trail.
type Auditor interface {
	AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error
}

// Limiter rate-limits the pages' forms (ratelimit.Limiter). Each method counts
// one request and, when a limit is exhausted, returns ok=false and how
// long to wait.
type Limiter interface {
	// SignIn counts a sign-in attempt from ip for email.
	SignIn(ctx context.Context, ip, email string) (retryAfter time.Duration, ok bool)
	// Register counts a registration or verification resend from ip.
	Register(ctx context.Context, ip string) (retryAfter time.Duration, ok bool)
	// Reset counts a password reset request (email set) or submission
	// (email "") from ip.
	Reset(ctx context.Context, ip, email string) (retryAfter time.Duration, ok bool)
	// Device counts a user code typed on the device verification page
	// from ip.
	Device(ctx context.Context, ip string) (retryAfter time.Duration, ok bool)
}

// Devices is what the device verification page needs of storage
// (storage/sql.Store): a device's pending request by the code the person
// types, and storing the authorization request the sign-in and consent
// steps then work on.
type Devices interface {
	// GetPendingDeviceCode returns the pending, unexpired request of
	// userCode (normalised), or storage.ErrNotFound.
	GetPendingDeviceCode(ctx context.Context, userCode string, now time.Time) (*storage.DeviceCode, error)
	// CreateAuthRequest stores r (storage.AuthRequests).
	CreateAuthRequest(ctx context.Context, r *storage.AuthRequest, maxPerAddr int) error
}

// Deps are the pages' collaborators. All are required but Limiter and Now.
type Deps struct {
	Accounts     Accounts
	Sessions     *session.Manager
	AuthRequests AuthRequests
	Devices      Devices
	Consents     Consents
	Clients      Clients
	Users        Users
	Tokens       Tokens
	Audit        Auditor
	Tx           Tx
	Renderer     *render.Renderer
	CSRF         *csrf.Protector
	// IDTokenHints verifies logout's id_token_hint (the provider).
	IDTokenHints IDTokenHints
	Logger       *slog.Logger
	// Limiter, when set, rate-limits sign-in, registration and password
	// reset.
	Limiter Limiter
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Registrations, when set, give the logo_uri of dynamically
	// registered clients (RFC 7591 §2), shown on sign-in and consent.
	Registrations Registrations
}

// Registrations reads client registrations (storage.Registrations).
type Registrations interface {
	// GetClientRegistration returns storage.ErrNotFound for a client not
	// registered dynamically.
	GetClientRegistration(ctx context.Context, clientID string) (*storage.ClientRegistration, error)
}

// Pages serves the hosted pages.
type Pages struct {
	cfg      Config
	accounts Accounts
	sessions *session.Manager
	ars      AuthRequests
	devices  Devices
	consents Consents
	clients  Clients
	users    Users
	tokens   Tokens
	audit    Auditor
	tx       Tx
	render   *render.Renderer
	csrf     *csrf.Protector
	hints    IDTokenHints
	log      *slog.Logger
	limiter  Limiter       // nil: no rate limits
	regs     Registrations // nil: no client logos
	now      func() time.Time
	base     string // path prefix of every page (render.Renderer.BasePath)
}

// New returns the pages. It panics when a required dependency is missing:
// that is a wiring mistake, found at start-up.
func New(cfg Config, d Deps) *Pages {
	switch {
	case d.Accounts == nil, d.Sessions == nil, d.AuthRequests == nil, d.Devices == nil, d.Consents == nil,
		d.Clients == nil, d.Users == nil, d.Tokens == nil, d.Audit == nil, d.Tx == nil, d.Renderer == nil, d.CSRF == nil, d.IDTokenHints == nil, d.Logger == nil:
		panic("login: New: a required dependency is nil")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Pages{
		cfg: cfg, accounts: d.Accounts, sessions: d.Sessions, ars: d.AuthRequests, devices: d.Devices,
		consents: d.Consents, clients: d.Clients, users: d.Users, tokens: d.Tokens, audit: d.Audit, tx: d.Tx,
		render: d.Renderer, csrf: d.CSRF, hints: d.IDTokenHints, log: d.Logger, limiter: d.Limiter, now: d.Now, base: d.Renderer.BasePath(),
		regs: d.Registrations,
	}
}

// Paths the pages send browsers to.
const (
	pathResume    = "/oauth2/authorize/resume"
	pathLogin     = "/login"
	pathAccount   = "/account"
	pathSignedOut = "/signed-out"
	pathLogout    = "/oauth2/logout"
)

// maxFormBytes caps POST bodies.
const maxFormBytes = 64 << 10

// Routes registers the pages on mux.
func (p *Pages) Routes(mux *http.ServeMux) {
	mux.Handle("GET "+static.Prefix, static.Handler())
	mux.Handle("GET "+render.StylePrefix, p.render.StyleHandler())
	get := func(path string, h http.HandlerFunc) { mux.Handle("GET "+path, p.page(h)) }
	post := func(path string, h http.HandlerFunc) { mux.Handle("POST "+path, p.form(h)) }

	get("/login", p.loginForm)
	post("/login", p.loginSubmit)
	if p.cfg.Registration {
		get("/register", p.registerForm)
		post("/register", p.registerSubmit)
	}
	get("/verify-email", p.verifyEmail)
	post("/verify-email/resend", p.resendVerification)
	get("/forgot-password", p.forgotForm)
	post("/forgot-password", p.forgotSubmit)
	get("/reset-password", p.resetForm)
	post("/reset-password", p.resetSubmit)
	get("/consent", p.consentForm)
	post("/consent", p.consentSubmit)
	get(provider.PathDevice, p.deviceForm)
	post(provider.PathDevice, p.deviceSubmit)
	get(provider.PathDeviceDone, p.deviceDone)
	get("/account", p.accountPage)
	post("/account/profile", p.profileSubmit)
	post("/account/password", p.passwordSubmit)
	post("/account/sessions/end", p.endSession)
	post("/account/sessions/end-all", p.endAllSessions)
	post("/account/consents/revoke", p.revokeConsent)
	get("/signed-out", p.signedOut)
	get(pathLogout, p.handleLogout)
	mux.Handle("POST "+pathLogout, p.page(p.handleLogout)) // RPs may POST it cross-site: no form CSRF check
}

// page wraps a GET handler: the page headers go on every answer,
// redirects included.
func (p *Pages) page(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		render.SetHeaders(w)
		h(w, r)
	})
}

// form wraps a POST handler: headers, a bounded body, and the CSRF checks.
// A request failing them gets an error page and changes nothing.
func (p *Pages) form(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		render.SetHeaders(w)
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := p.csrf.Verify(r); err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				p.fail(w, r, http.StatusRequestEntityTooLarge, "The form is too large",
					"What you sent is larger than this page accepts. Go back and try again with less.", nil)
				return
			}
			p.log.WarnContext(r.Context(), "form refused by the CSRF checks", "path", r.URL.Path, "err", err)
			p.fail(w, r, http.StatusForbidden, "This form has expired",
				"The form was sent from another site, or it is too old. Go back, reload the page and try again. Cookies must be enabled.", nil)
			return
		}
		h(w, r)
	})
}

// fail renders the error page: a plain message; details belong in the log.
// title and msg are catalogue keys (English); the page translates them.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, status int, title, msg string, link *render.Link) {
	p.failf(w, r, status, title, link, msg)
}

// failf is fail with a message that has arguments.
func (p *Pages) failf(w http.ResponseWriter, r *http.Request, status int, title string, link *render.Link, msg string, args ...any) {
	p.render.Render(w, r, status, "error", render.ErrorData{Page: render.Page{Lang: p.langOf(r)}, Title: title, Message: msg, Args: args, Link: link})
}

// tooMany answers a request a rate limit refused: 429 Too Many Requests
// with Retry-After, and a page saying how long to wait.
func (p *Pages) tooMany(w http.ResponseWriter, r *http.Request, retry time.Duration) {
	secs := retryAfterSeconds(retry)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	p.failf(w, r, http.StatusTooManyRequests, "Too many attempts", nil,
		"Too many requests came from here in a short time. Wait %s and try again.", waitFor(retry))
}

// policyErrors adds the password policy's violations to errs, for
// field, translatable (password.Violation.Format).
func policyErrors(errs render.Errors, field string, policy *account.PolicyError) render.Errors {
	for _, v := range policy.Violations {
		if v.Format != "" {
			errs = errs.Addf(field, v.Format, v.Args...)
		} else {
			errs = errs.Add(field, v.Message)
		}
	}
	return errs
}

// retryAfterSeconds is d in whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	return int64(max(time.Second, d+time.Second-1) / time.Second)
}

// waitFor says how long d is in words, rounded up to a whole unit so the
// wait is never understated: "1 second", "12 seconds", "2 minutes",
// "1 hour". Under a minute it counts seconds, under an hour minutes.
func waitFor(d time.Duration) i18n.Msg {
	secs := retryAfterSeconds(d)
	if secs < 60 {
		return i18n.Count(secs, "second")
	}
	mins := (secs + 59) / 60
	if mins < 60 {
		return i18n.Count(mins, "minute")
	}
	return i18n.Count((mins+59)/60, "hour")
}

// internal logs err once and renders the generic error page: 503 with
// Retry-After when a backend is temporarily unavailable (Redis down), else
// 500.
func (p *Pages) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, storage.ErrUnavailable) {
		p.log.WarnContext(r.Context(), what, "err", err)
		w.Header().Set("Retry-After", "5")
		p.fail(w, r, http.StatusServiceUnavailable, "Temporarily unavailable",
			"We cannot complete your request right now. Please try again in a moment.", nil)
		return
	}
	p.log.ErrorContext(r.Context(), what, "err", err)
	p.fail(w, r, http.StatusInternalServerError, "Something went wrong",
		"We could not complete your request. Please try again in a moment.", nil)
}

// redirect answers 303 See Other to a path of ours.
func (p *Pages) redirect(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, p.base+path, http.StatusSeeOther) // #nosec G710 -- path is one of our own routes
}

// resume sends the browser back to the provider to continue request id.
func (p *Pages) resume(w http.ResponseWriter, r *http.Request, id string) {
	p.redirect(w, r, pathResume+"?ar="+url.QueryEscape(id))
}

// flow is an authorization request in progress and its client.
type flow struct {
	ar     *storage.AuthRequest
	client *storage.Client
	// logo is the client's registered logo_uri (https only), or "".
	logo string
}

// clientLogo is the client's logo for the pages, or "".
func (f *flow) clientLogo() string {
	if f == nil {
		return ""
	}
	return f.logo
}

// clientLogo returns the logo_uri a dynamically registered client gave,
// when it is an https URL (the registration endpoint checks that too;
// this is where it is shown), else "". A failure to read it only loses
// the logo.
func (p *Pages) clientLogo(ctx context.Context, clientID string) string {
	if p.regs == nil {
		return ""
	}
	reg, err := p.regs.GetClientRegistration(ctx, clientID)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			p.log.WarnContext(ctx, "read client registration for its logo", "client_id", clientID, "err", err)
		}
		return ""
	}
	var m struct {
		LogoURI string `json:"logo_uri"`
	}
	if json.Unmarshal(reg.Metadata, &m) != nil || len(m.LogoURI) > 2048 {
		return ""
	}
	if u, err := url.Parse(m.LogoURI); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return ""
	}
	return m.LogoURI
}

func (f *flow) id() string {
	if f == nil {
		return ""
	}
	return f.ar.ID
}

func (f *flow) clientID() string {
	if f == nil {
		return ""
	}
	return f.ar.ClientID
}

// clientName is how the pages name the client.
func (f *flow) clientName() string {
	switch {
	case f == nil:
		return ""
	case f.client.Name != "":
		return f.client.Name
	}
	return f.client.ID
}

// lang is the request's ui_locales: the languages the client asked the
// pages to be in, in order (the renderer picks the first it has).
func (f *flow) lang() string {
	if f == nil {
		return ""
	}
	return f.ar.Form.Get("ui_locales")
}

// page is the common page data of the flow's pages: its language and
// client (whose organization's branding they carry).
func (f *flow) page() render.Page { return render.Page{Lang: f.lang(), ClientID: f.clientID()} }

// langOf is the ui_locales of the authorization request a page without
// its flow at hand belongs to (the "ar" of the URL or form, as on the
// error pages of a sign-in), or "".
func (p *Pages) langOf(r *http.Request) string {
	id := r.URL.Query().Get("ar")
	if id == "" && r.PostForm != nil {
		id = r.PostForm.Get("ar")
	}
	if id == "" || !validID(id) {
		// The authorization endpoint's own error pages: the request is
		// at hand.
		if strings.HasSuffix(r.URL.Path, "/authorize") {
			return r.Form.Get("ui_locales")
		}
		return ""
	}
	ar, err := p.ars.GetAuthRequest(r.Context(), id, p.now())
	if err != nil {
		return ""
	}
	return ar.Form.Get("ui_locales")
}

// loadFlow loads authorization request id, or returns nil for id "". An
// unknown, expired or malformed id gets the error page and ok=false.
func (p *Pages) loadFlow(w http.ResponseWriter, r *http.Request, id string) (f *flow, ok bool) {
	if id == "" {
		return nil, true
	}
	ctx := r.Context()
	var ar *storage.AuthRequest
	err := storage.ErrNotFound
	if validID(id) {
		ar, err = p.ars.GetAuthRequest(ctx, id, p.now())
	}
	var c *storage.Client
	if err == nil {
		c, err = p.clients.GetStoredClient(ctx, ar.ClientID)
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		p.fail(w, r, http.StatusBadRequest, "This sign-in has expired",
			"The sign-in took too long or was already completed. Go back to the application and start again.", nil)
		return nil, false
	case err != nil:
		p.internal(w, r, "load authorization request", err)
		return nil, false
	}
	return &flow{ar: ar, client: c, logo: p.clientLogo(ctx, c.ID)}, true
}

// updateFlow stores f's progress and sends the browser back to the
// provider.
func (p *Pages) updateFlow(w http.ResponseWriter, r *http.Request, f *flow) {
	err := p.ars.UpdateAuthRequest(r.Context(), f.ar)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		p.fail(w, r, http.StatusBadRequest, "This sign-in has expired",
			"The sign-in took too long or was already completed. Go back to the application and start again.", nil)
	case err != nil:
		p.internal(w, r, "update authorization request", err)
	default:
		p.resume(w, r, f.ar.ID)
	}
}

// validID accepts what the provider generates: short, URL-safe.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}

// meta describes r for the account service and the audit trail.
func (p *Pages) meta(r *http.Request, clientID, sid string) account.Meta {
	return account.Meta{IP: telemetry.ClientIP(r), UserAgent: audit.UserAgent(r.UserAgent()), RequestID: telemetry.RequestID(r.Context()),
		ClientID: clientID, SID: sid, Locale: p.render.Language(r, p.langOf(r)).String()}
}

// auditEvent records an audit event; a failure is logged, not shown:
// the person's action has already taken effect.
func (p *Pages) auditEvent(r *http.Request, typ storage.AuditType, userID, clientID string, details map[string]any) {
	if err := p.record(r.Context(), r, typ, userID, clientID, details); err != nil {
		p.log.ErrorContext(r.Context(), "append audit event", "type", typ, "err", err)
	}
}

// record writes the audit event of r's person (audit.Record), in the
// transaction ctx carries if any.
func (p *Pages) record(ctx context.Context, r *http.Request, typ storage.AuditType, userID, clientID string, details map[string]any) error {
	return audit.Record(ctx, p.audit, storage.AuditEvent{Type: typ, ActorID: userID, SubjectID: userID, ClientID: clientID,
		IP: telemetry.ClientIP(r), UserAgent: r.UserAgent(), RequestID: telemetry.RequestID(ctx), Details: details}, p.now())
}

// inTx runs fn in one transaction carried by its context: committed if fn
// succeeds, rolled back otherwise.
func (p *Pages) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	txCtx, err := p.tx.BeginTX(ctx)
	if err != nil {
		return err
	}
	if err := fn(txCtx); err != nil {
		_ = p.tx.Rollback(txCtx)
		return err
	}
	return p.tx.Commit(txCtx)
}

// currentSession returns the browser's session, or nil. A failure to read
// it is logged and treated as no session.
func (p *Pages) currentSession(r *http.Request) *storage.Session {
	s, err := p.sessions.Current(r)
	if err != nil {
		p.log.ErrorContext(r.Context(), "read session", "err", err)
		return nil
	}
	return s
}

// notices are the confirmations a redirect can ask a page to show, by code:
// the page never shows text taken from the URL.
var notices = map[string]string{
	"password_reset":   "Your password has been changed. Sign in with your new password.",
	"password_changed": "Your password has been changed.",
	"profile_saved":    "Your profile has been saved.",
	"session_ended":    "That device has been signed out.",
	"app_revoked":      "The application no longer has access to your account.",
}

// safeReturnTo returns s when it is a path on this server, else "": never
// an open redirect. Only absolute paths without a host qualify; "//host",
// "/\host" and anything a browser could read as another origin do not.
func safeReturnTo(s string) string {
	if s == "" || len(s) > 512 || s[0] != '/' || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\") {
		return ""
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return ""
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || strings.HasPrefix(u.Path, "//") {
		return ""
	}
	// Paths that would loop or are not pages.
	for _, p := range []string{"/login", "/register", "/signed-out", "/static/"} {
		if u.Path == p || strings.HasPrefix(u.Path, p+"/") || strings.HasPrefix(u.Path, p) && strings.HasSuffix(p, "/") {
			return ""
		}
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
