package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config is one load run.
type Config struct {
	Target       string // base URL (issuer); must be loopback
	Scenario     string
	ClientID     string
	ClientSecret string
	// APIKey is an authd admin API key (the admin_* and scim_* scenarios).
	APIKey       string
	Scope        string
	UserEmail    string // signin, authcode, refresh: a verified user (with Users > 1, a pattern with one %d)
	UserPassword string
	// Users is how many users the workers sign in as: worker w is user
	// w%Users+1, UserEmail with its %d replaced by that number. 0 or 1:
	// UserEmail is the one user.
	Users       int
	RedirectURI string        // authcode, refresh: registered for the client
	AuthScope   string        // authcode, refresh: scope of the authorization request
	Conns       int           // workers, and the connection pool size
	Duration    time.Duration // measured window
	Warmup      time.Duration // load before the window; results discarded
	Rate        float64       // iterations per second in total; 0 = closed loop
	LateAfter   time.Duration // fixed rate: an iteration no worker was free for within this of its due time is late
	Timeout     time.Duration // per request
	MaxRequests int64         // cap on measured iterations; 0 = none
	Insecure    bool          // skip TLS verification (https on loopback only)
	// OnMeasure, when set, is called (on its own goroutine) as the measured
	// window starts: after every worker's set-up and the warm-up.
	OnMeasure func()
}

// Result is the outcome of one run, printed as a table and optionally as JSON.
type Result struct {
	Scenario    string    `json:"scenario"`
	Target      string    `json:"target"`
	Started     time.Time `json:"started"`
	Connections int       `json:"connections"`
	DurationS   float64   `json:"duration_s"`
	WarmupS     float64   `json:"warmup_s"`
	Rate        float64   `json:"rate"` // 0 = closed loop
	// ElapsedS runs from the end of the warm-up until the last measured
	// request completed; rates are computed over it.
	ElapsedS float64 `json:"elapsed_s"`
	// Fixed-rate mode only. Scheduled: iterations due in the measured
	// window (capped by -max-requests). Late: of those sent, how many no
	// worker was free for until more than LateAfterMs after they were due:
	// the workers could not keep up (their latency still counts from the
	// schedule). Lag*: how long after its due time each iteration was
	// actually sent, backlog and timer wake-up delay together; it is part
	// of the reported latencies. Unsent: due but never sent because the
	// window had closed before a worker was free.
	Scheduled   int64   `json:"scheduled,omitempty"`
	Late        int64   `json:"late,omitempty"`
	LateAfterMs float64 `json:"late_after_ms,omitempty"`
	LagP50Ms    float64 `json:"lag_p50_ms,omitempty"`
	LagP99Ms    float64 `json:"lag_p99_ms,omitempty"`
	MaxLagMs    float64 `json:"max_lag_ms,omitempty"`
	Unsent      int64   `json:"unsent,omitempty"`
	// Interrupted: the run was stopped early by a signal.
	Interrupted bool `json:"interrupted,omitempty"`
	// Requests and Errors add up all request steps (not aggregate ones).
	Requests int64        `json:"requests"`
	Errors   int64        `json:"errors"`
	Steps    []StepResult `json:"steps"`
}

// StepResult is the latency and error summary of one named step.
type StepResult struct {
	Step string `json:"step"`
	// Aggregate marks the synthetic "total" step of multi-step scenarios,
	// which spans a whole iteration and is not a request of its own.
	Aggregate    bool             `json:"aggregate,omitempty"`
	Requests     int64            `json:"requests"`
	RPS          float64          `json:"rps"`
	MinMs        float64          `json:"min_ms"`
	MeanMs       float64          `json:"mean_ms"`
	P50Ms        float64          `json:"p50_ms"`
	P90Ms        float64          `json:"p90_ms"`
	P99Ms        float64          `json:"p99_ms"`
	MaxMs        float64          `json:"max_ms"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
}

// Env is what scenarios get to set themselves up: the validated target, the
// shared HTTP client, the client credentials and the user.
type Env struct {
	Base         *url.URL
	Client       *http.Client
	ClientID     string
	ClientSecret string
	// APIKey is an authd admin API key (the admin_* and scim_* scenarios).
	APIKey       string
	Scope        string
	UserEmail    string // with Users > 1, a pattern with one %d
	UserPassword string
	Users        int
	RedirectURI  string
	AuthScope    string

	mu   sync.Mutex
	disc *Discovery
}

// Discovery is the part of the OpenID Provider metadata the scenarios use.
type Discovery struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	UserinfoEndpoint      string `json:"userinfo_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	RevocationEndpoint    string `json:"revocation_endpoint"`
}

