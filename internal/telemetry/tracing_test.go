package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/telemetry/otlptest"
)

// stack is the chain serve builds: Handler, Middleware, Recover and
// Routed around a ServeMux.
func stack(tr *Tracing, log *slog.Logger, mux *http.ServeMux) http.Handler {
	return tr.Handler(Middleware(log, TrustedProxies{}, Recover(log, nil, nil, tr.Routed(mux))))
}

func newTracingTo(t *testing.T, endpoint string, ratio float64, log *slog.Logger) *Tracing {
	t.Helper()
	cfg := DefaultExportConfig()
	cfg.OTLPEndpoint, cfg.SamplingRatio = endpoint, ratio
	tr, err := NewTracing(context.Background(), cfg, "v-test", log)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestTracingThroughOTLP sends a request carrying a traceparent through
// the real exporter to an in-process OTLP receiver: the server span is the
// caller's child, named after the route template, with the stable HTTP
// attributes; an outgoing request made while serving carries the trace
// on; the log line names the trace.
func TestTracingThroughOTLP(t *testing.T) {
	rcv := otlptest.New()
	defer rcv.Close()
	var logs syncBuffer
	log := newTestLogger(t, &logs)
	tr := newTracingTo(t, rcv.URL, 1, log)
	defer tr.Shutdown(context.Background())

	var downstream string // traceparent the downstream server saw
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		downstream = r.Header.Get("Traceparent")
	}))
	defer down.Close()
	client := &http.Client{Transport: tr.Transport(nil)}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, down.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("downstream: %v", err)
			return
		}
		resp.Body.Close()
		log.InfoContext(r.Context(), "served a thing")
	})
	srv := httptest.NewServer(stack(tr, log, mux))
	defer srv.Close()

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/things/42?code=secret", nil)
	req.Header.Set("Traceparent", "00-"+traceID+"-"+parentID+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}

	spans := rcv.Trace(traceID)
	var server, clientSpan *otlptest.Span
	for i, s := range spans {
		switch s.Kind {
		case "SPAN_KIND_SERVER":
			server = &spans[i]
		case "SPAN_KIND_CLIENT":
			clientSpan = &spans[i]
		}
	}
	if server == nil || clientSpan == nil {
		t.Fatalf("trace %s: want a server and a client span, got %+v (all: %+v)", traceID, spans, rcv.Spans())
	}
	if server.ParentSpanID != parentID {
		t.Errorf("server span's parent = %q, want the caller's span %s", server.ParentSpanID, parentID)
	}
	if server.Name != "GET /things/{id}" {
		t.Errorf("server span name = %q, want the route template GET /things/{id}", server.Name)
	}
	for k, want := range map[string]string{"http.route": "/things/{id}", "http.request.method": "GET", "url.path": "/things/42"} {
		if got := server.Attrs[k]; got != want {
			t.Errorf("server span %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := server.Attrs["http.response.status_code"]; !ok {
		t.Errorf("server span has no http.response.status_code: %v", server.Attrs)
	}
	for k, v := range server.Attrs {
		if strings.Contains(v, "secret") {
			t.Errorf("server span attribute %s = %q carries the query's secret", k, v)
		}
	}
	if server.Service != "authd" {
		t.Errorf("service.name = %q, want authd", server.Service)
	}
	if clientSpan.ParentSpanID != server.SpanID {
		t.Errorf("client span's parent = %q, want the server span %s", clientSpan.ParentSpanID, server.SpanID)
	}
	if want := "00-" + traceID + "-" + clientSpan.SpanID + "-01"; downstream != want {
		t.Errorf("downstream traceparent = %q, want %q", downstream, want)
	}
	rec := find(records(t, logs.String()), "served a thing")
	if rec == nil || rec["trace_id"] != traceID || rec["span_id"] != server.SpanID {
		t.Errorf("log line = %v, want trace_id %s and span_id %s", rec, traceID, server.SpanID)
	}
}

// TestTracingOffAddsNothing: without an endpoint the handler, the mux and
// the transport are returned as they are, and log lines carry no trace.
func TestTracingOffAddsNothing(t *testing.T) {
	tr, err := NewTracing(context.Background(), DefaultExportConfig(), "v", nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	if h := tr.Handler(mux); h != http.Handler(mux) {
		t.Errorf("Handler wrapped the handler while tracing is off")
	}
	if h := tr.Routed(mux); h != http.Handler(mux) {
		t.Errorf("Routed wrapped the mux while tracing is off")
	}
	if rt := tr.Transport(nil); rt != nil {
		t.Errorf("Transport(nil) = %v while tracing is off, want nil", rt)
	}
	if tr.Enabled() || tr.Dropped() != 0 || tr.Shutdown(context.Background()) != nil {
		t.Errorf("tracing off: Enabled %v, Dropped %d", tr.Enabled(), tr.Dropped())
	}
}

// TestTracingOffAllocations: with tracing off, the request path allocates
// exactly what it does without any tracing code.
func TestTracingOffAllocations(t *testing.T) {
	tr, _ := NewTracing(context.Background(), DefaultExportConfig(), "v", nil)
	log := slog.New(slog.DiscardHandler)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(http.ResponseWriter, *http.Request) {})
	plain := Middleware(log, TrustedProxies{}, Recover(log, nil, nil, mux))
	traced := stack(tr, log, mux)
	allocs := func(h http.Handler) float64 {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		return testing.AllocsPerRun(200, func() { h.ServeHTTP(httptest.NewRecorder(), req) })
	}
	if a, b := allocs(plain), allocs(traced); a != b {
		t.Errorf("allocations per request: %v without tracing code, %v with tracing off", a, b)
	}
}

// TestSamplingRatio: at ratio 0 nothing started here is kept, but a
// caller's sampled traceparent still is (parent-based).
func TestSamplingRatio(t *testing.T) {
	rcv := otlptest.New()
	defer rcv.Close()
	tr := newTracingTo(t, rcv.URL, 0, nil)
	defer tr.Shutdown(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(http.ResponseWriter, *http.Request) {})
	h := stack(tr, slog.New(slog.DiscardHandler), mux)
	for range 20 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	}
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := rcv.Spans()
	if len(spans) != 1 || spans[0].TraceID != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("ratio 0: got %d spans %+v, want only the caller-sampled one", len(spans), spans)
	}
}

