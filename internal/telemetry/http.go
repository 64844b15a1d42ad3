package telemetry

import (
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"regexp"
	"time"
)

// HeaderRequestID carries the request id in and out.
const HeaderRequestID = "X-Request-Id"

// validRequestID accepts ids from a trusted proxy only when they are short
// and harmless to log.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// Middleware assigns every request an id (keeping a well-formed incoming
// X-Request-Id), works out its client address once (proxies says whose
// forwarding headers to believe; see TrustedProxies.ClientAddr) for
// ClientIP, returns the id in the X-Request-Id response header, recovers
// panics as 500, and logs one line per request. It never logs query
// strings or bodies, which may carry codes and tokens.
func Middleware(log *slog.Logger, proxies TrustedProxies, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(HeaderRequestID)
		if !validRequestID.MatchString(id) {
			id = newID()
		}
		client := proxies.ClientAddr(r)
		ctx := WithClientIP(WithRequestID(r.Context(), id), client)
		w.Header().Set(HeaderRequestID, id)
		rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(ctx, "panic serving request", "panic", v, "path", r.URL.Path)
				if !rw.wrote {
					http.Error(rw, "internal server error", http.StatusInternalServerError)
				}
			}
			level := slog.LevelInfo
			if rw.status >= 500 {
				level = slog.LevelError
			}
			// LogAttrs: typed attributes, no boxing into key/value pairs.
			log.LogAttrs(ctx, level, "http request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rw.status), slog.Int("bytes", rw.bytes),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000), slog.String("remote", r.RemoteAddr), slog.String("client_ip", client))
		}()
		next.ServeHTTP(rw, r.WithContext(ctx))
	})
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	// 1xx responses other than 101 are interim (RFC 9110 §15.2): the final
	// status is still to come.
	if !w.wrote && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
