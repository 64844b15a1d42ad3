package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// coreEnv is the core checks' settings: a session cap of 2, and a Redis
// timeout well above the default 200 ms, as these tests share two cores
// with the rest of the suite under the race detector (TestRedisOutage
// checks the default).
var coreEnv = []string{"AUTHD_SESSION_MAX_PER_USER=2", "AUTHD_REDIS_TIMEOUT=2s"}

// TestReplicas runs three replicas on one Postgres (through PgBouncer in
// transaction pooling mode) and one Redis.
func TestReplicas(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	d := deploy(t, deployOptions{replicas: 3, redisURL: srv.url(), env: coreEnv})
	coreChecks(t, d, 50)
	t.Run("KeyRotation", func(t *testing.T) { keyRotation(t, d) })
	t.Run("JobsThroughPgBouncer", func(t *testing.T) { jobsRun(t, d) })
}

// jobsRun checks that River works through PgBouncer: a reset mail queued
// by a request on B is sent (to the log, no SMTP being configured) by
// some replica.
func jobsRun(t *testing.T, d *deployment) {
	d.t = t
	d.cli("users", "create", "--email", "jobs@example.com", "--password", "correct horse battery staple", "--verified")
	p := d.newPerson()
	d.via(1)
	form := p.get(d.issuer + "/forgot-password")
	if r := p.submit(form, "Send link", url.Values{"email": {"jobs@example.com"}}); r.status != http.StatusOK {
		t.Fatalf("forgot password on B: %d\n%s", r.status, r.body)
	}
	sent := eventually(10*time.Second, func() bool {
		for _, r := range d.replicas {
			out := r.p.out.String()
			if strings.Contains(out, "mail not sent") && strings.Contains(out, "jobs@example.com") {
				return true
			}
		}
		return false
	})
	if !sent {
		t.Fatal("the reset mail job did not run within 10 s")
	}
}

// TestReplicasOnCluster runs the same core checks with a three-master
// Redis Cluster.
func TestReplicasOnCluster(t *testing.T) {
	t.Parallel()
	url, _ := startCluster(t)
	d := deploy(t, deployOptions{replicas: 3, redisURL: url, env: coreEnv})
	coreChecks(t, d, 20)
}