// Email returns the address worker signs in with (see Config.Users).
func (e *Env) Email(worker int) string {
	if e.Users <= 1 {
		return e.UserEmail
	}
	return fmt.Sprintf(e.UserEmail, worker%e.Users+1)
}

// checkUsers reports whether email fits users: with more than one user it
// must hold exactly one %d and no other verb.
func checkUsers(email string, users int) error {
	switch {
	case users < 0:
		return errors.New("-users must not be negative")
	case users <= 1:
		return nil
	case strings.Count(email, "%") != 1 || !strings.Contains(email, "%d"):
		return fmt.Errorf("-users %d needs a -user-email pattern with one %%d (such as bench%%d@example.com), got %q", users, email)
	}
	return nil
}

// URL returns the base URL joined with path (which starts with "/").
func (e *Env) URL(path string) string {
	return strings.TrimRight(e.Base.String(), "/") + path
}

// Discovery fetches (once) and returns the OpenID Provider metadata.
func (e *Env) Discovery(ctx context.Context) (*Discovery, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.disc != nil {
		return e.disc, nil
	}
	u := e.URL("/.well-known/openid-configuration")
	status, body, err := e.fetch(ctx, http.MethodGet, u, "", false)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("discovery: GET %s: HTTP %d: %s", u, status, snippet(body))
	}
	var d Discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("discovery: GET %s: invalid JSON: %w", u, err)
	}
	e.disc = &d
	return e.disc, nil
}

// Endpoint returns the discovery field picked by pick, checking that it is
// present and on loopback (errors wrap errNotLoopback if it is not).
func (e *Env) Endpoint(ctx context.Context, field string, pick func(*Discovery) string) (string, error) {
	d, err := e.Discovery(ctx)
	if err != nil {
		return "", err
	}
	raw := pick(d)
	if raw == "" {
		return "", fmt.Errorf("discovery document has no %s", field)
	}
	if _, err := checkURL(raw); err != nil {
		return "", fmt.Errorf("discovery %s: %w", field, err)
	}
	return raw, nil
}

// BasicAuth returns the Authorization header value for the client, with id
// and secret form-urlencoded first as RFC 6749 §2.3.1 requires.
func (e *Env) BasicAuth() string {
	cred := url.QueryEscape(e.ClientID) + ":" + url.QueryEscape(e.ClientSecret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))
}

// ClientCredentialsForm is the token request body for the client_credentials grant.
func (e *Env) ClientCredentialsForm() string {
	v := url.Values{"grant_type": {"client_credentials"}}
	if e.Scope != "" {
		v.Set("scope", e.Scope)
	}
	return v.Encode()
}

// ClientCredentialsToken obtains one access token (untimed, for set-up).
func (e *Env) ClientCredentialsToken(ctx context.Context) (string, error) {
	tokenURL, err := e.Endpoint(ctx, "token_endpoint", func(d *Discovery) string { return d.TokenEndpoint })
	if err != nil {
		return "", err
	}
	status, body, err := e.fetch(ctx, http.MethodPost, tokenURL, e.ClientCredentialsForm(), true)
	if err != nil {
		return "", fmt.Errorf("client_credentials token: %w", err)
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("client_credentials token: POST %s: HTTP %d: %s", tokenURL, status, snippet(body))
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("client_credentials token: POST %s: no access_token in response: %s", tokenURL, snippet(body))
	}
	return tr.AccessToken, nil
}

