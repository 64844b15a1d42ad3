package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/internal/testdb"
)

// backend is a database the CLI can run on, with the environment that
// selects it.
type backend struct {
	name string
	env  func(t *testing.T) []string
}

// backends are the two databases authd supports. SQLite is the embedded
// default (only AUTHD_DATA_DIR set: the database and the generated master
// key live there); Postgres is a fresh schema with a configured master key.
var backends = []backend{
	{"sqlite", sqliteEnv},
	{"postgres", postgresEnv},
}

func sqliteEnv(t *testing.T) []string {
	return []string{"AUTHD_DATA_DIR=" + t.TempDir()}
}

func postgresEnv(t *testing.T) []string {
	return []string{
		"AUTHD_DATA_DIR=" + t.TempDir(),
		"AUTHD_DATABASE_URL=" + testdb.Postgres(t),
		"AUTHD_SECRETS_MASTER_KEY=" + secrets.GenerateMasterKey(),
	}
}

// forEachBackend runs fn as a subtest per backend, in parallel.
func forEachBackend(t *testing.T, fn func(t *testing.T, env []string)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.env(t))
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a
// running server and the reads of the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// result is what one in-process run of the CLI produced.
type result struct {
	args           []string
	stdout, stderr string
	err            error
}

// runCLI runs the CLI in process with environ and args.
func runCLI(t *testing.T, environ []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	err := run(ctx, args, environ, &stdout, &stderr)
	return result{args: args, stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// mustRun runs the CLI and fails the test unless it succeeds.
func mustRun(t *testing.T, environ []string, args ...string) result {
	t.Helper()
	r := runCLI(t, environ, args...)
	if r.err != nil {
		t.Fatalf("authd %s: %v\nstderr:\n%s", strings.Join(args, " "), r.err, r.stderr)
	}
	return r
}

// mustFail runs the CLI and fails the test unless it fails with the exit
// code wantCode and an error (or stderr) containing every one of want.
func mustFail(t *testing.T, environ []string, wantCode int, want []string, args ...string) result {
	t.Helper()
	r := runCLI(t, environ, args...)
	if r.err == nil {
		t.Fatalf("authd %s: got success, want an error containing %q\nstdout:\n%s", strings.Join(args, " "), want, r.stdout)
	}
	if got := exitCode(r.err); got != wantCode {
		t.Errorf("authd %s: exit code %d, want %d (err: %v)", strings.Join(args, " "), got, wantCode, r.err)
	}
	for _, w := range want {
		if !strings.Contains(r.err.Error(), w) && !strings.Contains(r.stderr, w) {
			t.Errorf("authd %s:\n got error %q\nwant it to contain %q\nstderr:\n%s", strings.Join(args, " "), r.err, w, r.stderr)
		}
	}
	return r
}

// decodeJSON decodes the CLI's stdout into v.
func (r result) decodeJSON(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("authd %s: stdout is not the JSON expected (%v):\n%s", strings.Join(r.args, " "), err, r.stdout)
	}
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// eventually polls cond every 50ms until it returns true or d passes; it
// returns cond's last verdict.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
