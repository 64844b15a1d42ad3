package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getsentry/sentry-go"
	"go.opentelemetry.io/otel/trace"
)

// Sentry queue bounds: what a Sentry that is down or slow can cost.
const (
	// sentryQueueSize bounds the events waiting to be sent; past it,
	// events are dropped and counted (Reporter.Dropped).
	sentryQueueSize = 100
	// sentrySendTimeout bounds sending one event.
	sentrySendTimeout = 5 * time.Second
)

// Reporter sends errors to Sentry: panics, 5xx answers and failed jobs,
// each tagged with its request id and route and scrubbed of secrets (see
// Scrub). A nil *Reporter, or one built without a DSN, reports nothing.
type Reporter struct {
	client    *sentry.Client
	transport *queueTransport
	log       *slog.Logger
}

// NewReporter builds the reporter of cfg (nil without telemetry.sentry_dsn);
// release is authd's version.
func NewReporter(cfg ExportConfig, release string, log *slog.Logger) (*Reporter, error) {
	if cfg.SentryDSN == "" {
		return nil, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	qt := newQueueTransport(sentryQueueSize, log)
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn: cfg.SentryDSN, Environment: cfg.SentryEnvironment, Release: release,
		Transport: qt, SendDefaultPII: false, AttachStacktrace: true,
		// authd's errors are few and each matters: no sampling.
		SampleRate: 1,
		BeforeSend: func(e *sentry.Event, _ *sentry.EventHint) *sentry.Event { return Scrub(e) },
		// Breadcrumbs are never recorded; drop any a library adds.
		BeforeBreadcrumb: func(*sentry.Breadcrumb, *sentry.BreadcrumbHint) *sentry.Breadcrumb { return nil },
		MaxBreadcrumbs:   -1,
		// No default integrations: no reading of environment, modules or
		// source files into events.
		Integrations: func([]sentry.Integration) []sentry.Integration { return nil },
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry.sentry_dsn: %w", err)
	}
	log.Info("error reporting on: panics, 5xx answers and failed jobs go to Sentry", "environment", cfg.SentryEnvironment, "release", release)
	return &Reporter{client: client, transport: qt, log: log}, nil
}

// Enabled reports whether events are sent.
func (r *Reporter) Enabled() bool { return r != nil && r.client != nil }

// Dropped counts events dropped because the queue to Sentry was full.
func (r *Reporter) Dropped() uint64 {
	if !r.Enabled() {
		return 0
	}
	return r.transport.dropped.Load()
}

// Close sends what is queued, waiting at most until ctx ends, and stops.
func (r *Reporter) Close(ctx context.Context) bool {
	if !r.Enabled() {
		return true
	}
	ok := r.transport.FlushWithContext(ctx)
	r.transport.Close()
	return ok
}

// capture sends one event with the request's tags.
func (r *Reporter) capture(ctx context.Context, e *sentry.Event, tags map[string]string) {
	scope := sentry.NewScope()
	if id := RequestID(ctx); id != "" {
		scope.SetTag("request_id", id)
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		scope.SetTag("trace_id", sc.TraceID().String())
	}
	scope.SetTags(tags)
	r.client.CaptureEvent(e, &sentry.EventHint{Context: ctx}, scope)
}

// Panic reports a panic recovered while serving req.
func (r *Reporter) Panic(ctx context.Context, req *http.Request, v any) {
	if !r.Enabled() {
		return
	}
	route := RouteOf(req.Pattern)
	e := r.client.EventFromException(fmt.Errorf("panic: %v", v), sentry.LevelFatal)
	for i := range e.Exception {
		e.Exception[i].Mechanism = &sentry.Mechanism{Type: "panic"}
		e.Exception[i].Mechanism.SetUnhandled()
	}
	e.Request = requestOf(req)
	e.Transaction = req.Method + " " + route
	r.capture(ctx, e, map[string]string{"route": route, "method": req.Method, "kind": "panic"})
}

