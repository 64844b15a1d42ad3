package telemetry

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// envelopes is a Sentry stand-in: it keeps the raw bytes of every envelope
// posted to /api/1/envelope/.
type envelopes struct {
	mu    sync.Mutex
	raw   [][]byte
	paths []string
}

func (e *envelopes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	e.raw = append(e.raw, b)
	e.paths = append(e.paths, r.URL.Path+" "+r.Header.Get("X-Sentry-Auth"))
	e.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (e *envelopes) all() ([]byte, int, []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return bytes.Join(e.raw, []byte("\n")), len(e.raw), append([]string(nil), e.paths...)
}

func newReporterTo(t *testing.T, base string, log *slog.Logger) *Reporter {
	t.Helper()
	u, _ := url.Parse(base)
	cfg := DefaultExportConfig()
	cfg.SentryDSN, cfg.SentryEnvironment = "http://public@"+u.Host+"/1", "test-env"
	rep, err := NewReporter(cfg, "authd@v-test", log)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestSentryScrubs sends a panic and a 500 whose requests carry every
// kind of secret through the real Sentry client and HTTP transport to a
// local server, and checks the bytes it received: the events are there,
// with request id, route, release and environment, and no secret is.
func TestSentryScrubs(t *testing.T) {
	sink := &envelopes{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	var logs syncBuffer
	log := newTestLogger(t, &logs)
	rep := newReporterTo(t, srv.URL, log)

	secrets := map[string]string{
		"bearer":        "bearer-token-AAAA1111",
		"cookie":        "cookie-value-BBBB2222",
		"code":          "authz-code-CCCC3333",
		"client_secret": "client-secret-DDDD4444",
		"password":      "hunter2-EEEE5555",
		"refresh_token": "refresh-FFFF6666",
		"api_key":       "apikey-GGGG7777",
		"state":         "state-HHHH8888",
		"jwt":           "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJJSUlJOTk5OSJ9.c2lnbmF0dXJl",
		"in_panic":      "panic-secret-JJJJ0000",
		"login_hint":    "person@example.com",
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		panic("boom while handling token=" + secrets["in_panic"] + " with Bearer " + secrets["bearer"])
	})
	mux.HandleFunc("GET /fails", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "db down", http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /unavailable", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	})
	h := Middleware(log, TrustedProxies{}, Recover(log, rep, nil, mux))
	app := httptest.NewServer(h)
	defer app.Close()

	q := url.Values{"code": {secrets["code"]}, "client_secret": {secrets["client_secret"]}, "state": {secrets["state"]},
		"client_id": {"app-1"}, "login_hint": {secrets["login_hint"]}}
	form := url.Values{"password": {secrets["password"]}, "refresh_token": {secrets["refresh_token"]}, "assertion": {secrets["jwt"]}}
	do := func(method, path, id string, body io.Reader) int {
		req, _ := http.NewRequest(method, app.URL+path+"?"+q.Encode(), body)
		req.Header.Set("Authorization", "Bearer "+secrets["bearer"])
		req.Header.Set("Cookie", "__Host-authd_session="+secrets["cookie"])
		req.Header.Set("X-Api-Key", secrets["api_key"])
		req.Header.Set("DPoP", secrets["jwt"])
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(HeaderRequestID, id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do(http.MethodPost, "/oauth2/things/7", "req-panic-0001", strings.NewReader(form.Encode())); got != http.StatusInternalServerError {
		t.Errorf("panic: status %d, want 500", got)
	}
	if got := do(http.MethodGet, "/fails", "req-fails-0002", nil); got != http.StatusInternalServerError {
		t.Errorf("/fails: status %d, want 500", got)
	}
	do(http.MethodGet, "/unavailable", "req-unavailable-3", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !rep.Close(ctx) {
		t.Fatal("events not sent within 30s")
	}

	raw, n, paths := sink.all()
	if n != 2 {
		t.Fatalf("got %d envelopes, want 2 (the panic and the 500, not the 503)\n%s", n, raw)
	}
	if !strings.HasPrefix(paths[0], "/api/1/envelope/ ") || !strings.Contains(paths[0], "sentry_key=public") {
		t.Errorf("posted to %q, want /api/1/envelope/ with the DSN's key", paths[0])
	}
	for _, want := range []string{"req-panic-0001", "req-fails-0002", `"/oauth2/things/{id}"`, `"/fails"`, "authd@v-test", "test-env",
		"app-1", `"panic"`, "boom while handling"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("the events lack %q:\n%s", want, raw)
		}
	}
	for name, s := range secrets {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the events carry the %s %q:\n%s", name, s, raw)
		}
	}
	if bytes.Contains(raw, []byte("Authorization")) || bytes.Contains(raw, []byte("__Host-authd_session")) {
		t.Errorf("the events carry the Authorization or Cookie header:\n%s", raw)
	}
	if rec := find(records(t, logs.String()), "panic serving request"); rec == nil || rec["route"] != "/oauth2/things/{id}" {
		t.Errorf("panic log line = %v, want one naming the route", rec)
	}
}

// TestSentryUnreachable: a Sentry that accepts and never answers never
// holds a request; what the queue cannot hold is dropped and counted, and
// Close returns at its deadline.
func TestSentryUnreachable(t *testing.T) {
	hole, reached, _ := blackHole(t)
	var logs syncBuffer
	rep := newReporterTo(t, hole, newTestLogger(t, &logs))
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	rep.ServerError(context.Background(), req, 500)
	select {
	case <-reached: // the transport is now stuck sending
	case <-time.After(30 * time.Second):
		t.Fatal("the transport never reached Sentry")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range sentryQueueSize + 50 {
			rep.ServerError(context.Background(), req, 500)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("reporting was held by a Sentry that does not answer")
	}
	if rep.Dropped() == 0 {
		t.Errorf("%d events past a queue of %d: none counted as dropped", sentryQueueSize+50, sentryQueueSize)
	}
	if !strings.Contains(logs.String(), "dropping events") {
		t.Errorf("no warning about dropped events:\n%s", logs.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	closed := make(chan bool, 1)
	go func() { closed <- rep.Close(ctx) }()
	select {
	case ok := <-closed:
		if ok {
			t.Error("Close reported everything sent to a Sentry that never answers")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return after its deadline")
	}
}

// TestScrubText: secrets inside free text are replaced, their names kept.
func TestScrubText(t *testing.T) {
	for in, want := range map[string]string{
		"refresh_token=abc123&x=1":                        "refresh_token=" + Filtered + "&x=1",
		"Authorization: Bearer abc.def-ghi":               "Authorization: " + Filtered,
		`{"client_secret":"s3cr3t"}`:                      `{"client_secret":` + Filtered + `}`,
		"id eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig end": "id " + Filtered + " end",
		"nothing to see":                                  "nothing to see",
	} {
		got := scrubText(in)
		if strings.Contains(got, "abc123") || strings.Contains(got, "s3cr3t") || strings.Contains(got, "eyJzdWIiOiIxIn0") || strings.Contains(got, "def-ghi") {
			t.Errorf("scrubText(%q) = %q: the secret is left", in, got)
		}
		if in == "nothing to see" && got != want {
			t.Errorf("scrubText(%q) = %q, want it unchanged", in, got)
		}
	}
	if got := scrubQuery("client_id=a&code=b&scope=openid&foo=bar"); strings.Contains(got, "=b") || strings.Contains(got, "bar") ||
		!strings.Contains(got, "client_id=a") || !strings.Contains(got, "scope=openid") {
		t.Errorf("scrubQuery = %q: want client_id and scope kept, code and foo filtered", got)
	}
}
