package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/authd/authd/internal/telemetry"
)

// scrape fetches base/metrics and returns the body and its families.
func scrape(t *testing.T, base string) ([]byte, map[string]*dto.MetricFamily) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %d\n%s", base, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return body, fams
}

// promtool returns promtool's path, or skips; in CI (CI or
// REQUIRE_PROMTOOL set) a missing promtool fails the test instead.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" || os.Getenv("REQUIRE_PROMTOOL") != "" {
		t.Fatalf("promtool is not on PATH and CI or REQUIRE_PROMTOOL is set: install Debian's prometheus package")
	}
	t.Skip("promtool is not on PATH (apt-get install prometheus); CI runs this check")
	return ""
}

// value returns the value of the sample of fam whose labels include want,
// and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	fam := fams[name]
	if fam == nil {
		return 0, false
	}
	total, found := 0.0, false
next:
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total, found
}

// hasValue reports whether the samples of name whose labels include want
// sum to v.
func hasValue(fams map[string]*dto.MetricFamily, name string, want map[string]string, v float64) bool {
	got, ok := value(fams, name, want)
	return ok && got == v
}

// labelValues returns every value label takes in fam.
func labelValues(fam *dto.MetricFamily, label string) []string {
	var out []string
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && !slices.Contains(out, l.GetValue()) {
				out = append(out, l.GetValue())
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestMetrics drives a live authd (a token, introspections, a revocation,
// a failed sign-in, then many requests with random paths and methods) and
// checks the scrape of its ops listener: the counters moved, the labels
// stay bounded, promtool finds no problem, and every metric the dashboard
// and the alert rules query is exposed.
func TestMetrics(t *testing.T) {
	t.Parallel()
	s := startServe(t, sqliteEnv(t), true)
	ctx := context.Background()

	// The site does not serve /metrics when the ops listener does.
	if resp := s.get(s.base + "/metrics"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on http.addr with http.ops_addr set: %d, want 404", resp.StatusCode)
	}

	id, secret := "metrics-svc", "a-long-enough-secret-for-tests"
	mustRun(t, s.env, "clients", "create", "--name", "svc", "--id", id, "--secret", secret,
		"--grant-type", "client_credentials", "--scope", "api")
	cc := s.tokenConfig(id, secret)
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if code, m := s.postForm("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, id, secret); code != http.StatusOK || m["active"] != true {
		t.Fatalf("introspect: %d %v", code, m)
	}
	if code, _ := s.postForm("/oauth2/introspect", url.Values{"token": {"not-a-token"}}, id, secret); code != http.StatusOK {
		t.Fatalf("introspect junk: %d", code)
	}
	if code, _ := s.postForm("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, id, "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("introspect with a wrong secret: %d", code)
	}
	if code, _ := s.postForm("/oauth2/revoke", url.Values{"token": {tok.AccessToken}}, id, secret); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	failSignIn(t, s)

	// Bad input: random paths and methods must not become label values.
	client := &http.Client{Timeout: 10 * time.Second}
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW", "PROPFIND", "X-" + randomWord(8)}
	for i := range 300 {
		path := "/" + randomWord(12) + "/" + randomWord(5)
		if i%3 == 0 {
			path = "/oauth2/" + randomWord(10) // under a known prefix
		}
		method := methods[i%len(methods)]
		if i%7 == 0 {
			method = strings.ToUpper(randomWord(6)) // a fresh method every time
		}
		req, _ := http.NewRequest(method, s.base+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	body, fams := scrape(t, s.opsBase)
	counts := []struct {
		name   string
		labels map[string]string
	}{
		{"authd_tokens_issued_total", map[string]string{"grant_type": "client_credentials"}},
		{"authd_introspections_total", map[string]string{"result": "active"}},
		{"authd_introspections_total", map[string]string{"result": "inactive"}},
		{"authd_introspections_total", map[string]string{"result": "refused"}},
		{"authd_revocations_total", map[string]string{"result": "ok"}},
		{"authd_logins_total", map[string]string{"result": "failure", "method": "password"}},
		{"authd_http_request_duration_seconds", map[string]string{"route": "/oauth2/token", "method": "POST", "code": "200"}},
		{"authd_http_request_duration_seconds", map[string]string{"route": "/oauth2/introspect", "method": "POST", "code": "401"}},
		{"authd_http_request_duration_seconds", map[string]string{"route": telemetry.RouteUnmatched}},
		{"authd_build_info", map[string]string{"goversion": readBuildInfo().Go}},
		{"authd_dependency_up", map[string]string{"dependency": "database"}},
		{"authd_dependency_up", map[string]string{"dependency": "keys"}},
		{"authd_signing_key_age_seconds", nil},
		{"authd_db_query_duration_seconds", map[string]string{"operation": "select"}},
		{"go_sql_open_connections", map[string]string{"db_name": "authd"}},
		{"go_goroutines", nil},
		{"process_cpu_seconds_total", nil},
	}
	for _, c := range counts {
		v, ok := value(fams, c.name, c.labels)
		if !ok || v <= 0 {
			t.Errorf("scrape: %s%v = %v (present %v), want > 0", c.name, c.labels, v, ok)
		}
	}
	if v, ok := value(fams, "authd_job_queue_jobs", map[string]string{"state": "available"}); !ok || v < 0 {
		t.Errorf("scrape: authd_job_queue_jobs{state=available} missing")
	}

	// Bounded labels: routes are registered patterns, methods a fixed set.
	hist := fams["authd_http_request_duration_seconds"]
	for _, route := range labelValues(hist, "route") {
		if route != telemetry.RouteUnmatched && !strings.HasPrefix(route, "/") {
			t.Errorf("route label %q is not a pattern", route)
		}
	}
	if routes := labelValues(hist, "route"); len(routes) > 30 {
		t.Errorf("%d route label values after 300 random paths, want only the few routes served: %q", len(routes), routes)
	}
	if strings.Contains(string(body), "PROPFIND") || strings.Contains(string(body), "BREW") {
		t.Error("an unknown method became a label value")
	}
	for _, m := range labelValues(hist, "method") {
		if !slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, m) {
			t.Errorf("method label %q not in the fixed set", m)
		}
	}
	if strings.Contains(string(body), id) {
		t.Errorf("the scrape names the client id %q", id)
	}

	t.Run("promtool check metrics", func(t *testing.T) {
		cmd := exec.Command(promtool(t), "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})

	t.Run("dashboard and rules", func(t *testing.T) {
		for _, name := range queriedMetrics(t) {
			if fams[name] == nil && name != "up" { // up: Prometheus's own
				t.Errorf("the dashboard or the alert rules use %s, which authd does not expose", name)
			}
		}
		pt := promtool(t)
		for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
			cmd := exec.Command(pt, args...)
			cmd.Dir = filepath.Join("..", "..", "deploy", "prometheus")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})

	t.Run("readyz JSON", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, s.opsBase+"/readyz", nil)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got struct {
			Status       string             `json:"status"`
			Dependencies []dependencyStatus `json:"dependencies"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("/readyz JSON: %d %v", resp.StatusCode, err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		states := map[string]string{}
		for _, d := range got.Dependencies {
			states[d.Name] = d.State
		}
		want := map[string]string{"database": "up", "job_queue": "up", "keys": "up", "change_feed": "up", "redis": "not_configured"}
		if got.Status != "ready" || fmt.Sprint(states) != fmt.Sprint(want) {
			t.Errorf("/readyz JSON: %q %v, want ready %v", got.Status, states, want)
		}
		// Without Accept: the text answer, as before.
		if code, body := readyz(t, s.opsBase, ""); code != http.StatusOK || body != "ready" {
			t.Errorf("/readyz text: %d %q", code, body)
		}
	})
}

// failSignIn submits a wrong password on the hosted sign-in page.
func failSignIn(t *testing.T, s *server) {
	t.Helper()
	out := mustRun(t, s.env, "clients", "create", "--name", "Web", "--redirect-uri", "http://127.0.0.1:9/cb")
	var c struct {
		ID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(out.stdout), &c); err != nil {
		t.Fatal(err)
	}
	authURL := s.base + "/oauth2/authorize?" + url.Values{"client_id": {c.ID}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {"http://127.0.0.1:9/cb"}, "state": {"state-0123456789"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}.Encode()
	p := newPerson(t)
	login := p.follow(authURL, s.base)
	if login.status != http.StatusOK {
		t.Fatalf("login page: %d\n%s", login.status, login.body)
	}
	if pg := p.submit(login, "Sign in", url.Values{"email": {"nobody@example.com"}, "password": {"wrong password 1234"}}); pg.status == http.StatusSeeOther {
		t.Fatalf("sign-in with an unknown account: redirected to %s", pg.loc)
	}
}

var metricName = regexp.MustCompile(`\b((?:authd|go|process)_[a-z0-9_]+|up)\b`)

// queriedMetrics returns the metric families the dashboard's queries and
// the alert rules' expressions name (histogram series mapped to their
// family), recording rules (authd:...) excluded.
func queriedMetrics(t *testing.T) []string {
	t.Helper()
	var exprs []string
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "authd.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("deploy/grafana/authd.json: %v", err)
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	b, err = os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Expr string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatalf("deploy/prometheus/alerts.yml: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	var names []string
	for _, e := range exprs {
		for _, n := range metricName.FindAllString(e, -1) {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if base, ok := strings.CutSuffix(n, suffix); ok && strings.HasSuffix(base, "_seconds") {
					n = base
				}
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	if len(names) < 15 {
		t.Fatalf("found only %d metric names in the dashboard and rules: %q", len(names), names)
	}
	return names
}

func randomWord(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return string(b)
}

// TestMetricsScrapeDuringShutdown: scrapes running while serve shuts down
// each end (answered, or refused once the listener is closed), none
// hangs, and serve returns cleanly.
func TestMetricsScrapeDuringShutdown(t *testing.T) {
	t.Parallel()
	s := startServe(t, sqliteEnv(t), true)
	client := &http.Client{Timeout: 20 * time.Second}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, hung int
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(s.opsBase + "/metrics")
				mu.Lock()
				switch {
				case err == nil:
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ok++
					}
				case strings.Contains(err.Error(), "Client.Timeout"):
					hung++
				}
				mu.Unlock()
				if err != nil {
					return // the listener is gone
				}
			}
		}()
	}
	// Shut down once scrapes are flowing.
	if !eventually(20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return ok >= 4 }) {
		t.Fatal("no scrape answered")
	}
	if err := s.stop(); err != nil {
		t.Errorf("serve returned %v, want nil\nstderr:\n%s", err, s.stderr)
	}
	close(stop)
	wg.Wait()
	if hung > 0 {
		t.Errorf("%d scrapes hung during shutdown", hung)
	}
	if strings.Contains(s.stderr.String(), "panic") {
		t.Errorf("a panic was logged during shutdown:\n%s", s.stderr)
	}
}

// TestMetricsListener: without http.ops_addr /metrics is on the main
// listener; metrics.enabled: false removes it.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	s := startServe(t, sqliteEnv(t), false)
	_, fams := scrape(t, s.base)
	if fams["authd_build_info"] == nil {
		t.Error("no authd_build_info on the main listener")
	}
	off := startServe(t, append(sqliteEnv(t), "AUTHD_METRICS_ENABLED=false"), true)
	for _, base := range []string{off.base, off.opsBase} {
		if resp := off.get(base + "/metrics"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("metrics.enabled false: GET %s/metrics = %d, want 404", base, resp.StatusCode)
		}
	}
}
