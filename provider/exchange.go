package provider

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
)

// Token exchange (RFC 8693).
const (
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange" // #nosec G101 -- a grant type URI
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"   // #nosec G101 -- a token type URI
	errInvalidTarget   = "invalid_target"
)

// tokenExchangeHandler is fosite's token endpoint handler for RFC 8693:
// a confidential client with the grant trades one of authd's access
// tokens (subject_token) for another, narrowed to the scopes the subject
// token and the client both have and to audiences the client may
// request; with an actor_token (delegation) the new token says who acts
// in an act claim (nested when the subject token had one). A may_act
// claim in the subject token names who may act for it. The new token
// keeps the subject token's grant and browser session, so revoking
// either revokes it, and never outlives the subject token. fosite has no
// handler for this grant.
type tokenExchangeHandler struct {
	p      *Provider
	access accessTokenStrategy
}

func (h *tokenExchangeHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

func (h *tokenExchangeHandler) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(GrantTokenExchange)
}

func (h *tokenExchangeHandler) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	client := r.GetClient()
	switch {
	case client.IsPublic():
		return fosite.ErrUnauthorizedClient.WithHint("Public clients may not exchange tokens.")
	case !client.GetGrantTypes().Has(GrantTokenExchange):
		return fosite.ErrUnauthorizedClient.WithHint("The client is not registered for token exchange (--grant-type " + GrantTokenExchange + ").")
	}
	form := r.GetRequestForm()
	switch {
	case form.Get("subject_token") == "" || form.Get("subject_token_type") == "":
		return fosite.ErrInvalidRequest.WithHint("subject_token and subject_token_type are required.")
	case form.Get("subject_token_type") != tokenTypeAccess:
		return fosite.ErrInvalidRequest.WithHintf("subject_token_type must be %s: authd exchanges its own access tokens.", tokenTypeAccess)
	case form.Get("requested_token_type") != "" && form.Get("requested_token_type") != tokenTypeAccess:
		return fosite.ErrInvalidRequest.WithHintf("requested_token_type must be %s.", tokenTypeAccess)
	case (form.Get("actor_token") == "") != (form.Get("actor_token_type") == ""):
		return fosite.ErrInvalidRequest.WithHint("actor_token and actor_token_type go together.")
	case form.Get("actor_token_type") != "" && form.Get("actor_token_type") != tokenTypeAccess:
		return fosite.ErrInvalidRequest.WithHintf("actor_token_type must be %s.", tokenTypeAccess)
	}
	sub, err := h.p.verifyAccessToken(ctx, form.Get("subject_token"))
	if err != nil {
		return fosite.ErrInvalidGrant.WithHint("The subject_token is not an active access token of this issuer.")
	}
	act, err := h.actor(ctx, form.Get("actor_token"), sub)
	if err != nil {
		return err
	}
	if err := mayAct(sub, act, client.GetID()); err != nil {
		return err
	}
	if err := grantExchange(r, sub, h.p.fcfg.GetAudienceStrategy(ctx)); err != nil {
		return err
	}
	sess, ok := r.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithHint("Unexpected session type.")
	}
	sess.Subject, sess.Claims.Subject, sess.SID = sub.Subject, sub.Subject, sub.SID
	if sub.AuthTime != 0 {
		sess.Claims.AuthTime = time.Unix(sub.AuthTime, 0)
	}
	sess.Claims.AuthenticationContextClassReference, sess.Claims.AuthenticationMethodsReferences = sub.ACR, sub.AMR
	if act != nil {
		sess.AccessClaims = map[string]any{"act": act}
	}
	exp := h.p.now().Add(h.p.cfg.Tokens.AccessTokenTTL)
	if subExp := time.Unix(sub.Expiry, 0); subExp.Before(exp) {
		exp = subExp // never outlives the subject token
	}
	sess.SetExpiresAt(fosite.AccessToken, exp)
	if sub.GrantID != "" {
		r.SetID(sub.GrantID) // the new token is of the subject token's grant
	}
	return nil
}

