package csrf

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

var testKey = bytes.Repeat([]byte{7}, 32)

// issue runs Token on a fresh response and returns the cookie it set and the
// token.
func issue(t *testing.T, p *Protector) (*http.Cookie, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	tok := p.Token(rec, httptest.NewRequest(http.MethodGet, "http://auth.example/login", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Token set %d cookies, want 1", len(cookies))
	}
	return cookies[0], tok
}

func post(form url.Values, cookie *http.Cookie, headers map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://auth.example/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != nil {
		r.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	return r
}

func TestCookieAttributes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secure bool
		want   string
	}{
		{"https", true, "__Host-authd_csrf"},
		{"http", false, "authd_csrf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := issue(t, New(testKey, tc.secure))
			if c.Name != tc.want || c.Path != "/" || !c.HttpOnly || c.Secure != tc.secure || c.SameSite != http.SameSiteLaxMode || c.Domain != "" {
				t.Errorf("cookie = %+v, want %s; Path=/; HttpOnly; Secure=%v; SameSite=Lax; no Domain", c, tc.want, tc.secure)
			}
		})
	}
}

func TestTokenReusesCookie(t *testing.T) {
	p := New(testKey, false)
	c, _ := issue(t, p)

	// A request that has the cookie gets no new one.
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(c)
	tok1, tok2 := p.Token(rec, r), p.Token(rec, r)
	if n := len(rec.Result().Cookies()); n != 0 {
		t.Errorf("Token with cookie present set %d cookies, want 0", n)
	}
	if tok1 == tok2 {
		t.Error("two tokens are equal; want a fresh nonce each time")
	}
	for _, tok := range []string{tok1, tok2} {
		if err := p.Verify(post(url.Values{FieldName: {tok}}, c, nil)); err != nil {
			t.Errorf("Verify(token %q) = %v, want nil", tok, err)
		}
	}

	// Two calls on one response without a cookie set it once, and both
	// tokens bind to it.
	rec = httptest.NewRecorder()
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	tok1, tok2 = p.Token(rec, r), p.Token(rec, r)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("two Token calls set %d cookies, want 1", len(cookies))
	}
	for _, tok := range []string{tok1, tok2} {
		if err := p.Verify(post(url.Values{FieldName: {tok}}, cookies[0], nil)); err != nil {
			t.Errorf("Verify(token %q) = %v, want nil", tok, err)
		}
	}
}

