package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// server is `authd serve` running in process.
type server struct {
	t       *testing.T
	env     []string // the environment it runs with; CLI runs share it
	addr    string   // http.addr
	base    string   // the issuer: http://addr
	opsBase string   // http://ops_addr, or base
	cancel  context.CancelFunc
	done    chan error // run's result
	stderr  *syncBuffer
}

// startServe runs `authd serve` with env plus a free http.addr (and, when
// withOps, a free http.ops_addr) and waits until /readyz answers 200.
func startServe(t *testing.T, env []string, withOps bool) *server {
	t.Helper()
	addr := freeAddr(t)
	s := &server{t: t, addr: addr, base: "http://" + addr, done: make(chan error, 1), stderr: &syncBuffer{}}
	s.opsBase = s.base
	s.env = append(slices.Clip(env), "AUTHD_HTTP_ADDR="+addr, "AUTHD_ISSUER="+s.base)
	if withOps {
		ops := freeAddr(t)
		s.opsBase = "http://" + ops
		s.env = append(s.env, "AUTHD_HTTP_OPS_ADDR="+ops)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- run(ctx, []string{"serve"}, s.env, io.Discard, s.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30s of cancel\nstderr:\n%s", s.stderr)
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-s.done:
			t.Fatalf("serve returned before it was ready: %v\nstderr:\n%s", err, s.stderr)
		default:
		}
		resp, err := http.Get(s.opsBase + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 30s (last: %v, %v)\nstderr:\n%s", resp, err, s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop cancels serve's context and returns what run returned.
func (s *server) stop() error {
	s.t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		s.t.Fatalf("serve did not return within 30s of cancel\nstderr:\n%s", s.stderr)
		return nil
	}
}

// get fetches url with the given request headers.
func (s *server) get(url string, header ...string) *http.Response {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// postForm posts form to path with HTTP Basic client authentication and
// decodes the JSON answer.
func (s *server) postForm(path string, form url.Values, id, secret string) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			s.t.Fatalf("POST %s %v: answer %d is not JSON: %q", path, form, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, m
}

// jwks returns the kids the server publishes.
func (s *server) jwks() []string {
	s.t.Helper()
	resp, err := http.Get(s.base + "/.well-known/jwks.json")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		s.t.Fatalf("JWKS: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	slices.Sort(kids)
	return kids
}

func (s *server) tokenConfig(id, secret string) *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.base + "/oauth2/token",
		Scopes: []string{"api"}, AuthStyle: oauth2.AuthStyleInHeader}
}

// kidOf returns the kid in a JWT's header.
func kidOf(t *testing.T, jwt string) string {
	t.Helper()
	head, _, ok := strings.Cut(jwt, ".")
	if !ok {
		t.Fatalf("access token %q is not a JWT", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("JWT header %s: %v", b, err)
	}
	return h.KID
}

// TestServe runs the server on each backend and drives it with the CLI and
// HTTP while it runs: the CLI's writes must reach the running server.
func TestServe(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, env []string) {
		s := startServe(t, env, false)

		t.Run("health", func(t *testing.T) {
			for _, path := range []string{"/healthz", "/readyz", "/.well-known/openid-configuration"} {
				if resp := s.get(s.base + path); resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s: status %d, want 200", path, resp.StatusCode)
				}
			}
		})

		t.Run("headers", func(t *testing.T) {
			tests := []struct {
				name   string
				path   string
				sendID string // X-Request-Id sent; "" none
				echo   bool   // want it echoed
			}{
				{"no id", "/healthz", "", false},
				{"well-formed id echoed", "/healthz", "req-12345678.abc_DEF", true},
				{"well-formed id on 404", "/nope", "abcdefgh", true},
				{"too short replaced", "/healthz", "abc", false},
				{"bad characters replaced", "/healthz", "abcdefgh<script>", false},
				{"too long replaced", "/.well-known/jwks.json", strings.Repeat("a", 65), false},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var h []string
					if tt.sendID != "" {
						h = []string{"X-Request-Id", tt.sendID}
					}
					resp := s.get(s.base+tt.path, h...)
					got := resp.Header.Get("X-Request-Id")
					switch {
					case got == "":
						t.Errorf("GET %s with X-Request-Id %q: no X-Request-Id in the response", tt.path, tt.sendID)
					case tt.echo && got != tt.sendID:
						t.Errorf("GET %s with X-Request-Id %q: got %q, want it echoed", tt.path, tt.sendID, got)
					case !tt.echo && tt.sendID != "" && got == tt.sendID:
						t.Errorf("GET %s with malformed X-Request-Id %q: echoed, want a fresh id", tt.path, tt.sendID)
					}
					for name, want := range map[string]string{
						"X-Content-Type-Options": "nosniff",
						"Referrer-Policy":        "no-referrer",
						"X-Frame-Options":        "DENY",
					} {
						if v := resp.Header.Get(name); v != want {
							t.Errorf("GET %s: %s = %q, want %q", tt.path, name, v, want)
						}
					}
					if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
						t.Errorf("GET %s: Content-Security-Policy = %q, want frame-ancestors 'none'", tt.path, csp)
					}
					if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "" {
						t.Errorf("GET %s on an http issuer: Strict-Transport-Security = %q, want none", tt.path, hsts)
					}
				})
			}
			// Two requests without an id get two ids.
			if a, b := s.get(s.base+"/healthz").Header.Get("X-Request-Id"), s.get(s.base+"/healthz").Header.Get("X-Request-Id"); a == b {
				t.Errorf("two requests got the same X-Request-Id %q", a)
			}
		})

		// A client created by the CLI while the server runs works at once,
		// even though the server had just cached its id as unknown.
		id, secret := "svc-"+strings.ReplaceAll(t.Name(), "/", "-"), "a-long-enough-secret-for-tests"
		cc := s.tokenConfig(id, secret)
		ctx := context.Background()
		if _, err := cc.Token(ctx); err == nil {
			t.Fatalf("token for client %s before it exists: got one", id)
		}
		mustRun(t, s.env, "clients", "create", "--name", "svc", "--id", id, "--secret", secret,
			"--grant-type", "client_credentials", "--scope", "api read")
		var tok *oauth2.Token
		var err error
		if !eventually(3*time.Second, func() bool { tok, err = cc.Token(ctx); return err == nil }) {
			t.Fatalf("token for client %s created by the CLI while serving: still failing after 3s: %v\nstderr:\n%s", id, err, s.stderr)
		}
		kidA := kidOf(t, tok.AccessToken)
		if kids := s.jwks(); !slices.Equal(kids, []string{kidA}) {
			t.Errorf("JWKS before rotation: %q, want only the signing key %q", kids, kidA)
		}

		t.Run("introspect and revoke", func(t *testing.T) {
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			code, m := s.postForm("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, id, secret)
			if code != http.StatusOK || m["active"] != true || m["client_id"] != id || m["scope"] != "api" {
				t.Errorf("introspect a fresh token: %d %v, want 200 active, client_id %s, scope api", code, m, id)
			}
			code, m = s.postForm("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, id, "wrong-secret")
			if code != http.StatusUnauthorized || m["active"] != nil {
				t.Errorf("introspect with a wrong secret: %d %v, want 401 invalid_client", code, m)
			}
			if code, m := s.postForm("/oauth2/revoke", url.Values{"token": {tok.AccessToken}}, id, secret); code != http.StatusOK {
				t.Errorf("revoke: %d %v, want 200", code, m)
			}
			code, m = s.postForm("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, id, secret)
			if code != http.StatusOK || m["active"] != false {
				t.Errorf("introspect a revoked token: %d %v, want 200 inactive", code, m)
			}
		})

		// keys rotate through the CLI: the server publishes both keys and
		// signs with the new one; tokens signed by the old key stay valid.
		oldTok := tok.AccessToken
		kidB := rotateKey(t, s.env)
		want := []string{kidA, kidB}
		slices.Sort(want)
		var kids []string
		if !eventually(5*time.Second, func() bool { kids = s.jwks(); return slices.Equal(kids, want) }) {
			t.Fatalf("JWKS after keys rotate: %q after 5s, want %q\nstderr:\n%s", kids, want, s.stderr)
		}
		tok, err = cc.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := kidOf(t, tok.AccessToken); got != kidB {
			t.Errorf("token after rotation: kid %s, want the new key %s (old %s)", got, kidB, kidA)
		}
		if code, m := s.postForm("/oauth2/introspect", url.Values{"token": {oldTok}}, id, secret); code != http.StatusOK || m["active"] != true {
			t.Errorf("introspect a token signed by the retired key: %d %v, want active", code, m)
		}

		// A client deleted by the CLI stops working.
		mustRun(t, s.env, "clients", "delete", id)
		if !eventually(3*time.Second, func() bool { _, err = cc.Token(ctx); return err != nil }) {
			t.Errorf("token for client %s deleted by the CLI: still issued after 3s", id)
		}

		// Graceful shutdown: a request in flight when the context ends
		// completes, then run returns nil.
		cid, csecret := id+"-2", "another-long-enough-secret"
		mustRun(t, s.env, "clients", "create", "--name", "svc2", "--id", cid, "--secret", csecret,
			"--grant-type", "client_credentials", "--scope", "api")
		inFlight := s.startSlowTokenRequest(cid, csecret)
		s.cancel()
		if !eventually(10*time.Second, func() bool {
			c, err := net.DialTimeout("tcp", s.addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err != nil
		}) {
			t.Fatalf("serve still accepts connections 10s after cancel")
		}
		resp := inFlight.finish()
		if resp.StatusCode != http.StatusOK || resp.body["access_token"] == nil {
			t.Errorf("request in flight during shutdown: %d %v, want 200 with a token", resp.StatusCode, resp.body)
		}
		if err := s.stop(); err != nil {
			t.Errorf("serve after cancel: returned %v, want nil (graceful shutdown)\nstderr:\n%s", err, s.stderr)
		}
	})
}

// slowRequest is a token request whose body is held back: the server is
// running its handler, waiting for the body, when the test wants it.
type slowRequest struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	body string
}