// actor verifies an actor token and returns the act claim (RFC 8693
// §4.1) of the new token: the actor, and before it whoever acted in the
// subject token.
func (h *tokenExchangeHandler) actor(ctx context.Context, token string, sub *accessClaims) (map[string]any, error) {
	if token == "" {
		return nil, nil
	}
	a, err := h.p.verifyAccessToken(ctx, token)
	if err != nil {
		return nil, fosite.ErrInvalidGrant.WithHint("The actor_token is not an active access token of this issuer.")
	}
	act := map[string]any{"sub": a.Subject, "client_id": a.ClientID}
	if prior, ok := sub.Extra["act"].(map[string]any); ok {
		act["act"] = prior
	}
	return act, nil
}

// mayAct enforces a may_act claim of the subject token (RFC 8693 §4.4):
// the actor (or, without one, the requesting client) must be the party it
// names.
func mayAct(sub *accessClaims, act map[string]any, clientID string) error {
	may, ok := sub.Extra["may_act"].(map[string]any)
	if !ok {
		return nil
	}
	party := map[string]any{"client_id": clientID}
	if act != nil {
		party = act
	}
	for _, k := range []string{"sub", "client_id"} {
		if want, named := may[k]; named && party[k] != want {
			return fosite.ErrInvalidGrant.WithHint("The subject_token's may_act does not name this actor.")
		}
	}
	return nil
}

// grantExchange grants the scopes (requested ones, each held by both the
// subject token and the client, else all they share) and audiences (each
// one the client may request) of the new token.
func grantExchange(r fosite.AccessRequester, sub *accessClaims, audiences fosite.AudienceMatchingStrategy) error {
	held := strings.Fields(sub.Scope)
	clientScopes := r.GetClient().GetScopes()
	requested := r.GetRequestedScopes()
	if len(requested) == 0 {
		for _, s := range held {
			if clientScopes.Has(s) {
				r.GrantScope(s)
			}
		}
	}
	for _, s := range requested {
		if !slices.Contains(held, s) || !clientScopes.Has(s) {
			return fosite.ErrInvalidScope.WithHintf("The scope '%s' is not held by both the subject_token and the client.", truncate(s, 64))
		}
		r.GrantScope(s)
	}
	want := append(slices.Clone(r.GetRequestedAudience()), r.GetRequestForm()["resource"]...)
	if err := audiences(r.GetClient().GetAudience(), want); err != nil {
		return &fosite.RFC6749Error{ErrorField: errInvalidTarget, CodeField: http.StatusBadRequest,
			DescriptionField: "The requested audience or resource is not one the client may request."}
	}
	for _, a := range want {
		r.GrantAudience(a)
	}
	return nil
}

func (h *tokenExchangeHandler) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	token, _, err := h.access.GenerateAccessToken(ctx, r)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	resp.SetAccessToken(token)
	resp.SetTokenType(fosite.BearerAccessToken)
	resp.SetExpiresIn(r.GetSession().GetExpiresAt(fosite.AccessToken).Sub(h.p.now()).Round(time.Second))
	resp.SetScopes(r.GetGrantedScopes())
	resp.SetExtra("issued_token_type", tokenTypeAccess)
	return nil
}

// recordExchange writes the token.exchanged audit event of an exchange
// that issued a token.
func (p *Provider) recordExchange(ctx context.Context, r *http.Request, ar fosite.AccessRequester) error {
	details := map[string]any{"scopes": []string(ar.GetGrantedScopes()), "audience": []string(ar.GetGrantedAudience())}
	if sess, ok := ar.GetSession().(*Session); ok {
		if act, ok := sess.AccessClaims["act"].(map[string]any); ok {
			details["actor"] = act["sub"]
		}
	}
	e := storage.AuditEvent{Type: storage.AuditTokenExchanged, SubjectID: ar.GetSession().GetSubject(), ClientID: ar.GetClient().GetID(),
		ActorID: "client:" + ar.GetClient().GetID(), IP: telemetry.ClientIP(r), UserAgent: r.UserAgent(), Details: details}
	return audit.Record(ctx, p.store, e, p.now())
}
