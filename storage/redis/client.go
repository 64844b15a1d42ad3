package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/trace"

	"github.com/authd/authd/internal/telemetry"
)

// Options configure a Client. The zero value is usable.
type Options struct {
	// Prefix starts every key authd reads or writes, so that deployments
	// (or tests) can share one Redis. Default "authd:".
	Prefix string
	// Timeout bounds every command: a Redis that stalls never holds a
	// request longer than this. Default 200 ms.
	Timeout time.Duration
	// DialTimeout bounds connecting (and each reconnection attempt).
	// Default 2 s.
	DialTimeout time.Duration
	// CacheTTL caps how long an answer stays in the client-side cache;
	// Redis's invalidation messages normally evict it much sooner.
	// Default 30 s.
	CacheTTL time.Duration
	// CacheBytes is the client-side cache size per connection. Default
	// 32 MiB.
	CacheBytes int
	// TLSConfig, when set, is used for the TLS schemes instead of the
	// system roots (a private CA, client certificates). Its ServerName is
	// filled in from the URL for single-node URLs when empty.
	TLSConfig *tls.Config
	// Logger receives state changes (Redis lost, Redis back); discarded
	// when nil.
	Logger *slog.Logger
	// Metrics, when set, times every command and counts the operations
	// answered by a fallback.
	Metrics *telemetry.Metrics
	// TracerProvider, when set, puts every command in a span (see
	// tracing.go); nil adds nothing.
	TracerProvider trace.TracerProvider
}

// Defaults.
const (
	DefaultPrefix      = "authd:"
	DefaultTimeout     = 200 * time.Millisecond
	DefaultDialTimeout = 2 * time.Second
	DefaultCacheTTL    = 30 * time.Second
	DefaultCacheBytes  = 32 << 20
)

func (o Options) withDefaults() (Options, error) {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Timeout", o.Timeout}, {"DialTimeout", o.DialTimeout}, {"CacheTTL", o.CacheTTL}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("redis: %s must not be negative, got %v", d.name, d.v))
		}
	}
	if o.CacheBytes < 0 {
		errs = append(errs, fmt.Errorf("redis: CacheBytes must not be negative, got %d", o.CacheBytes))
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, errors.Join(errs...)
}

