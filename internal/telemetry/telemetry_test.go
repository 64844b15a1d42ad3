package telemetry

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// idPattern is what every X-Request-Id the middleware answers must match.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// syncBuffer is a bytes.Buffer safe for the server goroutines.
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

// records parses JSON log lines.
func records(t testing.TB, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		recs = append(recs, m)
	}
	return recs
}

func find(recs []map[string]any, msg string) map[string]any {
	for _, r := range recs {
		if r["msg"] == msg {
			return r
		}
	}
	return nil
}

func newTestLogger(t testing.TB, w io.Writer) *slog.Logger {
	t.Helper()
	log, err := NewLogger(w, "debug", "json")
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// serve runs one request with the given X-Request-Id values through the
// middleware and returns the response, the id the handler saw and the log.
func serve(t testing.TB, h http.HandlerFunc, ids ...string) (*httptest.ResponseRecorder, string, string) {
	t.Helper()
	var buf syncBuffer
	var seen string
	mw := Middleware(newTestLogger(t, &buf), TrustedProxies{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = RequestID(r.Context())
		if h != nil {
			h(w, r)
		}
	}))
	req := httptest.NewRequest(http.MethodGet, "/x?code=secret", nil)
	if len(ids) > 0 {
		req.Header[HeaderRequestID] = ids
	}
	rec := httptest.NewRecorder()
	mw.ServeHTTP(rec, req)
	return rec, seen, buf.String()
}

func TestMiddlewareGeneratesID(t *testing.T) {
	rec, seen, _ := serve(t, nil)
	got := rec.Header().Get(HeaderRequestID)
	if !idPattern.MatchString(got) {
		t.Fatalf("generated id %q does not match %v", got, idPattern)
	}
	if seen != got {
		t.Fatalf("handler saw id %q, response carries %q", seen, got)
	}
	rec2, _, _ := serve(t, nil)
	if rec2.Header().Get(HeaderRequestID) == got {
		t.Fatal("two requests got the same id")
	}
}

func TestMiddlewareEchoesWellFormedID(t *testing.T) {
	for _, id := range []string{
		"abcdefgh",                // shortest allowed
		strings.Repeat("a", 64),   // longest allowed
		"req-123_ABC.def",         // every allowed punctuation
		"0f8fad5b-d9cb-469f-a165", // UUID-like
	} {
		rec, seen, _ := serve(t, nil, id)
		if got := rec.Header().Get(HeaderRequestID); got != id || seen != id {
			t.Errorf("id %q: response %q, handler saw %q", id, got, seen)
		}
	}
	// Only the first value counts.
	rec, _, _ := serve(t, nil, "first-id-123", "second-id-456")
	if got := rec.Header().Get(HeaderRequestID); got != "first-id-123" {
		t.Errorf("two values: got %q", got)
	}
	if vals := rec.Header().Values(HeaderRequestID); len(vals) != 1 {
		t.Errorf("response carries %d ids: %q", len(vals), vals)
	}
}

func TestMiddlewareReplacesMalformedID(t *testing.T) {
	for name, id := range map[string]string{
		"empty":            "",
		"too short":        "abc1234",
		"too long":         strings.Repeat("a", 65),
		"huge":             strings.Repeat("x", 1<<16),
		"trailing newline": "abcdefgh\n",
		"header injection": "abcdefgh\r\nSet-Cookie: x=y",
		"log injection":    "abcdefgh\n{\"level\":\"ERROR\"}",
		"space":            "abcd efgh",
		"quote":            `abcdefgh"`,
		"html":             "<script>alert(1)</script>",
		"non-ascii":        "abcdéfghi",
		"NUL":              "abcdefgh\x00",
		"invalid UTF-8":    "abcdefgh\xff",
		"colon":            "abcd:efgh",
		"slash":            "abcd/efgh",
	} {
		rec, seen, _ := serve(t, nil, id)
		got := rec.Header().Get(HeaderRequestID)
		if got == id || !idPattern.MatchString(got) || seen != got {
			t.Errorf("%s: id %q answered as %q (handler saw %q)", name, id, got, seen)
		}
	}
	// A malformed first value is replaced, not skipped for the second.
	rec, _, _ := serve(t, nil, "bad id", "good-id-123")
	if got := rec.Header().Get(HeaderRequestID); got == "good-id-123" || !idPattern.MatchString(got) {
		t.Errorf("malformed first value: got %q", got)
	}
}

func TestRequestIDInLogs(t *testing.T) {
	rec, _, out := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "hello")
	}, "trace-id-0001")
	if rec.Header().Get(HeaderRequestID) != "trace-id-0001" {
		t.Fatalf("id not echoed: %q", rec.Header().Get(HeaderRequestID))
	}
	r := find(records(t, out), "http request")
	if r == nil {
		t.Fatalf("no request log line in %q", out)
	}
	want := map[string]any{"request_id": "trace-id-0001", "method": "GET", "path": "/x", "status": float64(201), "bytes": float64(5), "level": "INFO"}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("log %s = %v, want %v (%v)", k, r[k], v, r)
		}
	}
	if strings.Contains(out, "secret") {
		t.Errorf("log carries the query string: %s", out)
	}

	// Records the handler logs with the request context carry the id too,
	// through loggers derived with With, in text format as well.
	for _, format := range []string{"json", "text"} {
		var buf syncBuffer
		log, err := NewLogger(&buf, "info", format)
		if err != nil {
			t.Fatal(err)
		}
		h := Middleware(log, TrustedProxies{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			log.With("component", "test").InfoContext(r.Context(), "inside handler")
			log.InfoContext(context.Background(), "no request")
		}))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set(HeaderRequestID, "trace-id-0002")
		h.ServeHTTP(httptest.NewRecorder(), req)
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 3 {
			t.Fatalf("%s: want 3 log lines, got %q", format, lines)
		}
		for _, l := range lines {
			has := strings.Contains(l, "trace-id-0002")
			if want := !strings.Contains(l, "no request"); has != want {
				t.Errorf("%s: request id present=%v in %q", format, has, l)
			}
		}
	}
}