// fetch does one untimed set-up request; form, if not empty, is POSTed as
// application/x-www-form-urlencoded and auth adds the client's Basic auth.
func (e *Env) fetch(ctx context.Context, method, u, form string, auth bool) (int, []byte, error) {
	var body io.Reader
	if form != "" {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, nil, err
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	if auth {
		req.Header.Set("Authorization", e.BasicAuth())
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, b, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strconv.Quote(s)
}

// Reply is a response handed to a Check: the body is read fully into memory.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Check inspects a reply and returns "" if it is a success, otherwise a
// short error kind such as "inactive" (reported as "inactive:N"). A status
// code check is up to the Check; with a nil Check any 2xx succeeds.
type Check func(r *Reply) string

// Iter is one iteration of a scenario, which may send several requests, each
// reported under its step name.
type Iter struct {
	ctx    context.Context
	client *http.Client
	rec    *recorder // nil during warm-up: the outcome is discarded
	due    time.Time // when the iteration was due (its scheduled time in fixed-rate mode)
	first  bool      // the next request is the iteration's first: time it from due
	steps  int
	failed string // first error kind seen in this iteration
	abort  bool   // the run was cancelled under this iteration
}

// Context is cancelled when the run is interrupted.
func (it *Iter) Context() context.Context { return it.ctx }

// Failed returns the first error kind this iteration recorded, or "".
func (it *Iter) Failed() string { return it.failed }

// Get sends a GET as step; see Do.
func (it *Iter) Get(step, u string, check Check) (*Reply, bool) {
	req, err := http.NewRequestWithContext(it.ctx, http.MethodGet, u, nil)
	if err != nil {
		it.record(step, 0, "badrequest")
		return nil, false
	}
	return it.Do(step, req, check)
}

// PostForm POSTs an application/x-www-form-urlencoded body as step, with
// the given Authorization header value if not empty; see Do.
func (it *Iter) PostForm(step, u, form, authorization string, check Check) (*Reply, bool) {
	req, err := http.NewRequestWithContext(it.ctx, http.MethodPost, u, strings.NewReader(form))
	if err != nil {
		it.record(step, 0, "badrequest")
		return nil, false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return it.Do(step, req, check)
}

// Do sends req with the shared client as one request of step; see DoWith.
func (it *Iter) Do(step string, req *http.Request, check Check) (*Reply, bool) {
	return it.DoWith(it.client, step, req, check)
}

// DoWith sends req with client (e.g. one with a per-worker cookie jar built
// on the same transport) as one request of step, records its latency and
// outcome, and reports whether it succeeded. With a nil check the body is
// read and discarded and any 2xx succeeds; otherwise the body is read into
// the returned Reply and check decides. The first request of an iteration is
// timed from the iteration's due time (its schedule in fixed-rate mode),
// later ones from their own send time.
func (it *Iter) DoWith(client *http.Client, step string, req *http.Request, check Check) (*Reply, bool) {
	start := time.Now()
	if it.first {
		start = it.due
		it.first = false
	}
	if req.Context() != it.ctx {
		req = req.WithContext(it.ctx)
	}
	resp, err := client.Do(req)
	if err != nil {
		it.fail(step, start, err)
		return nil, false
	}
	defer resp.Body.Close()
	if check == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		if err != nil {
			it.fail(step, start, err)
			return nil, false
		}
		kind := ""
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			kind = strconv.Itoa(resp.StatusCode)
		}
		it.record(step, time.Since(start), kind)
		return &Reply{Status: resp.StatusCode, Header: resp.Header}, kind == ""
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	if err != nil {
		it.fail(step, start, err)
		return nil, false
	}
	r := &Reply{Status: resp.StatusCode, Header: resp.Header, Body: body}
	kind := check(r)
	it.record(step, time.Since(start), kind)
	return r, kind == ""
}

// Fail records a failure of step that sent no request (one that could not
// even be built), timed like a request.
func (it *Iter) Fail(step, kind string) {
	start := time.Now()
	if it.first {
		start = it.due
		it.first = false
	}
	it.record(step, time.Since(start), kind)
}

func (it *Iter) fail(step string, start time.Time, err error) {
	if it.ctx.Err() != nil {
		// Interrupted or past the hard deadline: not the server's doing.
		it.abort = true
		return
	}
	it.record(step, time.Since(start), errorKind(err))
}

func (it *Iter) record(step string, d time.Duration, kind string) {
	it.steps++
	if kind != "" && it.failed == "" {
		it.failed = kind
	}
	if it.rec != nil {
		it.rec.record(step, d, kind)
	}
}

// errorKind classifies a transport error.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, errNotLoopback):
		return "nonloopback"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.EPIPE):
		return "reset"
	default:
		return "conn"
	}
}

// StatusIs returns a Check that accepts only the given status codes.
func StatusIs(codes ...int) Check {
	return func(r *Reply) string {
		for _, c := range codes {
			if r.Status == c {
				return ""
			}
		}
		return strconv.Itoa(r.Status)
	}
}

type stepStats struct {
	hist   histogram
	errors map[string]int64
	nerr   int64
}

// recorder holds one worker's results; it is not shared between goroutines.
type recorder struct {
	steps map[string]*stepStats
	order []string
}

