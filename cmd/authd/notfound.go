package main

import (
	"net/http"
	"strings"
)

// machinePrefixes are the paths only programs call (OAuth endpoints,
// discovery, Shared Signals). An unknown path under them keeps the mux's
// plain 404: a client reading JSON gains nothing from a page. The admin
// API (/api/) and SCIM (/scim/v2/) claim their own prefixes and answer
// their own problem documents before the fallback is reached.
var machinePrefixes = []string{"/oauth2/", "/.well-known/", "/ssf/"}

// probeMethods are the methods notFound tries on a path no pattern serves
// with the request's method, to tell 404 from 405.
var probeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// errorPages renders the hosted error page (login.Pages).
type errorPages interface {
	RenderError(w http.ResponseWriter, r *http.Request, status int, title, message string, args ...any)
}

// notFound is the fallback for "/" on mux: a path nobody claims gets the
// styled error page with the request id, as a browser asks for it. A path
// that another method serves still gets the mux's 405 with Allow, and
// machine paths keep the plain 404.
func notFound(mux *http.ServeMux, pages errorPages) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		for _, p := range machinePrefixes {
			if strings.HasPrefix(r.URL.Path, p) {
				http.NotFound(w, r)
				return
			}
		}
		pages.RenderError(w, r, http.StatusNotFound, "Page not found",
			"There is no page at this address. Check that you typed or pasted it correctly.")
	})
}

// allowedMethods returns the methods a pattern other than the fallback
// serves r's path with, or nil when there are none.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range probeMethods {
		if m == r.Method || r.Method == http.MethodHead && m == http.MethodGet {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 && allow[0] == http.MethodGet {
		allow = append(allow[:1:1], append([]string{http.MethodHead}, allow[1:]...)...)
	}
	return allow
}
