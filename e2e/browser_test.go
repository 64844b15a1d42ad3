package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// person is a browser without JavaScript, going through the balancer:
// a cookie jar, redirects followed by hand.
type person struct {
	t      *testing.T
	d      *deployment
	client *http.Client
}

func (d *deployment) newPerson() *person {
	jar, _ := cookiejar.New(nil)
	return &person{t: d.t, d: d, client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	loc    string
	body   string
	url    string
}

func (p *person) do(req *http.Request) page {
	p.t.Helper()
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	loc := resp.Header.Get("Location")
	if loc != "" {
		if u, err := req.URL.Parse(loc); err == nil {
			loc = u.String()
		}
	}
	return page{status: resp.StatusCode, loc: loc, body: string(b), url: req.URL.String()}
}

func (p *person) get(u string) page {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return p.do(req)
}

// follow GETs u and every redirect on the issuer.
func (p *person) follow(u string) page {
	p.t.Helper()
	for range 10 {
		pg := p.get(u)
		if pg.loc == "" || !strings.HasPrefix(pg.loc, p.d.issuer) {
			return pg
		}
		u = pg.loc
	}
	p.t.Fatalf("too many redirects from %s", u)
	return page{}
}

var (
	formRe   = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRe = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)
	buttonRe = regexp.MustCompile(`<button([^>]*)>\s*([^<]+?)\s*</button>`)
)

// submit posts the form holding the button labelled button, with its
// hidden fields plus fields, as a browser would (same-origin).
func (p *person) submit(pg page, button string, fields url.Values) page {
	p.t.Helper()
	for _, m := range formRe.FindAllStringSubmatch(pg.body, -1) {
		labels := buttonRe.FindAllStringSubmatch(m[2], -1)
		if !slices.ContainsFunc(labels, func(l []string) bool { return html.UnescapeString(l[2]) == button }) {
			continue
		}
		form := url.Values{}
		for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
			form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		for k, v := range fields {
			form[k] = v
		}
		base, _ := url.Parse(pg.url)
		action, _ := base.Parse(html.UnescapeString(m[1]))
		req, _ := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base.Scheme+"://"+base.Host)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		return p.do(req)
	}
	p.t.Fatalf("no form with a %q button on %s (%d):\n%s", button, pg.url, pg.status, pg.body)
	return page{}
}

// tokens is what a browser sign-in got the relying party.
type tokens struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
	ID      string `json:"id_token"`
}

// signIn runs the authorization code flow with PKCE as the person, the
// balancer sending every page to replica i, and exchanges the code on
// replica i too.
func (p *person) signIn(i int, email, password string) tokens {
	p.t.Helper()
	d := p.d
	d.via(i)
	verifier := randomString() + randomString()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {d.client.ID}, "redirect_uri": {"http://127.0.0.1:9/cb"},
		"scope": {"openid email offline_access"}, "state": {randomString()}, "nonce": {randomString()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	pg := p.follow(d.issuer + "/oauth2/authorize?" + q.Encode())
	if !strings.HasPrefix(pg.loc, "http://127.0.0.1:9/cb") {
		if pg.status != http.StatusOK {
			p.t.Fatalf("authorize on %s: %d %q\n%s", d.replicas[i].name, pg.status, pg.loc, pg.body)
		}
		next := p.submit(pg, "Sign in", url.Values{"email": {email}, "password": {password}})
		if next.loc == "" {
			p.t.Fatalf("sign in on %s: %d\n%s", d.replicas[i].name, next.status, next.body)
		}
		pg = p.follow(next.loc)
	}
	cb, err := url.Parse(pg.loc)
	if err != nil || cb.Query().Get("code") == "" {
		p.t.Fatalf("no code from %s: %d %q\n%s", d.replicas[i].name, pg.status, pg.loc, pg.body)
	}
	code, _, m := d.post(d.replicas[i], "/oauth2/token", url.Values{"grant_type": {"authorization_code"},
		"code": {cb.Query().Get("code")}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "code_verifier": {verifier}})
	if code != http.StatusOK {
		p.t.Fatalf("code exchange on %s: %d %v", d.replicas[i].name, code, m)
	}
	var tk tokens
	tk.Access, _ = m["access_token"].(string)
	tk.Refresh, _ = m["refresh_token"].(string)
	tk.ID, _ = m["id_token"].(string)
	if tk.Access == "" || tk.Refresh == "" {
		p.t.Fatalf("tokens from %s: %v", d.replicas[i].name, m)
	}
	return tk
}

// account fetches /account through replica i: the page, or a redirect to
// sign in when the browser has no live session.
func (p *person) account(i int) page {
	p.t.Helper()
	p.d.via(i)
	return p.get(p.d.issuer + "/account")
}

func (p *person) signedIn(i int) bool {
	p.t.Helper()
	pg := p.account(i)
	switch {
	case pg.status == http.StatusOK:
		return true
	case pg.status == http.StatusSeeOther && strings.Contains(pg.loc, "/login"):
		return false
	}
	p.t.Fatalf("/account on %s: %d %q\n%s", p.d.replicas[i].name, pg.status, pg.loc, pg.body)
	return false
}

func randomString() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
