package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/authd/authd/admin"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/provider"
	"github.com/authd/authd/webhook"
)

func serveCommand(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the authorization server",
		Long: `serve runs the OAuth 2.0 / OpenID Connect server on http.addr (and the
health and profiling endpoints on http.ops_addr, when set) until it gets
SIGINT or SIGTERM, then shuts down gracefully: in-flight requests finish,
up to http.shutdown_timeout. With database.auto_migrate (the default) it
applies pending migrations first.`,
		Example: `  authd serve
  authd serve --config /etc/authd/authd.yaml
  AUTHD_HTTP_ADDR=127.0.0.1:9000 authd serve`,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), env) },
	}
}

// serve runs the server until ctx ends, then shuts down gracefully:
// in-flight requests finish (up to http.shutdown_timeout).
func serve(ctx context.Context, env *cliEnv) error {
	if iv := env.cfg.Log.FlushInterval; iv > 0 {
		buf := telemetry.NewBufferedWriter(env.stderr, 64<<10, iv)
		defer buf.Close() // last: after everything else has logged
		e := *env
		e.stderr = buf
		env = &e
	}
	e := *env
	e.metrics = newMetrics(env.cfg)
	env = &e
	d, err := openDeps(ctx, env, true)
	if err != nil {
		return err
	}
	defer d.Close()
	cfg := env.cfg
	if cfg.issuerNote != "" {
		d.log.WarnContext(ctx, cfg.issuerNote, "issuer", cfg.Issuer)
	}
	if cfg.Dev.InsecureHTTP {
		d.log.WarnContext(ctx, "DEVELOPMENT SETTING dev.insecure_http IS ON: an http:// issuer is allowed on a host other than loopback; "+
			"cookies lose Secure and __Host-, no HSTS is sent, and tokens and passwords cross the network in the clear. Never use it in production",
			"issuer", cfg.Issuer, "insecure_issuer", cfg.provider().InsecureIssuer())
	}
	p, err := provider.New(ctx, cfg.provider(), provider.Options{Logger: d.log, Store: d.providerStore(), Clients: d.clients, Changes: d.changes,
		SessionClients: d.sessions, Keyring: d.keyring, Revoked: d.revoked, Limiter: d.rateLimits(cfg), OneTimeUses: d.oneTime,
		Registrar: registrar(cfg, d), Metrics: d.metrics})
	if err != nil {
		return err
	}
	app, err := openBrowserApp(ctx, cfg, d, p)
	if err != nil {
		return err
	}
	defer func() { // after the listeners stopped: finish running jobs
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.HTTP.ShutdownTimeout)
		defer cancel()
		if err := app.queue.Stop(sctx); err != nil {
			d.log.WarnContext(sctx, "stopping the job queue", "err", err)
		}
	}()

	keys, err := apiKeys(cfg, d)
	if err != nil {
		return err
	}
	api, err := openAdminAPI(cfg, d, app, p, keys)
	if err != nil {
		return err
	}
	health := readinessChecks(cfg, d, app, p)
	stopMetrics, err := registerMetrics(ctx, d.metrics, d, app, p, health)
	if err != nil {
		return err
	}
	defer stopMetrics()
	servers, err := newServers(cfg, d, app, p, api, health)
	if err != nil {
		return err
	}
	listeners, err := listen(servers)
	if err != nil {
		return err
	}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	bgDone := make(chan struct{})
	go func() { defer close(bgDone); p.Run(bg) }()
	keysDone := make(chan struct{})
	go func() { defer close(keysDone); keys.Run(bg) }()
	defer func() { stopBG(); <-keysDone }()
	hooksDone := make(chan struct{})
	go func() { defer close(hooksDone); app.webhooks.Run(bg) }()
	defer func() { stopBG(); <-hooksDone }()
	// Stop the background sync and wait for it before d.Close (deferred
	// earlier, so run later) closes the store under it.
	defer func() { stopBG(); <-bgDone }()
	return runServers(ctx, cfg, d.log, servers, listeners)
}

// newServers returns the issuer's server and, with http.ops_addr, the
// operational one; both behind the request middleware.
func newServers(cfg Config, d *deps, app *browserApp, p *provider.Provider, api *admin.API, health *healthChecks) ([]*http.Server, error) {
	proxies, err := cfg.HTTP.trustedProxies()
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	p.Routes(mux, app.browser)
	app.pages.Routes(mux)
	api.Routes(mux)
	webhook.NewTransmitter(app.webhooks, p, cfg.Issuer+provider.PathJWKS, d.log).Routes(mux)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.TrimRight(cfg.Issuer, "/")+"/account", http.StatusSeeOther)
	})
	mux.Handle("/", notFound(mux, app.pages))
	ops := opsMux(cfg, d, health)
	// The metrics middleware wraps the mux itself: the route label is the
	// pattern the mux matched. Tracing wraps outside it, so the latency
	// histogram's exemplars carry the request's trace id.
	routed := telemetry.Recover(d.log, d.reporter, app.pages.RenderError, d.tracing.Routed(d.metrics.Middleware(mux)))
	site := newServer(cfg.HTTP, cfg.HTTP.Addr,
		d.tracing.Handler(telemetry.Middleware(d.log, proxies, securityHeaders(strings.HasPrefix(cfg.Issuer, "https://"), routed))))
	if cfg.HTTP.OpsAddr == "" {
		mux.Handle("/healthz", ops)
		mux.Handle("/readyz", ops)
		mux.Handle("/debug/pprof/", ops)
		if d.metrics != nil {
			mux.Handle("/metrics", ops)
		}
		return []*http.Server{site}, nil
	}
	return []*http.Server{site, newServer(cfg.HTTP, cfg.HTTP.OpsAddr,
		telemetry.Middleware(d.log, proxies, telemetry.Recover(d.log, d.reporter, nil, d.metrics.Middleware(ops))))}, nil
}

