package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// redisServer is a redis-server this test started; killed when t ends.
type redisServer struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts a redis-server without persistence on port, with
// extra options, and waits (bounded) until it accepts connections.
func startRedis(t *testing.T, port int, extra ...string) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is required for this test: %v (apt-get install redis-server; scripts/services.sh does)", err)
	}
	dir := t.TempDir()
	args := append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no",
		"--logfile", filepath.Join(dir, "server.log")}, extra...)
	s := &redisServer{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.cmd.Process.Kill(); <-s.done })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if !eventually(10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatalf("redis-server on %s does not accept connections after 10 s", addr)
	}
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	var n int
	fmt.Sscan(port, &n)
	return n
}

// TestServeRedisDownAtStart: serve starts with Redis down, says so once,
// answers /readyz "ready, degraded", issues and introspects tokens
// meanwhile, and is ready as soon as Redis comes up on that port.
func TestServeRedisDownAtStart(t *testing.T) {
	t.Parallel()
	base := sqliteEnv(t)
	id, secret := "svc-redis-down", "a-long-enough-secret-for-tests"
	mustRun(t, base, "clients", "create", "--name", "svc", "--id", id, "--secret", secret,
		"--grant-type", "client_credentials", "--scope", "api")
	port := freePort(t)
	s := startServe(t, append(base, fmt.Sprintf("AUTHD_REDIS_URL=redis://127.0.0.1:%d", port), "AUTHD_LOG_FORMAT=text"), true)

	if code, body := readyz(t, s.opsBase, ""); code != http.StatusOK || !strings.HasPrefix(body, "ready, degraded") {
		t.Fatalf("/readyz with Redis down: %d %q, want 200 \"ready, degraded…\"", code, body)
	}
	if n := strings.Count(s.stderr.String(), "redis unreachable at start-up"); n != 1 {
		t.Errorf("the start-up warning appears %d times, want once\nstderr:\n%s", n, s.stderr)
	}
	if _, fams := scrape(t, s.opsBase); !hasValue(fams, "authd_dependency_up", map[string]string{"dependency": "redis"}, 0) ||
		!hasValue(fams, "authd_dependency_up", map[string]string{"dependency": "database"}, 1) {
		t.Errorf("scrape with Redis down: authd_dependency_up %v, want redis 0, database 1", fams["authd_dependency_up"])
	}
	ctx := context.Background()
	tok, err := s.tokenConfig(id, secret).Token(ctx)
	if err != nil {
		t.Fatalf("token with Redis down: %v\nstderr:\n%s", err, s.stderr)
	}
	code, m := s.postForm("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, id, secret)
	if code != http.StatusOK || m["active"] != true {
		t.Fatalf("introspect with Redis down: %d %v, want 200 active", code, m)
	}

	startRedis(t, port)
	if !eventually(15*time.Second, func() bool { code, body := readyz(t, s.opsBase, ""); return code == http.StatusOK && body == "ready" }) {
		code, body := readyz(t, s.opsBase, "")
		t.Fatalf("/readyz 15 s after Redis came up: %d %q, want 200 \"ready\"\nstderr:\n%s", code, body, s.stderr)
	}
	if _, err := s.tokenConfig(id, secret).Token(ctx); err != nil {
		t.Fatalf("token after Redis came up: %v", err)
	}
	code, m = s.postForm("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, id, secret)
	if code != http.StatusOK || m["active"] != true {
		t.Fatalf("introspect after Redis came up: %d %v, want 200 active", code, m)
	}
	_, fams := scrape(t, s.opsBase)
	if !hasValue(fams, "authd_dependency_up", map[string]string{"dependency": "redis"}, 1) {
		t.Errorf("scrape with Redis up: authd_dependency_up %v, want redis 1", fams["authd_dependency_up"])
	}
	if v, ok := value(fams, "authd_redis_command_duration_seconds", map[string]string{"result": "ok"}); !ok || v == 0 {
		t.Errorf("scrape with Redis up: no Redis command timed (%v, %v)", v, ok)
	}
}

// TestServeRedisMisconfigured: a Redis setting that cannot work stops
// start-up with an error naming redis.url, exit code 1.
func TestServeRedisMisconfigured(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	startRedis(t, port, "--requirepass", "s3cret")
	tests := []struct {
		name string
		url  string
		want []string
	}{
		{"malformed", "redis//127.0.0.1:6379", []string{"redis.url", "redis://"}},
		{"unsupported scheme", "http://127.0.0.1:6379", []string{"redis.url", "unsupported scheme"}},
		{"wrong password", fmt.Sprintf("redis://:wrong@127.0.0.1:%d", port), []string{"redis.url", "WRONGPASS"}},
		{"no password", fmt.Sprintf("redis://127.0.0.1:%d", port), []string{"redis.url", "NOAUTH"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := freeAddr(t)
			r := mustFail(t, append(sqliteEnv(t), "AUTHD_HTTP_ADDR="+addr, "AUTHD_REDIS_URL="+tt.url), 1, tt.want, "serve")
			if strings.Contains(r.err.Error(), ":wrong@") {
				t.Errorf("the error shows the password: %v", r.err)
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("http.addr %s was opened by the refused serve: %v", addr, err)
			}
			l.Close()
		})
	}
}
