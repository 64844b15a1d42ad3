package provider

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/ory/fosite"

	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
)

// maxFormBytes bounds the body of every form endpoint.
const maxFormBytes = 64 << 10

// handleToken is the token endpoint (RFC 6749 §3.2): fosite validates the
// grant and authenticates the client; authd grants what client_credentials
// asked for (already checked against the client's registration).
func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if p.limiter != nil {
		if retry, ok := p.limiter.TokenByIP(ctx, telemetry.ClientIP(r)); !ok {
			p.tooManyRequests(ctx, w, r, nil, retry)
			return
		}
	}
	if err := precheckTokenRequest(r); err != nil {
		p.writeError(ctx, w, r, nil, err)
		return
	}
	ctx, reuse := withReuseNote(ctx)
	ar, err := p.oauth2.NewAccessRequest(ctx, r, NewSession(""))
	if err != nil {
		p.recordReuse(ctx, r, reuse)
		p.writeError(ctx, w, r, ar, err)
		return
	}
	// The client is authenticated now; nothing is consumed yet (codes and
	// refresh tokens are used up by NewAccessResponse).
	if p.limiter != nil {
		if retry, ok := p.limiter.TokenByClient(ctx, ar.GetClient().GetID()); !ok {
			p.tooManyRequests(ctx, w, r, ar, retry)
			return
		}
	}
	if err := p.refuseEndedSession(ar); err != nil {
		p.writeError(ctx, w, r, ar, err)
		return
	}
	p.setDPoPNonce(w)
	ctx, err = p.bindDPoP(ctx, r, ar)
	if err != nil {
		p.writeError(ctx, w, r, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		for _, a := range ar.GetRequestedAudience() {
			ar.GrantAudience(a)
		}
	}
	resp, err := p.oauth2.NewAccessResponse(ctx, ar)
	if err != nil {
		if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
			err = p.codeRaceLost(ctx, ar, err)
			p.recordReuse(ctx, r, &reuseNote{grant: "authorization_code", req: ar})
		}
		p.writeError(ctx, w, r, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne(GrantTokenExchange) {
		if err := p.recordExchange(ctx, r, ar); err != nil { // every exchange is on record, or none is made
			p.writeError(ctx, w, r, ar, fosite.ErrServerError.WithHint("Recording the exchange failed.").WithWrap(err))
			return
		}
	}
	if ar.GetGrantTypes().ExactOne(GrantDeviceCode) {
		if err := p.recordDeviceTokens(ctx, r, ar, resp); err != nil {
			p.log.ErrorContext(ctx, "append audit event", "type", storage.AuditDeviceTokens, "err", err)
		}
	}
	if dpopBinding(ctx) != "" {
		resp.SetTokenType(tokenTypeDPoP) // RFC 9449 §5
	}
	p.oauth2.WriteAccessResponse(ctx, w, ar, resp)
	p.metrics.TokenIssued(r.PostForm.Get("grant_type"))
}

// refuseEndedSession refuses an authorization code issued in a browser
// session that has ended since (signed out, or ended from the account
// page): the session's revocation entry covers only tokens issued before
// it, so without this check a code still unspent at sign-out would mint
// tokens that outlive the session. The same holds for a device code
// approved in the session and not yet redeemed. A session ends once and
// its id is never reused, so any entry for it means the code predates the
// end.
func (p *Provider) refuseEndedSession(ar fosite.AccessRequester) error {
	if p.revoked == nil || !ar.GetGrantTypes().ExactOne("authorization_code") && !ar.GetGrantTypes().ExactOne(GrantDeviceCode) {
		return nil
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok || sess.SID == "" {
		return nil
	}
	if p.revoked.Revoked(storage.TokenRef{SessionID: sess.SID}, p.now()) {
		return fosite.ErrInvalidGrant.WithHint("The browser session the authorization code was issued in has ended.")
	}
	return nil
}

// codeRaceLost answers a code exchange that lost a race: its code was
// active when the request was validated but another exchange spent it
// before this one could (storage's InvalidateAuthorizeCodeSession lets one
// caller win). fosite calls that a server error; it is a second use of the
// code, so it is answered as one: invalid_grant, and what the code issued
// is revoked (RFC 6749 §4.1.2), as fosite does for a replay it sees early.
func (p *Provider) codeRaceLost(ctx context.Context, ar fosite.AccessRequester, cause error) error {
	hint := "The authorization code has already been used."
	if id := ar.GetID(); id != "" {
		if err := p.store.RevokeAccessToken(ctx, id); err != nil {
			p.log.WarnContext(ctx, "revoking the access tokens of a reused code failed", "error", err)
		}
		if err := p.store.RevokeRefreshToken(ctx, id); err != nil {
			p.log.WarnContext(ctx, "revoking the refresh tokens of a reused code failed", "error", err)
		}
	}
	return fosite.ErrInvalidGrant.WithHint(hint).WithWrap(cause)
}

// tooManyRequests answers a rate-limited token request: 429 with
// Retry-After (RFC 6585 §4) and the RFC 6749 error temporarily_unavailable,
// the closest the token endpoint's error codes come.
func (p *Provider) tooManyRequests(ctx context.Context, w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, retry time.Duration) {
	secs := int64(max(time.Second, retry+time.Second-1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	err := fosite.ErrTemporarilyUnavailable.WithHintf("Too many requests; retry after %d seconds.", secs)
	err.CodeField = http.StatusTooManyRequests
	p.writeError(ctx, w, r, ar, err)
}

// precheckTokenRequest answers two cases with the error RFC 6749 §5.2
// names, where fosite would answer invalid_request: an unsupported grant
// type, and a request with no client authentication at all.
func precheckTokenRequest(r *http.Request) error {
	if r.Method != http.MethodPost {
		return nil // fosite refuses it with invalid_request
	}
	if err := r.ParseForm(); err != nil {
		return fosite.ErrInvalidRequest.WithHint("Unable to parse the form body.").WithWrap(err)
	}
	if err := refuseRepeated(r.PostForm); err != nil {
		return err
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "":
		return fosite.ErrInvalidRequest.WithHint("The 'grant_type' parameter is missing.")
	case "authorization_code", "refresh_token", "client_credentials", GrantTokenExchange, GrantDeviceCode:
	default:
		return fosite.ErrUnsupportedGrantType.WithHintf("The grant type '%s' is not supported.", truncate(gt, 64))
	}
	return requireClientAuth(r)
}

// requireClientAuth refuses, as invalid_client (RFC 6749 §5.2), a request
// that carries no client authentication of any kind; fosite would call it
// invalid_request.
func requireClientAuth(r *http.Request) error {
	_, _, basic := r.BasicAuth()
	if !basic && r.PostForm.Get("client_id") == "" && r.PostForm.Get("client_assertion") == "" {
		return fosite.ErrInvalidClient.WithHint("The request has no client authentication.")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// logOAuthError logs an OAuth error once, where it is answered: server
// errors at error level, client errors at info.
func (p *Provider) logOAuthError(ctx context.Context, r *http.Request, rfc *fosite.RFC6749Error) {
	attrs := []any{"error", rfc.ErrorField, "hint", rfc.HintField, "debug", rfc.DebugField, "path", r.URL.Path}
	if cause := rfc.Unwrap(); cause != nil && !errors.Is(cause, rfc) {
		attrs = append(attrs, "cause", cause.Error())
	}
	if rfc.CodeField >= 500 {
		p.log.ErrorContext(ctx, "oauth2 request failed", attrs...)
	} else {
		p.log.InfoContext(ctx, "oauth2 request refused", attrs...)
	}
}

// writeError writes err as an RFC 6749 §5.2 error through fosite and logs
// it once (logOAuthError).
func (p *Provider) writeError(ctx context.Context, w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	p.logOAuthError(ctx, r, rfc)
	if rfc.CodeField == http.StatusUnauthorized {
		if _, _, ok := r.BasicAuth(); ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="authd", charset="UTF-8"`)
		}
	}
	p.oauth2.WriteAccessError(ctx, w, ar, err)
}
