package telemetry

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/trace"
)

func gather(t *testing.T, m *Metrics, name string) *dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

// TestMetricsNil: a nil *Metrics records nothing and panics nowhere.
func TestMetricsNil(t *testing.T) {
	var m *Metrics
	m.TokenIssued("client_credentials")
	m.TokenReuse("refresh_token")
	m.Login(true, "password")
	m.Lockout()
	m.RateLimited("token_ip")
	m.Revocation(true)
	m.Introspection("active")
	m.Job("send_mail", time.Second, time.Second, false)
	m.InitJobKinds("send_mail")
	m.InitRateLimitRules("token_ip")
	m.Mail(true)
	m.WebhookDelivery(false)
	m.DBQuery("select", time.Millisecond)
	m.RedisCommand(time.Millisecond, true)
	m.RedisFallback("attempts")
	if err := m.Register(nil); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterDB(nil, "x"); err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	rec := httptest.NewRecorder()
	m.Middleware(h).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusTeapot {
		t.Errorf("nil middleware: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil Handler: %d, want 404", rec.Code)
	}
}

func TestRouteAndMethodLabels(t *testing.T) {
	for pattern, want := range map[string]string{
		"": RouteUnmatched, "/": RouteUnmatched, "GET /": RouteUnmatched, "GET /{$}": "/{$}",
		"POST /oauth2/token": "/oauth2/token", "/oauth2/introspect": "/oauth2/introspect",
		"GET example.com/users/{id}": "/users/{id}", "example.com/": RouteUnmatched,
	} {
		if got := RouteLabel(pattern); got != want {
			t.Errorf("RouteLabel(%q) = %q, want %q", pattern, got, want)
		}
	}
	for method, want := range map[string]string{"GET": "GET", "POST": "POST", "get": "other", "BREW": "other", "": "other", "CONNECT": "other"} {
		if got := MethodLabel(method); got != want {
			t.Errorf("MethodLabel(%q) = %q, want %q", method, got, want)
		}
	}
}

// TestMetricsMiddlewareBounded: thousands of random paths and methods
// leave the label sets as small as the routes and methods served.
func TestMetricsMiddlewareBounded(t *testing.T) {
	m := NewMetrics(BuildInfo{Version: "v0", Revision: "r", GoVersion: "go"})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, _ *http.Request) {})
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, _ *http.Request) {})
	mux.Handle("/", http.NotFoundHandler())
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()
	word := func() string {
		b := make([]byte, 10)
		for i := range b {
			b[i] = byte('a' + rand.IntN(26))
		}
		return string(b)
	}
	for i := range 1000 {
		method := []string{"GET", "POST", strings.ToUpper(word()), "DELETE"}[i%4]
		path := []string{"/" + word(), "/users/" + word(), "/oauth2/token", "/oauth2/" + word() + "?x=" + word()}[(i/4)%4]
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	fam := gather(t, m, "authd_http_request_duration_seconds")
	if fam == nil {
		t.Fatal("no request histogram")
	}
	seen := map[string]map[string]bool{"route": {}, "method": {}, "code": {}}
	for _, s := range fam.GetMetric() {
		for _, l := range s.GetLabel() {
			seen[l.GetName()][l.GetValue()] = true
		}
	}
	wantRoutes := map[string]bool{RouteUnmatched: true, "/users/{id}": true, "/oauth2/token": true}
	for r := range seen["route"] {
		if !wantRoutes[r] {
			t.Errorf("route label %q", r)
		}
	}
	for meth := range seen["method"] {
		if meth != "GET" && meth != "POST" && meth != "DELETE" && meth != "other" {
			t.Errorf("method label %q", meth)
		}
	}
	if len(fam.GetMetric()) > 3*4*3 {
		t.Errorf("%d series after 1000 random requests", len(fam.GetMetric()))
	}
	if !seen["route"]["/users/{id}"] || !seen["method"]["other"] || !seen["code"]["404"] || !seen["code"]["200"] {
		t.Errorf("label values seen %v: the requests were not all recorded", seen)
	}
}

// TestMetricsExemplar: with a sampled span in the request's context the
// latency observation carries its trace id; without one, none.
func TestMetricsExemplar(t *testing.T) {
	m := NewMetrics(BuildInfo{})
	h := m.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	for _, sampled := range []bool{true, false} {
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid})
		if sampled {
			sc = sc.WithTraceFlags(trace.FlagsSampled)
		}
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		if sampled {
			req = req.WithContext(trace.ContextWithSpanContext(req.Context(), sc))
		}
		req.Pattern = fmt.Sprintf("GET /sampled-%v", sampled)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	fam := gather(t, m, "authd_http_request_duration_seconds")
	for _, s := range fam.GetMetric() {
		route := ""
		for _, l := range s.GetLabel() {
			if l.GetName() == "route" {
				route = l.GetValue()
			}
		}
		var ex []string
		for _, b := range s.GetHistogram().GetBucket() {
			if e := b.GetExemplar(); e != nil {
				for _, l := range e.GetLabel() {
					ex = append(ex, l.GetName()+"="+l.GetValue())
				}
			}
		}
		switch route {
		case "/sampled-true":
			if len(ex) != 1 || ex[0] != "trace_id="+tid.String() {
				t.Errorf("sampled request: exemplars %q, want the trace id", ex)
			}
		case "/sampled-false":
			if len(ex) != 0 {
				t.Errorf("request without a span: exemplars %q, want none", ex)
			}
		}
	}
}

// TestMetricsMiddlewarePanic: a panicking handler is still counted, as a
// 500, and the panic goes on to the recovering middleware.
func TestMetricsMiddlewarePanic(t *testing.T) {
	m := NewMetrics(BuildInfo{})
	h := m.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic was swallowed")
			}
		}()
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Pattern = "GET /x"
		h.ServeHTTP(httptest.NewRecorder(), req)
	}()
	fam := gather(t, m, "authd_http_request_duration_seconds")
	if fam == nil || len(fam.GetMetric()) != 1 {
		t.Fatalf("panicking request not recorded: %v", fam)
	}
	for _, l := range fam.GetMetric()[0].GetLabel() {
		if l.GetName() == "code" && l.GetValue() != "500" {
			t.Errorf("code %q, want 500", l.GetValue())
		}
	}
}

// BenchmarkMetricsMiddleware is the cost metrics add to every request:
// the mux and an empty handler, with the histogram observation (on) and
// without (off, a nil *Metrics).
func BenchmarkMetricsMiddleware(b *testing.B) {
	for _, on := range []bool{false, true} {
		var m *Metrics
		if on {
			m = NewMetrics(BuildInfo{})
		}
		mux := http.NewServeMux()
		mux.HandleFunc("POST /oauth2/introspect", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		h := m.Middleware(mux)
		b.Run(fmt.Sprintf("metrics=%v", on), func(b *testing.B) {
			req := httptest.NewRequest(http.MethodPost, "/oauth2/introspect", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
