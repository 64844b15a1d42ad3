package main

// A browserless client for the hosted pages: a cookie jar on the shared
// transport, HTML forms found and submitted the way a browser does it
// (hidden fields such as csrf_token, the clicked button's name=value,
// Origin and Sec-Fetch-Site: same-origin), redirects followed by hand so
// each one is a step of its own, and the authorization code + PKCE flow
// built from those. The redirect_uri is never fetched: the code is read
// from the Location header.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Step names of the browser scenarios.
const (
	stepAuthorize   = "authorize"
	stepLoginPage   = "login_page"
	stepSignin      = "signin"
	stepResume      = "resume"
	stepConsentPage = "consent_page"
	stepConsent     = "consent"
	stepToken       = "token"
	stepRefresh     = "refresh"
)

// stepDoer sends one request of a step. *Iter implements it (timed and
// recorded); untimed is the set-up implementation.
type stepDoer interface {
	DoWith(client *http.Client, step string, req *http.Request, check Check) (*Reply, bool)
	Fail(step, kind string)
}

// untimed sends set-up requests (a worker's first refresh token): nothing
// is recorded, and the first failure is kept as a descriptive error.
type untimed struct{ err error }

func (u *untimed) DoWith(client *http.Client, step string, req *http.Request, check Check) (*Reply, bool) {
	resp, err := client.Do(req)
	if err != nil {
		u.Fail(step, fmt.Sprintf("%s %s: %v", req.Method, req.URL, err))
		return nil, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		u.Fail(step, fmt.Sprintf("%s %s: reading the body: %v", req.Method, req.URL, err))
		return nil, false
	}
	r := &Reply{Status: resp.StatusCode, Header: resp.Header, Body: body}
	kind := ""
	if check != nil {
		kind = check(r)
	} else if r.Status < 200 || r.Status > 299 {
		kind = strconv.Itoa(r.Status)
	}
	if kind != "" {
		msg := fmt.Sprintf("%s %s: %s (HTTP %d", req.Method, req.URL, kind, r.Status)
		if loc := r.Header.Get("Location"); loc != "" {
			msg += ", Location " + loc
		}
		u.Fail(step, msg+"): "+snippet(body))
		return r, false
	}
	return r, true
}

func (u *untimed) Fail(step, kind string) {
	if u.err == nil {
		u.err = fmt.Errorf("%s: %s", step, kind)
	}
}