// TestOTELVariables: an OTEL_* variable fills in what authd has no key for
// (the collector's headers), and OTEL_EXPORTER_OTLP_ENDPOINT alone turns
// nothing on.
func TestOTELVariables(t *testing.T) {
	rcv := otlptest.New()
	defer rcv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-token=abc")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "not-authd")
	off, err := NewTracing(context.Background(), DefaultExportConfig(), "v", nil)
	if err != nil || off.Enabled() {
		t.Fatalf("OTEL_EXPORTER_OTLP_ENDPOINT alone: enabled %v, err %v; want off", off.Enabled(), err)
	}
	tr := newTracingTo(t, rcv.URL, 1, nil)
	defer tr.Shutdown(context.Background())
	_, span := tr.TracerProvider().Tracer("t").Start(context.Background(), "s")
	span.End()
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	hs := rcv.Headers()
	if len(hs) == 0 || hs[0].Get("X-Collector-Token") != "abc" {
		t.Errorf("export headers %v: want X-Collector-Token from OTEL_EXPORTER_OTLP_HEADERS", hs)
	}
	if s := rcv.Spans(); len(s) != 1 || s[0].Service != "authd" {
		t.Errorf("spans %+v: want one, of service authd (telemetry.service_name wins over OTEL_SERVICE_NAME)", s)
	}
}

// blackHole accepts connections and answers nothing until released;
// reached is closed once a request arrived.
func blackHole(t *testing.T) (url string, reached <-chan struct{}, release func()) {
	t.Helper()
	ch := make(chan struct{})
	stop := make(chan struct{})
	var once, roff sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(ch) })
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	release = func() { roff.Do(func() { close(stop) }); srv.CloseClientConnections(); srv.Close() }
	t.Cleanup(release)
	return srv.URL, ch, release
}

