package admin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/apikey"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
)

// Principal is who calls: an API key or an OAuth client.
type Principal struct {
	// Actor names them in the audit trail: "apikey:<id>" or "client:<id>".
	Actor  string
	Scopes []string
	Tier   string
	// ExpiresAt is when the credential stops working (an API key's
	// expiry); zero for access tokens, which are short-lived anyway.
	ExpiresAt time.Time
}

// TokenVerifier checks OAuth access tokens (the provider): the client the
// token r presents under scheme (Bearer, or DPoP with a proof) was issued
// to and its scopes, or an error when it is not an active access token of
// this issuer, which may carry the challenge to answer with.
type TokenVerifier interface {
	VerifyAccessToken(r *http.Request, scheme, token string) (clientID string, scopes []string, err error)
}

// challenger is a refused token's error that knows its WWW-Authenticate
// challenge (provider.TokenRefusal).
type challenger interface {
	Challenge(realm string) http.Header
}

// Tier is a rate limit tier; a zero Rate is unlimited.
type Tier struct {
	Rate  float64 `koanf:"rate"`
	Burst int     `koanf:"burst"`
}

// authenticate finds the caller and checks that it holds scope.
func (a *API) authenticate(r *http.Request, scope string) (*Principal, error) {
	if scope == "" {
		return nil, nil
	}
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if auth == "" {
		return nil, unauthorized("send an API key or access token: Authorization: Bearer <key>")
	}
	dpop := strings.EqualFold(scheme, "DPoP")
	if !ok || (!strings.EqualFold(scheme, "Bearer") && !dpop) || token == "" || strings.ContainsAny(token, " \t") ||
		(dpop && strings.HasPrefix(token, apikey.Prefix)) {
		return nil, unauthorized("the Authorization header must be: Bearer <key>, or DPoP <access token> with a DPoP proof")
	}
	ctx := r.Context()
	var p *Principal
	if strings.HasPrefix(token, apikey.Prefix) {
		k, err := a.keys.Authenticate(ctx, token, telemetry.ClientIP(r))
		switch {
		case errors.Is(err, apikey.ErrMalformed):
			return nil, unauthorized("the API key is malformed (its checksum does not match)")
		case errors.Is(err, apikey.ErrExpired):
			return nil, unauthorized("the API key expired")
		case errors.Is(err, apikey.ErrRevoked):
			return nil, unauthorized("the API key was revoked")
		case errors.Is(err, apikey.ErrUnknown):
			return nil, unauthorized("the API key is not valid here")
		case err != nil:
			return nil, err
		}
		p = &Principal{Actor: "apikey:" + k.ID, Scopes: k.Scopes, Tier: k.Tier, ExpiresAt: k.ExpiresAt}
	} else {
		if a.tokens == nil {
			return nil, unauthorized("the bearer token is not an authd API key")
		}
		client, scopes, err := a.tokens.VerifyAccessToken(r, scheme, token)
		if err != nil {
			pe := unauthorized("the access token is not active")
			if c := challenger(nil); errors.As(err, &c) {
				pe.p.Detail = err.Error()
				pe.headers = c.Challenge("authd admin API")
			}
			return nil, pe
		}
		p = &Principal{Actor: "client:" + client, Scopes: scopes, Tier: a.clientTier}
	}
	if !apikey.Covers(p.Scopes, scope) {
		return nil, forbidden(scope)
	}
	return p, nil
}

// limit enforces the caller's tier and sets the RateLimit headers
// (draft-ietf-httpapi-ratelimit-headers): the policy is the tier's burst
// per the seconds the bucket takes to fill.
func (a *API) limit(ctx context.Context, w http.ResponseWriter, p *Principal) error {
	if p == nil {
		return nil
	}
	tier, ok := a.tiers[p.Tier]
	if !ok { // a tier removed from the config since the key was made
		tier = a.tiers[DefaultTier]
	}
	if tier.Rate == 0 {
		return nil
	}
	l := storage.Limit{Rate: tier.Rate, Burst: tier.Burst}
	d, err := a.limiter.Allow(ctx, "admin:"+p.Actor, l)
	if err != nil {
		return err
	}
	window := int(math.Ceil(float64(tier.Burst) / tier.Rate))
	name := strconv.Quote(p.Tier)
	w.Header().Set("RateLimit-Policy", fmt.Sprintf("%s;q=%d;w=%d", name, tier.Burst, window))
	reset := int(math.Ceil(float64(tier.Burst-d.Remaining) / tier.Rate))
	w.Header().Set("RateLimit", fmt.Sprintf("%s;r=%d;t=%d", name, d.Remaining, reset))
	if !d.Allowed {
		retry := int(math.Ceil(d.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(retry, 1)))
		return problem(http.StatusTooManyRequests, "rate-limited",
			fmt.Sprintf("the %s tier allows %g requests per second (burst %d); retry after %s", p.Tier, tier.Rate, tier.Burst,
				time.Duration(max(retry, 1))*time.Second))
	}
	return nil
}
