package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/authd/authd/internal/testdb"
)

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func lookPath(t testing.TB, bin, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/" + bin); statErr == nil {
			return "/usr/sbin/" + bin
		}
		t.Fatalf("%s is required for the end-to-end tests: %v (apt-get install %s; scripts/services.sh does)", bin, err, pkg)
	}
	return p
}

// waitTCP waits until addr accepts connections.
func waitTCP(t testing.TB, what, addr string, done <-chan struct{}, log func() string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("%s exited at start:\n%s", what, log())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s on %s did not listen within 15 s:\n%s", what, addr, log())
}

// logBuffer collects a process's output for failure messages.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 4<<20 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is a process a test started, killed when the test ends.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	out  *logBuffer
}

func startProc(t testing.TB, dir, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{}), out: &logBuffer{}}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

func (p *proc) kill() {
	if p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGCONT) // in case it is paused
	p.cmd.Process.Kill()
	<-p.done
}

// ---------------------------------------------------------------- Redis

// redisServer is a redis-server of the test's own, without persistence
// (as production may run it: Redis holds nothing the database does not).
type redisServer struct {
	t    testing.TB
	port int
	dir  string
	args []string
	p    *proc
}

func startRedis(t testing.TB, extra ...string) *redisServer {
	t.Helper()
	s := &redisServer{t: t, port: freePort(t), dir: t.TempDir(), args: extra}
	s.start()
	return s
}

func (s *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }
func (s *redisServer) url() string  { return "redis://" + s.addr() }

// start (re)starts the server, empty, on its port.
func (s *redisServer) start() {
	s.t.Helper()
	args := append([]string{"--port", fmt.Sprint(s.port), "--bind", "127.0.0.1", "--dir", s.dir, "--save", "",
		"--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}, s.args...)
	s.p = startProc(s.t, s.dir, lookPath(s.t, "redis-server", "redis-server"), args...)
	waitTCP(s.t, "redis-server", s.addr(), s.p.done, s.p.out.String)
	deadline := time.Now().Add(10 * time.Second)
	for s.ping() != nil { // listening is not yet answering
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s does not answer PING", s.addr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *redisServer) ping() error {
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
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING: %q", line)
	}
	return nil
}

// kill crashes the server: connections reset, data gone.
func (s *redisServer) kill() { s.p.kill() }

// pause freezes the server (SIGSTOP): connections stay open, nothing
// answers.
func (s *redisServer) pause() {
	if err := s.p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatal(err)
	}
}

func (s *redisServer) resume() {
	if err := s.p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatal(err)
	}
}

// redisCLI runs redis-cli with args.
func redisCLI(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(lookPath(t, "redis-cli", "redis-tools"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startCluster starts three masters, joins them into a Cluster and waits
// until every node reports it ok. It returns the redis-cluster:// URL.
func startCluster(t testing.TB) (string, []*redisServer) {
	t.Helper()
	nodes := make([]*redisServer, 3)
	addrs := make([]string, len(nodes))
	for i := range nodes {
		nodes[i] = startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-port", fmt.Sprint(freePort(t)))
		addrs[i] = nodes[i].addr()
	}
	redisCLI(t, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range nodes {
		for {
			info := redisCLI(t, "-p", fmt.Sprint(n.port), "cluster", "info")
			if strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ok within 20 s; %s says:\n%s", n.addr(), info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return "redis-cluster://" + strings.Join(addrs, ","), nodes
}

// ---------------------------------------------------------------- Postgres and PgBouncer

// newDatabase creates a fresh database on the test Postgres and drops it
// when t ends. (A database, not a schema: PgBouncer forwards no
// search_path.)
func newDatabase(t testing.TB) (base *url.URL, name string) {
	t.Helper()
	base, err := url.Parse(testdb.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", base.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		t.Fatalf("Postgres at %s does not answer (%v); start it (scripts/services.sh does) or set AUTHD_TEST_POSTGRES_URL", base.Redacted(), err)
	}
	name = "authd_e2e_" + randomHex(6)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
		db.Close()
	})
	return base, name
}

// startPgBouncer starts a PgBouncer of the test's own in transaction
// pooling mode in front of the test Postgres, and returns the URL of
// database name through it.
func startPgBouncer(t testing.TB, base *url.URL, name string) string {
	t.Helper()
	bin := lookPath(t, "pgbouncer", "pgbouncer")
	// PgBouncer refuses to run as root; it drops to -u's user, which must
	// read its files.
	dir, err := os.MkdirTemp("", "authd-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	host, pgPort := base.Hostname(), base.Port()
	if pgPort == "" {
		pgPort = "5432"
	}
	user := base.User.Username()
	port := freePort(t)
	conf := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
server_reset_query =
ignore_startup_parameters = extra_float_digits
`, host, pgPort, port, filepath.Join(dir, "users.txt"))
	for file, body := range map[string]string{"pgbouncer.ini": conf, "users.txt": fmt.Sprintf("%q \"\"\n", user)} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", unprivilegedUser()}, args...)
	}
	p := startProc(t, dir, bin, args...)
	waitTCP(t, "pgbouncer", fmt.Sprintf("127.0.0.1:%d", port), p.done, p.out.String)
	u := *base
	u.Host = fmt.Sprintf("127.0.0.1:%d", port)
	u.Path = "/" + name
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u.String()
}

func unprivilegedUser() string {
	for _, name := range []string{"nobody", "postgres"} {
		if _, err := user.Lookup(name); err == nil {
			return name
		}
	}
	return "nobody"
}