func newRecorder() *recorder { return &recorder{steps: map[string]*stepStats{}} }

func (r *recorder) stat(step string) *stepStats {
	s := r.steps[step]
	if s == nil {
		s = &stepStats{errors: map[string]int64{}}
		r.steps[step] = s
		r.order = append(r.order, step)
	}
	return s
}

func (r *recorder) record(step string, d time.Duration, kind string) {
	s := r.stat(step)
	s.hist.record(d)
	if kind != "" {
		s.errors[kind]++
		s.nerr++
	}
}

func (r *recorder) merge(o *recorder) {
	for _, step := range o.order {
		src := o.steps[step]
		dst := r.stat(step)
		dst.hist.merge(&src.hist)
		for k, v := range src.errors {
			dst.errors[k] += v
		}
		dst.nerr += src.nerr
	}
}

// totalStep names the synthetic whole-iteration step of Scenario.Total.
const totalStep = "total"

type workerStats struct {
	sent int64
	late int64
	lag  histogram
}

type runner struct {
	cfg          Config
	sc           *Scenario
	ctx          context.Context
	client       *http.Client
	t0           time.Time
	measureStart time.Time
	end          time.Time
	ticket       atomic.Int64
	slots        atomic.Int64
}

// offset is when fixed-rate iteration i is due, relative to t0.
func (r *runner) offset(i int64) time.Duration {
	return time.Duration(float64(i) * float64(time.Second) / r.cfg.Rate)
}

// countBefore is the number of fixed-rate iterations due before t0+limit.
func (r *runner) countBefore(limit time.Duration) int64 {
	k := int64(float64(limit) / float64(time.Second) * r.cfg.Rate)
	for r.offset(k) < limit {
		k++
	}
	for k > 0 && r.offset(k-1) >= limit {
		k--
	}
	return k
}

// takeSlot claims one measured iteration under -max-requests.
func (r *runner) takeSlot() bool {
	return r.cfg.MaxRequests <= 0 || r.slots.Add(1) <= r.cfg.MaxRequests
}

func (r *runner) worker(fn IterFunc, rec *recorder, ws *workerStats) {
	var timer *time.Timer
	for r.ctx.Err() == nil {
		var due time.Time
		measured := false
		if r.cfg.Rate > 0 {
			i := r.ticket.Add(1) - 1
			claimed := time.Now()
			due = r.t0.Add(r.offset(i))
			if !due.Before(r.end) {
				return
			}
			// Late means no worker was free to take the iteration when it
			// was due; oversleeping on the timer below is not counted
			// (Go's timers can wake up to ~1ms late on Linux), though
			// like any lag it is part of the latency.
			late := claimed.Sub(due) > r.cfg.LateAfter
			measured = !due.Before(r.measureStart)
			if measured && !r.takeSlot() {
				return
			}
			if wait := time.Until(due); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-r.ctx.Done():
					timer.Stop()
					return
				case <-timer.C:
				}
			}
			now := time.Now()
			if !now.Before(r.end) {
				return // window closed before we got to it: unsent
			}
			if measured {
				ws.sent++
				if late {
					ws.late++
				}
				ws.lag.record(now.Sub(due))
			}
		} else {
			due = time.Now()
			if !due.Before(r.end) {
				return
			}
			measured = !due.Before(r.measureStart)
			if measured && !r.takeSlot() {
				return
			}
		}
		it := &Iter{ctx: r.ctx, client: r.client, due: due, first: true}
		if measured {
			it.rec = rec
		}
		fn(it)
		if r.sc.Total && measured && !it.abort && it.steps > 0 {
			rec.record(totalStep, time.Since(due), it.failed)
		}
	}
}

