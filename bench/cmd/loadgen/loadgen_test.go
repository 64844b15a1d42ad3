package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLoopbackGuard(t *testing.T) {
	allowed := []string{
		"http://127.0.0.1:8080",
		"http://127.0.0.1:8080/",
		"https://127.0.0.1",
		"http://127.45.6.7:1/issuer",
		"http://localhost:9000",
		"http://LOCALHOST",
		"http://[::1]:8080",
		"http://[::ffff:127.0.0.1]:80",
	}
	for _, u := range allowed {
		if _, err := checkTarget(u); err != nil {
			t.Errorf("checkTarget(%q) = %v, want allowed", u, err)
		}
	}
	refused := []string{
		"http://10.0.0.1:8080",
		"http://192.168.1.10",
		"http://172.16.0.1",
		"http://8.8.8.8",
		"http://0.0.0.0:8080",
		"http://example.com",
		"http://127.0.0.1.example.com",
		"http://localhost.example.com",
		"http://[::ffff:10.0.0.1]",
		"http://[2001:db8::1]",
		"ftp://127.0.0.1",
		"127.0.0.1:8080",
		"",
	}
	for _, u := range refused {
		if _, err := checkTarget(u); err == nil {
			t.Errorf("checkTarget(%q) allowed, want refused", u)
		}
	}
	if _, err := checkTarget("http://10.1.2.3"); !errors.Is(err, errNotLoopback) {
		t.Errorf("non-loopback error does not wrap errNotLoopback: %v", err)
	}

	// The dialler refuses non-loopback addresses after resolution.
	if err := loopbackControl("tcp", "10.0.0.1:80", nil); !errors.Is(err, errNotLoopback) {
		t.Errorf("loopbackControl(10.0.0.1) = %v, want errNotLoopback", err)
	}
	if err := loopbackControl("tcp6", "[::1]:80", nil); err != nil {
		t.Errorf("loopbackControl(::1) = %v", err)
	}

	// The command exits 2 with a clear message, before sending anything.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-target", "http://192.168.0.1:8080", "-d", "1s"}, &stdout, &stderr); code != 2 {
		t.Errorf("run with non-loopback target: exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "loopback") {
		t.Errorf("stderr does not explain the refusal: %q", stderr.String())
	}

	// An endpoint from discovery that leaves the machine is refused too.
	f := newFakeOP(t)
	f.jwksURI = "http://203.0.113.9/jwks.json"
	stderr.Reset()
	code := run([]string{"-target", f.srv.URL, "-scenario", "jwks", "-d", "1s", "-warmup", "0"}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "jwks_uri") {
		t.Errorf("run with non-loopback jwks_uri: exit %d, stderr %q; want 2 and a message", code, stderr.String())
	}
	if f.jwks.Load() != 0 {
		t.Errorf("fake JWKS was hit %d times", f.jwks.Load())
	}
}

// exactQuantile is the nearest-rank quantile of sorted data.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func TestPercentiles(t *testing.T) {
	// Small known data: 1..100 ms.
	var h histogram
	for i := 100; i >= 1; i-- {
		h.record(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0.001, time.Millisecond}} {
		got := h.quantile(c.q)
		if rel := math.Abs(float64(got-c.want)) / float64(c.want); rel > 0.01 {
			t.Errorf("quantile(%v) = %v, want %v (rel err %.4f)", c.q, got, c.want, rel)
		}
	}
	if h.max != int64(100*time.Millisecond) || h.min != int64(time.Millisecond) || h.n != 100 {
		t.Errorf("min/max/n = %v/%v/%d", h.min, h.max, h.n)
	}
	if m := h.mean(); m != 50500*time.Microsecond {
		t.Errorf("mean = %v, want 50.5ms", m)
	}

	// A long-tailed random sample from 10µs to 10s, recorded in 8 "worker"
	// histograms and merged: every percentile within 1% of the exact one.
	rng := rand.New(rand.NewPCG(1, 2))
	parts := make([]histogram, 8)
	var all []time.Duration
	for i := range 200000 {
		d := time.Duration(math.Exp(rng.Float64()*math.Log(1e6)) * float64(10*time.Microsecond))
		all = append(all, d)
		parts[i%len(parts)].record(d)
	}
	var merged histogram
	for i := range parts {
		merged.merge(&parts[i])
	}
	slices.Sort(all)
	if merged.n != uint64(len(all)) || time.Duration(merged.max) != all[len(all)-1] || time.Duration(merged.min) != all[0] {
		t.Fatalf("merged n/min/max = %d/%v/%v, want %d/%v/%v", merged.n, merged.min, merged.max, len(all), all[0], all[len(all)-1])
	}
	for _, q := range []float64{0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1} {
		got, want := merged.quantile(q), exactQuantile(all, q)
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.01 {
			t.Errorf("quantile(%v) = %v, exact %v (rel err %.4f)", q, got, want, rel)
		}
	}

	// Every bucket's range contains exactly the values that map to it.
	for _, v := range []int64{0, 1, 255, 256, 511, 512, 513, 1023, 1024, 1 << 20, 1<<20 + 12345, 1 << 40, math.MaxInt64} {
		low, width := bucketRange(bucketOf(v))
		if v < low || v-low >= width {
			t.Errorf("value %d in bucket [%d, %d+%d)", v, low, low, width)
		}
		if width > 1 && float64(width)/float64(low) > 1.0/histSub+1e-12 {
			t.Errorf("bucket for %d too wide: %d at %d", v, width, low)
		}
	}
	var empty histogram
	if empty.quantile(0.5) != 0 || empty.mean() != 0 {
		t.Error("empty histogram should report 0")
	}
}

