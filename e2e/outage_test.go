package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// load keeps requests going to every replica's OAuth endpoints while a
// test breaks Redis, and records any 5xx or wrong answer; the slowest
// request is logged, not judged (a busy machine decides it).
type load struct {
	d        *deployment
	token    string
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	n        int
	slowest  time.Duration
	failures []string
}

// stallBound is not a speed claim. Redis stays frozen or down until the
// test itself brings it back, after the call under test has returned, so a
// call that waited on Redis without a deadline would never return; one that
// gives up on Redis (commands time out after 200 ms) returns long before
// this bound, however busy the machine.
const stallBound = 30 * time.Second

// propagationBound bounds how long a test waits for a change made on one
// replica to reach another ("within seconds"); the measured delays are
// logged, the bound only keeps a lost change from hanging the test.
const propagationBound = 10 * time.Second

func startLoad(d *deployment, token string) *load {
	l := &load{d: d, token: token, stop: make(chan struct{})}
	for _, r := range d.replicas {
		l.wg.Add(1)
		go l.run(r)
	}
	return l
}

func (l *load) run(r *replica) {
	defer l.wg.Done()
	reqs := []struct {
		path string
		form url.Values
	}{
		{"/oauth2/introspect", url.Values{"token": {l.token}}},
		{"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}},
	}
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		case <-time.After(10 * time.Millisecond):
		}
		rq := reqs[i%len(reqs)]
		start := time.Now()
		code, _, m, err := l.d.tryPost(r, rq.path, rq.form)
		took := time.Since(start)
		l.mu.Lock()
		l.n++
		l.slowest = max(l.slowest, took)
		switch {
		case err != nil:
			l.failures = append(l.failures, fmt.Sprintf("%s %s: %v", r.name, rq.path, err))
		case code >= 500:
			l.failures = append(l.failures, fmt.Sprintf("%s %s: %d %v", r.name, rq.path, code, m))
		case rq.path == "/oauth2/introspect" && m["active"] != true:
			l.failures = append(l.failures, fmt.Sprintf("%s: a live token was answered inactive: %v", r.name, m))
		}
		l.mu.Unlock()
	}
}

func (l *load) finish(t *testing.T) {
	close(l.stop)
	l.wg.Wait()
	t.Logf("background load: %d requests to introspection and token endpoints, slowest %v", l.n, l.slowest.Round(time.Millisecond))
	for _, f := range l.failures {
		t.Error(f)
	}
}

// jti returns a JWT's jti claim.
func jti(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	json.Unmarshal(b, &c)
	return c.JTI
}

// returns fails t if f, called while Redis is frozen or down, has not
// returned within stallBound: it waits on Redis without a deadline.
func returns(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond))
	case <-time.After(stallBound):
		t.Fatalf("%s did not return while Redis was unavailable: it waits on Redis without a deadline", what)
	}
}

