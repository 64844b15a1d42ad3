package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPprofHandler(t *testing.T) {
	token := strings.Repeat("t", 40)
	for _, tc := range []struct {
		name, token, auth string
		want              int
	}{
		{"off", "", "Bearer " + token, http.StatusNotFound},
		{"no credentials", token, "", http.StatusUnauthorized},
		{"wrong token", token, "Bearer " + strings.Repeat("x", 40), http.StatusUnauthorized},
		{"prefix of the token", token, "Bearer " + token[:20], http.StatusUnauthorized},
		{"right token", token, "Bearer " + token, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			pprofHandler(tc.token).ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("GET /debug/pprof/ with %q: %d, want %d", tc.auth, w.Code, tc.want)
			}
		})
	}
}
