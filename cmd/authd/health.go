package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// readiness is the answer of /readyz: the status, a short summary anyone
// may see, and the cause, which names dependencies, hosts and driver
// errors and is shown only to operators.
type readiness struct {
	code    int
	summary string
	cause   string
	// report, when set, is each dependency's state (the JSON body).
	report []dependencyStatus
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
		if st.report != nil && wantsJSON(r) {
			writeReadinessJSON(w, st, details || bearerIs(r, token))
			return
		}
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

// Dependency states in /readyz's JSON body and authd_dependency_up.
const (
	stateUp      = "up"
	stateDown    = "down"
	stateSkipped = "not_configured"
)

// dependencyStatus is one dependency in /readyz's JSON body.
type dependencyStatus struct {
	Name           string  `json:"name"`
	State          string  `json:"state"`
	LatencySeconds float64 `json:"latency_seconds"`
	// Error is this check's failure; LastError the most recent one seen,
	// with its time, even when the dependency has recovered since. Both
	// only to operators (see readyzHandler).
	Error         string `json:"error,omitempty"`
	LastError     string `json:"last_error,omitempty"`
	LastErrorTime string `json:"last_error_time,omitempty"`
}

// healthReport is what healthChecks.check returns.
type healthReport struct {
	Dependencies []dependencyStatus
}

// healthCheck checks one dependency; critical ones make /readyz 503 when
// down, the others (Redis) only degrade it.
type healthCheck struct {
	name     string
	critical bool
	// check is nil for a dependency not configured (Redis without
	// redis.url).
	check func(ctx context.Context) error
}

// healthChecks runs the dependency checks for /readyz and the metrics,
// remembering each one's last error.
type healthChecks struct {
	checks []healthCheck
	mu     sync.Mutex
	last   map[string]dependencyStatus // name -> last failure
}

func newHealthChecks(checks ...healthCheck) *healthChecks {
	return &healthChecks{checks: checks, last: map[string]dependencyStatus{}}
}

// check runs every check concurrently, each bounded by ctx.
func (h *healthChecks) check(ctx context.Context) healthReport {
	out := make([]dependencyStatus, len(h.checks))
	var wg sync.WaitGroup
	for i, c := range h.checks {
		out[i] = dependencyStatus{Name: c.name, State: stateSkipped}
		if c.check == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := c.check(ctx)
			out[i].LatencySeconds = time.Since(start).Seconds()
			out[i].State = stateUp
			if err != nil {
				out[i].State, out[i].Error = stateDown, err.Error()
			}
		}()
	}
	wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range out {
		if out[i].Error != "" {
			h.last[out[i].Name] = dependencyStatus{LastError: out[i].Error, LastErrorTime: time.Now().UTC().Format(time.RFC3339)}
		}
		if l, ok := h.last[out[i].Name]; ok {
			out[i].LastError, out[i].LastErrorTime = l.LastError, l.LastErrorTime
		}
	}
	return healthReport{Dependencies: out}
}

// readiness sums the report up: 503 when a critical dependency is down,
// 200 "ready, degraded" when only another one is.
func (h *healthChecks) readiness(r healthReport) readiness {
	st := readiness{code: http.StatusOK, summary: "ready", report: r.Dependencies}
	for i, d := range r.Dependencies {
		if d.State != stateDown {
			continue
		}
		if h.checks[i].critical {
			st.code, st.summary = http.StatusServiceUnavailable, "not ready"
		} else if st.code == http.StatusOK {
			st.summary = "ready, degraded"
		}
		if st.cause != "" {
			st.cause += "; "
		}
		st.cause += d.Name + ": " + d.Error
	}
	return st
}

// writeReadinessJSON writes st as JSON: the status, and every dependency's
// state and latency; errors only when details.
func writeReadinessJSON(w http.ResponseWriter, st readiness, details bool) {
	deps := make([]dependencyStatus, len(st.report))
	for i, d := range st.report {
		if !details {
			d.Error, d.LastError, d.LastErrorTime = "", "", ""
		}
		deps[i] = d
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(st.code)
	_ = json.NewEncoder(w).Encode(struct {
		Status       string             `json:"status"`
		Dependencies []dependencyStatus `json:"dependencies"`
	}{st.summary, deps})
}

// wantsJSON reports whether the request's Accept asks for JSON.
func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "application/json") {
			return true
		}
	}
	return false
}
