package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
)

// readiness is the answer of /readyz: the status, a short summary anyone
// may see, and the cause, which names dependencies, hosts and driver
// errors and is shown only to operators.
type readiness struct {
	code    int
	summary string
	cause   string
}

// readyzHandler answers /readyz from check: 200 "ready", 200 "ready,
// degraded" (Redis unreachable: still serving), 503 "not ready". With
// details (the ops listener), or to a caller with "Authorization: Bearer
// <token>" (http.pprof_token, when set), the body also says why; on the
// public listener everyone else gets the summary only, so the response
// reveals no internal host names or error text.
func readyzHandler(check func(ctx context.Context) readiness, details bool, token string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		st := check(ctx)
		msg := st.summary
		if st.cause != "" && (details || bearerIs(r, token)) {
			msg += ": " + st.cause
		}
		writeStatus(w, st.code, msg)
	}
}

// bearerIs reports whether r carries "Authorization: Bearer <token>"; an
// empty token matches nothing. Compared in constant time, as SHA-256
// digests so the length does not leak either.
func bearerIs(r *http.Request, token string) bool {
	if token == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && ok
}