// ServerError reports that req was answered with status (5xx).
func (r *Reporter) ServerError(ctx context.Context, req *http.Request, status int) {
	if !r.Enabled() {
		return
	}
	route := RouteOf(req.Pattern)
	e := sentry.NewEvent()
	e.Level = sentry.LevelError
	e.Message = fmt.Sprintf("%s %s answered %d %s", req.Method, route, status, http.StatusText(status))
	e.Request = requestOf(req)
	e.Transaction = req.Method + " " + route
	r.capture(ctx, e, map[string]string{"route": route, "method": req.Method, "status": fmt.Sprint(status), "kind": "http_5xx"})
}

// JobFailed reports that a job of kind failed for good (panicked, or its
// last attempt failed); ctx carries the request id of the request that
// queued it.
func (r *Reporter) JobFailed(ctx context.Context, kind string, id int64, attempt int, err error) {
	if !r.Enabled() {
		return
	}
	e := r.client.EventFromException(err, sentry.LevelError)
	e.Transaction = "job " + kind
	r.capture(ctx, e, map[string]string{"job_kind": kind, "job_id": fmt.Sprint(id), "job_attempt": fmt.Sprint(attempt), "kind": "job"})
}

// keptHeaders are the request headers an event keeps; every other one
// (Authorization, Cookie, DPoP, API keys, forwarding headers) is dropped.
var keptHeaders = []string{"Accept", "Content-Type", "Content-Length", "User-Agent", HeaderRequestID}

// requestOf describes req without its body, cookies, credentials or query
// values (see scrubQuery).
func requestOf(req *http.Request) *sentry.Request {
	h := map[string]string{}
	for _, k := range keptHeaders {
		if v := req.Header.Get(k); v != "" {
			h[k] = v
		}
	}
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	return &sentry.Request{URL: scheme + "://" + req.Host + req.URL.Path, Method: req.Method,
		QueryString: scrubQuery(req.URL.RawQuery), Headers: h}
}

// Filtered replaces a scrubbed value.
const Filtered = "[Filtered]"

// sensitiveParam matches the names of parameters whose values are secret
// or personal: codes, tokens, secrets, passwords, assertions, hints,
// state and nonce.
var sensitiveParam = regexp.MustCompile(`(?i)(code|token|secret|pass|assertion|hint|state|nonce|key|otp|jwt|request|session|sid|email|phone|auth|cookie|credential|verifier|ticket)`)

// scrubQuery keeps the names of a query's parameters and the values of
// harmless ones (client_id, response_type, scope); every other value is
// Filtered.
func scrubQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return Filtered
	}
	for k, vs := range q {
		if sensitiveParam.MatchString(k) || !safeParam(k) {
			for i := range vs {
				vs[i] = Filtered
			}
		}
	}
	return q.Encode()
}

// safeParam lists the parameters whose values are kept.
func safeParam(k string) bool {
	switch k {
	case "client_id", "response_type", "response_mode", "scope", "grant_type", "prompt", "display", "ui_locales",
		"code_challenge_method", "token_type_hint", "error", "error_description":
		return true
	}
	return false
}