// TestRedisOutage breaks the Redis under two replicas, first by freezing
// it (SIGSTOP) and then by crashing it (all data lost) and starting it
// again, under a steady load. See README, "Scaling out", for the
// behaviour checked here.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	d := deploy(t, deployOptions{replicas: 2, redisURL: srv.url(), env: []string{
		// A tight registration limit, to watch limits fall back per replica.
		"AUTHD_RATELIMIT_REGISTER_PER_IP_PER_MINUTE=0.01", "AUTHD_RATELIMIT_REGISTER_PER_IP_BURST=3",
	}})
	A, B := d.replicas[0], d.replicas[1]
	const pw = "correct horse battery staple"
	d.cli("users", "create", "--email", "outage@example.com", "--password", pw, "--verified")

	live := d.clientToken(A)
	revoked := d.clientToken(A)
	for _, r := range d.replicas {
		if !d.active(r, live) || !d.active(r, revoked) {
			t.Fatal("fresh tokens inactive")
		}
	}
	d.revoke(A, revoked)
	if !eventually(propagationBound, func() bool { return !d.active(B, revoked) }) {
		t.Fatal("revocation did not reach B")
	}
	p := d.newPerson()
	p.signIn(0, "outage@example.com", pw)

	register := func(i int, n int) int { // n registrations through replica i; returns how many were allowed
		allowed := 0
		for k := range n {
			rp := d.newPerson()
			d.via(i)
			form := rp.get(d.issuer + "/register")
			r := rp.submit(form, "Create account", url.Values{"email": {fmt.Sprintf("new-%d-%d-%s@example.com", i, k, randomString()[:6])},
				"password": {pw}})
			switch r.status {
			case http.StatusOK:
				allowed++
			case http.StatusTooManyRequests:
			default:
				t.Fatalf("register on %s: %d\n%s", d.replicas[i].name, r.status, r.body)
			}
		}
		return allowed
	}
	if n := register(0, 2) + register(1, 2); n != 3 {
		t.Fatalf("%d of 4 registrations through two replicas allowed with Redis up, want 3 (one shared limit)", n)
	}

	// Garbage written by hand is treated as absent.
	redisCLI(t, "-p", fmt.Sprint(srv.port), "SET", "authd:rev:jti:"+jti(t, live), "not-a-time")
	redisCLI(t, "-p", fmt.Sprint(srv.port), "SET", "authd:rev:epoch", "x")
	for _, r := range d.replicas {
		if !eventually(propagationBound, func() bool { return d.active(r, live) }) || d.active(r, revoked) {
			t.Fatalf("garbage in Redis changed an answer on %s", r.name)
		}
	}

	ld := startLoad(d, live)

	// 1. Frozen: every command times out.
	srv.pause()
	for _, r := range d.replicas {
		returns(t, "introspection while Redis is frozen", func() {
			if !d.active(r, live) || d.active(r, revoked) {
				t.Errorf("%s changed its answers while Redis is frozen", r.name)
			}
		})
		if !eventually(propagationBound, func() bool {
			code, body := d.readyz(r)
			return code == http.StatusOK && strings.Contains(body, "degraded")
		}) {
			code, body := d.readyz(r)
			t.Errorf("/readyz on %s while Redis is frozen: %d %q, want 200 and degraded", r.name, code, body)
		}
	}
	returns(t, "a page while Redis is frozen", func() { p.account(0) })
	srv.resume()
	for _, r := range d.replicas {
		if !eventually(propagationBound, func() bool { code, body := d.readyz(r); return code == 200 && strings.TrimSpace(body) == "ready" }) {
			t.Errorf("%s did not recover from a frozen Redis within 5 s", r.name)
		}
	}

	// 2. Crashed, data lost.
	srv.kill()
	downAt := time.Now()
	for _, r := range d.replicas {
		returns(t, "introspection while Redis is down", func() {
			if !d.active(r, live) {
				t.Errorf("%s: a live token inactive while Redis is down", r.name)
			}
			if d.active(r, revoked) {
				t.Errorf("%s: a revoked token active while Redis is down", r.name)
			}
		})
	}
	for _, r := range d.replicas {
		if !eventually(propagationBound, func() bool {
			code, body := d.readyz(r)
			return code == http.StatusOK && strings.Contains(body, "degraded")
		}) {
			t.Errorf("/readyz on %s while Redis is down does not say degraded", r.name)
		}
	}
	_, body := d.readyz(A)
	t.Logf("/readyz while Redis is down: %s", strings.TrimSpace(body))
	// A revocation made while Redis is down reaches the other replica
	// through the database poll.
	tok := d.clientToken(A)
	if !d.active(B, tok) {
		t.Fatal("fresh token inactive on B")
	}
	d.revoke(A, tok)
	start := time.Now()
	if !eventually(propagationBound, func() bool { return !d.active(B, tok) }) {
		t.Fatal("a revocation made while Redis is down did not reach B within 5 s")
	}
	t.Logf("revocation A -> B while Redis is down (database poll, cache.poll_interval 1s): %v", time.Since(start).Round(time.Millisecond))
	// Rate limits hold per replica: each allows its own burst.
	if a, b := register(0, 4), register(1, 4); a != 3 || b != 3 {
		t.Errorf("registrations allowed while Redis is down: %d on A, %d on B; want 3 each (per-replica limits)", a, b)
	}
	// Pages that need the session store answer 503, quickly.
	returns(t, "sign-in while Redis is down", func() {
		d.via(1)
		form := d.newPerson().get(d.issuer + "/login")
		if form.status != http.StatusOK {
			t.Errorf("/login while Redis is down: %d", form.status)
		}
	})
	srv.start() // empty, as after a crash without persistence
	t.Logf("Redis was down for %v", time.Since(downAt).Round(time.Millisecond))

	for _, r := range d.replicas {
		if !eventually(propagationBound, func() bool { code, body := d.readyz(r); return code == 200 && strings.TrimSpace(body) == "ready" }) {
			t.Errorf("%s did not recover within 5 s of Redis coming back", r.name)
		}
	}
	// The set is rebuilt from the database: the revocations are back in
	// Redis.
	if !eventually(propagationBound, func() bool {
		out := redisCLI(t, "-p", fmt.Sprint(srv.port), "EXISTS", "authd:rev:epoch", "authd:rev:jti:"+jti(t, revoked), "authd:rev:jti:"+jti(t, tok))
		return strings.TrimSpace(out) == "3"
	}) {
		t.Error("the revocation set was not rebuilt in Redis from the database")
	}
	for _, r := range d.replicas {
		if d.active(r, revoked) || d.active(r, tok) || !d.active(r, live) {
			t.Errorf("%s: wrong answers after recovery", r.name)
		}
	}
	// Revocations propagate through Redis again.
	tok2 := d.clientToken(B)
	if !d.active(A, tok2) {
		t.Fatal("fresh token inactive")
	}
	d.revoke(B, tok2)
	start = time.Now()
	if !eventually(propagationBound, func() bool { return !d.active(A, tok2) }) {
		t.Error("after recovery, a revocation does not reach A")
	}
	t.Logf("revocation B -> A after recovery: %v", time.Since(start).Round(time.Microsecond))
	// Sessions were lost with Redis: people sign in again, which works.
	if p.signedIn(0) {
		t.Error("a session survived Redis losing its data")
	}
	p.signIn(1, "outage@example.com", pw)
	if !p.signedIn(0) {
		t.Error("signing in again after recovery does not work")
	}
	ld.finish(t)
}