func TestKinds(t *testing.T) {
	got := kinds(map[string]int64{"timeout": 1, "500": 3, "inactive": 2})
	if got != "500:3 inactive:2 timeout:1" {
		t.Errorf("kinds = %q", got)
	}
	if kinds(nil) != "-" {
		t.Errorf("kinds(nil) = %q", kinds(nil))
	}
}

func step(t *testing.T, res *Result, name string) StepResult {
	t.Helper()
	for _, s := range res.Steps {
		if s.Step == name {
			return s
		}
	}
	t.Fatalf("no step %q in %+v", name, res.Steps)
	return StepResult{}
}

func TestScenariosAgainstFake(t *testing.T) {
	const n = 200
	cases := []struct {
		scenario, step string
		served         func(f *fakeOP) int64
	}{
		{"discovery", "discovery", func(f *fakeOP) int64 { return f.discovery.Load() }},
		{"jwks", "jwks", func(f *fakeOP) int64 { return f.jwks.Load() }},
		{"client_credentials", "token", func(f *fakeOP) int64 { return f.token.Load() }},
		{"introspect", "introspect", func(f *fakeOP) int64 { return f.introspect.Load() }},
		{"introspect_revoked", "introspect", func(f *fakeOP) int64 { return f.introspect.Load() }},
	}
	for _, c := range cases {
		t.Run(c.scenario, func(t *testing.T) {
			f := newFakeOP(t)
			res, err := Run(context.Background(), f.cfg(c.scenario, n))
			if err != nil {
				t.Fatal(err)
			}
			s := step(t, res, c.step)
			if s.Requests != n || res.Requests != n {
				t.Errorf("requests = %d (step) / %d (total), want %d", s.Requests, res.Requests, n)
			}
			if s.Errors != 0 || res.Errors != 0 || len(s.ErrorsByKind) != 0 {
				t.Errorf("errors = %d %v, want none", s.Errors, s.ErrorsByKind)
			}
			if got := c.served(f); got < n {
				t.Errorf("fake served %d requests, want >= %d", got, n)
			}
			if f.badAuth.Load() != 0 {
				t.Errorf("fake rejected client auth %d times", f.badAuth.Load())
			}
			if s.P50Ms <= 0 || s.P50Ms > s.P90Ms || s.P90Ms > s.P99Ms || s.P99Ms > s.MaxMs || s.RPS <= 0 {
				t.Errorf("implausible stats %+v", s)
			}
			if c.scenario == "introspect_revoked" && f.revoke.Load() != 1 {
				t.Errorf("revocations = %d, want 1", f.revoke.Load())
			}
		})
	}
}