// coreChecks are what replicas must agree on. The session cap must be 2.
func coreChecks(t *testing.T, d *deployment, revocations int) {
	A, B, C := d.replicas[0], d.replicas[1], d.replicas[2]
	d.t = t // failures inside belong to this test

	t.Run("TokenAcrossReplicas", func(t *testing.T) {
		d.t = t
		tok := d.clientToken(A)
		for _, r := range d.replicas {
			if !d.active(r, tok) {
				t.Fatalf("a token issued on A is not active on %s", r.name)
			}
		}
	})

	t.Run("RevocationPropagation", func(t *testing.T) {
		d.t = t
		var delays []time.Duration
		for i := range revocations {
			tok := d.clientToken(A)
			if !d.active(A, tok) { // A has checked it: its cache holds "not revoked"
				t.Fatal("fresh token inactive")
			}
			d.revoke(C, tok)
			start := time.Now()
			for d.active(A, tok) {
				if time.Since(start) > propagationBound {
					t.Fatalf("revocation %d on C not seen on A within %v", i, propagationBound)
				}
				time.Sleep(time.Millisecond)
			}
			delays = append(delays, time.Since(start))
		}
		slices.Sort(delays)
		p := func(q float64) time.Duration { return delays[min(len(delays)-1, int(q*float64(len(delays))))] }
		t.Logf("revocation propagation C -> A over %d revocations (measured by polling introspection on A): p50 %v, p90 %v, p99 %v, max %v",
			len(delays), p(0.50).Round(10*time.Microsecond), p(0.90).Round(10*time.Microsecond), p(0.99).Round(10*time.Microsecond),
			delays[len(delays)-1].Round(10*time.Microsecond))
	})

	user := func(email string) {
		d.cli("users", "create", "--email", email, "--password", "correct horse battery staple", "--verified")
	}
	const pw = "correct horse battery staple"

	t.Run("RefreshRotation", func(t *testing.T) {
		d.t = t
		user("rotate@example.com")
		tk := d.newPerson().signIn(0, "rotate@example.com", pw)
		code, _, m := d.post(A, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.Refresh}})
		if code != http.StatusOK {
			t.Fatalf("refresh on A: %d %v", code, m)
		}
		rotated, _ := m["access_token"].(string)
		newRefresh, _ := m["refresh_token"].(string)
		code, _, m = d.post(B, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.Refresh}})
		if code != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("reusing a rotated refresh token on B: %d %v, want 400 invalid_grant", code, m)
		}
		// Reuse revokes the whole family, on every replica.
		if !eventually(propagationBound, func() bool { return !d.active(C, rotated) && !d.active(A, tk.Access) }) {
			t.Fatal("after refresh token reuse, the family's access tokens are still active")
		}
		code, _, _ = d.post(C, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {newRefresh}})
		if code == http.StatusOK {
			t.Fatal("the family's newest refresh token still works after reuse")
		}
	})

	t.Run("SessionAcrossReplicas", func(t *testing.T) {
		d.t = t
		user("session@example.com")
		p := d.newPerson()
		tk := p.signIn(0, "session@example.com", pw)
		for i, r := range d.replicas {
			if !p.signedIn(i) {
				t.Fatalf("a session made on A is not valid on %s", r.name)
			}
			if !d.active(r, tk.Access) {
				t.Fatalf("its access token is not active on %s", r.name)
			}
		}
		// Sign out everywhere, through C.
		acct := p.account(2)
		p.submit(acct, "Sign out everywhere", nil)
		for i, r := range d.replicas {
			if p.signedIn(i) {
				t.Fatalf("after signing out on C, the session still works on %s", r.name)
			}
		}
		if !eventually(propagationBound, func() bool { return !d.active(A, tk.Access) && !d.active(B, tk.Access) }) {
			t.Fatal("after signing out on C, the session's access token is still active")
		}
		if code, _, _ := d.post(B, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.Refresh}}); code == http.StatusOK {
			t.Fatal("the session's refresh token works after sign-out")
		}
	})

	t.Run("SessionLimit", func(t *testing.T) {
		d.t = t
		user("limit@example.com")
		var people []*person
		var toks []tokens
		for i := range 3 { // on A, B and C in turn; the cap is 2
			p := d.newPerson()
			toks = append(toks, p.signIn(i, "limit@example.com", pw))
			people = append(people, p)
		}
		// The browser whose sign-in ended the oldest session is told why
		// on its account page (here through A; it signed in on C).
		acct := people[2].account(0)
		if !strings.Contains(acct.body, "Your oldest session was signed out") || !strings.Contains(acct.body, "at most 2") {
			t.Fatalf("the account page does not say why:\n%s", acct.body)
		}
		if n := strings.Count(acct.body, `name="sid"`); n != 2 {
			t.Fatalf("the account page lists %d sessions, want 2", n)
		}
		for i := range d.replicas {
			if people[0].signedIn(i) {
				t.Fatalf("the oldest session survives a third sign-in on %s", d.replicas[i].name)
			}
			if !people[1].signedIn(i) || !people[2].signedIn(i) {
				t.Fatalf("a newer session ended on %s", d.replicas[i].name)
			}
		}
		if !eventually(propagationBound, func() bool { return !d.active(B, toks[0].Access) }) {
			t.Fatal("the ended session's access token is still active")
		}
		if !d.active(A, toks[1].Access) || !d.active(A, toks[2].Access) {
			t.Fatal("a live session's token was revoked")
		}
		// The notice is shown once.
		if again := people[2].account(1); strings.Contains(again.body, "Your oldest session was signed out") {
			t.Fatal("the notice is shown again")
		}
	})
}

// keyRotation runs `authd keys rotate` as a CLI process: every replica
// publishes and signs with the new key within seconds.
func keyRotation(t *testing.T, d *deployment) {
	d.t = t
	before := d.jwks(d.replicas[0])
	d.cli("keys", "rotate")
	var newKid string
	start := time.Now()
	for _, r := range d.replicas {
		ok := eventually(propagationBound, func() bool {
			for _, k := range d.jwks(r) {
				if !slices.Contains(before, k) {
					newKid = k
				}
			}
			return newKid != "" && kid(t, d.clientToken(r)) == newKid
		})
		if !ok {
			t.Fatalf("replica %s does not sign with the rotated key within 5 s (published %v, before %v)", r.name, d.jwks(r), before)
		}
	}
	t.Logf("key rotation served by all %d replicas after %v", len(d.replicas), time.Since(start).Round(time.Millisecond))
	tok := d.clientToken(d.replicas[0])
	for _, r := range d.replicas {
		if !d.active(r, tok) {
			t.Fatalf("a token signed with the new key is not active on %s", r.name)
		}
		if !slices.Contains(d.jwks(r), before[0]) {
			t.Fatalf("%s stopped publishing the retired key %s", r.name, before[0])
		}
	}
	_ = fmt.Sprint
}
