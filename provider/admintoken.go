package provider

import (
	"errors"
	"net/http"
	"slices"
	"strings"
)

// VerifyAccessToken checks the access token a request to one of the
// issuer's APIs (the admin API, the SSF transmitter) presents under
// scheme, Bearer or DPoP (resourceClaims: a DPoP-bound token needs its
// proof): an active access token of this issuer (no I/O) issued by the
// client_credentials grant, that is to a client acting for itself, never
// on behalf of a person, and for the issuer's own audience. It returns the
// client and the granted scopes. A refused token is a *TokenRefusal, whose
// Challenge answers it.
func (p *Provider) VerifyAccessToken(r *http.Request, scheme, token string) (string, []string, error) {
	c, err := p.resourceClaims(r, scheme, token)
	if err != nil {
		return "", nil, err
	}
	if c.GrantID != "" || c.Subject != c.ClientID {
		return "", nil, errors.New("the access token was issued for a person, not by the client_credentials grant")
	}
	if !slices.Contains(c.Audience, p.cfg.Issuer) {
		return "", nil, errors.New("the access token is not for this issuer")
	}
	return c.ClientID, strings.Fields(c.Scope), nil
}