// secretText matches secrets inside free text: JWTs, bearer and basic
// credentials, and name=value pairs whose name is sensitive.
var secretText = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*` +
	`|(?i)(?:bearer|basic|dpop)\s+[A-Za-z0-9._~+/=-]+` +
	`|(?i)\b[a-z_]*(?:code|token|secret|password|passwd|assertion|verifier|cookie)[a-z_]*["']?\s*[:=]\s*["']?[^\s&"',;]+`)

// scrubText replaces the secrets secretText finds.
func scrubText(s string) string {
	return secretText.ReplaceAllStringFunc(s, func(m string) string {
		if i := strings.IndexAny(m, ":="); i > 0 && !strings.HasPrefix(m, "eyJ") && !strings.ContainsAny(m[:i], " \t") {
			return m[:i+1] + Filtered
		}
		return Filtered
	})
}

// Scrub is the BeforeSend of every event: whatever built it, the event
// leaves with no body, cookies, credentials, query values but harmless
// ones, user, environment, breadcrumbs or extra data, and secrets found in
// its messages are Filtered.
func Scrub(e *sentry.Event) *sentry.Event {
	if e == nil {
		return nil
	}
	if rq := e.Request; rq != nil {
		rq.Data, rq.Cookies, rq.Env = "", "", nil
		if i := strings.IndexByte(rq.URL, '?'); i >= 0 {
			rq.URL = rq.URL[:i]
		}
		rq.QueryString = scrubQuery(rq.QueryString)
		h := map[string]string{}
		for _, k := range keptHeaders {
			for name, v := range rq.Headers {
				if strings.EqualFold(name, k) {
					h[k] = scrubText(v)
				}
			}
		}
		rq.Headers = h
	}
	e.User = sentry.User{}
	e.Breadcrumbs = nil
	e.Message = scrubText(e.Message)
	e.Transaction = scrubText(e.Transaction)
	for i := range e.Exception {
		e.Exception[i].Value = scrubText(e.Exception[i].Value)
		if st := e.Exception[i].Stacktrace; st != nil {
			for j := range st.Frames {
				st.Frames[j].Vars = nil
				st.Frames[j].PreContext, st.Frames[j].ContextLine, st.Frames[j].PostContext = nil, "", nil
			}
		}
	}
	for k, v := range e.Tags {
		e.Tags[k] = scrubText(v)
	}
	// Contexts: keep only what the SDK knows to be harmless.
	for k := range e.Contexts {
		if k != "trace" && k != "runtime" && k != "os" {
			delete(e.Contexts, k)
		}
	}
	return e
}

// queueTransport sends events one at a time from a bounded queue: a
// Sentry that is down or slow never holds a request, and what does not
// fit is dropped and counted.
type queueTransport struct {
	sync     *sentry.HTTPSyncTransport
	queue    chan *sentry.Event
	pending  atomic.Int64 // queued or being sent
	dropped  atomic.Uint64
	log      *slog.Logger
	lastWarn atomic.Int64
	stop     chan struct{}
	once     sync.Once
	done     chan struct{}
}

func newQueueTransport(size int, log *slog.Logger) *queueTransport {
	st := sentry.NewHTTPSyncTransport()
	st.Timeout = sentrySendTimeout
	return &queueTransport{sync: st, queue: make(chan *sentry.Event, size), log: log, stop: make(chan struct{}), done: make(chan struct{})}
}

func (t *queueTransport) Configure(o sentry.ClientOptions) {
	t.sync.Configure(o)
	go t.run()
}

func (t *queueTransport) run() {
	defer close(t.done)
	for {
		select {
		case e := <-t.queue:
			t.sync.SendEvent(e)
			t.pending.Add(-1)
		case <-t.stop:
			return
		}
	}
}

func (t *queueTransport) SendEvent(e *sentry.Event) {
	t.pending.Add(1)
	select {
	case t.queue <- e:
	default:
		t.pending.Add(-1)
		n := t.dropped.Add(1)
		now := time.Now().UnixNano()
		if last := t.lastWarn.Load(); now-last >= int64(dropWarnEvery) && t.lastWarn.CompareAndSwap(last, now) {
			t.log.Warn("sentry: the event queue is full (Sentry is down or slow); dropping events", "dropped_total", n)
		}
	}
}

func (t *queueTransport) Flush(timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return t.FlushWithContext(ctx)
}

// FlushWithContext waits until what was queued is sent, or ctx ends.
func (t *queueTransport) FlushWithContext(ctx context.Context) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for t.pending.Load() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func (t *queueTransport) Close() { t.once.Do(func() { close(t.stop) }) }
