package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/authd/authd/storage"
)

// introspection is an RFC 7662 §2.2 response.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	// TokenUse says which kind of token it is: access_token or refresh_token.
	TokenUse string   `json:"token_use,omitempty"`
	SID      string   `json:"sid,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	ACR      string   `json:"acr,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	// Cnf is the DPoP key the token is bound to (RFC 9449 §6.2).
	Cnf *confirmation `json:"cnf,omitempty"`
	// Ext carries the token's extra claims.
	Ext map[string]any `json:"ext,omitempty"`
}

var inactive = []byte(`{"active":false}`)

// handleIntrospect is the introspection endpoint (RFC 7662). The caller
// must be a confidential client, authenticated by any method it is
// registered for. Access tokens are answered from memory (signature,
// expiry, revocation set) with no database query, to any such client;
// refresh tokens from storage, only to the client they were issued to and
// the clients it lists as allowed introspectors (RFC 7662 §4: the server
// decides who may see what), to every other one {"active":false}.
func (p *Provider) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, client, err := p.clientForm(w, r)
	if err == nil && client.IsPublic() {
		err = fosite.ErrInvalidClient.WithHint("Public clients may not introspect tokens.")
	}
	token := form.Get("token")
	if err == nil && token == "" {
		err = fosite.ErrInvalidRequest.WithHint("The 'token' parameter is missing.")
	}
	if err != nil {
		p.metrics.Introspection("refused")
		p.writeError(ctx, w, r, nil, err)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	resp := p.introspect(ctx, token, client.GetID())
	if resp == nil {
		p.metrics.Introspection("inactive")
		_, _ = w.Write(inactive)
		return
	}
	p.metrics.Introspection("active")
	_ = json.NewEncoder(w).Encode(resp)
}

// introspect returns the token's metadata, or nil when it is not active.
func (p *Provider) introspect(ctx context.Context, token, caller string) *introspection {
	if looksLikeJWT(token) {
		c, err := p.verifyAccessToken(ctx, token)
		if err != nil {
			return nil
		}
		out := &introspection{
			Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: fosite.BearerAccessToken,
			Exp: c.Expiry, Iat: c.IssuedAt, Nbf: c.NotBefore, Sub: c.Subject, Aud: c.Audience, Iss: c.Issuer,
			JTI: c.JTI, TokenUse: string(fosite.AccessToken), SID: c.SID, AuthTime: c.AuthTime, ACR: c.ACR, AMR: c.AMR,
			Cnf: c.Cnf, Ext: c.Extra,
		}
		if c.Cnf != nil {
			out.TokenType = tokenTypeDPoP
		}
		return out
	}
	return p.introspectRefreshToken(ctx, token, caller)
}

// introspectRefreshToken answers for a refresh token, if caller may see it
// (mayIntrospectRefresh).
func (p *Provider) introspectRefreshToken(ctx context.Context, token, caller string) *introspection {
	if len(token) > maxTokenLength {
		return nil
	}
	sig := p.refreshStrategy.RefreshTokenSignature(ctx, token)
	if sig == "" {
		return nil
	}
	req, err := p.store.GetRefreshTokenSession(ctx, sig, NewSession(""))
	if err != nil {
		return nil
	}
	if err := p.refreshStrategy.ValidateRefreshToken(ctx, req, token); err != nil {
		return nil
	}
	if !mayIntrospectRefresh(req.GetClient(), caller) {
		return nil
	}
	sess := req.GetSession()
	out := &introspection{
		Active: true, Scope: strings.Join(req.GetGrantedScopes(), " "), ClientID: req.GetClient().GetID(),
		Iat: req.GetRequestedAt().Unix(), Sub: sess.GetSubject(), Aud: req.GetGrantedAudience(), Iss: p.cfg.Issuer,
		TokenUse: string(fosite.RefreshToken),
	}
	if exp := sess.GetExpiresAt(fosite.RefreshToken); !exp.IsZero() {
		out.Exp = exp.Unix()
	}
	if s, ok := sess.(*Session); ok {
		out.SID = s.SID
		if s.DPoPJKT != "" && req.GetClient().IsPublic() { // a public client's refresh token is bound (RFC 9449 §5)
			out.Cnf = &confirmation{JKT: s.DPoPJKT}
		}
	}
	return out
}

// mayIntrospectRefresh reports whether the client caller may introspect
// a refresh token issued to owner: owner itself, or a client owner lists
// in AllowedIntrospectors. A refresh token is a credential of its client
// only; another client learning that it is active (and whose it is) helps
// nobody but someone who stole it.
func mayIntrospectRefresh(owner fosite.Client, caller string) bool {
	if owner.GetID() == caller {
		return true
	}
	c, ok := owner.(*storage.Client)
	return ok && slices.Contains(c.AllowedIntrospectors, caller)
}

// parseForm reads a bounded application/x-www-form-urlencoded POST body.
// clientForm reads the form a client POSTs to the introspection or the
// pushed authorization request endpoint and authenticates the client: a
// bounded body, no parameter twice, exactly one client authentication.
func (p *Provider) clientForm(w http.ResponseWriter, r *http.Request) (url.Values, fosite.Client, error) {
	form, err := p.parseForm(w, r)
	if err == nil {
		err = refuseRepeated(form)
	}
	if err == nil {
		err = requireClientAuth(r)
	}
	if err != nil {
		return nil, nil, err
	}
	client, err := p.oauth2.AuthenticateClient(r.Context(), r, form)
	return form, client, err
}

func (p *Provider) parseForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		return nil, fosite.ErrInvalidRequest.WithHintf("HTTP method is '%s' but expected 'POST'.", r.Method)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, fosite.ErrInvalidRequest.WithHint("Unable to parse the form body.").WithWrap(err)
	}
	return r.PostForm, nil
}