// newBrowser returns a client with a fresh, empty cookie jar on the shared
// transport (so TCP connections are reused across browsers), never
// following redirects.
func (e *Env) newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &http.Client{
		Transport:     e.Client.Transport,
		Jar:           jar,
		Timeout:       e.Client.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// htmlForm is a form found on a page, ready to be submitted.
type htmlForm struct {
	action *url.URL   // absolute
	values url.Values // hidden fields and the clicked button's name=value
}

var (
	formRe   = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRe  = regexp.MustCompile(`(?i)<input\b([^>]*)>`)
	buttonRe = regexp.MustCompile(`(?is)<button\b([^>]*)>(.*?)</button>`)
	tagRe    = regexp.MustCompile(`<[^>]*>`)
	attrRe   = regexp.MustCompile(`([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
)

// attrs parses a tag's attributes (quoted values only, which is what
// html/template writes), unescaping the values.
func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRe.FindAllStringSubmatch(s, -1) {
		v := a[2]
		if v == "" {
			v = a[3]
		}
		m[strings.ToLower(a[1])] = html.UnescapeString(v)
	}
	return m
}

// findForm returns the POST form of page (fetched from pageURL) holding a
// submit button labelled button, with its hidden fields and that button's
// name=value, as a browser would send them when the button is clicked.
func findForm(page []byte, pageURL *url.URL, button string) (*htmlForm, bool) {
	for _, m := range formRe.FindAllStringSubmatch(string(page), -1) {
		fa := attrs(m[1])
		if !strings.EqualFold(fa["method"], "post") {
			continue
		}
		var clicked map[string]string
		for _, b := range buttonRe.FindAllStringSubmatch(m[2], -1) {
			label := strings.TrimSpace(html.UnescapeString(tagRe.ReplaceAllString(b[2], "")))
			if label == button {
				clicked = attrs(b[1])
				break
			}
		}
		if clicked == nil {
			continue
		}
		action, err := pageURL.Parse(fa["action"])
		if err != nil {
			return nil, false
		}
		v := url.Values{}
		for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
			a := attrs(in[1])
			if strings.EqualFold(a["type"], "hidden") && a["name"] != "" {
				v.Add(a["name"], a["value"])
			}
		}
		if n := clicked["name"]; n != "" {
			v.Set(n, clicked["value"])
		}
		return &htmlForm{action: action, values: v}, true
	}
	return nil, false
}

// submitRequest builds the POST of form with fields added, with the
// headers a browser sends on a same-origin form post.
func submitRequest(ctx context.Context, f *htmlForm, fields url.Values) (*http.Request, error) {
	v := url.Values{}
	for k, vs := range f.values {
		v[k] = append([]string(nil), vs...)
	}
	for k, vs := range fields {
		v[k] = vs
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.action.String(), strings.NewReader(v.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Origin", f.action.Scheme+"://"+f.action.Host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return req, nil
}

// location returns the Location of a redirect reply resolved against the
// request URL, or a check failure kind: the status ("200", ...) when the
// reply is not a 302 or 303, "nolocation", "nonloopback" (it may not be
// fetched; never said of the client's redirect_uri, which is not fetched).
func location(r *Reply, base *url.URL, fetch bool) (*url.URL, string) {
	if r.Status != http.StatusSeeOther && r.Status != http.StatusFound {
		return nil, strconv.Itoa(r.Status)
	}
	raw := r.Header.Get("Location")
	if raw == "" {
		return nil, "nolocation"
	}
	u, err := base.Parse(raw)
	if err != nil {
		return nil, "nolocation"
	}
	if fetch {
		if _, err := checkURL(u.String()); err != nil {
			return nil, "nonloopback"
		}
	}
	return u, ""
}

// getReq builds a GET for u in ctx.
func getReq(ctx context.Context, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err == nil {
		req.Header.Set("Accept", "text/html")
	}
	return req, err
}

// randomString returns n random bytes, base64url without padding.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// pkce returns a fresh code verifier and its S256 challenge (RFC 7636).
func pkce() (verifier, challenge string) {
	verifier = randomString(32)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// tokenResponse is the part of a token endpoint answer the scenarios check.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// checkTokenResponse accepts a 200 token response with an access_token
// and, if wantRefresh, a refresh_token ("norefresh"), storing it in *out.
func checkTokenResponse(out *tokenResponse, wantRefresh bool) Check {
	return func(r *Reply) string {
		if r.Status != http.StatusOK {
			return strconv.Itoa(r.Status)
		}
		var tr tokenResponse
		if err := json.Unmarshal(r.Body, &tr); err != nil {
			return "badjson"
		}
		if tr.AccessToken == "" {
			return "notoken"
		}
		if wantRefresh && tr.RefreshToken == "" {
			return "norefresh"
		}
		*out = tr
		return ""
	}
}

// signinForm fetches the login page at pageURL as step login_page and
// returns its sign-in form: a 200 page with a POST form whose button reads
// "Sign in", carrying a csrf_token ("noform" otherwise).
func signinForm(ctx context.Context, d stepDoer, b *http.Client, pageURL *url.URL) (*htmlForm, bool) {
	req, err := getReq(ctx, pageURL.String())
	if err != nil {
		d.Fail(stepLoginPage, "badrequest")
		return nil, false
	}
	var form *htmlForm
	_, ok := d.DoWith(b, stepLoginPage, req, func(r *Reply) string {
		if r.Status != http.StatusOK {
			return strconv.Itoa(r.Status)
		}
		f, found := findForm(r.Body, pageURL, "Sign in")
		if !found || f.values.Get("csrf_token") == "" {
			return "noform"
		}
		form = f
		return ""
	})
	return form, ok
}

// signin posts the sign-in form as step signin: a 303 (302) with a
// Location on this machine succeeds, which it returns. A 401 is a wrong
// password, 429 a lockout, 403 a failed CSRF check.
func signin(ctx context.Context, d stepDoer, b *http.Client, form *htmlForm, email, password string) (*url.URL, bool) {
	req, err := submitRequest(ctx, form, url.Values{"email": {email}, "password": {password}})
	if err != nil {
		d.Fail(stepSignin, "badrequest")
		return nil, false
	}
	var next *url.URL
	_, ok := d.DoWith(b, stepSignin, req, func(r *Reply) string {
		u, kind := location(r, form.action, true)
		next = u
		return kind
	})
	return next, ok
}

// codeFlow is the authorization code + PKCE flow of one client and user.
type codeFlow struct {
	issuer       string
	authorizeURL string
	tokenURL     string
	clientID     string
	basicAuth    string
	redirectURI  string
	scope        string
	email        string
	password     string
	redirect     *url.URL // parsed redirectURI
}

func newCodeFlow(ctx context.Context, env *Env) (*codeFlow, error) {
	switch {
	case env.ClientID == "":
		return nil, fmt.Errorf("-client-id is required (an authorization_code client)")
	case env.UserEmail == "" || env.UserPassword == "":
		return nil, fmt.Errorf("-user-email and -user-password are required (a verified user)")
	case env.RedirectURI == "":
		return nil, fmt.Errorf("-redirect-uri is required")
	}
	redirect, err := url.Parse(env.RedirectURI)
	if err != nil || !redirect.IsAbs() {
		return nil, fmt.Errorf("-redirect-uri %q is not an absolute URL", env.RedirectURI)
	}
	d, err := env.Discovery(ctx)
	if err != nil {
		return nil, err
	}
	authz, err := env.Endpoint(ctx, "authorization_endpoint", func(d *Discovery) string { return d.AuthorizationEndpoint })
	if err != nil {
		return nil, err
	}
	tok, err := env.Endpoint(ctx, "token_endpoint", func(d *Discovery) string { return d.TokenEndpoint })
	if err != nil {
		return nil, err
	}
	return &codeFlow{
		issuer: d.Issuer, authorizeURL: authz, tokenURL: tok,
		clientID: env.ClientID, basicAuth: env.BasicAuth(), redirectURI: env.RedirectURI,
		scope: env.AuthScope, email: env.UserEmail, password: env.UserPassword, redirect: redirect,
	}, nil
}

// as returns a copy of the flow that signs in as email.
func (f *codeFlow) as(email string) *codeFlow {
	c := *f
	c.email = email
	return &c
}

// isCallback reports whether u is the client's redirect_uri (query aside).
func (f *codeFlow) isCallback(u *url.URL) bool {
	return u.Scheme == f.redirect.Scheme && u.Host == f.redirect.Host && u.Path == f.redirect.Path
}

// callback checks the authorization response at the redirect_uri and
// returns the code, or a failure kind: "autherror" (an error parameter),
// "nocode", "state" (not the one sent), "iss" (present but not the issuer,
// RFC 9207).
func (f *codeFlow) callback(u *url.URL, state string) (string, string) {
	q := u.Query()
	switch {
	case q.Get("error") != "":
		return "", "autherror"
	case q.Get("code") == "":
		return "", "nocode"
	case q.Get("state") != state:
		return "", "state"
	case q.Has("iss") && f.issuer != "" && q.Get("iss") != f.issuer:
		return "", "iss"
	}
	return q.Get("code"), ""
}

// run performs one whole flow in a fresh browser (cookie jar):
//
//	authorize     GET the authorization endpoint: 303 to the login page
//	login_page    GET it: the sign-in form and its csrf_token
//	signin        POST email and password: 303 to the resume endpoint
//	resume        GET it: 303 to the redirect_uri with code, state and iss
//	token         POST the code with the PKCE verifier: tokens
//
// When resume sends the person to the consent page instead (a client that
// is not first-party, whose scopes this user has not consented to yet),
// consent_page and consent (Allow) run and resume is repeated; consent is
// remembered per user and client, so only the first flow does that. The
// token response is returned when every step succeeded.
func (f *codeFlow) run(ctx context.Context, d stepDoer, env *Env, wantRefresh bool) (*tokenResponse, bool) {
	b := env.newBrowser()
	verifier, challenge := pkce()
	state, nonce := randomString(16), randomString(16)
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {f.clientID},
		"redirect_uri":          {f.redirectURI},
		"state":                 {state},
		"nonce":                 {nonce},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
	if f.scope != "" {
		q.Set("scope", f.scope)
	}
	authURL, _ := url.Parse(f.authorizeURL) // checked by Env.Endpoint
	if authURL.RawQuery != "" {
		authURL.RawQuery += "&" + q.Encode()
	} else {
		authURL.RawQuery = q.Encode()
	}

	// authorize: a fresh browser has no session, so: to the login page.
	req, err := getReq(ctx, authURL.String())
	if err != nil {
		d.Fail(stepAuthorize, "badrequest")
		return nil, false
	}
	var loginURL *url.URL
	if _, ok := d.DoWith(b, stepAuthorize, req, func(r *Reply) string {
		u, kind := location(r, authURL, true)
		if kind == "" && (f.isCallback(u) || !strings.HasSuffix(u.Path, "/login")) {
			kind = "redirect" // an error sent to the client, or somewhere unexpected
		}
		loginURL = u
		return kind
	}); !ok {
		return nil, false
	}

	form, ok := signinForm(ctx, d, b, loginURL)
	if !ok {
		return nil, false
	}
	next, ok := signin(ctx, d, b, form, f.email, f.password)
	if !ok {
		return nil, false
	}

	// resume (and, once per user and client, consent), up to the callback.
	var code string
	for consented := false; ; {
		req, err := getReq(ctx, next.String())
		if err != nil {
			d.Fail(stepResume, "badrequest")
			return nil, false
		}
		var consentURL *url.URL
		cur := next
		if _, ok := d.DoWith(b, stepResume, req, func(r *Reply) string {
			u, kind := location(r, cur, false)
			switch {
			case kind != "":
				return kind
			case f.isCallback(u):
				code, kind = f.callback(u, state)
				return kind
			case strings.HasSuffix(u.Path, "/consent") && !consented:
				if _, err := checkURL(u.String()); err != nil {
					return "nonloopback"
				}
				consentURL = u
				return ""
			default:
				return "redirect"
			}
		}); !ok {
			return nil, false
		}
		if consentURL == nil {
			break
		}
		consented = true
		if next, ok = f.consent(ctx, d, b, consentURL); !ok {
			return nil, false
		}
	}

	// token: the code exchange, with the PKCE verifier.
	body := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {f.redirectURI},
		"code_verifier": {verifier},
	}.Encode()
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, f.tokenURL, strings.NewReader(body))
	if err != nil {
		d.Fail(stepToken, "badrequest")
		return nil, false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", f.basicAuth)
	var tr tokenResponse
	if _, ok := d.DoWith(b, stepToken, req, checkTokenResponse(&tr, wantRefresh)); !ok {
		return nil, false
	}
	return &tr, true
}

// consent shows the consent page and clicks Allow; it returns where the
// server sends the browser next (the resume endpoint).
func (f *codeFlow) consent(ctx context.Context, d stepDoer, b *http.Client, pageURL *url.URL) (*url.URL, bool) {
	req, err := getReq(ctx, pageURL.String())
	if err != nil {
		d.Fail(stepConsentPage, "badrequest")
		return nil, false
	}
	var form *htmlForm
	if _, ok := d.DoWith(b, stepConsentPage, req, func(r *Reply) string {
		if r.Status != http.StatusOK {
			return strconv.Itoa(r.Status)
		}
		fm, found := findForm(r.Body, pageURL, "Allow")
		if !found {
			return "noform"
		}
		form = fm
		return ""
	}); !ok {
		return nil, false
	}
	req, err = submitRequest(ctx, form, nil)
	if err != nil {
		d.Fail(stepConsent, "badrequest")
		return nil, false
	}
	var next *url.URL
	_, ok := d.DoWith(b, stepConsent, req, func(r *Reply) string {
		u, kind := location(r, form.action, true)
		next = u
		return kind
	})
	return next, ok
}

// refreshChain is one worker's refresh token chain.
type refreshChain struct {
	flow  *codeFlow
	env   *Env
	token string // the current refresh token; "" when the chain is broken
}

// start obtains a first refresh token with one untimed authorization code
// flow.
func (c *refreshChain) start(ctx context.Context) error {
	var u untimed
	// Set-up requests get their own deadline: the run's may be far off.
	ctx, cancel := context.WithTimeout(ctx, 4*c.env.Client.Timeout+10*time.Second)
	defer cancel()
	tr, ok := c.flow.run(ctx, &u, c.env, true)
	if !ok {
		return fmt.Errorf("authorization code flow for a refresh token: %w", u.err)
	}
	c.token = tr.RefreshToken
	return nil
}
