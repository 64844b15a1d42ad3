package redis

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// The shared test Redis: AUTHD_TEST_REDIS_URL, or this. Tests on it use a
// random key prefix each and delete their keys; they never flush it.
const defaultTestURL = "redis://127.0.0.1:6379"

func testURL() string {
	if u := os.Getenv("AUTHD_TEST_REDIS_URL"); u != "" {
		return u
	}
	return defaultTestURL
}

const redisHint = "Redis 7 is required for these tests (%s; set AUTHD_TEST_REDIS_URL to change it). " +
	"Start one (scripts/services.sh does), e.g.: apt-get install redis-server && " +
	"redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ''"

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newPrefix returns a fresh key prefix on the shared Redis and deletes
// every key under it when t ends.
func newPrefix(t testing.TB) string {
	t.Helper()
	prefix := "authdtest:" + randomHex(6) + ":"
	admin := adminClient(t, testURL())
	t.Cleanup(func() { deletePrefix(t, admin, prefix) })
	return prefix
}

// adminClient is a plain rueidis client for setting up and inspecting
// Redis behind the package's back. It fails the test loudly when Redis
// does not answer.
func adminClient(t testing.TB, url string) rueidis.Client {
	t.Helper()
	opt, err := parseURL(url)
	if err != nil {
		t.Fatalf("parse %s: %v", redactURL(url), err)
	}
	opt.DisableCache = true
	opt.Dialer.Timeout = 2 * time.Second
	rc, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("connect to Redis: %v\n"+redisHint, err, redactURL(url))
	}
	t.Cleanup(rc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rc.Do(ctx, rc.B().Ping().Build()).Error(); err != nil {
		t.Fatalf("Redis does not answer: %v\n"+redisHint, err, redactURL(url))
	}
	return rc
}

func deletePrefix(t testing.TB, rc rueidis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cursor uint64
	for {
		e, err := rc.Do(ctx, rc.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Errorf("clean up %s*: %v", prefix, err)
			return
		}
		if len(e.Elements) > 0 {
			if err := rc.Do(ctx, rc.B().Unlink().Key(e.Elements...).Build()).Error(); err != nil {
				t.Errorf("clean up %s*: %v", prefix, err)
				return
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return
		}
	}
}

// openClient opens a Client for the test and closes it when t ends.
func openClient(t testing.TB, url string, opts Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Open(ctx, url, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v\n"+redisHint, redactURL(url), err, redactURL(url))
	}
	t.Cleanup(c.Close)
	// Open starts degraded on a Redis nobody answers for: the tests want
	// one that answers, and say so loudly.
	if err := c.Healthy(); err != nil {
		t.Fatalf("Open(%s): %v\n"+redisHint, redactURL(url), err, redactURL(url))
	}
	return c
}

// sharedClient opens a Client on the shared Redis under prefix.
func sharedClient(t testing.TB, prefix string) *Client {
	t.Helper()
	return openClient(t, testURL(), Options{Prefix: prefix})
}

// newRevocationSet returns a set closed when t ends (before its client).
func newRevocationSet(t testing.TB, c *Client) *RevocationSet {
	s := NewRevocationSet(c)
	t.Cleanup(s.Close)
	return s
}

// ---------------------------------------------------------------- servers of our own

// server is a redis-server this test started on a free loopback port, for
// tests that stop, pause, flush or cluster it. It is killed when t ends.
type server struct {
	t    testing.TB
	port int
	dir  string
	args []string // after the port and dir
	cmd  *exec.Cmd
	done chan struct{}
}

func redisServerBinary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is required for these tests: %v (apt-get install redis-server; scripts/services.sh does)", err)
	}
	return p
}

// freePort returns a loopback TCP port nobody listens on.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer starts a redis-server without persistence; extra are more
// command-line options.
func startServer(t testing.TB, extra ...string) *server {
	t.Helper()
	s := &server{t: t, port: freePort(t), dir: t.TempDir(), args: extra}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *server) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }
func (s *server) url() string  { return "redis://" + s.addr() }

// start (re)starts the server on its port, empty, and waits until it
// answers.
func (s *server) start() {
	s.t.Helper()
	args := append([]string{"--port", fmt.Sprint(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}, s.args...)
	s.startCmd(redisServerBinary(s.t), args...)
}

func (s *server) startCmd(bin string, args ...string) {
	s.t.Helper()
	logf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan struct{})
	s.done = done
	go func(cmd *exec.Cmd) { cmd.Wait(); close(done) }(s.cmd)
	ok := false
	defer func() {
		if !ok { // t.Fatal below: do not leave the process behind
			s.kill()
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s.ping() == nil {
			ok = true
			return
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			s.t.Fatalf("%s exited at start:\n%s", bin, log)
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.t.Fatalf("%s on %s did not answer within 10 s", bin, s.addr())
}

// ping sends PING over a raw connection; a server that wants a password
// answers too.
func (s *server) ping() error {
	conn, err := net.DialTimeout("tcp", s.addr(), 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING: %q", line)
	}
	return nil
}

// kill stops the server the hard way (a crash: connections reset, data
// gone) and waits for it to exit.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT) // in case it is paused
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// pause freezes the server (SIGSTOP): connections stay open but nothing
// answers, like a Redis stuck in a long command or a network partition.
func (s *server) pause() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatal(err)
	}
}

func (s *server) resume() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatal(err)
	}
}

