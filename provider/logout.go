package provider

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/authd/authd/storage"
)

// typLogoutToken is the JWS typ of logout tokens (Back-Channel Logout 1.0 §2.4).
const typLogoutToken = "logout+jwt" // #nosec G101 -- a JWS typ, not a credential

// backchannelLogoutEvent is the events member of a logout token.
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// IDTokenHint is what an id_token_hint tells logout (RP-Initiated Logout
// 1.0 §2): whom the ID token was issued to and in which browser session.
type IDTokenHint struct {
	Subject string
	SID     string
	// ClientID is the client the ID token was issued to (its first aud).
	ClientID string
}

// ErrNotIDToken is VerifyIDTokenHint's answer for anything but an ID
// token this issuer signed.
var ErrNotIDToken = errors.New("the id_token_hint is not an ID token issued here")

// hintClaims are the claims an id_token_hint is checked by.
type hintClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience audience `json:"aud"`
	SID      string   `json:"sid"`
	IssuedAt *int64   `json:"iat"`
	Expires  *int64   `json:"exp"`
	// Claims only other tokens carry: an access token's (RFC 9068) and a
	// logout token's.
	ClientID *string         `json:"client_id"`
	Scope    *string         `json:"scope"`
	Events   json.RawMessage `json:"events"`
}

// audience accepts a string or an array (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = []string{one}
		return nil
	}
	var many []string
	err := json.Unmarshal(b, &many)
	*a = many
	return err
}

// VerifyIDTokenHint checks an id_token_hint: an ID token this issuer
// signed with a key it still publishes (expiry does not matter: an
// expired ID token is still a fine hint), and an ID token, not any other
// JWT authd signs. Access tokens (typ at+jwt, client_id and scope claims)
// and logout tokens (typ logout+jwt, events) are refused with
// ErrNotIDToken. A clientID given must be one of its audiences.
func (p *Provider) VerifyIDTokenHint(ctx context.Context, raw, clientID string) (*IDTokenHint, error) {
	tok, err := idTokenSigner{p: p}.Decode(ctx, raw)
	if tok == nil || (err != nil && !isExpiredOnly(err)) {
		return nil, ErrNotIDToken
	}
	if typ, _ := tok.Header["typ"].(string); typ != "JWT" {
		return nil, ErrNotIDToken
	}
	b, err := json.Marshal(tok.Claims)
	if err != nil {
		return nil, ErrNotIDToken
	}
	var h hintClaims
	if err := json.Unmarshal(b, &h); err != nil || h.Issuer != p.cfg.Issuer || h.Subject == "" || len(h.Audience) == 0 ||
		h.IssuedAt == nil || h.Expires == nil || h.ClientID != nil || h.Scope != nil || h.Events != nil {
		return nil, ErrNotIDToken
	}
	if clientID != "" && !slices.Contains(h.Audience, clientID) {
		return nil, errors.New("client_id does not match the id_token_hint")
	}
	return &IDTokenHint{Subject: h.Subject, SID: h.SID, ClientID: h.Audience[0]}, nil
}

// SessionEnded sends back-channel logout tokens to the clients that got
// tokens in session s and registered a back-channel logout URI. It is the
// session manager's end hook.
func (p *Provider) SessionEnded(ctx context.Context, s *storage.Session, clientIDs []string) {
	if p.browser == nil || p.browser.Logout == nil {
		return // no browser endpoints, or no back-channel delivery
	}
	for _, id := range clientIDs {
		c, err := p.clients.GetStoredClient(ctx, id)
		if err != nil || c.BackchannelLogoutURI == "" {
			continue
		}
		tok, err := p.logoutToken(c.ID, s)
		if err == nil {
			err = p.browser.Logout.EnqueueBackchannelLogout(ctx, c.ID, c.BackchannelLogoutURI, tok)
		}
		if err != nil {
			p.log.ErrorContext(ctx, "back-channel logout not queued", "client_id", c.ID, "err", err)
		}
	}
}

// logoutToken builds a logout token (Back-Channel Logout 1.0 §2.4).
func (p *Provider) logoutToken(clientID string, s *storage.Session) (string, error) {
	now := p.now()
	claims := map[string]any{
		"iss": p.cfg.Issuer, "aud": clientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": newJTI(now), "sub": s.UserID, "sid": s.ID,
		"events": map[string]any{backchannelLogoutEvent: map[string]any{}},
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return p.keys.Load().active.sign(typLogoutToken, payload)
}

// isExpiredOnly reports whether a JWT validation error is about expiry
// alone (an expired id_token_hint is still a fine hint).
func isExpiredOnly(err error) bool {
	var ve *fjwt.ValidationError
	return errors.As(err, &ve) && ve.Errors == fjwt.ValidationErrorExpired
}

// typSecurityEvent is the JWS typ of a Security Event Token (RFC 8417
// §2.3, as Shared Signals requires).
const typSecurityEvent = "secevent+jwt"

// SignSecurityEvent signs a Security Event Token with the active signing
// key (the one published at the JWKS endpoint): claims must hold iss,
// aud, iat, jti and events (package webhook builds them).
func (p *Provider) SignSecurityEvent(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return p.keys.Load().active.sign(typSecurityEvent, payload)
}
