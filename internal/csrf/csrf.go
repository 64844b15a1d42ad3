// Package csrf protects the hosted pages' forms against cross-site request
// forgery with two independent checks:
//
//  1. Origin: Go's http.CrossOriginProtection rejects unsafe requests a
//     browser marks as cross-origin (Sec-Fetch-Site), or whose Origin
//     differs from the Host.
//  2. Token (signed double submit): a random value lives in an HttpOnly
//     cookie (__Host-authd_csrf on https, authd_csrf on http); each form
//     carries, in the hidden field csrf_token, a fresh nonce and an
//     HMAC-SHA256 of nonce and cookie value under a server key. A request
//     passes when the field's MAC matches the cookie it came with; the
//     comparison is constant-time. The nonce makes every rendered token
//     different, so compressed responses do not leak it (BREACH).
//
// Safe methods (GET, HEAD, OPTIONS) are never checked: handlers must not
// change anything on them.
package csrf

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/authd/authd/internal/telemetry"
)

// FieldName is the hidden form field carrying the token.
const FieldName = "csrf_token"

// HeaderName may carry the token instead of the form field.
const HeaderName = "X-CSRF-Token"

// MaxFormBytes bounds the request bodies Protect reads.
const MaxFormBytes = 64 << 10

const (
	secretLen = 32 // cookie value, raw bytes
	nonceLen  = 16
	macLen    = sha256.Size
)

var (
	// ErrCrossOrigin: the browser says the request comes from another site.
	ErrCrossOrigin = errors.New("csrf: cross-origin request")
	// ErrNoCookie: the request has no (well-formed) token cookie.
	ErrNoCookie = errors.New("csrf: token cookie missing")
	// ErrBadToken: the form token is missing, malformed or not bound to the
	// request's cookie.
	ErrBadToken = errors.New("csrf: token missing or invalid")
)

// DenyFunc answers a request that failed a check; err is one of the
// errors above (possibly wrapped).
type DenyFunc func(w http.ResponseWriter, r *http.Request, err error)

// Protector issues and checks tokens. It is safe for concurrent use once
// configured.
type Protector struct {
	key    []byte // HMAC key; never empty
	secure bool
	cop    *http.CrossOriginProtection
	deny   DenyFunc // never nil
}

// New returns a protector signing with key (at least 32 bytes of secret,
// e.g. derived from the master key; New panics on a shorter one, which is a
// wiring bug). secure selects the __Host- cookie with the Secure attribute:
// true when the issuer is https.
func New(key []byte, secure bool) *Protector {
	if len(key) < 32 {
		panic("csrf: key must be at least 32 bytes")
	}
	return &Protector{
		key:    append([]byte(nil), key...),
		secure: secure,
		cop:    http.NewCrossOriginProtection(),
		deny:   defaultDeny,
	}
}

// AddTrustedOrigin allows unsafe requests from origin (scheme://host[:port])
// even when the browser marks them cross-origin: for an issuer served behind
// a proxy that rewrites Host. Call it before serving.
func (p *Protector) AddTrustedOrigin(origin string) error {
	return p.cop.AddTrustedOrigin(origin)
}

// SetDenyHandler replaces the page Protect answers failures with (a plain
// 403 page by default). Call it before serving.
func (p *Protector) SetDenyHandler(f DenyFunc) {
	if f != nil {
		p.deny = f
	}
}

// CookieName is the token cookie's name: __Host- prefixed on https.
func (p *Protector) CookieName() string {
	if p.secure {
		return "__Host-authd_csrf"
	}
	return "authd_csrf"
}

// Token returns a form token for the request's browser, setting the cookie
// on w first when the request has none (and no earlier call on w set one).
// Put it in the form field FieldName.
func (p *Protector) Token(w http.ResponseWriter, r *http.Request) string {
	secret, ok := p.cookieSecret(r)
	if !ok {
		secret, ok = p.pendingSecret(w)
	}
	if !ok {
		secret = make([]byte, secretLen)
		rand.Read(secret)
		http.SetCookie(w, &http.Cookie{ // #nosec G124 -- Secure whenever the issuer is https (plain http is for loopback only)
			Name: p.CookieName(), Value: base64.RawURLEncoding.EncodeToString(secret),
			Path: "/", HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode,
		})
	}
	nonce := make([]byte, nonceLen)
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(append(nonce, p.mac(nonce, secret)...))
}

// Verify checks r: the origin check, then the token from the form field
// FieldName (or header HeaderName) against the cookie. It parses the form;
// bound the body first. It checks whatever the method: the caller decides
// when to call it.
func (p *Protector) Verify(r *http.Request) error {
	if err := p.cop.Check(r); err != nil {
		return fmt.Errorf("%w: %w", ErrCrossOrigin, err)
	}
	secret, ok := p.cookieSecret(r)
	if !ok {
		return ErrNoCookie
	}
	tok := r.Header.Get(HeaderName)
	if tok == "" {
		if err := r.ParseForm(); err != nil {
			return fmt.Errorf("%w: %w", ErrBadToken, err)
		}
		tok = r.PostForm.Get(FieldName)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != nonceLen+macLen {
		return ErrBadToken
	}
	if !hmac.Equal(raw[nonceLen:], p.mac(raw[:nonceLen], secret)) {
		return ErrBadToken
	}
	return nil
}

// Protect checks every request with an unsafe method (anything but GET,
// HEAD, OPTIONS) and answers those that fail with the deny handler (403).
// It caps bodies at MaxFormBytes.
func (p *Protector) Protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
		if err := p.Verify(r); err != nil {
			p.deny(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (p *Protector) mac(nonce, secret []byte) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte("authd/csrf/v1\x00"))
	m.Write(nonce)
	m.Write(secret)
	return m.Sum(nil)
}

func (p *Protector) cookieSecret(r *http.Request) ([]byte, bool) {
	c, err := r.Cookie(p.CookieName())
	if err != nil {
		return nil, false
	}
	return decodeSecret(c.Value)
}

// pendingSecret finds the cookie an earlier Token call set on w.
func (p *Protector) pendingSecret(w http.ResponseWriter) ([]byte, bool) {
	prefix := p.CookieName() + "="
	for _, sc := range w.Header()["Set-Cookie"] {
		if v, ok := strings.CutPrefix(sc, prefix); ok {
			v, _, _ = strings.Cut(v, ";")
			return decodeSecret(v)
		}
	}
	return nil, false
}

func decodeSecret(v string) ([]byte, bool) {
	if len(v) != base64.RawURLEncoding.EncodedLen(secretLen) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, false
	}
	return b, true
}

var denyPage = template.Must(template.New("deny").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Request blocked</title></head>
<body>
<main>
<h1>Request blocked</h1>
<p>This form was sent from another site, or it has expired. Go back, reload the page and try again. Cookies must be enabled.</p>
{{with .}}<p>Request ID: <code>{{.}}</code></p>{{end}}
</main>
</body>
</html>
`))

// defaultDeny writes a self-contained 403 page.
func defaultDeny(w http.ResponseWriter, r *http.Request, _ error) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusForbidden)
	denyPage.Execute(w, telemetry.RequestID(r.Context()))
}