// readinessChecks are the dependencies /readyz and authd_dependency_up
// report: the database, the job queue, the signing keys and the change
// feed must work for a replica to be ready; Redis down only degrades it.
func readinessChecks(cfg Config, d *deps, app *browserApp, p *provider.Provider) *healthChecks {
	var redisCheck func(context.Context) error
	if d.redis != nil {
		redisCheck = func(ctx context.Context) error {
			if err := d.redis.Ping(ctx); err != nil {
				return fmt.Errorf("%w (revocation checks answer from this replica's own knowledge and the database poll; "+
					"rate limits hold per replica; sign-in pages are unavailable)", err)
			}
			return nil
		}
	}
	// The feed is polled every cache.poll_interval; several missed polls
	// mean this replica's caches are going stale.
	stale := max(3*cfg.Cache.PollInterval, 10*time.Second)
	started := time.Now()
	return newHealthChecks(
		healthCheck{name: "database", critical: true, check: d.store.Ping},
		healthCheck{name: "job_queue", critical: true, check: app.queue.Ready},
		healthCheck{name: "keys", critical: true, check: func(context.Context) error {
			if p.ActiveKeyCreated().IsZero() {
				return errors.New("no active signing key loaded")
			}
			return nil
		}},
		healthCheck{name: "change_feed", critical: true, check: func(context.Context) error {
			last := d.changes.LastPoll()
			if last.IsZero() {
				last = started
			}
			if since := time.Since(last); since > stale {
				return fmt.Errorf("no successful poll for %s", since.Round(time.Second))
			}
			return nil
		}},
		healthCheck{name: "redis", check: redisCheck},
	)
}

// opsMux serves /healthz, /readyz, /metrics (metrics.enabled) and, with
// http.pprof_token, the runtime profiles.
func opsMux(cfg Config, d *deps, health *healthChecks) *http.ServeMux {
	ops := http.NewServeMux()
	ops.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeStatus(w, http.StatusOK, "ok") })
	if d.metrics != nil {
		ops.Handle("GET /metrics", d.metrics.Handler())
	}
	ops.HandleFunc("GET /readyz", readyzHandler(func(ctx context.Context) readiness {
		st := health.readiness(health.check(ctx))
		if st.code != http.StatusOK {
			d.log.WarnContext(ctx, "not ready", "err", st.cause)
		}
		return st
	}, cfg.HTTP.OpsAddr != "", cfg.HTTP.PprofToken))
	// Redis down degrades this replica (and, as they share it, all of
	// them) but it keeps serving: still ready, so that a load balancer
	// does not pull every replica at once.
	if cfg.HTTP.PprofToken != "" {
		ops.Handle("/debug/pprof/", pprofHandler(cfg.HTTP.PprofToken))
	}
	return ops
}

// listen opens every server's listener, or none: the first is http.addr,
// the second http.ops_addr.
func listen(servers []*http.Server) ([]net.Listener, error) {
	listeners := make([]net.Listener, len(servers))
	for i, s := range servers {
		var err error
		if listeners[i], err = net.Listen("tcp", s.Addr); err != nil {
			for _, l := range listeners[:i] { // do not leak the ones already open
				l.Close()
			}
			key := "http.addr"
			if i > 0 {
				key = "http.ops_addr"
			}
			return nil, fmt.Errorf("%s: listen on %s: %w", key, s.Addr, err)
		}
	}
	return listeners, nil
}

// runServers serves until ctx ends or a server fails, then shuts every
// server down, letting in-flight requests finish.
func runServers(ctx context.Context, cfg Config, log *slog.Logger, servers []*http.Server, listeners []net.Listener) error {
	errc := make(chan error, len(servers))
	for i, s := range servers {
		go func() { errc <- s.Serve(listeners[i]) }()
	}
	log.InfoContext(ctx, "authd is serving", "issuer", cfg.Issuer, "addr", listeners[0].Addr().String(),
		"database", dialectOf(cfg.Database.URL), "discovery", cfg.Issuer+provider.PathDiscovery)
	if cfg.embedded() {
		log.InfoContext(ctx, "first steps: create a client with `authd clients create --name demo --grant-type client_credentials`, "+
			"then POST grant_type=client_credentials to "+cfg.Issuer+provider.PathToken+
			"; create a first user with `authd users create --email you@example.com --password-file FILE --verified`, "+
			"who signs in at "+cfg.Issuer+"/account")
	}
	var err error
	select {
	case err = <-errc:
		err = fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.InfoContext(ctx, "shutting down: finishing in-flight requests", "timeout", cfg.HTTP.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if serr := s.Shutdown(sctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("shutdown: %w", serr))
		}
	}
	if err == nil {
		log.InfoContext(sctx, "stopped")
	}
	return err
}

func newServer(c HTTPConfig, addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr: addr, Handler: h, ReadHeaderTimeout: c.ReadHeaderTimeout, ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout, MaxHeaderBytes: 32 << 10,
	}
}

// securityHeaders sets the headers every response carries. The API
// answers JSON only, so the policy forbids everything.
func securityHeaders(https bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if https {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

func writeStatus(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func dialectOf(url string) string {
	if len(url) >= 9 && url[:9] == "sqlite://" {
		return "sqlite"
	}
	return "postgres"
}
