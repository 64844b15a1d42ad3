package provider

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/ory/fosite"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/policy"
	"github.com/authd/authd/storage"
)

// resumeDevice continues a device's request after a hosted page did its
// step: the verification page (PathDevice) stored rec for the user code
// the person typed; the usual sign-in and consent steps update it. As for
// the authorization endpoint, policy.Next decides: sign in, consent
// (always, for a device: policy.State.Device), deny, or approve. A
// decision is taken once (DecideDeviceCode) and sends the browser to
// PathDeviceDone.
func (p *Provider) resumeDevice(w http.ResponseWriter, r *http.Request, rec *storage.AuthRequest) {
	ctx := r.Context()
	expired := func() {
		p.renderError(w, r, http.StatusBadRequest, "This code has expired",
			"The code was already used, or the device stopped waiting. Start again on the device to get a new code.")
	}
	d, err := p.store.GetPendingDeviceCode(ctx, rec.Form.Get("user_code"), p.now())
	if err == nil && d.ClientID != rec.ClientID {
		err = storage.ErrNotFound
	}
	var client *storage.Client
	if err == nil {
		client, err = p.clients.GetStoredClient(ctx, d.ClientID)
	}
	if err == nil && !client.HasGrant(GrantDeviceCode) { // the registration may have changed meanwhile
		err = storage.ErrNotFound
	}
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			p.log.ErrorContext(ctx, "load device authorization", "err", err)
		}
		expired()
		return
	}
	sess, user, err := p.currentUser(ctx, r)
	if err != nil {
		p.log.ErrorContext(ctx, "read the browser session", "err", err)
		p.renderError(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "Please try again in a moment.")
		return
	}
	ar := fosite.NewAuthorizeRequest()
	ar.Client, ar.Form, ar.RequestedScope = client, rec.Form, d.Scopes
	state := requestState(ar, rec, true, sess, p.now())
	state.Device = true
	var granted []string
	if policy.NeedsStoredConsent(state) {
		if granted, state.ConsentCovers, err = p.storedConsent(ctx, ar, rec, true, user); err != nil {
			p.log.ErrorContext(ctx, "load consent", "err", err)
			p.renderError(w, r, http.StatusInternalServerError, "Something went wrong", "Please try again in a moment.")
			return
		}
	}
	switch step := policy.Next(state); step.Kind {
	case policy.SignIn:
		http.Redirect(w, r, p.cfg.Issuer+PathLogin+"?ar="+url.QueryEscape(rec.ID), http.StatusSeeOther)
	case policy.Consent:
		http.Redirect(w, r, p.cfg.Issuer+PathConsent+"?ar="+url.QueryEscape(rec.ID), http.StatusSeeOther)
	case policy.Deny:
		p.decideDevice(w, r, rec, &storage.DeviceCode{Signature: d.Signature, Status: storage.DeviceDenied}, user, sess)
	case policy.Issue:
		p.approveDevice(w, r, rec, d, sess, user, granted)
	default:
		p.renderError(w, r, http.StatusInternalServerError, "This sign-in cannot be completed", "Please start again on the device.")
	}
}

// approveDevice binds the device code to the person: their subject and
// browser session, the scopes granted, and the session the tokens will
// carry (auth_time, acr, amr, the ID token's claims).
func (p *Provider) approveDevice(w http.ResponseWriter, r *http.Request, rec *storage.AuthRequest, d *storage.DeviceCode,
	sess *storage.Session, user *storage.User, granted []string) {
	fs := p.userSession(user, sess, granted, d.ClientID)
	fs.Claims.RequestedAt = d.CreatedAt.UTC().Truncate(time.Second)
	authTime := sess.AuthTime
	if !rec.LoginAt.IsZero() && rec.SessionID == sess.ID {
		authTime = rec.LoginAt
	}
	fs.Claims.AuthTime = authTime.UTC().Truncate(time.Second)
	raw, err := json.Marshal(fs)
	if err != nil {
		p.renderError(w, r, http.StatusInternalServerError, "Something went wrong", "Please try again in a moment.")
		return
	}
	dec := &storage.DeviceCode{Signature: d.Signature, Status: storage.DeviceApproved, Subject: user.ID, SessionID: sess.ID,
		GrantedScopes: granted, Session: raw}
	if p.decideDevice(w, r, rec, dec, user, sess) {
		if err := p.sessionClients.AddSessionClient(r.Context(), sess.ID, d.ClientID); err != nil {
			p.log.WarnContext(r.Context(), "record session client", "err", err)
		}
	}
}

// decideDevice takes the decision dec (once: the stored request is
// deleted first, and only a pending code can be decided), records it in
// the audit trail and sends the browser to the result page.
func (p *Provider) decideDevice(w http.ResponseWriter, r *http.Request, rec *storage.AuthRequest, dec *storage.DeviceCode,
	user *storage.User, sess *storage.Session) bool {
	ctx := r.Context()
	if err := p.store.DeleteAuthRequest(ctx, rec.ID); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "This code was already used", "Start again on the device to get a new code.")
		return false
	}
	switch err := p.store.DecideDeviceCode(ctx, dec, p.now()); {
	case errors.Is(err, storage.ErrNotFound):
		p.renderError(w, r, http.StatusBadRequest, "This code has expired",
			"The code was already used, or the device stopped waiting. Start again on the device to get a new code.")
		return false
	case err != nil:
		p.log.ErrorContext(ctx, "decide device authorization", "err", err)
		p.renderError(w, r, http.StatusInternalServerError, "Something went wrong", "Start again on the device to get a new code.")
		return false
	}
	typ, result := storage.AuditDeviceApproved, "approved"
	details := map[string]any{"scopes": dec.GrantedScopes}
	if dec.Status == storage.DeviceDenied {
		typ, result, details = storage.AuditDeviceDenied, "denied", map[string]any{}
	}
	e := storage.AuditEvent{Type: typ, ClientID: rec.ClientID, IP: telemetry.ClientIP(r), UserAgent: audit.UserAgent(r.UserAgent()),
		RequestID: telemetry.RequestID(ctx), Details: details}
	if user != nil {
		e.ActorID, e.SubjectID = user.ID, user.ID
	}
	if sess != nil {
		details["sid"] = sess.ID
	}
	if err := audit.Record(ctx, p.store, e, p.now()); err != nil {
		p.log.ErrorContext(ctx, "append audit event", "type", typ, "err", err)
	}
	http.Redirect(w, r, p.cfg.Issuer+PathDeviceDone+"?result="+result, http.StatusSeeOther)
	return true
}