// closedPort returns a loopback URL nobody listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestUnreachableCollector: a collector that never answers, or a port
// nobody listens on, neither fails nor holds a request: more requests than
// the queue holds all complete while the exporter is blocked, the spans
// that do not fit are dropped and counted, and shutdown returns within its
// deadline.
func TestUnreachableCollector(t *testing.T) {
	hole, reached, _ := blackHole(t)
	for _, c := range []struct{ name, url string }{{"never answers", hole}, {"closed port", closedPort(t)}} {
		t.Run(c.name, func(t *testing.T) {
			var logs syncBuffer
			tr := newTracingTo(t, c.url, 1, newTestLogger(t, &logs))
			mux := http.NewServeMux()
			mux.HandleFunc("GET /x", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
			srv := httptest.NewServer(stack(tr, slog.New(slog.DiscardHandler), mux))
			defer srv.Close()
			get := func() error {
				resp, err := http.Get(srv.URL + "/x")
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			}
			if err := get(); err != nil {
				t.Fatal(err)
			}
			go tr.ForceFlush(context.Background()) // starts an export now
			if c.url == hole {
				select {
				case <-reached: // the exporter is now stuck in an export
				case <-time.After(30 * time.Second):
					t.Fatal("the exporter never reached the collector")
				}
			}
			// Every request must complete, bounded, whatever the exporter does.
			done := make(chan error, 1)
			go func() {
				for range spanQueueSize + 100 {
					if err := get(); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("a request failed while the collector is unreachable: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("requests were held by the exporter")
			}
			if c.url == hole && tr.Dropped() == 0 {
				t.Errorf("%d spans past a queue of %d with a stuck exporter: none counted as dropped", spanQueueSize+101, spanQueueSize)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			shut := make(chan error, 1)
			go func() { shut <- tr.Shutdown(ctx) }()
			select {
			case <-shut:
			case <-time.After(30 * time.Second):
				t.Fatal("Shutdown did not return after its deadline")
			}
			if c.url == hole && !strings.Contains(logs.String(), "dropping spans") {
				t.Errorf("no warning about dropped spans in the log:\n%s", logs.String())
			}
		})
	}
}

func TestExportConfigValidate(t *testing.T) {
	ok := DefaultExportConfig()
	ok.OTLPEndpoint, ok.SentryDSN = "http://otelcol:4318", "https://key@sentry.example/1"
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	for _, c := range []struct {
		mutate func(*ExportConfig)
		want   string
	}{
		{func(c *ExportConfig) { c.OTLPEndpoint = "otelcol:4318" }, "telemetry.otlp_endpoint"},
		{func(c *ExportConfig) { c.OTLPEndpoint = "ftp://otelcol" }, "telemetry.otlp_endpoint"},
		{func(c *ExportConfig) { c.OTLPEndpoint = "http://user:pw@otelcol:4318" }, "telemetry.otlp_endpoint"},
		{func(c *ExportConfig) { c.SamplingRatio = 1.5 }, "telemetry.sampling_ratio"},
		{func(c *ExportConfig) { c.SamplingRatio = -0.1 }, "telemetry.sampling_ratio"},
		{func(c *ExportConfig) { c.ServiceName = " " }, "telemetry.service_name"},
		{func(c *ExportConfig) { c.SentryDSN = "not a dsn with secret-key" }, "telemetry.sentry_dsn"},
	} {
		cfg := DefaultExportConfig()
		c.mutate(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error naming %s", cfg, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-key") {
			t.Errorf("the error shows the DSN: %v", err)
		}
	}
	for in, want := range map[string]string{"http://c:4318": "http://c:4318/v1/traces", "http://c:4318/": "http://c:4318/v1/traces",
		"https://c/otlp/v1/traces": "https://c/otlp/v1/traces"} {
		if got, err := otlpTracesURL(in); err != nil || got != want {
			t.Errorf("otlpTracesURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
