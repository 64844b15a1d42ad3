package telemetry

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRecoverAnswers: a panic is answered 500: with the styled page for a
// browser, plain text otherwise, and not at all over an answer already
// begun; http.ErrAbortHandler still aborts.
func TestRecoverAnswers(t *testing.T) {
	var logs syncBuffer
	log := newTestLogger(t, &logs)
	var paged int
	page := func(w http.ResponseWriter, r *http.Request, status int, title, message string, _ ...any) {
		paged++
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<h1>" + title + "</h1>"))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("GET /late", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		panic("late boom")
	})
	mux.HandleFunc("GET /abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	h := Middleware(log, TrustedProxies{}, Recover(log, nil, page, mux))
	do := func(path, accept string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := do("/boom", "text/html,application/xhtml+xml"); rec.Code != 500 || paged != 1 || !strings.Contains(rec.Body.String(), "Something went wrong") {
		t.Errorf("browser: %d %q (page rendered %d times), want the styled 500", rec.Code, rec.Body, paged)
	}
	if rec := do("/boom", "application/json"); rec.Code != 500 || paged != 1 || strings.Contains(rec.Body.String(), "<h1>") {
		t.Errorf("program: %d %q, want a plain 500", rec.Code, rec.Body)
	}
	if rec := do("/late", "text/html"); rec.Code != http.StatusAccepted || paged != 1 {
		t.Errorf("panic after the answer began: %d (page rendered %d times), want the 202 left alone", rec.Code, paged)
	}
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("ErrAbortHandler: recovered %v, want it re-panicked", v)
			}
		}()
		do("/abort", "")
	}()
	recs := records(t, logs.String())
	n := 0
	for _, r := range recs {
		if r["msg"] == "panic serving request" {
			n++
			if r["route"] != "/boom" && r["route"] != "/late" {
				t.Errorf("panic line route = %v", r["route"])
			}
		}
	}
	if n != 3 {
		t.Errorf("%d panic log lines, want 3", n)
	}
}