func TestErrorsCountedByKind(t *testing.T) {
	t.Run("status", func(t *testing.T) {
		f := newFakeOP(t)
		f.failTokenEvery = 3
		res, err := Run(context.Background(), f.cfg("client_credentials", 300))
		if err != nil {
			t.Fatal(err)
		}
		s := step(t, res, "token")
		if s.Requests != 300 {
			t.Errorf("requests = %d, want 300", s.Requests)
		}
		if want := f.served503.Load(); want == 0 || s.ErrorsByKind["503"] != want || s.Errors != want || res.Errors != want {
			t.Errorf("errors %d %v, fake served %d 503s", s.Errors, s.ErrorsByKind, want)
		}
	})
	t.Run("bad credentials", func(t *testing.T) {
		f := newFakeOP(t)
		cfg := f.cfg("client_credentials", 20)
		cfg.ClientSecret = "wrong"
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if s := step(t, res, "token"); s.ErrorsByKind["401"] != 20 || s.Errors != 20 {
			t.Errorf("errors %d %v, want 401:20", s.Errors, s.ErrorsByKind)
		}
	})
	t.Run("inactive", func(t *testing.T) {
		f := newFakeOP(t)
		f.inactiveEvery = 2
		res, err := Run(context.Background(), f.cfg("introspect", 100))
		if err != nil {
			t.Fatal(err)
		}
		s := step(t, res, "introspect")
		if want := f.servedInactive.Load(); want == 0 || s.ErrorsByKind["inactive"] != want || s.Errors != want {
			t.Errorf("errors %d %v, fake served %d inactive", s.Errors, s.ErrorsByKind, want)
		}
	})
	t.Run("revoked still active", func(t *testing.T) {
		f := newFakeOP(t)
		f.ignoreRevocation = true
		res, err := Run(context.Background(), f.cfg("introspect_revoked", 50))
		if err != nil {
			t.Fatal(err)
		}
		if s := step(t, res, "introspect"); s.ErrorsByKind["active"] != 50 {
			t.Errorf("errors %d %v, want active:50", s.Errors, s.ErrorsByKind)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		res, err := Run(context.Background(), Config{
			Target: "http://" + addr, Scenario: "discovery", Conns: 1,
			Duration: 10 * time.Second, Timeout: time.Second, MaxRequests: 5,
		})
		if err != nil {
			t.Fatal(err)
		}
		if s := step(t, res, "discovery"); s.ErrorsByKind["refused"] != 5 {
			t.Errorf("errors %v, want refused:5", s.ErrorsByKind)
		}
	})
	t.Run("set-up failure", func(t *testing.T) {
		f := newFakeOP(t)
		cfg := f.cfg("introspect", 10)
		cfg.ClientSecret = "wrong"
		if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("Run = %v, want a set-up error mentioning 401", err)
		}
	})
}

func TestFixedRateMeasuresFromSchedule(t *testing.T) {
	// One worker, 100 iterations/s due, a server taking 30ms: the worker
	// falls further behind with every request. Latency counted from the
	// schedule grows with the backlog (request k is due at k*10ms but sent
	// at about k*30ms); counted from the send it would stay near 30ms.
	const sleep = 30 * time.Millisecond
	f := newFakeOP(t)
	f.discoverySleep = sleep
	cfg := f.cfg("discovery", 0)
	cfg.Conns = 1
	cfg.Rate = 100
	cfg.Duration = time.Second
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := step(t, res, "discovery")
	if res.Scheduled != 100 {
		t.Errorf("scheduled = %d, want 100", res.Scheduled)
	}
	if s.Requests+res.Unsent != res.Scheduled {
		t.Errorf("requests %d + unsent %d != scheduled %d", s.Requests, res.Unsent, res.Scheduled)
	}
	if res.Unsent == 0 || res.Late == 0 {
		t.Errorf("unsent = %d, late = %d: a 30ms server cannot keep up with 100/s on one worker", res.Unsent, res.Late)
	}
	if s.Requests < 6 {
		t.Fatalf("only %d requests completed in 1s", s.Requests)
	}
	if s.MaxMs < 5*float64(sleep/time.Millisecond) {
		t.Errorf("max latency %.2fms: not measured from the schedule (server takes %v)", s.MaxMs, sleep)
	}
	if s.Errors != 0 {
		t.Errorf("errors %v", s.ErrorsByKind)
	}
}

func TestFixedRateKeepingUp(t *testing.T) {
	f := newFakeOP(t)
	cfg := f.cfg("discovery", 0)
	cfg.Conns = 2
	cfg.Rate = 100
	cfg.Warmup = 100 * time.Millisecond
	cfg.Duration = 300 * time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Scheduled != 30 {
		t.Errorf("scheduled = %d, want 30", res.Scheduled)
	}
	if res.Requests+res.Unsent != res.Scheduled || res.Requests == 0 {
		t.Errorf("requests %d + unsent %d != scheduled %d", res.Requests, res.Unsent, res.Scheduled)
	}
	// Warm-up requests reached the server but are not in the result.
	if got := f.discovery.Load(); got < res.Requests+5 {
		t.Errorf("server saw %d requests, result has %d: warm-up not discarded?", got, res.Requests)
	}
	if res.Errors != 0 {
		t.Errorf("errors: %+v", res.Steps)
	}
}

func TestClosedLoopIsBounded(t *testing.T) {
	f := newFakeOP(t)
	cfg := f.cfg("discovery", 0)
	cfg.Warmup = 100 * time.Millisecond
	cfg.Duration = 300 * time.Millisecond
	var marks, seenAtMark atomic.Int64
	cfg.OnMeasure = func() { marks.Add(1); seenAtMark.Store(f.discovery.Load()) }
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if marks.Load() != 1 || seenAtMark.Load() == 0 {
		t.Errorf("OnMeasure called %d times, the server had seen %d requests then; want once, after the warm-up's",
			marks.Load(), seenAtMark.Load())
	}
	if res.Requests == 0 || res.ElapsedS < 0.3 {
		t.Errorf("requests %d elapsed %.3fs", res.Requests, res.ElapsedS)
	}
	if f.discovery.Load() <= res.Requests {
		t.Errorf("server saw %d requests, result has %d: warm-up not discarded?", f.discovery.Load(), res.Requests)
	}
}