// Client is a connection to one Redis deployment (a single server, a
// Sentinel-managed primary or a Cluster), shared by the revocation set,
// the session store and the rate limiter built on it. It tracks whether
// Redis is reachable: after a failure it probes in the background until
// Redis answers again, and the parts built on it fall back meanwhile.
//
// Safe for concurrent use.
type Client struct {
	rc       rueidis.Client
	prefix   string
	timeout  time.Duration
	cacheTTL time.Duration
	log      *slog.Logger
	url      string // redacted
	metrics  *telemetry.Metrics

	// down is set while Redis is considered unreachable.
	down atomic.Bool
	mu   sync.Mutex
	// downErr and downSince describe the outage while down. Guarded by mu.
	downErr   error
	downSince time.Time
	// probing is set while the prober runs. Guarded by mu.
	probing bool
	// onUp are called (without mu) each time Redis is back. Guarded by mu.
	onUp []func()
	// onInval are told of every client-side cache invalidation: the keys,
	// or nil for all of them (a flush, a lost connection). Set before the
	// client is used; called from rueidis's reader goroutines.
	onInval atomic.Pointer[[]func(keys []string)]

	ctx    context.Context // ends when the client is closed
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open connects to Redis at rawURL and checks that it answers. A setting
// that cannot work fails here, so that it surfaces at start-up: a
// malformed URL, a Redis that refuses our credentials (WRONGPASS, NOAUTH)
// or lacks RESP3 and client tracking, a TLS handshake that fails, a
// Sentinel that knows no such master. A single-node Redis (redis://,
// rediss://) that cannot be reached at all (connection refused, the dial
// timeout, a name that does not resolve yet) does not fail Open: the
// client starts unreachable, logs so once, and the prober connects when
// Redis comes up, as after any outage (see the package documentation).
// A Sentinel or Cluster deployment must be reachable at start.
func Open(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	copt, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	copt.Dialer.Timeout = opts.DialTimeout
	copt.CacheSizeEachConn = opts.CacheBytes
	// Tear down a connection that stops answering well before the OS
	// would; commands themselves are bounded by Timeout.
	copt.ConnWriteTimeout = max(10*opts.Timeout, 2*time.Second)
	// One connection per node: rueidis pipelines concurrent commands on it
	// anyway, there is one client-side cache to keep warm, and a check's
	// entries are served from it without fanning out to goroutines.
	copt.PipelineMultiplex = -1
	if copt.ClientName == "" {
		copt.ClientName = "authd"
	}
	if opts.TLSConfig != nil && copt.TLSConfig != nil {
		t := opts.TLSConfig.Clone()
		if t.ServerName == "" {
			t.ServerName = copt.TLSConfig.ServerName
		}
		copt.TLSConfig = t
		if copt.Sentinel.TLSConfig != nil {
			copt.Sentinel.TLSConfig = t.Clone()
		}
	}
	redacted := redactURL(rawURL)
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{prefix: opts.Prefix, timeout: opts.Timeout, cacheTTL: opts.CacheTTL, log: opts.Logger,
		url: redacted, ctx: cctx, cancel: cancel, metrics: opts.Metrics}
	copt.OnInvalidations = c.invalidated
	single := strings.HasPrefix(rawURL, schemeRedis+"://") || strings.HasPrefix(rawURL, schemeRedisTLS+"://")
	rc, err := rueidis.NewClient(copt)
	if err != nil && single && unreachable(err) {
		// Keep a client that dials again on every command (the prober's
		// pings), instead of failing.
		copt.ForceSingleClient = true
		rc, err = rueidis.NewClient(copt)
		if err != nil && rc != nil {
			if unreachable(err) {
				c.rc = c.traced(instrument(rc, opts.Metrics), opts)
				c.startDown(err)
				return c, nil
			}
			rc.Close()
		}
		// No error: Redis came up meanwhile; checked below as usual.
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("redis: connect to %s: %w", redacted, err)
	}
	c.rc = c.traced(instrument(rc, opts.Metrics), opts)
	pctx, pcancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer pcancel()
	if err := rc.Do(pctx, rc.B().Ping().Build()).Error(); err != nil {
		if single && unreachable(err) && ctx.Err() == nil {
			c.startDown(err)
			return c, nil
		}
		c.Close()
		return nil, fmt.Errorf("redis: %s does not answer: %w", redacted, err)
	}
	return c, nil
}

// traced wraps rc in spans when opts has a tracer provider.
func (c *Client) traced(rc rueidis.Client, opts Options) rueidis.Client {
	if opts.TracerProvider == nil {
		return rc
	}
	return newTracedClient(rc, opts.TracerProvider)
}

// unreachable reports whether err from connecting says that nobody
// answered (the network, the dial timeout, a name that does not resolve,
// a server still loading), rather than that Redis refused us: a wrong
// password, a missing RESP3 or client tracking, a TLS failure must stop
// start-up.
func unreachable(err error) bool {
	if re, ok := rueidis.IsRedisErr(err); ok {
		return re.IsLoading() || re.IsTryAgain() || strings.HasPrefix(re.Error(), "MASTERDOWN")
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// startDown marks a client that could not reach Redis in Open
// unreachable, says so once, and starts the prober.
func (c *Client) startDown(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down.Store(true)
	c.downErr, c.downSince = err, time.Now()
	c.log.Warn("redis unreachable at start-up; serving degraded (revocation checks and rate limits in this process, "+
		"browser sessions unavailable) and connecting as soon as it answers", "redis", c.url, "err", err)
	c.probing = true
	c.wg.Add(1)
	go c.probe()
}

// invalidated passes rueidis's invalidation messages on to onInval.
func (c *Client) invalidated(msgs []rueidis.RedisMessage) {
	hooks := c.onInval.Load()
	if hooks == nil {
		return
	}
	var keys []string
	if msgs != nil {
		keys = make([]string, 0, len(msgs))
		for _, m := range msgs {
			if k, err := m.ToString(); err == nil {
				keys = append(keys, k)
			}
		}
	}
	for _, f := range *hooks {
		f(keys)
	}
}

// onInvalidation registers f to hear of every client-side cache
// invalidation (keys, or nil for all).
func (c *Client) onInvalidation(f func(keys []string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var hooks []func([]string)
	if old := c.onInval.Load(); old != nil {
		hooks = append(hooks, *old...)
	}
	hooks = append(hooks, f)
	c.onInval.Store(&hooks)
}

// Ping checks that Redis answers within the timeout; for /readyz.
func (c *Client) Ping(ctx context.Context) error {
	cctx, cancel := c.cmdContext(ctx)
	defer cancel()
	err := c.rc.Do(cctx, c.rc.B().Ping().Build()).Error()
	if err == nil {
		c.markUp()
		return nil
	}
	c.failed(ctx, err)
	return fmt.Errorf("redis: ping %s: %w", c.url, err)
}

// Healthy returns nil while Redis is reachable, and otherwise an error
// saying since when and why it is not.
func (c *Client) Healthy() error {
	if !c.down.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Errorf("redis %s unreachable since %s: %w", c.url, c.downSince.UTC().Format(time.RFC3339), c.downErr)
}

// Close stops the background prober and closes the connections. The
// parts built on the client must be closed first.
func (c *Client) Close() {
	c.cancel()
	c.rc.Close()
	c.wg.Wait()
}

// key returns the full name of a key.
func (c *Client) key(parts ...string) string {
	return c.prefix + strings.Join(parts, ":")
}

// cmdContext bounds one command by the client's timeout.
func (c *Client) cmdContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// available reports whether Redis is worth asking.
func (c *Client) available() bool { return !c.down.Load() }

// onRecover registers f to be called each time Redis is back.
func (c *Client) onRecover(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onUp = append(c.onUp, f)
}

// failed classifies err from a command run under a context derived (by
// cmdContext) from parent: it returns true, and marks Redis unreachable,
// when err says Redis cannot serve us (network errors, our own timeout, a
// server loading or failing over). Redis nil, data errors (WRONGTYPE, a
// script error) and the caller's context ending are not outages.
func (c *Client) failed(parent context.Context, err error) bool {
	if !unavailable(err) || parent.Err() != nil || errors.Is(err, context.Canceled) {
		return false
	}
	c.markDown(err)
	return true
}

func unavailable(err error) bool {
	if err == nil || rueidis.IsRedisNil(err) {
		return false
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		if re.IsLoading() || re.IsClusterDown() || re.IsTryAgain() {
			return true
		}
		msg := re.Error()
		for _, p := range []string{"MASTERDOWN", "READONLY", "NOREPLICAS", "OOM", "BUSY", "NOAUTH", "WRONGPASS", "NOPERM"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true
}

func (c *Client) markDown(err error) {
	if c.ctx.Err() != nil {
		return // closed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.down.Load() {
		c.down.Store(true)
		c.downErr, c.downSince = err, time.Now()
		c.log.Warn("redis unreachable; revocation checks and rate limits fall back to this process until it is back",
			"redis", c.url, "err", err)
	}
	if !c.probing {
		c.probing = true
		c.wg.Add(1)
		go c.probe()
	}
}

func (c *Client) markUp() {
	c.mu.Lock()
	if !c.down.Load() {
		c.mu.Unlock()
		return
	}
	c.down.Store(false)
	since := c.downSince
	hooks := append([]func(){}, c.onUp...)
	c.mu.Unlock()
	c.log.Info("redis reachable again", "redis", c.url, "down_for", time.Since(since).Round(time.Millisecond))
	for _, f := range hooks {
		f()
	}
}

// Prober backoff.
const (
	probeFirst = 50 * time.Millisecond
	probeMax   = time.Second
)

// probe pings Redis with backoff until it answers or the client closes.
func (c *Client) probe() {
	defer c.wg.Done()
	delay := probeFirst
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := c.cmdContext(c.ctx)
		err := c.rc.Do(ctx, c.rc.B().Ping().Build()).Error()
		cancel()
		if err == nil {
			c.mu.Lock()
			c.probing = false
			c.mu.Unlock()
			c.markUp()
			return
		}
		c.mu.Lock()
		c.downErr = err
		c.mu.Unlock()
		delay = min(2*delay, probeMax)
		t.Reset(delay)
	}
}
