package provider

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// VerifyAccessToken checks a bearer token for the admin API: an active
// access token of this issuer (see verifyAccessToken; no I/O) issued by
// the client_credentials grant, that is to a client acting for itself,
// never on behalf of a person, and for the issuer's own audience. It
// returns the client and the granted scopes.
func (p *Provider) VerifyAccessToken(ctx context.Context, token string) (string, []string, error) {
	c, err := p.verifyAccessToken(ctx, token)
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
