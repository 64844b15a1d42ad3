package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/authd/authd/storage"
)

// handleUserInfo is the UserInfo endpoint (OpenID Connect Core §5.3): the
// bearer access token (RFC 6750 §2.1 header, or §2.2 form body) must be
// meant for authd itself (aud includes the issuer, RFC 9068 §4: a token
// for another resource server is refused) and carry the openid scope; the
// answer is the claims its scopes release. Tokens without a requested
// audience are for the issuer, and tokens with openid always include it.
func (p *Provider) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate, DPoP-Nonce")
	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
		w.Header().Set("Access-Control-Allow-Headers", "Authorization, DPoP")
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodGet, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		e := fosite.ErrInvalidRequest.WithHint("UserInfo takes GET or POST.")
		e.CodeField = http.StatusMethodNotAllowed
		p.writeBearerError(w, r, e)
		return
	}
	scheme, token, err := presentedToken(w, r)
	if err != nil {
		p.writeBearerError(w, r, fosite.ErrInvalidRequest.WithHint(err.Error()))
		return
	}
	if token == "" {
		// RFC 6750 §3.1: no authentication at all gets the bare
		// challenges, without an error code (RFC 9449 §7.2: one per scheme).
		w.Header().Set("WWW-Authenticate", `Bearer realm="authd"`)
		w.Header().Add("WWW-Authenticate", fmt.Sprintf(`DPoP realm="authd", algs=%q`, strings.Join(dpopAlgNames(), " ")))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	c, err := p.resourceClaims(r, scheme, token)
	if err != nil {
		p.writeBearerError(w, r, err)
		return
	}
	if !c.hasAudience(p.cfg.Issuer) {
		p.writeBearerError(w, r, errInvalidToken.WithHint("The access token is meant for another resource (aud), not this issuer's UserInfo."))
		return
	}
	scopes := strings.Fields(c.Scope)
	if !slices.Contains(scopes, "openid") {
		p.writeBearerError(w, r, errInsufficientScope.WithHint("The access token lacks the openid scope."))
		return
	}
	user, err := p.browser.Users.GetUser(ctx, c.Subject)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && user.Disabled) {
		p.writeBearerError(w, r, errInvalidToken.WithHint("The access token's subject no longer exists."))
		return
	}
	if err != nil {
		p.writeBearerError(w, r, fosite.ErrServerError.WithHint("Loading the user failed.").WithWrap(err))
		return
	}
	claims := userClaims(user, scopes)
	if asked, ok := c.Extra[userinfoClaimsKey].([]any); ok { // by the claims parameter
		var names []string
		for _, n := range asked {
			if n, ok := n.(string); ok {
				names = append(names, n)
			}
		}
		maps.Copy(claims, requestedClaims(user, names))
	}
	claims["sub"] = user.ID
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(claims)
}

// presentedToken reads the access token from the Authorization header
// (Bearer or DPoP) or, for form POSTs, the access_token parameter (a
// bearer token); using both is an error.
func presentedToken(w http.ResponseWriter, r *http.Request) (scheme, token string, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		var ok bool
		if scheme, token, ok = authorizationToken(h); !ok {
			return "", "", errors.New("the Authorization header must be 'Bearer <token>' or 'DPoP <token>'")
		}
	}
	var form string
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return "", "", errors.New("unreadable form body")
		}
		form = r.PostForm.Get("access_token")
	}
	switch {
	case token != "" && form != "":
		return "", "", errors.New("the token must be sent in one place only")
	case form != "":
		return "Bearer", form, nil
	}
	return scheme, token, nil
}

// The RFC 6750 §3.1 error codes fosite has no sentinel for (its
// invalid_token ones carry other descriptions and statuses). Use them
// through With* copies, as fosite's own.
var (
	errInvalidToken = &fosite.RFC6749Error{ErrorField: "invalid_token", CodeField: http.StatusUnauthorized,
		DescriptionField: "The access token provided is expired, revoked, malformed, or invalid for other reasons."}
	errInsufficientScope = &fosite.RFC6749Error{ErrorField: "insufficient_scope", CodeField: http.StatusForbidden,
		DescriptionField: "The request requires higher privileges than provided by the access token."}
)

// writeBearerError answers a protected resource request that failed as
// the token endpoint answers: the error logged once and written by fosite
// (RFC 6749 §5.2 JSON), plus the challenge (RFC 6750 §3, RFC 9449 §7.1)
// naming the same error. A *TokenRefusal brings its own challenge and is
// a 401.
func (p *Provider) writeBearerError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	var refusal *TokenRefusal
	if errors.As(err, &refusal) {
		for k, v := range refusal.Challenge("authd") {
			w.Header()[k] = v
		}
		err = &fosite.RFC6749Error{ErrorField: refusal.Code, DescriptionField: refusal.Description, CodeField: http.StatusUnauthorized}
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	p.logOAuthError(ctx, r, rfc)
	if refusal == nil {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="authd", error=%q, error_description=%q`,
			rfc.ErrorField, rfc.GetDescription()))
	}
	p.oauth2.WriteAccessError(ctx, w, nil, rfc)
}
