package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"

	"github.com/authd/authd/storage"
)

// maxRequestObjectLifetime bounds how far ahead a request object's exp
// may be (FAPI 2.0 asks for at most 60 minutes).
const maxRequestObjectLifetime = time.Hour

// requestObjectClaims are the JWT claims of a request object that are not
// authorization request parameters.
var requestObjectClaims = map[string]bool{"iss": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true, "sub": true}

// requestObjectForm is the authorization request a request object (RFC
// 9101 JAR, the request parameter) carries: the object must be signed by
// one of the client's registered keys with a supported algorithm (never
// unsigned), name the client as iss, the issuer as aud, carry an exp at
// most an hour ahead, no nbf in the future, and a jti not seen before;
// then only its parameters count (RFC 9101 §5), with the client_id. fosite
// would take unsigned objects, fetch request_uri from anywhere and flatten
// the claims parameter's JSON into a Go string, so authd does it here.
func (p *Provider) requestObjectForm(ctx context.Context, form url.Values) (url.Values, error) {
	raw, clientID := form.Get("request"), form.Get("client_id")
	invalid := func(hint string) error { return fosite.ErrInvalidRequestObject.WithHint(hint) }
	switch {
	case clientID == "":
		return nil, fosite.ErrInvalidRequest.WithHint("A request object needs the client_id parameter beside it (RFC 9101 §5).")
	case form.Get("request_uri") != "":
		return nil, fosite.ErrInvalidRequest.WithHint("Send request or request_uri, not both.")
	case len(raw) > authorizeParams["request"]:
		return nil, invalid("The request object is too long.")
	}
	client, err := p.clients.GetStoredClient(ctx, clientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, fosite.ErrInvalidClient.WithHint("The client is unknown.")
	case err != nil:
		return nil, fosite.ErrServerError.WithHint("Loading the client failed.").WithWrap(err)
	case client.JWKS == nil && client.JWKSURI == "":
		return nil, invalid("The client has no registered keys (--jwks or --jwks-uri) to verify request objects with.")
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return nil, invalid("The request object must be a JWS signed with one of " + strings.Join(clientAssertionAlgs, ", ") + "; unsigned ones are refused.")
	}
	if alg := tok.Headers[0].Algorithm; client.Profile == storage.ProfileFAPI2 && !slices.Contains(fapiAlgs, alg) {
		return nil, invalid("A FAPI 2.0 client's request object must be signed with " + strings.Join(fapiAlgs, ", ") + ", not " + alg + ".")
	}
	var reg jwt.Claims
	var all map[string]any
	switch ok, err := p.clientSigned(ctx, client, tok, tok.Headers[0], &reg, &all); {
	case err != nil:
		return nil, invalid("The client's JWKS could not be fetched from its jwks_uri.")
	case !ok:
		return nil, invalid("The request object's signature does not verify with any of the client's keys.")
	}
	now := p.now()
	if id, ok := all["client_id"]; ok && id != clientID {
		return nil, invalid("The request object's client_id is not the client_id parameter.")
	}
	switch {
	case reg.Issuer != clientID:
		return nil, invalid("The request object's iss must be the client_id.")
	case !reg.Audience.Contains(p.cfg.Issuer):
		return nil, invalid("The request object's aud must be the issuer " + p.cfg.Issuer + ".")
	case reg.Expiry == nil:
		return nil, invalid("The request object has no exp.")
	case !now.Before(reg.Expiry.Time().Add(assertionLeeway)):
		return nil, invalid("The request object has expired.")
	case reg.Expiry.Time().After(now.Add(maxRequestObjectLifetime + assertionLeeway)):
		return nil, invalid("The request object's exp is more than an hour ahead.")
	case reg.NotBefore != nil && reg.NotBefore.Time().After(now.Add(assertionLeeway)):
		return nil, invalid("The request object is not valid yet (nbf).")
	case all["request"] != nil || all["request_uri"] != nil:
		return nil, invalid("A request object may not carry request or request_uri.")
	}
	if reg.ID != "" {
		jti := "jar\x00" + clientID + "\x00" + reg.ID
		err := p.store.ClientAssertionJWTValid(ctx, jti)
		if err == nil {
			err = p.store.SetClientAssertionJWT(ctx, jti, reg.Expiry.Time().Add(assertionLeeway))
		}
		switch {
		case errors.Is(err, fosite.ErrJTIKnown):
			return nil, invalid("The request object was already used (jti).")
		case err != nil:
			return nil, fosite.ErrServerError.WithHint("Recording the request object's jti failed.").WithWrap(err)
		}
	}
	out := url.Values{"client_id": {clientID}}
	for k, v := range all {
		if requestObjectClaims[k] || k == "client_id" {
			continue
		}
		s, err := paramValue(v)
		if err != nil {
			return nil, invalid("The request object's " + truncate(k, 32) + " is not a parameter value.")
		}
		out.Set(k, s)
	}
	return out, nil
}

// paramValue is a request object member as a request parameter: strings
// as they are, numbers and booleans in JSON notation, objects (claims) as
// JSON.
func paramValue(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	case map[string]any:
		b, err := json.Marshal(v)
		return string(b), err
	}
	return "", errors.New("not a string, number, boolean or object")
}
