package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeNotFound: a path nobody serves answers the styled error page
// with the request id for a browser, while the admin API keeps its
// problem document, OAuth paths their plain answer, and a known path
// asked with another method its 405.
func TestServeNotFound(t *testing.T) {
	t.Parallel()
	s := startServe(t, sqliteEnv(t), false)
	do := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, s.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Request-Id", "req-notfound-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	tests := []struct {
		name, method, path string
		status             int
		contentType        string
		want               []string // in the body
		allow              string
	}{
		{"page", "GET", "/nope", 404, "text/html; charset=utf-8",
			[]string{"<h1>Page not found</h1>", "<code>req-notfound-1</code>", `href="/static/`}, ""},
		{"nested page", "GET", "/account/nope/deeper", 404, "text/html; charset=utf-8", []string{"<h1>Page not found</h1>"}, ""},
		{"head", "HEAD", "/nope", 404, "text/html; charset=utf-8", nil, ""},
		{"post", "POST", "/nope", 404, "text/html; charset=utf-8", []string{"<h1>Page not found</h1>"}, ""},
		{"admin API", "GET", "/api/v1/nope", 404, "application/problem+json", []string{"no such admin API operation"}, ""},
		{"OAuth path", "GET", "/oauth2/nope", 404, "text/plain; charset=utf-8", []string{"404 page not found"}, ""},
		{"discovery path", "GET", "/.well-known/nope", 404, "text/plain; charset=utf-8", []string{"404 page not found"}, ""},
		{"other method on a page", "PUT", "/login", 405, "text/plain; charset=utf-8", nil, "GET, HEAD, POST"},
		{"other method on the root", "POST", "/", 405, "text/plain; charset=utf-8", nil, "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(tt.method, tt.path)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("%s %s: %d %q, want %d %q\n%s", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, tt.contentType, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s %s: body lacks %q\n%s", tt.method, tt.path, w, body)
				}
			}
			if tt.method == "HEAD" && body != "" {
				t.Errorf("HEAD %s: body %q, want none", tt.path, body)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
			}
			if got := resp.Header.Get("X-Request-Id"); got != "req-notfound-1" {
				t.Errorf("%s %s: X-Request-Id %q, want the one sent", tt.method, tt.path, got)
			}
		})
	}
}