type slowResponse struct {
	StatusCode int
	body       map[string]any
}

// startSlowTokenRequest sends a token request's headers with
// "Expect: 100-continue" and returns once the server answered "100
// Continue", which Go's server does when the handler first reads the body:
// from then on the request is in flight.
func (s *server) startSlowTokenRequest(id, secret string) *slowRequest {
	s.t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}.Encode()
	auth := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
	fmt.Fprintf(conn, "POST /oauth2/token HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		s.addr, auth, len(body))
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		s.t.Fatalf("slow request: want 100 Continue, got %q, %v", line, err)
	}
	if blank, err := br.ReadString('\n'); err != nil || blank != "\r\n" {
		s.t.Fatalf("slow request: after 100 Continue got %q, %v", blank, err)
	}
	return &slowRequest{t: s.t, conn: conn, br: br, body: body}
}

// finish sends the body and reads the response.
func (r *slowRequest) finish() slowResponse {
	r.t.Helper()
	if _, err := io.WriteString(r.conn, r.body); err != nil {
		r.t.Fatalf("slow request: sending the body: %v", err)
	}
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		r.t.Fatalf("slow request: reading the response: %v", err)
	}
	defer resp.Body.Close()
	out := slowResponse{StatusCode: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&out.body); err != nil {
		r.t.Errorf("slow request: response %d is not JSON: %v", resp.StatusCode, err)
	}
	return out
}

