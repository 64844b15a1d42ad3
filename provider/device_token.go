package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	fstorage "github.com/ory/fosite/storage"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
)

// deviceGrantHandler is fosite's token endpoint handler for the device
// authorization grant (RFC 8628 §3.4): the device polls with its device
// code until the person approved or denied it on the verification page.
// Pending, it answers authorization_pending, or slow_down to a poll
// sooner than the interval (which then grows by 5 s); approved, it
// redeems the code once and issues what the authorization code grant
// would for the same approval: an access token, a refresh token with
// offline_access (when the client has the refresh_token grant) and an ID
// token with openid, all bound to the person's browser session. fosite
// has no handler for this grant.
type deviceGrantHandler struct {
	p       *Provider
	access  accessTokenStrategy
	refresh oauth2.RefreshTokenStrategy
	store   *fositeStore
	idToken *openid.IDTokenHandleHelper
}

func (h *deviceGrantHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

func (h *deviceGrantHandler) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(GrantDeviceCode)
}

// HandleTokenEndpointRequest validates the poll and, once approved, loads
// the approval into the request. Nothing is redeemed here.
func (h *deviceGrantHandler) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	if err := checkDeviceClient(r.GetClient()); err != nil {
		return err
	}
	code := r.GetRequestForm().Get("device_code")
	invalid := fosite.ErrInvalidGrant.WithHint("The device_code is unknown, or was issued to another client.")
	switch {
	case code == "":
		return fosite.ErrInvalidRequest.WithHint("The device_code parameter is missing.")
	case !validDeviceCode(code):
		return invalid
	}
	d, err := h.p.store.GetDeviceCode(ctx, h.p.deviceCodeSignature(code))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return invalid
	case err != nil:
		return fosite.ErrServerError.WithHint("Loading the device authorization failed.").WithWrap(err)
	case d.ClientID != r.GetClient().GetID():
		return invalid
	}
	now := h.p.now()
	if !now.Before(d.ExpiresAt) {
		return errExpiredToken.WithHint("Start a new device authorization request.")
	}
	switch d.Status {
	case storage.DevicePending:
		return h.poll(ctx, d, now)
	case storage.DeviceDenied:
		e := fosite.ErrAccessDenied.WithHint("The person denied the device's request.")
		e.CodeField = http.StatusBadRequest // a token endpoint error (RFC 6749 §5.2, RFC 8628 §3.5)
		return e
	case storage.DeviceApproved:
		return h.loadApproval(ctx, r, d, now)
	}
	return fosite.ErrInvalidGrant.WithHint("The device_code has already been used.")
}

// poll records a poll of a pending authorization: authorization_pending,
// or slow_down when it comes sooner than the interval since the last one
// (or races another poll), which adds slowDownStep to the interval.
func (h *deviceGrantHandler) poll(ctx context.Context, d *storage.DeviceCode, now time.Time) error {
	early := !d.LastPolledAt.IsZero() && now.Before(d.LastPolledAt.Add(d.Interval))
	interval := d.Interval
	if early {
		interval += slowDownStep
	}
	err := h.p.store.RecordDevicePoll(ctx, d.Signature, d.LastPolledAt, now.UTC(), interval)
	switch {
	case errors.Is(err, storage.ErrConflict): // another poll at the same time
		early = true
	case errors.Is(err, storage.ErrNotFound):
		return fosite.ErrInvalidGrant.WithHint("The device_code is unknown, or was issued to another client.")
	case err != nil:
		return fosite.ErrServerError.WithHint("Recording the poll failed.").WithWrap(err)
	}
	if early {
		return errSlowDown.WithHintf("Wait at least %d seconds between polls.", int(interval/time.Second))
	}
	return errAuthorizationPending.WithHint("The person has not approved the request yet; poll again after the interval.")
}

