package telemetry

import (
	"log/slog"
	"net/http"
	"strings"
)

// ErrorPage renders the styled error page (login.Pages.RenderError).
type ErrorPage func(w http.ResponseWriter, r *http.Request, status int, title, message string, args ...any)

// Recover wraps the ServeMux mux (directly, so that the route it matched
// is known): a panic is logged, reported (rep may be nil) and answered
// with a 500, the styled error page for a browser, when nothing was
// written yet; an answer of 500 or more but 503 (not ready, shedding load:
// expected states) is reported too. It must run under Middleware, whose
// writer tells what was answered.
func Recover(log *slog.Logger, rep *Reporter, page ErrorPage, mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				if rep.Enabled() {
					if status, _ := answered(w); status >= 500 && status != http.StatusServiceUnavailable {
						rep.ServerError(r.Context(), r, status)
					}
				}
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			log.ErrorContext(r.Context(), "panic serving request", "panic", v, "path", r.URL.Path, "route", RouteOf(r.Pattern))
			rep.Panic(r.Context(), r, v)
			if _, wrote := answered(w); wrote {
				return
			}
			if page != nil && strings.Contains(r.Header.Get("Accept"), "text/html") {
				// Both are message catalogue keys: the page is in the
				// request's language.
				page(w, r, http.StatusInternalServerError, "Something went wrong",
					"We could not complete your request. Please try again in a moment.")
				return
			}
			http.Error(w, "internal server error", http.StatusInternalServerError)
		}()
		mux.ServeHTTP(w, r)
	})
}

// answered finds Middleware's writer under w and returns the status it
// saw and whether anything was written; 200 and false when w is not
// under Middleware.
func answered(w http.ResponseWriter) (int, bool) {
	for {
		if sw, ok := w.(*statusWriter); ok {
			return sw.status, sw.wrote
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return http.StatusOK, false
		}
		w = u.Unwrap()
	}
}