// Run sets up cfg.Scenario and puts load on the target. Set-up failures are
// returned as errors (wrapping errNotLoopback when an endpoint is not on
// this machine). Cancelling ctx stops the run early; what was measured so
// far is returned.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	base, err := checkTarget(cfg.Target)
	if err != nil {
		return nil, err
	}
	sc, ok := scenarios[cfg.Scenario]
	if !ok {
		return nil, fmt.Errorf("unknown scenario %q (known: %s)", cfg.Scenario, strings.Join(scenarioNames(), ", "))
	}
	if cfg.Conns < 1 {
		cfg.Conns = 1
	}
	if err := checkUsers(cfg.UserEmail, cfg.Users); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.LateAfter <= 0 {
		cfg.LateAfter = time.Millisecond
	}
	tr := newTransport(cfg.Conns, cfg.Insecure)
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		// Never follow redirects: a redirect could leave the machine, and
		// flows that expect one (authorization code) inspect it themselves.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	env := &Env{Base: base, Client: client, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, APIKey: cfg.APIKey, Scope: cfg.Scope,
		UserEmail: cfg.UserEmail, UserPassword: cfg.UserPassword, Users: cfg.Users, RedirectURI: cfg.RedirectURI, AuthScope: cfg.AuthScope}

	newWorker, err := sc.Setup(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: set-up: %w", sc.Name, err)
	}
	fns := make([]IterFunc, cfg.Conns)
	for i := range fns {
		if fns[i], err = newWorker(ctx, i); err != nil {
			return nil, fmt.Errorf("scenario %s: worker %d set-up: %w", sc.Name, i, err)
		}
	}

	r := &runner{cfg: cfg, sc: sc, client: client}
	r.t0 = time.Now()
	r.measureStart = r.t0.Add(cfg.Warmup)
	r.end = r.measureStart.Add(cfg.Duration)
	if cfg.OnMeasure != nil {
		defer time.AfterFunc(cfg.Warmup, cfg.OnMeasure).Stop()
	}
	// Hard stop: in-flight requests are bounded by the client timeout, so
	// this only cuts multi-step iterations that keep going far past the end.
	runCtx, cancel := context.WithDeadline(ctx, r.end.Add(3*cfg.Timeout))
	defer cancel()
	r.ctx = runCtx

	recs := make([]*recorder, cfg.Conns)
	stats := make([]workerStats, cfg.Conns)
	var wg sync.WaitGroup
	for i := range cfg.Conns {
		recs[i] = newRecorder()
		wg.Go(func() { r.worker(fns[i], recs[i], &stats[i]) })
	}
	wg.Wait()
	elapsed := max(time.Since(r.measureStart), 0)

	all := newRecorder()
	for _, rec := range recs {
		all.merge(rec)
	}
	res := &Result{
		Scenario:    sc.Name,
		Target:      base.String(),
		Started:     r.t0,
		Connections: cfg.Conns,
		DurationS:   cfg.Duration.Seconds(),
		WarmupS:     cfg.Warmup.Seconds(),
		Rate:        cfg.Rate,
		ElapsedS:    elapsed.Seconds(),
	}
	if cfg.Rate > 0 {
		var sent int64
		var lag histogram
		for i := range stats {
			sent += stats[i].sent
			res.Late += stats[i].late
			lag.merge(&stats[i].lag)
		}
		res.Scheduled = r.countBefore(cfg.Warmup+cfg.Duration) - r.countBefore(cfg.Warmup)
		if cfg.MaxRequests > 0 {
			res.Scheduled = min(res.Scheduled, cfg.MaxRequests)
		}
		res.Unsent = max(res.Scheduled-sent, 0)
		res.LateAfterMs = ms(cfg.LateAfter)
		res.LagP50Ms = ms(lag.quantile(0.5))
		res.LagP99Ms = ms(lag.quantile(0.99))
		res.MaxLagMs = ms(time.Duration(lag.max))
	}
	// Steps in first-seen order, the aggregate last.
	order := make([]string, 0, len(all.order))
	for _, s := range all.order {
		if s != totalStep {
			order = append(order, s)
		}
	}
	if _, ok := all.steps[totalStep]; ok {
		order = append(order, totalStep)
	}
	for _, name := range order {
		s := all.steps[name]
		sr := StepResult{
			Step:         name,
			Aggregate:    sc.Total && name == totalStep,
			Requests:     int64(s.hist.n), // #nosec G115 -- a request count
			MinMs:        ms(time.Duration(s.hist.min)),
			MeanMs:       ms(s.hist.mean()),
			P50Ms:        ms(s.hist.quantile(0.50)),
			P90Ms:        ms(s.hist.quantile(0.90)),
			P99Ms:        ms(s.hist.quantile(0.99)),
			MaxMs:        ms(time.Duration(s.hist.max)),
			Errors:       s.nerr,
			ErrorsByKind: s.errors,
		}
		if elapsed > 0 {
			sr.RPS = float64(sr.Requests) / elapsed.Seconds()
		}
		if !sr.Aggregate {
			res.Requests += sr.Requests
			res.Errors += sr.Errors
		}
		res.Steps = append(res.Steps, sr)
	}
	return res, nil
}

func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*1e4) / 1e4
}
