package provider

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
)

// Device authorization grant (RFC 8628).
const (
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code" // #nosec G101 -- a grant type URI
	// PathDeviceAuthorization is the device authorization endpoint
	// (RFC 8628 §3.1).
	PathDeviceAuthorization = "/oauth2/device_authorization"
	// PathDevice is the verification page (the hosted pages serve it);
	// PathDeviceDone says how it ended (?result=approved or denied).
	PathDevice     = "/device"
	PathDeviceDone = "/device/done"
)

// DeviceConfig configures the device authorization grant.
type DeviceConfig struct {
	// CodeTTL is how long a device code and its user code live
	// (expires_in): the time the person has to approve.
	CodeTTL time.Duration `koanf:"code_ttl"`
	// Interval is how long a device waits between polls (interval); a poll
	// sooner answers slow_down and adds 5 s for that device.
	Interval time.Duration `koanf:"interval"`
}

func (c DeviceConfig) validate() error {
	var errs []error
	if c.CodeTTL < time.Minute || c.CodeTTL > storage.AuthRequestMaxTTL {
		errs = append(errs, fmt.Errorf("device.code_ttl: must be between 1m and %v, got %v", storage.AuthRequestMaxTTL, c.CodeTTL))
	}
	if c.Interval < time.Second || c.Interval > c.CodeTTL {
		errs = append(errs, fmt.Errorf("device.interval: must be between 1s and device.code_ttl, got %v", c.Interval))
	}
	return errors.Join(errs...)
}

// slowDownStep is what each slow_down adds to a device's interval
// (RFC 8628 §3.5).
const slowDownStep = 5 * time.Second

// maxScopeParam bounds the scope parameter of a device authorization
// request.
const maxScopeParam = 1024

// The token endpoint errors of RFC 8628 §3.5, which fosite does not
// define. Each use takes a copy (WithHint), never changing these.
var (
	errAuthorizationPending = &fosite.RFC6749Error{ErrorField: "authorization_pending", CodeField: http.StatusBadRequest,
		DescriptionField: "The authorization request is still pending: the person has not approved it yet."}
	errSlowDown = &fosite.RFC6749Error{ErrorField: "slow_down", CodeField: http.StatusBadRequest,
		DescriptionField: "The authorization request is still pending and the device polls too often."}
	errExpiredToken = &fosite.RFC6749Error{ErrorField: "expired_token", CodeField: http.StatusBadRequest,
		DescriptionField: "The device_code has expired; start a new device authorization request."}
)

// deviceStore is what the device grant needs of storage.
type deviceStore interface {
	storage.DeviceCodes
}

// deviceCodeSignature is the key a device code is stored under: its HMAC,
// so that the database never holds a code that could be redeemed, and a
// lookup compares MACs, never the code itself.
func (p *Provider) deviceCodeSignature(code string) string {
	return hex.EncodeToString(p.keyring.MAC("device-code", []byte(code)))
}

// validDeviceCode reports whether code has the shape authd issues: 32
// random bytes in canonical unpadded base64url.
func validDeviceCode(code string) bool {
	return len(code) == 43 && canonicalBase64URL(code)
}

// handleDeviceAuthorization is the device authorization endpoint (RFC 8628
// §3.1): a client with the grant authenticates as at the token endpoint
// (a public client sends its client_id) and asks for scopes; authd keeps
// a device code and a user code for device.code_ttl and answers both,
// with where the person goes to approve (§3.2).
func (p *Provider) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p.limiter != nil {
		if retry, ok := p.limiter.TokenByIP(ctx, telemetry.ClientIP(r)); !ok {
			p.tooManyRequests(ctx, w, r, nil, retry)
			return
		}
	}
	form, client, err := p.clientForm(w, r)
	if err == nil {
		err = checkDeviceClient(client)
	}
	var scopes []string
	if err == nil {
		scopes, err = deviceScopes(client, form)
	}
	if err != nil {
		p.writeError(ctx, w, r, nil, err)
		return
	}
	code, userCode, err := p.createDeviceCode(ctx, client.GetID(), scopes)
	if err != nil {
		p.writeError(ctx, w, r, nil, fosite.ErrServerError.WithHint("Storing the device authorization failed.").WithWrap(err))
		return
	}
	verify := p.cfg.Issuer + PathDevice
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"device_code": code, "user_code": FormatUserCode(userCode), "verification_uri": verify,
		"verification_uri_complete": verify + "?" + url.Values{"user_code": {FormatUserCode(userCode)}}.Encode(),
		"expires_in":                int(p.cfg.Device.CodeTTL.Seconds()), "interval": int(p.cfg.Device.Interval.Seconds()),
	})
}

// checkDeviceClient refuses a client not registered for the grant.
func checkDeviceClient(c fosite.Client) error {
	if !c.GetGrantTypes().Has(GrantDeviceCode) {
		return fosite.ErrUnauthorizedClient.WithHint("The client is not registered for the device authorization grant (--grant-type " + GrantDeviceCode + ").")
	}
	return nil
}

// deviceScopes are the scopes a device authorization request asks for,
// each one the client may request.
func deviceScopes(c fosite.Client, form url.Values) ([]string, error) {
	raw := form.Get("scope")
	if len(raw) > maxScopeParam {
		return nil, fosite.ErrInvalidRequest.WithHintf("The scope parameter is longer than %d bytes.", maxScopeParam)
	}
	var out []string
	for _, s := range strings.Fields(raw) {
		if !c.GetScopes().Has(s) {
			return nil, fosite.ErrInvalidScope.WithHintf("The client may not request the scope '%s'.", truncate(s, 64))
		}
		if !fosite.Arguments(out).Has(s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// createDeviceCode stores a new device authorization and returns its
// device code and user code. A user code already taken (a collision, or a
// record the janitor has yet to remove) is drawn again.
func (p *Provider) createDeviceCode(ctx context.Context, clientID string, scopes []string) (string, string, error) {
	now := p.now().UTC()
	var err error
	for range 5 {
		b := make([]byte, 32)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		code := base64.RawURLEncoding.EncodeToString(b)
		d := &storage.DeviceCode{Signature: p.deviceCodeSignature(code), UserCode: newUserCode(), ClientID: clientID, Scopes: scopes,
			Interval: p.cfg.Device.Interval, CreatedAt: now, ExpiresAt: now.Add(p.cfg.Device.CodeTTL)}
		if err = p.store.CreateDeviceCode(ctx, d); !errors.Is(err, storage.ErrConflict) {
			return code, d.UserCode, err
		}
	}
	return "", "", err
}
