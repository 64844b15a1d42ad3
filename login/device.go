package login

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/authd/authd/internal/render"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/provider"
	"github.com/authd/authd/storage"
)

// badDeviceCode is the one answer to a code that is malformed, unknown,
// expired or already used: the page never says which.
const badDeviceCode = "That code is not valid. Check the code your device shows and try again; codes expire after a few minutes."

// deviceForm shows the verification page (RFC 8628 §3.3), the field
// prefilled from ?user_code= (verification_uri_complete). Nothing is
// looked up until the person presses Continue, so that a link someone
// else sent does not start anything by itself (§5.4).
func (p *Pages) deviceForm(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("user_code")
	if n, ok := provider.NormalizeUserCode(code); ok {
		code = provider.FormatUserCode(n)
	} else {
		code = ""
	}
	p.render.Render(w, r, http.StatusOK, "device", render.DeviceData{UserCode: code})
}

// deviceSubmit takes the code the person typed (any case, dashes and
// spaces ignored), finds the device's pending request, stores the
// authorization request the sign-in and consent steps work on, and hands
// it to the provider, which sends the person to sign in (without a
// session) and always to consent. Each attempt counts against the
// client address's rate limit, which bounds guessing.
func (p *Pages) deviceSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p.limiter != nil {
		if retry, ok := p.limiter.Device(ctx, telemetry.ClientIP(r)); !ok {
			p.tooMany(w, r, retry)
			return
		}
	}
	typed := r.PostForm["user_code"]
	bad := func() {
		shown := ""
		if len(typed) == 1 && len(typed[0]) <= 32 {
			shown = typed[0]
		}
		p.render.Render(w, r, http.StatusBadRequest, "device", render.DeviceData{UserCode: shown,
			Errors: render.Errors{}.Add("user_code", badDeviceCode)})
	}
	if len(typed) != 1 {
		bad()
		return
	}
	code, ok := provider.NormalizeUserCode(typed[0])
	if !ok {
		bad()
		return
	}
	now := p.now().UTC()
	d, err := p.devices.GetPendingDeviceCode(ctx, code, now)
	var c *storage.Client
	if err == nil {
		c, err = p.clients.GetStoredClient(ctx, d.ClientID)
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		p.log.InfoContext(ctx, "device code refused", "ip", telemetry.ClientIP(r))
		bad()
		return
	case err != nil:
		p.internal(w, r, "load device authorization", err)
		return
	}
	// The request lives as long as the device code; the rate limit and a
	// valid pending code are what it takes to store one.
	ar := &storage.AuthRequest{ID: storage.DeviceAuthRequestPrefix + newRequestID(), ClientID: c.ID,
		Form:       url.Values{"client_id": {c.ID}, "scope": {strings.Join(d.Scopes, " ")}, "user_code": {code}},
		ClientAddr: telemetry.ClientIP(r), CreatedAt: now, ExpiresAt: d.ExpiresAt}
	if err := p.devices.CreateAuthRequest(ctx, ar, 0); err != nil {
		p.internal(w, r, "store device authorization request", err)
		return
	}
	p.resume(w, r, ar.ID)
}

// deviceDone says how the device's request ended (the provider sends the
// browser here once it decided): approved, or denied.
func (p *Pages) deviceDone(w http.ResponseWriter, r *http.Request) {
	result := r.URL.Query().Get("result")
	if result != "approved" && result != "denied" {
		p.redirect(w, r, provider.PathDevice)
		return
	}
	p.render.Render(w, r, http.StatusOK, "device", render.DeviceData{Result: result})
}

// newRequestID is a random, URL-safe authorization request id.
func newRequestID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
