package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/authd/authd/storage"
)

// handleUserInfo is the UserInfo endpoint (OpenID Connect Core §5.3): the
// bearer access token (RFC 6750 §2.1 header, or §2.2 form body) must carry
// the openid scope; the answer is the claims its scopes release.
func (p *Provider) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Access-Control-Allow-Origin", "*")
	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
		w.Header().Set("Access-Control-Allow-Headers", "Authorization")
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodGet, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		bearerError(w, http.StatusMethodNotAllowed, "invalid_request", "UserInfo takes GET or POST.")
		return
	}
	token, err := bearerToken(w, r)
	if err != nil {
		bearerError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="authd"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	c, err := p.verifyAccessToken(ctx, token)
	if err != nil {
		bearerError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid, expired or revoked.")
		return
	}
	scopes := strings.Fields(c.Scope)
	if !slices.Contains(scopes, "openid") {
		bearerError(w, http.StatusForbidden, "insufficient_scope", "The access token lacks the openid scope.")
		return
	}
	user, err := p.browser.Users.GetUser(ctx, c.Subject)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && user.Disabled) {
		bearerError(w, http.StatusUnauthorized, "invalid_token", "The access token's subject no longer exists.")
		return
	}
	if err != nil {
		p.log.ErrorContext(ctx, "userinfo: load user", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	claims := userClaims(user, scopes)
	claims["sub"] = user.ID
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(claims)
}

// bearerToken reads the access token from the Authorization header or, for
// form POSTs, the access_token parameter; using both is an error.
func bearerToken(w http.ResponseWriter, r *http.Request) (string, error) {
	var header string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", errors.New("the Authorization header must be 'Bearer <token>'")
		}
		header = strings.TrimSpace(tok)
	}
	var form string
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return "", errors.New("unreadable form body")
		}
		form = r.PostForm.Get("access_token")
	}
	if header != "" && form != "" {
		return "", errors.New("the token must be sent in one place only")
	}
	return header + form, nil
}

// bearerError answers as RFC 6750 §3 describes.
func bearerError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="authd", error=%q, error_description=%q`, code, desc))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}
