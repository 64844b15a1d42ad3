package provider

import (
	"context"
	"errors"
	"net/http"

	"github.com/ory/fosite"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
)

// reuseNote is where the store tells the token endpoint that a grant
// presented a spent authorization code or an inactive (rotated or
// revoked) refresh token: fosite detects the reuse and revokes what it
// issued, but answers only invalid_grant, without the request it found.
type reuseNote struct {
	grant string
	req   fosite.Requester
}

type reuseKey struct{}

func withReuseNote(ctx context.Context) (context.Context, *reuseNote) {
	n := &reuseNote{}
	return context.WithValue(ctx, reuseKey{}, n), n
}

func noteReuse(ctx context.Context, grant string, req fosite.Requester) {
	if n, ok := ctx.Value(reuseKey{}).(*reuseNote); ok && req != nil {
		n.grant, n.req = grant, req
	}
}

// GetRefreshTokenSession notes an inactive refresh token (fosite then
// treats it as reuse).
func (s *fositeStore) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, err := s.Store.GetRefreshTokenSession(ctx, signature, session)
	if errors.Is(err, fosite.ErrInactiveToken) {
		noteReuse(ctx, "refresh_token", req)
	}
	return req, err
}

// GetAuthorizeCodeSession notes a spent code.
func (s *fositeStore) GetAuthorizeCodeSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, err := s.Store.GetAuthorizeCodeSession(ctx, signature, session)
	if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		noteReuse(ctx, "authorization_code", req)
	}
	return req, err
}

// recordReuse writes the token.reuse_detected audit event of a refused
// grant the store noted as reuse (the webhook event and the security
// alert come from it).
func (p *Provider) recordReuse(ctx context.Context, r *http.Request, n *reuseNote) {
	if n.req == nil {
		return
	}
	p.metrics.TokenReuse(n.grant)
	e := storage.AuditEvent{Type: storage.AuditTokenReuse, IP: telemetry.ClientIP(r), UserAgent: r.UserAgent(),
		Details: map[string]any{"grant_type": n.grant, "revoked": "every token of the grant"}}
	if c := n.req.GetClient(); c != nil {
		e.ClientID = c.GetID()
	}
	if sess := n.req.GetSession(); sess != nil {
		e.SubjectID = sess.GetSubject()
	}
	if err := audit.Record(ctx, p.store, e, p.now()); err != nil {
		p.log.ErrorContext(ctx, "could not record a detected token reuse in the audit log", "err", err)
	}
}
