package telemetry

import (
	"database/sql"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
)

// Metrics holds authd's Prometheus metrics in a registry of its own (never
// the global one, so tests and two servers in one process do not share
// counters). Every method is safe on a nil *Metrics, which records
// nothing: packages take a *Metrics in their options and need none in
// their tests.
//
// Label values are bounded by construction: routes are mux patterns
// (never raw paths), methods a fixed set, codes numbers, and every other
// label one of the constants its recorder names. No user, client or
// address ever becomes a label.
type Metrics struct {
	reg *prometheus.Registry

	httpDuration *prometheus.HistogramVec
	tokens       *prometheus.CounterVec
	logins       *prometheus.CounterVec
	lockouts     prometheus.Counter
	rateLimited  *prometheus.CounterVec
	revocations  *prometheus.CounterVec
	introspects  *prometheus.CounterVec
	reuse        *prometheus.CounterVec
	jobs         *prometheus.CounterVec
	jobDuration  *prometheus.HistogramVec
	jobWait      *prometheus.HistogramVec
	mail         *prometheus.CounterVec
	webhooks     *prometheus.CounterVec
	dbQuery      *prometheus.HistogramVec
	redisCmd     *prometheus.HistogramVec
	redisFall    *prometheus.CounterVec
}

// BuildInfo labels authd_build_info.
type BuildInfo struct{ Version, Revision, GoVersion string }

// LatencyBuckets are the bounds of the latency histograms, in seconds:
// fine below the 100 ms goal, coarse above it.
var LatencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .075, .1, .25, .5, 1, 2.5, 5, 10}

// RouteUnmatched is the route label of a request no pattern matched (or
// that the catch-all "/" answered): every unknown path shares it.
const RouteUnmatched = "unmatched"

// NewMetrics returns the metrics, registered with the Go runtime and
// process collectors and authd_build_info.
func NewMetrics(b BuildInfo) *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "authd_build_info",
		Help:        "Always 1; the labels say what this binary was built from.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion}})
	build.Set(1)
	f(build)
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		f(c)
		return c
	}
	hist := func(name, help string, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: LatencyBuckets}, labels)
		f(h)
		return h
	}
	m := &Metrics{reg: reg,
		httpDuration: hist("authd_http_request_duration_seconds",
			"Time to answer an HTTP request, by route template (never the raw path), method and status code.", "route", "method", "code"),
		tokens: counter("authd_tokens_issued_total", "Successful token endpoint responses, by grant type.", "grant_type"),
		logins: counter("authd_logins_total", "Sign-in attempts, by result (success, failure) and method.", "result", "method"),
		lockouts: func() prometheus.Counter {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: "authd_lockouts_total", Help: "Accounts locked after repeated failed sign-ins."})
			f(c)
			return c
		}(),
		rateLimited: counter("authd_rate_limited_total", "Requests refused by a rate limit, by rule.", "rule"),
		revocations: counter("authd_revocations_total", "Revocation endpoint requests (RFC 7009), by result (ok, refused).", "result"),
		introspects: counter("authd_introspections_total", "Introspection endpoint requests (RFC 7662), by result (active, inactive, refused).", "result"),
		reuse: counter("authd_token_reuse_total",
			"Spent authorization codes or rotated refresh tokens presented again (what they issued is revoked), by grant type.", "grant_type"),
		jobs:        counter("authd_jobs_total", "Background jobs run, by kind and result (ok, failed).", "kind", "result"),
		jobDuration: hist("authd_job_duration_seconds", "Time a background job ran, by kind.", "kind"),
		jobWait:     hist("authd_job_wait_seconds", "Time a background job waited in the queue before it ran, by kind.", "kind"),
		mail:        counter("authd_mail_sent_total", "Mail delivery attempts, by result (ok, failed).", "result"),
		webhooks:    counter("authd_webhook_deliveries_total", "Webhook delivery attempts, by result (ok, failed).", "result"),
		redisCmd:    hist("authd_redis_command_duration_seconds", "Time a Redis command (or pipeline) took, by result (ok, error).", "result"),
		redisFall: counter("authd_redis_fallbacks_total",
			"Operations answered by the in-process or SQL fallback because Redis was down or failed, by store (rate_limits, one_time_uses, attempts).", "store"),
		dbQuery: hist("authd_db_query_duration_seconds", "Time a database statement took, by operation (select, insert, update, delete, raw).", "operation"),
	}
	// Every series of a fixed label set exists from the start, at 0, so
	// that rate() and the alert rules see a counter begin rather than
	// appear.
	for _, gt := range grantTypes {
		m.tokens.WithLabelValues(gt)
		m.reuse.WithLabelValues(gt)
	}
	for _, r := range []string{"success", "failure"} {
		for _, method := range loginMethods {
			m.logins.WithLabelValues(r, method)
		}
	}
	for _, r := range []string{"active", "inactive", "refused"} {
		m.introspects.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "failed"} {
		m.mail.WithLabelValues(r)
		m.webhooks.WithLabelValues(r)
	}
	for _, st := range []string{"rate_limits", "one_time_uses", "attempts"} {
		m.redisFall.WithLabelValues(st)
	}
	m.revocations.WithLabelValues("ok")
	m.revocations.WithLabelValues("refused")
	return m
}