// loadApproval puts the approval into r: the session built when the
// person approved (subject, browser session, auth_time, acr, amr, ID
// token claims), the scopes they granted, and fresh token lifetimes.
func (h *deviceGrantHandler) loadApproval(ctx context.Context, r fosite.AccessRequester, d *storage.DeviceCode, now time.Time) error {
	sess, ok := r.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithHint("Unexpected session type.")
	}
	if err := json.Unmarshal(d.Session, sess); err != nil {
		return fosite.ErrServerError.WithHint("The stored approval is unreadable.").WithWrap(err)
	}
	for _, s := range d.GrantedScopes {
		r.GrantScope(s)
	}
	client := r.GetClient()
	sess.SetExpiresAt(fosite.AccessToken, now.UTC().Add(fosite.GetEffectiveLifespan(client, fosite.GrantTypeAuthorizationCode,
		fosite.AccessToken, h.p.cfg.Tokens.AccessTokenTTL)).Round(time.Second))
	sess.SetExpiresAt(fosite.RefreshToken, now.UTC().Add(fosite.GetEffectiveLifespan(client, fosite.GrantTypeAuthorizationCode,
		fosite.RefreshToken, h.p.cfg.Tokens.RefreshTokenTTL)).Round(time.Second))
	sess.Claims.ExpiresAt, sess.Claims.IssuedAt = time.Time{}, time.Time{}
	return nil
}

// PopulateTokenEndpointResponse redeems the approved device code (once:
// of two requests at once, one wins; the other is invalid_grant) and
// issues the tokens, in one transaction with the refresh token.
func (h *deviceGrantHandler) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) (err error) {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	signature := h.p.deviceCodeSignature(r.GetRequestForm().Get("device_code"))
	access, accessSig, err := h.access.GenerateAccessToken(ctx, r)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	var refresh, refreshSig string
	if r.GetGrantedScopes().Has("offline_access") && r.GetClient().GetGrantTypes().Has("refresh_token") {
		if refresh, refreshSig, err = h.refresh.GenerateRefreshToken(ctx, r); err != nil {
			return fosite.ErrServerError.WithWrap(err)
		}
	}
	if ctx, err = fstorage.MaybeBeginTx(ctx, h.store); err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	defer func() {
		if err != nil {
			_ = fstorage.MaybeRollbackTx(ctx, h.store)
		}
	}()
	switch err = h.p.store.RedeemDeviceCode(ctx, signature); {
	case errors.Is(err, storage.ErrNotFound):
		return fosite.ErrInvalidGrant.WithHint("The device_code has already been used.")
	case err != nil:
		return fosite.ErrServerError.WithWrap(err)
	}
	if err = h.store.CreateAccessTokenSession(ctx, accessSig, r.Sanitize(nil)); err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	if refreshSig != "" {
		if err = h.store.CreateRefreshTokenSession(ctx, refreshSig, accessSig, r.Sanitize(nil)); err != nil {
			return fosite.ErrServerError.WithWrap(err)
		}
	}
	resp.SetAccessToken(access)
	resp.SetTokenType(fosite.BearerAccessToken)
	resp.SetExpiresIn(r.GetSession().GetExpiresAt(fosite.AccessToken).Sub(h.p.now()).Round(time.Second))
	resp.SetScopes(r.GetGrantedScopes())
	if refresh != "" {
		resp.SetExtra("refresh_token", refresh)
	}
	if r.GetGrantedScopes().Has("openid") {
		if sess, ok := r.GetSession().(*Session); ok {
			sess.Claims.AccessTokenHash = h.idToken.GetAccessTokenHash(ctx, r, resp)
		}
		lifespan := fosite.GetEffectiveLifespan(r.GetClient(), fosite.GrantTypeAuthorizationCode, fosite.IDToken, h.p.cfg.Tokens.IDTokenTTL)
		if err = h.idToken.IssueExplicitIDToken(ctx, lifespan, r, resp); err != nil {
			return fosite.ErrServerError.WithWrap(err)
		}
	}
	if err = fstorage.MaybeCommitTx(ctx, h.store); err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	return nil
}

// recordDeviceTokens writes the device.token_issued audit event of a
// redeemed device code.
func (p *Provider) recordDeviceTokens(ctx context.Context, r *http.Request, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	_, refresh := resp.GetExtra("refresh_token").(string)
	details := map[string]any{"scopes": []string(ar.GetGrantedScopes()), "refresh_token": refresh}
	if sess, ok := ar.GetSession().(*Session); ok && sess.SID != "" {
		details["sid"] = sess.SID
	}
	e := storage.AuditEvent{Type: storage.AuditDeviceTokens, SubjectID: ar.GetSession().GetSubject(), ClientID: ar.GetClient().GetID(),
		ActorID: "client:" + ar.GetClient().GetID(), IP: telemetry.ClientIP(r), UserAgent: r.UserAgent(), Details: details}
	return audit.Record(ctx, p.store, e, p.now())
}