// TestServeOpsAddr: with http.ops_addr, the probes live on their own
// listener and not on the issuer's.
func TestServeOpsAddr(t *testing.T) {
	t.Parallel()
	s := startServe(t, sqliteEnv(t), true)
	tests := []struct {
		url  string
		want int
	}{
		{s.opsBase + "/healthz", http.StatusOK},
		{s.opsBase + "/readyz", http.StatusOK},
		{s.base + "/healthz", http.StatusNotFound},
		{s.base + "/readyz", http.StatusNotFound},
		{s.base + "/.well-known/openid-configuration", http.StatusOK},
		{s.opsBase + "/.well-known/openid-configuration", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			resp := s.get(tt.url)
			if resp.StatusCode != tt.want {
				t.Errorf("GET %s: status %d, want %d", tt.url, resp.StatusCode, tt.want)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Errorf("GET %s: no X-Request-Id", tt.url)
			}
		})
	}
	if err := s.stop(); err != nil {
		t.Errorf("serve with ops_addr after cancel: %v, want nil", err)
	}
	for _, base := range []string{s.base, s.opsBase} {
		if _, err := http.Get(base + "/healthz"); err == nil {
			t.Errorf("%s still answers after serve returned", base)
		}
	}
}

// TestServeListenError: when a listener cannot be opened serve fails,
// names the key, and leaves no listener behind.
func TestServeListenError(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name    string
		addr    string // "" a free one
		opsAddr string
		want    string
	}{
		{"addr in use", busy.Addr().String(), "", "http.addr"},
		{"ops_addr in use", "", busy.Addr().String(), "http.ops_addr"},
	}
	env := sqliteEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.addr
			if addr == "" {
				addr = freeAddr(t)
			}
			environ := append(slices.Clip(env), "AUTHD_HTTP_ADDR="+addr)
			if tt.opsAddr != "" {
				environ = append(environ, "AUTHD_HTTP_OPS_ADDR="+tt.opsAddr)
			}
			r := runCLI(t, environ, "serve")
			if r.err == nil || !strings.Contains(r.err.Error(), tt.want) || !strings.Contains(r.err.Error(), busy.Addr().String()) {
				t.Errorf("serve with %s busy: got %v, want an error naming %s and %s", tt.want, r.err, tt.want, busy.Addr())
			}
			if tt.addr == "" { // the main listener was opened first: it must be closed again
				l, err := net.Listen("tcp", addr)
				if err != nil {
					t.Errorf("after the failed serve, http.addr %s is still taken: %v", addr, err)
				} else {
					l.Close()
				}
			}
		})
	}
}

