package static

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	p := Path("style.css")
	if !strings.HasPrefix(p, "/static/style.css?v=") || len(p) != len("/static/style.css?v=")+16 {
		t.Fatalf("Path(style.css) = %q", p)
	}
	if Path("nope.css") != "" {
		t.Error("Path of a missing asset is not empty")
	}
	for _, tc := range []struct {
		url, cache string
		status     int
	}{
		{p, "public, max-age=31536000, immutable", http.StatusOK},
		{"/static/style.css", "no-cache", http.StatusOK},
		{"/static/style.css?v=old", "no-cache", http.StatusOK},
		{"/static/nope.css", "", http.StatusNotFound},
		{"/static/../static.go", "", http.StatusNotFound},
		{"/static/", "", http.StatusNotFound},
	} {
		rec := httptest.NewRecorder()
		Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.url, nil))
		if rec.Code != tc.status || rec.Header().Get("Cache-Control") != tc.cache {
			t.Errorf("GET %s: %d %q, want %d %q", tc.url, rec.Code, rec.Header().Get("Cache-Control"), tc.status, tc.cache)
		}
		if tc.status == http.StatusOK && !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
			t.Errorf("GET %s: Content-Type %q", tc.url, rec.Header().Get("Content-Type"))
		}
	}
	// The script is served as JavaScript (nosniff would refuse it otherwise).
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path("password.js"), nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") {
		t.Errorf("GET %s: %d %q, want 200 text/javascript", Path("password.js"), rec.Code, rec.Header().Get("Content-Type"))
	}
}
