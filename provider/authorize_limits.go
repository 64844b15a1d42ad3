package provider

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ory/fosite"

	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
)

// AuthorizeConfig bounds what an unauthenticated caller of the
// authorization endpoint can make authd keep (the authorize.* keys).
type AuthorizeConfig struct {
	// PendingTTL is how long a stored authorization request waits for the
	// person to sign in; once they do (or consent), it lives until
	// storage.AuthRequestMaxTTL after it was made.
	PendingTTL time.Duration `koanf:"pending_ttl"`
	// MaxPendingPerAddress bounds the requests waiting from one client
	// address; a new one past it drops that address's oldest.
	MaxPendingPerAddress int `koanf:"max_pending_per_address"`
	// PushedTTL is how long a pushed authorization request (RFC 9126)
	// waits for the browser to bring its request_uri (expires_in).
	PushedTTL time.Duration `koanf:"pushed_ttl"`
	// RequirePushed makes every client push its authorization requests
	// (require_pushed_authorization_requests); per client: --require-par.
	RequirePushed bool `koanf:"require_pushed_requests"`
}

// authorizeParams are the parameters authd reads from an authorization
// request, with the longest value it keeps of each. Others are ignored
// (RFC 6749 §3.1) and never stored.
var authorizeParams = map[string]int{
	"response_type":         32,
	"response_mode":         32,
	"client_id":             256,
	"redirect_uri":          2048,
	"scope":                 2048,
	"state":                 2048,
	"nonce":                 512,
	"code_challenge":        128,
	"code_challenge_method": 16,
	"prompt":                64,
	"max_age":               20,
	"login_hint":            320,
	"ui_locales":            128,
	"acr_values":            512,
	"display":               16,
	"audience":              2048,
	"claims":                4096,
	"dpop_jkt":              64,
	// Refused by checkAuthorizeRequest when present; kept short here.
	"request":      8192,
	"request_uri":  2048,
	"registration": 2048,
}

// boundedForm returns the request's parameters authd uses, refusing a
// value longer than its cap or a parameter sent twice (RFC 6749 §3.1:
// "Request and response parameters MUST NOT be included more than once").
func boundedForm(form url.Values) (url.Values, error) {
	out := url.Values{}
	for k, vs := range form {
		limit, ok := authorizeParams[k]
		if !ok {
			continue
		}
		if len(vs) > 1 {
			return nil, fosite.ErrInvalidRequest.WithHintf("The '%s' parameter is included more than once.", k)
		}
		if len(vs[0]) > limit {
			return nil, fosite.ErrInvalidRequest.WithHintf("The '%s' parameter is longer than %d characters.", k, limit)
		}
		out[k] = vs
	}
	return out, nil
}

// limitAuthorize rate-limits the authorization endpoint per client
// address, before anything is parsed or stored; a refused request gets an
// error page (nothing about it is verified yet, so nothing redirects).
func (p *Provider) limitAuthorize(w http.ResponseWriter, r *http.Request) bool {
	if p.limiter == nil {
		return true
	}
	retry, ok := p.limiter.AuthorizeByIP(r.Context(), telemetry.ClientIP(r))
	if ok {
		return true
	}
	secs := int64(max(time.Second, retry+time.Second-1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	p.renderError(w, r, http.StatusTooManyRequests, "Too many sign-in requests",
		"Too many sign-in requests came from your network. Wait %d seconds, then go back to the application and try again.", secs)
	return false
}

// validate reports what is wrong with c, naming the key.
func (c AuthorizeConfig) validate() error {
	var errs []error
	if c.PendingTTL <= 0 || c.PendingTTL > storage.AuthRequestMaxTTL {
		errs = append(errs, fmt.Errorf("authorize.pending_ttl: must be a positive duration of at most %v, got %v", storage.AuthRequestMaxTTL, c.PendingTTL))
	}
	if c.PushedTTL < 10*time.Second || c.PushedTTL > 10*time.Minute {
		errs = append(errs, fmt.Errorf("authorize.pushed_ttl: must be between 10s and 10m, got %v", c.PushedTTL))
	}
	if c.MaxPendingPerAddress < 1 {
		errs = append(errs, fmt.Errorf("authorize.max_pending_per_address: must be at least 1, got %d", c.MaxPendingPerAddress))
	}
	return errors.Join(errs...)
}