// InitJobKinds creates the job series of each kind at 0.
func (m *Metrics) InitJobKinds(kinds ...string) {
	if m == nil {
		return
	}
	for _, k := range kinds {
		m.jobs.WithLabelValues(k, "ok")
		m.jobs.WithLabelValues(k, "failed")
		m.jobDuration.WithLabelValues(k)
		m.jobWait.WithLabelValues(k)
	}
}

// InitRateLimitRules creates the refusal series of each rule at 0.
func (m *Metrics) InitRateLimitRules(rules ...string) {
	if m == nil {
		return
	}
	for _, r := range rules {
		m.rateLimited.WithLabelValues(r)
	}
}

// Registry is where the metrics are registered; nil for nil m.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Register adds c (a collector a package provides, e.g. the queue depth).
func (m *Metrics) Register(c prometheus.Collector) error {
	if m == nil {
		return nil
	}
	return m.reg.Register(c)
}

// RegisterDB exports db's pool statistics (go_sql_* with db_name=name).
func (m *Metrics) RegisterDB(db *sql.DB, name string) error {
	if m == nil || db == nil {
		return nil
	}
	return m.reg.Register(collectors.NewDBStatsCollector(db, name))
}

// Handler serves the registry in the Prometheus text format (or
// OpenMetrics when asked, which carries the exemplars). A failing
// collector answers 500 rather than a partial scrape.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.HTTPErrorOnError,
		MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

var knownMethods = map[string]string{
	http.MethodGet: http.MethodGet, http.MethodHead: http.MethodHead, http.MethodPost: http.MethodPost,
	http.MethodPut: http.MethodPut, http.MethodPatch: http.MethodPatch, http.MethodDelete: http.MethodDelete,
	http.MethodOptions: http.MethodOptions,
}

// MethodLabel is m when it is a standard method authd serves, else
// "other": a client cannot mint label values.
func MethodLabel(m string) string {
	if v, ok := knownMethods[m]; ok {
		return v
	}
	return "other"
}

// RouteLabel is the route of a request a ServeMux dispatched: its pattern
// without the method and host ("GET /oauth2/token" -> "/oauth2/token");
// an empty pattern, or the catch-all "/", is RouteUnmatched.
func RouteLabel(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 { // a host before the path
		pattern = pattern[i:]
	}
	if pattern == "" || pattern == "/" {
		return RouteUnmatched
	}
	return pattern
}

// Middleware records authd_http_request_duration_seconds for every
// request mux answers. It must wrap the ServeMux itself: the route is the
// pattern the mux sets on the request it is handed. When the request's
// context carries a sampled OpenTelemetry span, the trace id becomes the
// observation's exemplar.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			// A panic still counts (as the 500 the outer middleware
			// answers), then goes on up.
			code := sw.code
			if v := recover(); v != nil {
				if !sw.wrote {
					code = http.StatusInternalServerError
				}
				m.observe(r, code, start)
				panic(v)
			}
			m.observe(r, code, start)
		}()
		next.ServeHTTP(sw, r)
	})
}

func (m *Metrics) observe(r *http.Request, code int, start time.Time) {
	o := m.httpDuration.WithLabelValues(RouteLabel(r.Pattern), MethodLabel(r.Method), codeLabel(code))
	observeWithTrace(o, r, time.Since(start).Seconds())
}

// codeLabels are the status codes as label values, made once: no
// allocation per request.
var codeLabels = func() (c [600]string) {
	for i := 100; i < len(c); i++ {
		c[i] = strconv.Itoa(i)
	}
	return c
}()

func codeLabel(code int) string {
	if code >= 100 && code < len(codeLabels) {
		return codeLabels[code]
	}
	return strconv.Itoa(code) // net/http allows 100-999 only
}

