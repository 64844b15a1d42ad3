package provider

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ory/fosite"

	"github.com/authd/authd/storage"
)

// errRedirectNotRegistered answers an authorization request whose
// redirect_uri the client did not register: an error page, never a
// redirect to it (RFC 6749 §4.1.2.1).
var errRedirectNotRegistered = fosite.ErrInvalidRequest.WithHint("The 'redirect_uri' parameter does not match any of the client's registered redirect URIs.")

// redirectURIRegistered reports whether the redirect_uri of an
// authorization request form is one its client may use (redirectURIAllowed).
// It answers true when there is nothing to check here: no redirect_uri
// (fosite then takes the one registered, or refuses) or no such client
// (fosite refuses it).
//
// It runs before fosite validates the request, because fosite's matcher
// lets every client vary the port of a registered loopback URI, and with
// it the case of the scheme and user info in the authority.
func (p *Provider) redirectURIRegistered(ctx context.Context, form url.Values) bool {
	raw := form.Get("redirect_uri")
	if raw == "" {
		return true
	}
	c, err := p.clients.GetStoredClient(ctx, form.Get("client_id"))
	if err != nil {
		return true
	}
	return redirectURIAllowed(c, raw)
}

// redirectURIAllowed applies exact redirect URI matching (RFC 9700 §2.1,
// RFC 6749 §3.1.2.3): raw must be one of the client's registered URIs,
// byte for byte. The one exception is RFC 8252 §7.3, for native clients
// only (application_type native): a registered http URI on the loopback IP
// literal 127.0.0.1 or [::1] matches the same URI with any port, since a
// native app listens on whatever port it is given. Nothing else may vary:
// not the scheme's case, not the path's, no user info.
func redirectURIAllowed(c *storage.Client, raw string) bool {
	if slices.Contains(c.RedirectURIs, raw) {
		return true
	}
	if c.ApplicationType != storage.ApplicationNative {
		return false
	}
	want, ok := loopbackWithoutPort(raw)
	if !ok {
		return false
	}
	for _, reg := range c.RedirectURIs {
		if got, ok := loopbackWithoutPort(reg); ok && got == want {
			return true
		}
	}
	return false
}

// loopbackWithoutPort returns raw without its port when raw is an http
// URI (scheme in lower case) whose authority is exactly 127.0.0.1 or
// [::1] with an optional port, and which has no fragment.
func loopbackWithoutPort(raw string) (string, bool) {
	const scheme = "http://"
	if !strings.HasPrefix(raw, scheme) || strings.Contains(raw, "#") {
		return "", false
	}
	rest := raw[len(scheme):]
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		port, ok := strings.CutPrefix(authority, host)
		if !ok {
			continue
		}
		if port != "" {
			digits, ok := strings.CutPrefix(port, ":")
			n, err := strconv.Atoi(digits)
			if !ok || err != nil || n < 1 || n > 65535 || strings.TrimLeft(digits, "0123456789") != "" {
				return "", false
			}
		}
		return scheme + host + tail, true
	}
	return "", false
}
