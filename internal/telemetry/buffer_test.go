package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestBufferedWriter checks that lines wait in the buffer until the
// interval, Flush or Close, and that writes after Close go straight through.
func TestBufferedWriter(t *testing.T) {
	var out syncBuffer
	b := NewBufferedWriter(&out, 1<<10, time.Hour) // the ticker never fires here
	b.Write([]byte("one\n"))
	if out.String() != "" {
		t.Fatalf("written before a flush: %q", out.String())
	}
	if err := b.Flush(); err != nil || out.String() != "one\n" {
		t.Fatalf("after Flush: %v, %q; want one line", err, out.String())
	}
	b.Write([]byte(strings.Repeat("x", 2<<10))) // larger than the buffer
	if len(out.String()) != 4+2<<10 {
		t.Fatalf("a write larger than the buffer waited: %d bytes out", len(out.String()))
	}
	b.Write([]byte("two\n"))
	if err := b.Close(); err != nil || !strings.HasSuffix(out.String(), "two\n") {
		t.Fatalf("after Close: %v, %q; want the buffered line written", err, out.String()[len(out.String())-8:])
	}
	b.Write([]byte("three\n"))
	if !strings.HasSuffix(out.String(), "three\n") {
		t.Errorf("a write after Close waited")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestBufferedWriterInterval checks that the flushing goroutine writes what
// waits without anyone calling Flush.
func TestBufferedWriterInterval(t *testing.T) {
	var out syncBuffer
	b := NewBufferedWriter(&out, 1<<10, 10*time.Millisecond)
	defer b.Close()
	b.Write([]byte("line\n"))
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "line\n" {
		if time.Now().After(deadline) {
			t.Fatalf("not flushed within 5s of a 10ms interval: %q", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLoggerFlushesWarnings checks that a logger on a BufferedWriter keeps
// info records in the buffer and writes a warning, and what preceded it, at
// once.
func TestLoggerFlushesWarnings(t *testing.T) {
	var out syncBuffer
	b := NewBufferedWriter(&out, 1<<16, time.Hour)
	defer b.Close()
	log, err := NewLogger(b, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithRequestID(context.Background(), "req-1")
	log.InfoContext(ctx, "http request")
	if out.String() != "" {
		t.Fatalf("info record written at once: %q", out.String())
	}
	log.With("component", "x").WarnContext(ctx, "redis unreachable")
	recs := records(t, out.String())
	if len(recs) != 2 || recs[0]["msg"] != "http request" || recs[1]["msg"] != "redis unreachable" ||
		recs[1]["request_id"] != "req-1" || recs[1]["component"] != "x" {
		t.Errorf("after a warning: %v; want both records, in order, with request_id", recs)
	}
}

// BenchmarkMiddleware is the cost the middleware adds to a request: the
// request id, the status recorder and the access-log line, encoded as JSON
// (to io.Discard: the write itself is BufferedWriter's concern).
func BenchmarkMiddleware(b *testing.B) {
	log, err := NewLogger(io.Discard, "info", "json")
	if err != nil {
		b.Fatal(err)
	}
	h := Middleware(log, TrustedProxies{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) }))
	r := httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}
