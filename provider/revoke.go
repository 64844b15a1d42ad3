package provider

import (
	"context"
	"net/http"

	"github.com/ory/fosite"

	"github.com/authd/authd/storage"
)

// handleRevoke is the revocation endpoint (RFC 7009). fosite authenticates
// the client and runs the revocation handlers: jwtRevoker for access
// tokens, fosite's own for refresh tokens (which ends the whole grant).
func (p *Provider) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	var err error
	if perr := r.ParseForm(); perr != nil {
		err = fosite.ErrInvalidRequest.WithHint("Unable to parse the form body.").WithWrap(perr)
	} else {
		err = refuseRepeated(r.PostForm)
	}
	if err == nil {
		err = p.oauth2.NewRevocationRequest(ctx, r)
	}
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		p.log.InfoContext(ctx, "revocation refused", "error", rfc.ErrorField, "hint", rfc.HintField, "debug", rfc.DebugField)
		if rfc.CodeField == http.StatusUnauthorized {
			if _, _, ok := r.BasicAuth(); ok {
				w.Header().Set("WWW-Authenticate", `Basic realm="authd", charset="UTF-8"`)
			}
		}
	}
	p.metrics.Revocation(err == nil)
	p.oauth2.WriteRevocationResponse(ctx, w, err)
}

// jwtRevoker revokes access tokens: it adds the token's jti to the
// revocation set until the token would have expired. Invalid or expired
// tokens need no revocation and are answered with success (RFC 7009 §2.2).
type jwtRevoker struct{ p *Provider }

var _ fosite.RevocationHandler = (*jwtRevoker)(nil)

// RevokeToken implements fosite.RevocationHandler.
func (j *jwtRevoker) RevokeToken(ctx context.Context, token string, _ fosite.TokenType, client fosite.Client) error {
	if !looksLikeJWT(token) {
		return fosite.ErrUnknownRequest
	}
	now := j.p.now()
	c, err := j.p.parseAccessToken(ctx, token, now)
	if err != nil {
		return nil
	}
	if c.ClientID != client.GetID() {
		return fosite.ErrUnauthorizedClient.WithHint("The token was issued to another client.")
	}
	return j.p.store.AddRevocation(ctx, storage.Revocation{
		Kind: storage.RevokeToken, Value: c.JTI, RevokedAt: now, ExpiresAt: timeUnix(c.Expiry),
	})
}
