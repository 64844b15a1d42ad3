package provider

import (
	"crypto/rand"
	"encoding/base64"
	"slices"

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
