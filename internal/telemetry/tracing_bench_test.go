package telemetry

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authd/authd/internal/telemetry/otlptest"
)

// BenchmarkRequestPath is the middleware's cost per request with tracing
// off, on at 1% (what the speed goal names) and on for every request,
// exporting to an in-process receiver.
//
//	go test -run x -bench RequestPath -benchmem ./internal/telemetry/
func BenchmarkRequestPath(b *testing.B) {
	rcv := otlptest.New()
	defer rcv.Close()
	log := slog.New(slog.DiscardHandler)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/introspect", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, c := range []struct {
		name     string
		endpoint string
		ratio    float64
	}{{"off", "", 1}, {"on-1pct", rcv.URL, 0.01}, {"on-all", rcv.URL, 1}} {
		b.Run(c.name, func(b *testing.B) {
			cfg := DefaultExportConfig()
			cfg.OTLPEndpoint, cfg.SamplingRatio = c.endpoint, c.ratio
			tr, err := NewTracing(context.Background(), cfg, "bench", log)
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			h := stack(tr, log, mux)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodPost, "/oauth2/introspect", nil)
				for pb.Next() {
					h.ServeHTTP(httptest.NewRecorder(), req)
				}
			})
		})
	}
}