func TestMultiStepScenario(t *testing.T) {
	// Scenarios may report several named steps plus a "total" per iteration.
	register(&Scenario{
		Name:  "test_two_steps",
		Total: true,
		Setup: func(ctx context.Context, env *Env) (WorkerFunc, error) {
			jwks, err := env.Endpoint(ctx, "jwks_uri", func(d *Discovery) string { return d.JWKSURI })
			if err != nil {
				return nil, err
			}
			disc := env.URL("/.well-known/openid-configuration")
			return func(_ context.Context, worker int) (IterFunc, error) {
				return func(it *Iter) {
					if _, ok := it.Get("first", disc, StatusIs(200)); !ok {
						return
					}
					it.Get("second", jwks, StatusIs(204)) // the fake says 200: always an error
				}, nil
			}, nil
		},
	})
	defer delete(scenarios, "test_two_steps")
	f := newFakeOP(t)
	res, err := Run(context.Background(), f.cfg("test_two_steps", 40))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range res.Steps {
		names = append(names, s.Step)
	}
	if !slices.Equal(names, []string{"first", "second", "total"}) {
		t.Fatalf("steps = %v", names)
	}
	first, second, total := step(t, res, "first"), step(t, res, "second"), step(t, res, "total")
	if first.Requests != 40 || second.Requests != 40 || total.Requests != 40 || !total.Aggregate {
		t.Errorf("requests %d/%d/%d aggregate=%v", first.Requests, second.Requests, total.Requests, total.Aggregate)
	}
	if first.Errors != 0 || second.ErrorsByKind["200"] != 40 || total.ErrorsByKind["200"] != 40 {
		t.Errorf("errors %v / %v / %v", first.ErrorsByKind, second.ErrorsByKind, total.ErrorsByKind)
	}
	if res.Requests != 80 || res.Errors != 40 {
		t.Errorf("result requests %d errors %d, want 80 and 40", res.Requests, res.Errors)
	}
	if total.MaxMs < second.MaxMs {
		t.Errorf("total max %.3f < step max %.3f", total.MaxMs, second.MaxMs)
	}
}

func TestRunCommand(t *testing.T) {
	f := newFakeOP(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "cc.json")
	args := []string{
		"-target", f.srv.URL + "/", "-scenario", "client_credentials",
		"-client-id", fakeClientID, "-client-secret", fakeClientSecret, "-scope", "api",
		"-c", "2", "-d", "10s", "-warmup", "0", "-max-requests", "30", "-json", out, "-fail-on-error",
		"-mark", filepath.Join(dir, "measuring"),
	}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "measuring")); err != nil {
		t.Errorf("-mark: %v", err)
	}
	for _, want := range []string{"SCENARIO", "P99 ms", "client_credentials", "token", "30"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Scenario != "client_credentials" || res.Requests != 30 || res.Errors != 0 || len(res.Steps) != 1 {
		t.Errorf("JSON result %+v", res)
	}

	// -summary prints one table from result files.
	stdout.Reset()
	if code := run([]string{"-summary", out, out}, &stdout, &stderr); code != 0 {
		t.Fatalf("summary exit %d: %s", code, stderr.String())
	}
	if lines := strings.Count(stdout.String(), "\n"); lines != 3 {
		t.Errorf("summary has %d lines:\n%s", lines, stdout.String())
	}

	// -fail-on-error turns errors into exit 1; -json - writes JSON on stdout.
	f.failTokenEvery = 2
	stdout.Reset()
	stderr.Reset()
	args = []string{
		"-target", f.srv.URL, "-scenario", "client_credentials",
		"-client-id", fakeClientID, "-client-secret", fakeClientSecret,
		"-c", "2", "-d", "10s", "-warmup", "0", "-max-requests", "10", "-json", "-", "-fail-on-error",
	}
	if code := run(args, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d with errors and -fail-on-error, want 1; stderr %s", code, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.Errors == 0 {
		t.Errorf("stdout is not the JSON result (%v): %s", err, stdout.String())
	}
	if !strings.Contains(stderr.String(), "503:") {
		t.Errorf("table on stderr lacks 503 errors: %s", stderr.String())
	}

	// Usage errors exit 2.
	for _, bad := range [][]string{{"-scenario", "nope"}, {"-c", "0"}, {"-d", "0s"}, {"-rate", "-1"}, {"extra"}} {
		if code := run(bad, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) exit %d, want 2", bad, code)
		}
	}
}
