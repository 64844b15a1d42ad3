package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// authdBin is the authd binary TestMain builds, so the example runs
// against the real server as its README says.
var authdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rp-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	authdBin = filepath.Join(dir, "authd")
	build := exec.Command("go", "build", "-o", authdBin, "github.com/authd/authd/cmd/authd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build authd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// authd is a running authd process on a scratch SQLite data dir.
type authd struct {
	base string
	env  []string
}

// startAuthd runs `authd serve` and returns once it logs that it serves.
func startAuthd(t *testing.T) *authd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	a := &authd{base: "http://" + addr}
	a.env = append(os.Environ(), "AUTHD_DATA_DIR="+t.TempDir(), "AUTHD_HTTP_ADDR="+addr, "AUTHD_ISSUER="+a.base)
	cmd := exec.Command(authdBin, "serve")
	cmd.Env = a.env
	// Our own pipe, not StderrPipe: the log is read on after start-up,
	// while Wait runs at cleanup.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var log syncBuffer
	copied := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		<-copied
		r.Close()
		if t.Failed() {
			t.Logf("authd's log:\n%s", log.String())
		}
	})
	// Read the log until "authd is serving"; EOF first means it exited.
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		log.WriteString(line)
		if strings.Contains(line, `"msg":"authd is serving"`) {
			go func() {
				defer close(copied)
				_, _ = io.Copy(&log, br)
			}()
			return a
		}
		if err != nil {
			break
		}
	}
	close(copied)
	t.Fatalf("authd exited before serving:\n%s", log.String())
	return nil
}

// syncBuffer collects authd's log from the copying goroutine for the
// test's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) WriteString(s string) { _, _ = b.Write([]byte(s)) }

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cli runs an authd command on the server's database and decodes its
// JSON output into v.
func (a *authd) cli(t *testing.T, v any, args ...string) {
	t.Helper()
	cmd := exec.Command(authdBin, args...)
	cmd.Env = a.env
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("authd %v: %v\n%s", args, err, stderr)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("authd %v: %v\n%s", args, err, out)
	}
}

// browser is a cookie jar that follows redirects, as a browser without
// JavaScript would.
type browser struct {
	t      *testing.T
	client *http.Client
}

// page is the response a request ended on, after redirects.
type page struct {
	status int
	url    *url.URL
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status: resp.StatusCode, url: resp.Request.URL, body: string(body)}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

var (
	formRe   = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRe = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)
	buttonRe = regexp.MustCompile(`<button([^>]*)>\s*([^<]+?)\s*</button>`)
	attrRe   = regexp.MustCompile(`(name|value)="([^"]*)"`)
)

// submit posts the form holding the button labelled button, with its
// hidden fields (the CSRF token among them), the button's own name=value
// and fields, from the page's origin as a browser would.
func (b *browser) submit(pg page, button string, fields url.Values) page {
	b.t.Helper()
	for _, m := range formRe.FindAllStringSubmatch(pg.body, -1) {
		labels := buttonRe.FindAllStringSubmatch(m[2], -1)
		i := slices.IndexFunc(labels, func(l []string) bool { return html.UnescapeString(l[2]) == button })
		if i < 0 {
			continue
		}
		form := url.Values{}
		var name, value string
		for _, a := range attrRe.FindAllStringSubmatch(labels[i][1], -1) {
			if a[1] == "name" {
				name = html.UnescapeString(a[2])
			} else {
				value = html.UnescapeString(a[2])
			}
		}
		if name != "" {
			form.Set(name, value)
		}
		for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
			form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		for k, v := range fields {
			form[k] = v
		}
		action, err := pg.url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			b.t.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(form.Encode()))
		if err != nil {
			b.t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", pg.url.Scheme+"://"+pg.url.Host)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		return b.do(req)
	}
	b.t.Fatalf("no form with a %q button on %s:\n%s", button, pg.url, pg.body)
	return page{}
}

