package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/http/pprof"
	"strings"
)

// pprofHandler serves Go's runtime profiles (net/http/pprof) under
// /debug/pprof/ on a private mux, to requests carrying
// "Authorization: Bearer <token>"; everything else gets 401 (404 for a path
// that is not a profile). An empty token turns it off: every request gets
// 404. The token is compared in constant time (as SHA-256 digests, so its
// length does not leak either).
//
// Profiles show what the server is doing (and /debug/pprof/cmdline its
// command line), so mount it only with a long random token, preferably on
// the ops listener:
//
//	go tool pprof -http : -H "Authorization: Bearer $TOKEN" \
//	    http://127.0.0.1:8080/debug/pprof/profile?seconds=20
//	curl -H "Authorization: Bearer $TOKEN" -o cpu.pb.gz \
//	    'http://127.0.0.1:8080/debug/pprof/profile?seconds=20'
//
// (Importing net/http/pprof also registers its handlers on
// http.DefaultServeMux, which authd never serves.)
func pprofHandler(token string) http.Handler {
	if token == "" {
		return http.NotFoundHandler()
	}
	want := sha256.Sum256([]byte(token))
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also heap, goroutine, allocs, block, mutex, threadcreate
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="authd pprof"`)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}