// redisCLI runs redis-cli with args and returns its output.
func redisCLI(t testing.TB, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli is required for these tests: %v (apt-get install redis-tools)", err)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startCluster starts n masters on loopback ports, joins them into a
// Cluster with redis-cli --cluster create, and waits until every node
// reports the cluster ok.
func startCluster(t testing.TB, n int) []*server {
	t.Helper()
	nodes := make([]*server, n)
	addrs := make([]string, n)
	for i := range nodes {
		nodes[i] = startServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-port", fmt.Sprint(freePort(t)))
		addrs[i] = nodes[i].addr()
	}
	redisCLI(t, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	deadline := time.Now().Add(20 * time.Second)
	for _, node := range nodes {
		for {
			info := redisCLI(t, "-p", fmt.Sprint(node.port), "cluster", "info")
			if strings.Contains(info, "cluster_state:ok") && strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", n)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ok within 20 s; %s says:\n%s", node.addr(), info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}

// startSentinel starts a sentinel monitoring master under name.
func startSentinel(t testing.TB, master *server, name string) *server {
	t.Helper()
	s := &server{t: t, port: freePort(t), dir: t.TempDir()}
	conf := filepath.Join(s.dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\nsentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 1000\n",
		s.port, s.dir, name, master.port, name)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s.startCmd(redisServerBinary(t), conf, "--sentinel")
	t.Cleanup(s.kill)
	return s
}

// ---------------------------------------------------------------- Open

// TestOpenUnreachable: a single-node Redis nobody answers for yet opens
// degraded at once (Healthy says why, without the password), and the
// client is healthy, and works, as soon as a server starts on that port.
func TestOpenUnreachable(t *testing.T) {
	port := freePort(t) // nobody listens there
	var (
		c   *Client
		err error
	)
	bounded(t, "Open of a port nobody listens on", func() { // nobody will: it must not wait for one
		c, err = Open(context.Background(), fmt.Sprintf("redis://:hunter2@127.0.0.1:%d", port), Options{DialTimeout: 500 * time.Millisecond})
	})
	if err != nil {
		t.Fatalf("Open of a port nobody listens on: %v, want a degraded client", err)
	}
	defer c.Close()
	herr := c.Healthy()
	if herr == nil {
		t.Fatal("Healthy of a client that never reached Redis: nil")
	}
	if strings.Contains(herr.Error(), "hunter2") {
		t.Errorf("Healthy shows the password: %v", herr)
	}
	up := make(chan struct{})
	c.onRecover(func() { close(up) })

	srv := &server{t: t, port: port, dir: t.TempDir(), args: []string{"--requirepass", "hunter2"}}
	srv.start()
	t.Cleanup(srv.kill)
	select {
	case <-up:
	case <-time.After(15 * time.Second):
		t.Fatalf("not healthy 15 s after Redis came up: %v", c.Healthy())
	}
	if err := c.Healthy(); err != nil {
		t.Fatalf("Healthy after recovery: %v", err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("Ping after recovery: %v", err)
	}
}

// TestOpenFailsLoudly: settings that cannot work fail Open.
func TestOpenFailsLoudly(t *testing.T) {
	if _, err := Open(context.Background(), "http://127.0.0.1", Options{}); err == nil || !strings.Contains(err.Error(), "redis-cluster://") {
		t.Errorf("Open(http://...) = %v, want an error listing the schemes", err)
	}
	if _, err := Open(context.Background(), "redis://", Options{}); err == nil || !strings.Contains(err.Error(), "host") {
		t.Errorf("Open(redis://) = %v, want an error naming the missing host", err)
	}
	if _, err := Open(context.Background(), testURL(), Options{Timeout: -1}); err == nil {
		t.Error("Open with a negative timeout: no error")
	}
	// Sentinel and Cluster must be reachable at start.
	for _, u := range []string{fmt.Sprintf("redis-sentinel://127.0.0.1:%d/m", freePort(t)), fmt.Sprintf("redis-cluster://127.0.0.1:%d", freePort(t))} {
		if c, err := Open(context.Background(), u, Options{DialTimeout: 500 * time.Millisecond}); err == nil {
			c.Close()
			t.Errorf("Open(%s) of a port nobody listens on: no error", u)
		}
	}
}

func TestOpenAndPing(t *testing.T) {
	prefix := newPrefix(t)
	c := sharedClient(t, prefix)
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := c.Healthy(); err != nil {
		t.Fatalf("Healthy: %v", err)
	}
	if got := c.key("rev", "jti", "x"); got != prefix+"rev:jti:x" {
		t.Fatalf("key = %q", got)
	}
}

func TestOpenWithPasswordAndDB(t *testing.T) {
	srv := startServer(t, "--requirepass", "s3cret")
	if _, err := Open(context.Background(), srv.url(), Options{}); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("Open without the password = %v, want NOAUTH", err)
	}
	_, err := Open(context.Background(), "redis://:wrong@"+srv.addr(), Options{})
	if err == nil || strings.Contains(err.Error(), "wrong") || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("Open with a wrong password = %v, want WRONGPASS without the password", err)
	}
	c := openClient(t, "redis://:s3cret@"+srv.addr()+"/3", Options{})
	rs := newRevocationSet(t, c)
	rs.Add(revocation("jti", "db3", time.Now(), time.Minute))
	if err := rs.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := redisCLI(t, "-p", fmt.Sprint(srv.port), "-a", "s3cret", "--no-auth-warning", "-n", "3", "exists", "authd:rev:jti:db3"); strings.TrimSpace(out) != "1" {
		t.Fatalf("the entry is not in database 3: EXISTS says %q", out)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url      string
		addrs    []string
		db       int
		user     string
		pass     string
		master   string
		tls      bool
		sentPass string
		err      string // substring; empty: no error
	}{
		{url: "redis://127.0.0.1:6379", addrs: []string{"127.0.0.1:6379"}},
		{url: "redis://localhost", addrs: []string{"localhost:6379"}},
		{url: "redis://:pw@10.0.0.1:7000/2", addrs: []string{"10.0.0.1:7000"}, db: 2, pass: "pw"},
		{url: "redis://app:pw@h:1/0?dial_timeout=1s", addrs: []string{"h:1"}, user: "app", pass: "pw"},
		{url: "rediss://h:6380", addrs: []string{"h:6380"}, tls: true},
		{url: "redis-sentinel://s1:26379,s2,s3:5000/mymaster", addrs: []string{"s1:26379", "s2:26379", "s3:5000"}, master: "mymaster"},
		{url: "redis-sentinel://:pw@s1/mymaster/4?sentinel_password=sp", addrs: []string{"s1:26379"}, master: "mymaster", db: 4, pass: "pw", sentPass: "sp"},
		{url: "rediss-sentinel://s1,s2/m", addrs: []string{"s1:26379", "s2:26379"}, master: "m", tls: true},
		{url: "redis-cluster://n1:7000,n2:7001,n3", addrs: []string{"n1:7000", "n2:7001", "n3:6379"}},
		{url: "redis-cluster://u:p@n1:7000,[::1]:7001", addrs: []string{"n1:7000", "[::1]:7001"}, user: "u", pass: "p"},
		{url: "rediss-cluster://n1,n2", addrs: []string{"n1:6379", "n2:6379"}, tls: true},
		{url: "redis-sentinel://s1,s2", err: "missing master name"},
		{url: "redis-cluster://n1,n2/3", err: "no database number"},
		{url: "redis-cluster://n1,,n2", err: "empty host"},
		{url: "redis://h?addr=h2:1", err: "redis-cluster://"},
		{url: "redis://h?master_set=m", err: "redis-sentinel://"},
		{url: "redis://h?protocol=2", err: "RESP3"},
		{url: "redis://h?client_cache=0", err: "client-side caching"},
		{url: "redis://h/x", err: "database"},
		{url: "memcached://h", err: "unsupported scheme"},
		{url: "127.0.0.1:6379", err: "want redis://"},
		{url: "redis://", err: "missing host"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			opt, err := parseURL(tc.url)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseURL(%q) error = %v, want one containing %q", tc.url, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseURL(%q): %v", tc.url, err)
			}
			if fmt.Sprint(opt.InitAddress) != fmt.Sprint(tc.addrs) || opt.SelectDB != tc.db || opt.Username != tc.user ||
				opt.Password != tc.pass || opt.Sentinel.MasterSet != tc.master || (opt.TLSConfig != nil) != tc.tls ||
				opt.Sentinel.Password != tc.sentPass {
				t.Fatalf("parseURL(%q) = addrs %v db %d user %q pass %q master %q tls %v sentinel pass %q\nwant addrs %v db %d user %q pass %q master %q tls %v sentinel pass %q",
					tc.url, opt.InitAddress, opt.SelectDB, opt.Username, opt.Password, opt.Sentinel.MasterSet, opt.TLSConfig != nil, opt.Sentinel.Password,
					tc.addrs, tc.db, tc.user, tc.pass, tc.master, tc.tls, tc.sentPass)
			}
			if len(tc.addrs) > 1 && tc.tls && opt.TLSConfig.ServerName != "" {
				t.Errorf("TLS ServerName %q fixed for several hosts", opt.TLSConfig.ServerName)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:pw@h:1/0":                           "redis://:xxxxx@h:1/0",
		"redis://user:pw@h":                           "redis://user:xxxxx@h",
		"redis-cluster://u:p@a,b":                     "redis-cluster://u:xxxxx@a,b",
		"redis://h:1":                                 "redis://h:1",
		"redis-sentinel://s/m?sentinel_password=x":    "redis-sentinel://s/m?<redacted>",
		"redis://h?client_name=a":                     "redis://h?client_name=a",
		"redis-sentinel://:p@s/m?sentinel_password=x": "redis-sentinel://:xxxxx@s/m?<redacted>",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