// TestSignInRefreshLogout runs the example against a real authd, as its
// README does: the client and the user made with the CLI; sign-in,
// consent, the claims page, a refresh and logout driven by a browser.
func TestSignInRefreshLogout(t *testing.T) {
	srv := startAuthd(t)

	rpSrv := httptest.NewUnstartedServer(nil)
	t.Cleanup(rpSrv.Close)
	base := "http://" + rpSrv.Listener.Addr().String()

	var client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	srv.cli(t, &client, "clients", "create", "--name", "Example RP",
		"--redirect-uri", base+"/callback", "--post-logout-redirect-uri", base+"/")
	const email, password = "ada@example.com", "correct horse battery staple 42"
	var user struct {
		ID string `json:"id"`
	}
	srv.cli(t, &user, "users", "create", "--email", email, "--password", password, "--verified", "--name", "Ada Lovelace")

	cfg, err := parseConfig([]string{"--issuer", srv.base, "--client-id", client.ID, "--base-url", base},
		func(k string) string {
			if k == "RP_CLIENT_SECRET" {
				return client.Secret
			}
			return ""
		}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	app, err := newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	rpSrv.Config.Handler = app.Handler()
	rpSrv.Start()

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, client: &http.Client{Jar: jar}}

	if home := b.get(base + "/"); !strings.Contains(home.body, "Not signed in") {
		t.Fatalf("home before sign-in: %d\n%s", home.status, home.body)
	}
	login := b.get(base + "/login")
	if login.url.Host != strings.TrimPrefix(srv.base, "http://") || !strings.Contains(login.body, "Example RP") {
		t.Fatalf("login page: %d %s\n%s", login.status, login.url, login.body)
	}
	consent := b.submit(login, "Sign in", url.Values{"email": {email}, "password": {password}})
	if !strings.Contains(consent.body, "Allow") {
		t.Fatalf("consent page: %d %s\n%s", consent.status, consent.url, consent.body)
	}
	home := b.submit(consent, "Allow", nil)
	if home.url.String() != base+"/" || home.status != http.StatusOK {
		t.Fatalf("after consent: %d %s\n%s", home.status, home.url, home.body)
	}
	for _, want := range []string{`&#34;email&#34;: &#34;` + email, `&#34;sub&#34;: &#34;` + user.ID, `&#34;name&#34;: &#34;Ada Lovelace`, "refreshed 0 times", "Refresh tokens"} {
		if !strings.Contains(home.body, want) {
			t.Fatalf("claims page lacks %q:\n%s", want, home.body)
		}
	}

	refreshed := b.submit(home, "Refresh tokens", nil)
	if refreshed.status != http.StatusOK || !strings.Contains(refreshed.body, "refreshed 1 times") ||
		!strings.Contains(refreshed.body, `&#34;email&#34;: &#34;`+email) {
		t.Fatalf("after refresh: %d %s\n%s", refreshed.status, refreshed.url, refreshed.body)
	}

	out := b.submit(refreshed, "Sign out", nil)
	if out.url.String() != base+"/" || !strings.Contains(out.body, "Not signed in") {
		t.Fatalf("after logout: %d %s\n%s", out.status, out.url, out.body)
	}
	// authd's session ended too: signing in again asks for the password.
	again := b.get(base + "/login")
	if again.url.Host != strings.TrimPrefix(srv.base, "http://") || !strings.Contains(again.body, "Sign in") {
		t.Fatalf("sign-in after logout: %d %s\n%s", again.status, again.url, again.body)
	}
}

// TestCallbackRefusesForeignState: a callback whose state this browser
// did not start is refused before any code exchange.
func TestCallbackRefusesForeignState(t *testing.T) {
	a := &app{log: slog.New(slog.NewTextHandler(t.Output(), nil)), pending: map[string]pendingLogin{}, sessions: map[string]*session{}}
	for name, cookie := range map[string]string{"no cookie": "", "other state": "someone-elses"} {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/callback?code=c&state=abc", nil)
			if cookie != "" {
				req.AddCookie(&http.Cookie{Name: loginCookie, Value: cookie})
			}
			rec := httptest.NewRecorder()
			a.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "state mismatch") {
				t.Fatalf("cookie %q: %d %s", cookie, rec.Code, rec.Body)
			}
		})
	}
}
