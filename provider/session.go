package provider

import (
	"maps"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
)

// Session is the fosite session authd stores with every grant. It carries
// the ID token claims (OpenID), the browser session the grant was made in,
// and extra claims for access tokens.
type Session struct {
	*openid.DefaultSession
	// SID is the browser session id (OIDC "sid"); empty for grants made
	// without a browser, such as client_credentials.
	SID string `json:"sid,omitempty"`
	// AccessClaims are added to access tokens (never overriding the
	// registered claims).
	AccessClaims map[string]any `json:"access_claims,omitempty"`
	// DPoPJKT is the thumbprint of the DPoP key the grant's latest access
	// token is bound to (RFC 9449), or, with DPoPCodeBound, the key the
	// authorization request named in dpop_jkt (§10), which the code
	// exchange must prove.
	DPoPJKT       string `json:"dpop_jkt,omitempty"`
	DPoPCodeBound bool   `json:"dpop_code_bound,omitempty"`
}

var _ openid.Session = (*Session)(nil)

// NewSession returns a session for subject.
func NewSession(subject string) *Session {
	s := &Session{DefaultSession: openid.NewDefaultSession()}
	s.Subject = subject
	s.Claims.Subject = subject
	return s
}

// BrowserSessionID returns the browser session id; storage reads it to
// index grants by session.
func (s *Session) BrowserSessionID() string { return s.SID }

// Clone returns a deep copy.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := &Session{SID: s.SID, AccessClaims: maps.Clone(s.AccessClaims), DPoPJKT: s.DPoPJKT, DPoPCodeBound: s.DPoPCodeBound}
	if s.DefaultSession != nil {
		c.DefaultSession = s.DefaultSession.Clone().(*openid.DefaultSession)
	} else {
		c.DefaultSession = openid.NewDefaultSession()
	}
	return c
}
