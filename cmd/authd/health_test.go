package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/internal/testdb"
)

// tcpProxy forwards connections to a target until it is cut: then every
// open connection is closed and new ones are refused, as when a database
// host goes away.
type tcpProxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{l: l}
	t.Cleanup(p.cut)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *tcpProxy) addr() string { return p.l.Addr().String() }

func (p *tcpProxy) cut() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestReadyzDetails: with the database gone /readyz answers 503 on every
// listener; on the public one the body is the bare status (no host, no
// driver error) unless the caller has the ops token, while the ops
// listener says why.
func TestReadyzDetails(t *testing.T) {
	t.Parallel()
	token := strings.Repeat("t0k3n", 8)
	for _, withOps := range []bool{false, true} {
		name := "public listener"
		if withOps {
			name = "ops listener"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(testdb.Postgres(t))
			if err != nil {
				t.Fatal(err)
			}
			proxy := newTCPProxy(t, u.Host)
			u.Host = proxy.addr()
			s := startServe(t, []string{"AUTHD_DATA_DIR=" + t.TempDir(), "AUTHD_DATABASE_URL=" + u.String(),
				"AUTHD_SECRETS_MASTER_KEY=" + secrets.GenerateMasterKey(), "AUTHD_HTTP_PPROF_TOKEN=" + token}, withOps)
			if code, body := readyz(t, s.opsBase, ""); code != http.StatusOK || body != "ready" {
				t.Fatalf("/readyz with the database up: %d %q, want 200 \"ready\"", code, body)
			}
			proxy.cut()
			if !eventually(10*time.Second, func() bool { code, _ := readyz(t, s.opsBase, ""); return code == http.StatusServiceUnavailable }) {
				t.Fatal("/readyz still 200 after the database went away")
			}
			code, body := readyz(t, s.opsBase, "")
			switch {
			case code != http.StatusServiceUnavailable:
				t.Errorf("/readyz without the database: %d, want 503", code)
			case withOps && !strings.HasPrefix(body, "not ready: database: "):
				t.Errorf("ops /readyz body %q, want the cause (database: …)", body)
			case !withOps && body != "not ready":
				t.Errorf("public /readyz body %q, want just \"not ready\"", body)
			}
			if withOps {
				return
			}
			for _, bad := range []string{"", "Bearer wrong", "Bearer " + token + "x", token} {
				if _, body := readyz(t, s.base, bad); body != "not ready" {
					t.Errorf("public /readyz with Authorization %q: body %q, want \"not ready\"", bad, body)
				}
			}
			if code, body := readyz(t, s.base, "Bearer "+token); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "not ready: database") {
				t.Errorf("public /readyz with the ops token: %d %q, want 503 with the cause", code, body)
			}
		})
	}
}

// readyz returns /readyz's status and trimmed body.
func readyz(t *testing.T, base, authorization string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/readyz", nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s/readyz: %v", base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestReadyzHandlerDegraded: the degraded answer keeps its status and
// summary and shows its cause only with details or the token.
func TestReadyzHandlerDegraded(t *testing.T) {
	t.Parallel()
	token := strings.Repeat("x", 40)
	check := func(_ context.Context) readiness {
		return readiness{code: http.StatusOK, summary: "ready, degraded", cause: "dial tcp 10.1.2.3:6379: i/o timeout"}
	}
	tests := []struct {
		name    string
		details bool
		auth    string
		want    string
	}{
		{"public", false, "", "ready, degraded"},
		{"public with token", false, "Bearer " + token, "ready, degraded: dial tcp 10.1.2.3:6379: i/o timeout"},
		{"ops", true, "", "ready, degraded: dial tcp 10.1.2.3:6379: i/o timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			readyzHandler(check, tt.details, token)(rec, req)
			if got := strings.TrimSpace(rec.Body.String()); rec.Code != http.StatusOK || got != tt.want {
				t.Errorf("got %d %q, want 200 %q", rec.Code, got, tt.want)
			}
		})
	}
}