// TestServeRequiresMigrations: with auto_migrate off, serve refuses to
// start on a database with pending migrations.
func TestServeRequiresMigrations(t *testing.T) {
	t.Parallel()
	env := append(sqliteEnv(t), "AUTHD_DATABASE_AUTO_MIGRATE=false", "AUTHD_HTTP_ADDR="+freeAddr(t))
	r := runCLI(t, env, "serve")
	if r.err == nil || !strings.Contains(r.err.Error(), "authd migrate up") {
		t.Fatalf("serve with pending migrations and auto_migrate off: got %v, want an error telling to run authd migrate up", r.err)
	}
	if errors.As(r.err, new(usageError)) {
		t.Errorf("pending migrations reported as a usage error")
	}
}

// TestServeTrustedProxies: serve names a request's client by its
// X-Forwarded-For only when the peer is in http.trusted_proxies (the
// access log's client_ip is what rate limits, sessions and audit read).
func TestServeTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, trusted, want string
	}{
		{name: "loopback trusted", trusted: "127.0.0.0/8,::1", want: "203.0.113.9"},
		{name: "nothing trusted", trusted: "", want: "127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServe(t, append(sqliteEnv(t), "AUTHD_HTTP_TRUSTED_PROXIES="+tt.trusted, "AUTHD_LOG_FLUSH_INTERVAL=0s"), false)
			s.get(s.base+"/healthz", "X-Forwarded-For", "198.51.100.1, 203.0.113.9")
			want := `"path":"/healthz","status":200`
			found := eventually(10*time.Second, func() bool {
				for _, line := range strings.Split(s.stderr.String(), "\n") {
					if strings.Contains(line, want) && strings.Contains(line, `"client_ip":"`+tt.want+`"`) {
						return true
					}
				}
				return false
			})
			if !found {
				t.Errorf("no access log line for /healthz with client_ip %s:\n%s", tt.want, s.stderr)
			}
		})
	}
}
