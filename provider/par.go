package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
)

const (
	// requestURIPrefix is how a pushed request's request_uri begins
	// (RFC 9126 §2.2).
	requestURIPrefix = "urn:ietf:params:oauth:request_uri:"
	// pushedPrefix marks pushed requests among the stored authorization
	// requests (the ids of those waiting for the hosted pages never hold
	// a dot).
	pushedPrefix = "par."
)

// handlePAR is the pushed authorization request endpoint (RFC 9126): the
// client authenticates as at the token endpoint and sends the
// authorization request's parameters (or a request object) in the body;
// authd validates them as the authorization endpoint would, keeps them
// for authorize.pushed_ttl and answers the request_uri the browser then
// brings to the authorization endpoint, once.
func (p *Provider) handlePAR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p.limiter != nil {
		if retry, ok := p.limiter.TokenByIP(ctx, telemetry.ClientIP(r)); !ok {
			p.tooManyRequests(ctx, w, r, nil, retry)
			return
		}
	}
	form, client, err := p.clientForm(w, r)
	if err != nil {
		p.writeError(ctx, w, r, nil, err)
		return
	}
	p.setDPoPNonce(w)
	params, err := p.pushedParams(ctx, client.GetID(), form)
	if err == nil {
		err = p.pushedDPoP(ctx, r, client, params)
	}
	if err != nil {
		p.writeError(ctx, w, r, nil, err)
		return
	}
	now := p.now().UTC()
	rec := &storage.AuthRequest{ID: pushedPrefix + randomID(), ClientID: client.GetID(), Form: params,
		ClientAddr: telemetry.ClientIP(r), CreatedAt: now, ExpiresAt: now.Add(p.cfg.Authorize.PushedTTL)}
	if err := p.store.CreateAuthRequest(ctx, rec, p.cfg.Authorize.MaxPendingPerAddress); err != nil {
		p.writeError(ctx, w, r, nil, fosite.ErrServerError.WithWrap(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"request_uri": requestURIPrefix + rec.ID,
		"expires_in": int(p.cfg.Authorize.PushedTTL.Seconds())})
}

// pushedDPoP binds the authorization code of a pushed request (its
// validated params) to the key of the request's DPoP proof, if it has one
// (RFC 9449 §10.1): as if the request had named it in dpop_jkt, which,
// when also sent, must agree.
func (p *Provider) pushedDPoP(ctx context.Context, r *http.Request, client fosite.Client, form url.Values) error {
	proof, err := p.checkDPoP(ctx, r, p.cfg.Issuer+PathPAR, "")
	switch {
	case err != nil:
		return err
	case proof == nil:
		return nil
	case proof.allowedFor(client) != nil:
		return proof.allowedFor(client)
	case form.Get("dpop_jkt") != "" && form.Get("dpop_jkt") != proof.JKT:
		return errInvalidDPoPProof.WithHint("dpop_jkt is not the thumbprint of the DPoP proof's key.")
	}
	form.Set("dpop_jkt", proof.JKT)
	return nil
}

// pushedParams validates a pushed authorization request of clientID as
// the authorization endpoint would and returns the parameters to keep.
func (p *Provider) pushedParams(ctx context.Context, clientID string, form url.Values) (url.Values, error) {
	params := url.Values{}
	for k, v := range form { // client authentication is not part of the request
		if !strings.HasPrefix(k, "client_assertion") && k != "client_secret" {
			params[k] = v
		}
	}
	switch id := params.Get("client_id"); {
	case id == "":
		params.Set("client_id", clientID)
	case id != clientID:
		return nil, fosite.ErrInvalidRequest.WithHint("The client_id is not the authenticated client.")
	}
	if params.Get("request_uri") != "" {
		return nil, fosite.ErrInvalidRequest.WithHint("A pushed authorization request may not carry request_uri (RFC 9126 §2.1).")
	}
	if params.Get("request") != "" {
		var err error
		if params, err = p.requestObjectForm(ctx, params); err != nil {
			return nil, err
		}
	}
	if !p.redirectURIRegistered(ctx, params) {
		return nil, errRedirectNotRegistered
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.Issuer+PathAuthorize+"?"+params.Encode(), nil)
	if err != nil {
		return nil, fosite.ErrInvalidRequest.WithWrap(err)
	}
	ar, err := p.oauth2.NewAuthorizeRequest(ctx, req)
	if err == nil {
		err = p.checkAuthorizeRequest(ar)
	}
	if err != nil {
		return nil, err
	}
	return boundedForm(ar.GetRequestForm())
}

// pushedForm is the authorization request a request_uri names: a pushed
// request of the client_id beside it, not expired, used once (RFC 9126
// §4: only the pushed parameters count).
func (p *Provider) pushedForm(ctx context.Context, form url.Values) (url.Values, error) {
	id, ok := strings.CutPrefix(form.Get("request_uri"), requestURIPrefix)
	clientID := form.Get("client_id")
	invalid := fosite.ErrInvalidRequestURI.WithHint("The request_uri is unknown, expired or used; push the request again.")
	switch {
	case clientID == "":
		return nil, fosite.ErrInvalidRequest.WithHint("A request_uri needs the client_id parameter beside it (RFC 9126 §4).")
	case form.Get("request") != "":
		return nil, fosite.ErrInvalidRequest.WithHint("Send request or request_uri, not both.")
	case !ok || !strings.HasPrefix(id, pushedPrefix):
		return nil, fosite.ErrInvalidRequestURI.WithHint("Only request_uri values from the pushed authorization request endpoint are accepted.")
	}
	rec, err := p.store.GetAuthRequest(ctx, id, p.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, invalid
	case err != nil:
		return nil, fosite.ErrServerError.WithWrap(err)
	case rec.ClientID != clientID:
		return nil, invalid
	}
	// Deleting claims it: of two uses at once, one finds it gone.
	switch err := p.store.DeleteAuthRequest(ctx, id); {
	case errors.Is(err, storage.ErrNotFound):
		return nil, invalid
	case err != nil:
		return nil, fosite.ErrServerError.WithWrap(err)
	}
	return rec.Form, nil
}

// mustPush reports whether client must push its authorization requests.
func (p *Provider) mustPush(client fosite.Client) bool {
	c, ok := client.(*storage.Client)
	return p.cfg.Authorize.RequirePushed || ok && (c.RequirePAR || c.Profile == storage.ProfileFAPI2)
}
