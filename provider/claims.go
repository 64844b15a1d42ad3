package provider

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"slices"

	"github.com/ory/fosite"

	"github.com/authd/authd/storage"
)

// userClaims returns the OpenID Connect claims of user that the granted
// scopes release (OpenID Connect Core §5.4). The enterprise fields are
// released with "profile" under the "enterprise" claim.
func userClaims(u *storage.User, scopes []string) map[string]any {
	c := map[string]any{}
	if slices.Contains(scopes, "profile") {
		setIf(c, "name", u.Name)
		setIf(c, "picture", u.Picture)
		setIf(c, "locale", u.Locale)
		c["updated_at"] = u.UpdatedAt.Unix()
		ent := map[string]any{}
		setIf(ent, "organization", u.Organization)
		setIf(ent, "department", u.Department)
		setIf(ent, "employee_id", u.EmployeeID)
		if len(ent) > 0 {
			c["enterprise"] = ent
		}
	}
	if slices.Contains(scopes, "email") {
		c["email"] = u.Email
		c["email_verified"] = u.EmailVerified
	}
	if slices.Contains(scopes, "phone") && u.Phone != "" {
		c["phone_number"] = u.Phone
		c["phone_number_verified"] = u.PhoneVerified
	}
	return c
}

func setIf(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// userSession builds the fosite session for a grant to user made in
// browser session sess: the ID token carries sid, amr, acr and the claims
// the scopes release.
func (p *Provider) userSession(u *storage.User, sess *storage.Session, scopes []string, clientID string) *Session {
	fs := NewSession(u.ID)
	fs.SID = sess.ID
	fs.Claims.Issuer = p.cfg.Issuer
	fs.Claims.AuthenticationMethodsReferences = sess.AMR
	fs.Claims.AuthenticationContextClassReference = sess.ACR
	fs.Claims.Extra = userClaims(u, scopes)
	fs.Claims.Extra["sid"] = sess.ID
	return fs
}

func randomID() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// claimsRequest is the OpenID Connect claims parameter (Core §5.5): the
// claims a relying party asks for in the ID token and from UserInfo by
// name, beyond (or without) the scopes that release them.
type claimsRequest struct {
	IDToken  map[string]*claimRequest `json:"id_token"`
	UserInfo map[string]*claimRequest `json:"userinfo"`
}

// claimRequest is one claim's request: null (voluntary) or an object.
type claimRequest struct {
	Essential bool  `json:"essential"`
	Value     any   `json:"value"`
	Values    []any `json:"values"`
}

// errUnmetAuthentication: an essential acr the sign-in cannot meet
// (OpenID Connect Core §5.5.1.1; the error of OpenID Connect Core Unmet
// Authentication Requirements 1.0).
var errUnmetAuthentication = &fosite.RFC6749Error{ErrorField: "unmet_authentication_requirements", CodeField: http.StatusBadRequest,
	DescriptionField: "The authentication requirements of the request cannot be met."}

// parseClaimsRequest reads the claims parameter ("" is none).
func parseClaimsRequest(raw string) (*claimsRequest, error) {
	var req claimsRequest
	if raw == "" {
		return &req, nil
	}
	if err := json.Unmarshal([]byte(raw), &req); err != nil {
		return nil, fosite.ErrInvalidRequest.WithHint("The claims parameter must be a JSON object whose id_token and userinfo members map claim names to null or to {essential, value, values} (OpenID Connect Core §5.5).")
	}
	return &req, nil
}

// acrMet reports whether acr satisfies an acr claim request: an essential
// one names the values it accepts; a voluntary one is always met.
func acrMet(r *claimRequest, acr string) bool {
	if r == nil || !r.Essential || (r.Value == nil && len(r.Values) == 0) {
		return true
	}
	return r.Value == acr || slices.Contains(r.Values, any(acr))
}

// allScopes release every claim userClaims knows.
var allScopes = []string{"profile", "email", "phone"}

// requestedClaims are the claims of u that names ask for and authd has.
func requestedClaims(u *storage.User, names []string) map[string]any {
	all := userClaims(u, allScopes)
	out := map[string]any{}
	for _, n := range names {
		if v, ok := all[n]; ok {
			out[n] = v
		}
	}
	return out
}

// userinfoClaimsKey is the access token claim that carries the names the
// claims parameter asked UserInfo for, so UserInfo needs no lookup.
const userinfoClaimsKey = "userinfo_claims"

// applyClaimsRequest adds to fs what req asks of the ID token and of
// UserInfo, for u signed in with acr; errUnmetAuthentication when an
// essential acr cannot be met.
func applyClaimsRequest(fs *Session, u *storage.User, acr string, req *claimsRequest) error {
	if acr == "" {
		acr = "0" // OpenID Connect Core §2: no assurance the person is who they say
	}
	if !acrMet(req.IDToken["acr"], acr) || !acrMet(req.UserInfo["acr"], acr) {
		return errUnmetAuthentication
	}
	if _, ok := req.IDToken["acr"]; ok {
		fs.Claims.AuthenticationContextClassReference = acr
	}
	for k, v := range requestedClaims(u, slices.Collect(maps.Keys(req.IDToken))) {
		fs.Claims.Extra[k] = v
	}
	if len(req.UserInfo) > 0 {
		names := slices.Sorted(maps.Keys(req.UserInfo))
		if fs.AccessClaims == nil {
			fs.AccessClaims = map[string]any{}
		}
		fs.AccessClaims[userinfoClaimsKey] = names
	}
	return nil
}