// observeWithTrace observes v, with the trace id of r's span as the
// exemplar when there is a valid, sampled one.
func observeWithTrace(o prometheus.Observer, r *http.Request, v float64) {
	if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() && sc.IsSampled() {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": sc.TraceID().String()})
			return
		}
	}
	o.Observe(v)
}

type codeWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *codeWriter) WriteHeader(code int) {
	if !w.wrote && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *codeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes a flush on (server-sent events, streamed responses).
func (w *codeWriter) Flush() {
	w.wrote = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// oneOf is v when it is one of allowed, else "other".
func oneOf(v string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return "other"
}

// Grant types authd serves; any other grant_type label is "other".
var grantTypes = []string{"authorization_code", "refresh_token", "client_credentials",
	"urn:ietf:params:oauth:grant-type:token-exchange", "urn:ietf:params:oauth:grant-type:device_code"}

// loginMethods are the sign-in methods counted by name.
var loginMethods = []string{"password", "passkey", "totp", "recovery_code", "federated", "magic_link", "other"}

// TokenIssued counts a successful token response of grant type gt.
func (m *Metrics) TokenIssued(gt string) {
	if m != nil {
		m.tokens.WithLabelValues(oneOf(gt, grantTypes...)).Inc()
	}
}

// TokenReuse counts a spent code or rotated refresh token used again.
func (m *Metrics) TokenReuse(gt string) {
	if m != nil {
		m.reuse.WithLabelValues(oneOf(gt, grantTypes...)).Inc()
	}
}

// Login counts a sign-in: success true or false, by method (password,
// passkey, totp, federated, magic_link; anything else is "other").
func (m *Metrics) Login(success bool, method string) {
	if m == nil {
		return
	}
	result := "failure"
	if success {
		result = "success"
	}
	m.logins.WithLabelValues(result, oneOf(method, loginMethods...)).Inc()
}

// Lockout counts an account locked by failed sign-ins.
func (m *Metrics) Lockout() {
	if m != nil {
		m.lockouts.Inc()
	}
}

// RateLimited counts a request refused by the rate limit rule (a
// ratelimit rule name: a constant, never a key).
func (m *Metrics) RateLimited(rule string) {
	if m != nil {
		m.rateLimited.WithLabelValues(rule).Inc()
	}
}

// Revocation counts a revocation request: ok or refused.
func (m *Metrics) Revocation(ok bool) {
	if m != nil {
		m.revocations.WithLabelValues(okLabel(ok, "ok", "refused")).Inc()
	}
}

// Introspection counts an introspection request: "active", "inactive" or
// "refused".
func (m *Metrics) Introspection(result string) {
	if m != nil {
		m.introspects.WithLabelValues(oneOf(result, "active", "inactive", "refused")).Inc()
	}
}

// Job records one run of a background job of kind (a job kind: a
// constant of the code) that waited wait in the queue and ran for run.
func (m *Metrics) Job(kind string, wait, run time.Duration, failed bool) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(kind, okLabel(!failed, "ok", "failed")).Inc()
	m.jobDuration.WithLabelValues(kind).Observe(run.Seconds())
	m.jobWait.WithLabelValues(kind).Observe(wait.Seconds())
}

// Mail counts a mail delivery attempt.
func (m *Metrics) Mail(ok bool) {
	if m != nil {
		m.mail.WithLabelValues(okLabel(ok, "ok", "failed")).Inc()
	}
}

// WebhookDelivery counts a webhook delivery attempt.
func (m *Metrics) WebhookDelivery(ok bool) {
	if m != nil {
		m.webhooks.WithLabelValues(okLabel(ok, "ok", "failed")).Inc()
	}
}

// DBQuery records a database statement of operation (select, insert,
// update, delete, raw; anything else is "other") that took d.
func (m *Metrics) DBQuery(operation string, d time.Duration) {
	if m != nil {
		m.dbQuery.WithLabelValues(oneOf(operation, "select", "insert", "update", "delete", "raw")).Observe(d.Seconds())
	}
}

// RedisCommand records a Redis command (or pipeline) that took d.
func (m *Metrics) RedisCommand(d time.Duration, failed bool) {
	if m != nil {
		m.redisCmd.WithLabelValues(okLabel(!failed, "ok", "error")).Observe(d.Seconds())
	}
}

// RedisFallback counts an operation of store (rate_limits,
// one_time_uses, attempts) the fallback answered because Redis was down
// or failed.
func (m *Metrics) RedisFallback(store string) {
	if m != nil {
		m.redisFall.WithLabelValues(oneOf(store, "rate_limits", "one_time_uses", "attempts")).Inc()
	}
}

func okLabel(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}