func TestNewLoggerRejectsBadLevel(t *testing.T) {
	if _, err := NewLogger(io.Discard, "loud", "json"); err == nil {
		t.Fatal("NewLogger accepted level \"loud\"")
	}
	for _, lv := range []string{"debug", "INFO", "warn", "error"} {
		if _, err := NewLogger(io.Discard, lv, "text"); err != nil {
			t.Errorf("level %q: %v", lv, err)
		}
	}
}

func TestMiddlewareRecoversPanic(t *testing.T) {
	rec, _, out := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		panic("boom")
	}, "panic-id-0001")
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if rec.Header().Get(HeaderRequestID) != "panic-id-0001" {
		t.Errorf("id lost on panic: %q", rec.Header().Get(HeaderRequestID))
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("panic value leaked to the client: %q", rec.Body)
	}
	recs := records(t, out)
	p := find(recs, "panic serving request")
	if p == nil || p["panic"] != "boom" || p["level"] != "ERROR" || p["request_id"] != "panic-id-0001" {
		t.Errorf("panic log: %v", p)
	}
	r := find(recs, "http request")
	if r == nil || r["status"] != float64(500) || r["level"] != "ERROR" {
		t.Errorf("request log: %v", r)
	}
}

func TestMiddlewarePanicAfterHeaderKeepsStatus(t *testing.T) {
	rec, _, out := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "partial")
		panic(errors.New("late"))
	})
	if rec.Code != http.StatusNotFound || rec.Body.String() != "partial" {
		t.Fatalf("got %d %q, want the 404 already written", rec.Code, rec.Body)
	}
	recs := records(t, out)
	if p := find(recs, "panic serving request"); p == nil || p["panic"] != "late" {
		t.Errorf("panic not logged: %v", recs)
	}
	if r := find(recs, "http request"); r == nil || r["status"] != float64(404) || r["bytes"] != float64(7) {
		t.Errorf("request log: %v", r)
	}
}

// An informational response (here 103 Early Hints) is not the final one:
// a panic after it must still end in a 500, and the log must not report
// the 1xx as the status.
func TestMiddlewarePanicAfterInformationalResponse(t *testing.T) {
	var buf syncBuffer
	srv := httptest.NewServer(Middleware(newTestLogger(t, &buf), TrustedProxies{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		panic("after early hints")
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d after a panic, want 500", resp.StatusCode)
	}
	srv.Close() // flush the handler's log line
	if r := find(records(t, buf.String()), "http request"); r == nil || r["status"] != float64(500) {
		t.Errorf("request log: %v", r)
	}
}

func TestMiddlewareRepanicsAbortHandler(t *testing.T) {
	h := Middleware(slog.New(slog.DiscardHandler), TrustedProxies{}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	t.Fatal("ErrAbortHandler was swallowed")
}

func TestStatusWriterUnwrap(t *testing.T) {
	rec, _, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush through the middleware: %v", err)
		}
	})
	if !rec.Flushed {
		t.Error("the recorder was not flushed")
	}
}

// FuzzRequestID: whatever X-Request-Id arrives, the answer carries one
// well-formed id, the same the handler and every log record see, and the
// log stays one JSON object per line.
func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"", "abcdefgh", "abcdefg", strings.Repeat("a", 64), strings.Repeat("a", 65),
		"abcdefgh\n", "abcdefgh\r\nX-Injected: 1", "req-123_ABC.def", "a b c d e f g h", "ünïcödé-id",
		"\x00\x00\x00\x00\x00\x00\x00\x00", "abcdefgh\xff", `{"level":"ERROR"}`, "........", "--------"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rec, seen, out := serve(t, func(w http.ResponseWriter, r *http.Request) {
			slog.Default().DebugContext(r.Context(), "x")
		}, in)
		vals := rec.Header().Values(HeaderRequestID)
		if len(vals) != 1 {
			t.Fatalf("response carries %d ids for %q", len(vals), in)
		}
		got := vals[0]
		if !idPattern.MatchString(got) {
			t.Fatalf("id %q answered as %q", in, got)
		}
		if idPattern.MatchString(in) != (got == in) {
			t.Fatalf("id %q answered as %q: well-formed ids are kept, others replaced", in, got)
		}
		if seen != got {
			t.Fatalf("handler saw %q, response carries %q", seen, got)
		}
		recs := records(t, out)
		if len(recs) != 1 || recs[0]["request_id"] != got {
			t.Fatalf("log for id %q: %q", in, out)
		}
	})
}