func TestVerify(t *testing.T) {
	p := New(testKey, true)
	cookie, tok := issue(t, p)
	otherCookie, otherTok := issue(t, p)
	forged := []byte(tok)
	forged[len(forged)-2] ^= 1 // flip a bit of the MAC
	_, foreignTok := issue(t, New(bytes.Repeat([]byte{8}, 32), true))

	for _, tc := range []struct {
		name    string
		form    url.Values
		cookie  *http.Cookie
		headers map[string]string
		want    error
	}{
		{name: "valid", form: url.Values{FieldName: {tok}}, cookie: cookie},
		{name: "valid same-origin browser", form: url.Values{FieldName: {tok}}, cookie: cookie,
			headers: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://auth.example"}},
		{name: "valid in header", cookie: cookie, headers: map[string]string{HeaderName: tok}},
		{name: "cross-site Sec-Fetch-Site", form: url.Values{FieldName: {tok}}, cookie: cookie,
			headers: map[string]string{"Sec-Fetch-Site": "cross-site"}, want: ErrCrossOrigin},
		{name: "same-site but other origin", form: url.Values{FieldName: {tok}}, cookie: cookie,
			headers: map[string]string{"Sec-Fetch-Site": "same-site"}, want: ErrCrossOrigin},
		{name: "cross-site Origin without Sec-Fetch-Site", form: url.Values{FieldName: {tok}}, cookie: cookie,
			headers: map[string]string{"Origin": "https://evil.example"}, want: ErrCrossOrigin},
		{name: "missing cookie", form: url.Values{FieldName: {tok}}, want: ErrNoCookie},
		{name: "malformed cookie", form: url.Values{FieldName: {tok}}, cookie: &http.Cookie{Name: cookie.Name, Value: "x"}, want: ErrNoCookie},
		{name: "missing token", form: url.Values{}, cookie: cookie, want: ErrBadToken},
		{name: "garbage token", form: url.Values{FieldName: {"not base64!"}}, cookie: cookie, want: ErrBadToken},
		{name: "forged token", form: url.Values{FieldName: {string(forged)}}, cookie: cookie, want: ErrBadToken},
		{name: "token from another cookie", form: url.Values{FieldName: {otherTok}}, cookie: cookie, want: ErrBadToken},
		{name: "cookie from another token", form: url.Values{FieldName: {tok}}, cookie: otherCookie, want: ErrBadToken},
		{name: "token under another key", form: url.Values{FieldName: {foreignTok}}, cookie: cookie, want: ErrBadToken},
		{name: "token in query only", cookie: cookie, want: ErrBadToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(tc.form, tc.cookie, tc.headers)
			if tc.name == "token in query only" {
				r.URL.RawQuery = url.Values{FieldName: {tok}}.Encode()
			}
			err := p.Verify(r)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTrustedOrigin(t *testing.T) {
	p := New(testKey, true)
	if err := p.AddTrustedOrigin("https://login.example"); err != nil {
		t.Fatal(err)
	}
	cookie, tok := issue(t, p)
	r := post(url.Values{FieldName: {tok}}, cookie, map[string]string{"Origin": "https://login.example", "Sec-Fetch-Site": "cross-site"})
	if err := p.Verify(r); err != nil {
		t.Errorf("Verify from trusted origin = %v, want nil", err)
	}
}

func TestProtect(t *testing.T) {
	p := New(testKey, false)
	cookie, tok := issue(t, p)
	reached := 0
	h := p.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		w.WriteHeader(http.StatusNoContent)
	}))

	for _, tc := range []struct {
		name string
		req  *http.Request
		want int
	}{
		{"GET passes without token", httptest.NewRequest(http.MethodGet, "/login", nil), http.StatusNoContent},
		{"cross-site GET passes", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/login", nil)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			return r
		}(), http.StatusNoContent},
		{"POST with token", post(url.Values{FieldName: {tok}}, cookie, nil), http.StatusNoContent},
		{"POST without token", post(url.Values{}, cookie, nil), http.StatusForbidden},
		{"POST without cookie", post(url.Values{FieldName: {tok}}, nil, nil), http.StatusForbidden},
		{"cross-site POST with valid token", post(url.Values{FieldName: {tok}}, cookie,
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}), http.StatusForbidden},
		{"cross-site POST by Origin", post(url.Values{FieldName: {tok}}, cookie,
			map[string]string{"Origin": "https://evil.example"}), http.StatusForbidden},
		{"DELETE without token", func() *http.Request {
			r := httptest.NewRequest(http.MethodDelete, "/x", nil)
			r.AddCookie(cookie)
			return r
		}(), http.StatusForbidden},
		{"oversized body", post(url.Values{FieldName: {tok}, "pad": {strings.Repeat("a", MaxFormBytes)}}, cookie, nil), http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := reached
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.req)
			if rec.Code != tc.want {
				t.Fatalf("status = %d, want %d; body:\n%s", rec.Code, tc.want, rec.Body)
			}
			if passed := reached > before; passed != (tc.want == http.StatusNoContent) {
				t.Errorf("handler reached = %v, want %v", passed, !passed)
			}
			if tc.want == http.StatusForbidden {
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
					t.Errorf("deny Content-Type = %q, want text/html", ct)
				}
				if !strings.Contains(rec.Body.String(), "<h1>Request blocked</h1>") {
					t.Errorf("deny page = %q, want a readable page", rec.Body)
				}
			}
		})
	}
}

func TestSetDenyHandler(t *testing.T) {
	p := New(testKey, false)
	var got error
	p.SetDenyHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	})
	rec := httptest.NewRecorder()
	p.Protect(http.NotFoundHandler()).ServeHTTP(rec, post(url.Values{}, nil, nil))
	if rec.Code != http.StatusTeapot || !errors.Is(got, ErrNoCookie) {
		t.Errorf("deny handler: status %d, err %v; want 418, ErrNoCookie", rec.Code, got)
	}
}

func TestNewRejectsShortKey(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with a 16-byte key did not panic")
		}
	}()
	New(make([]byte, 16), false)
}
