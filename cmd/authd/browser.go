package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/riverqueue/river"

	"github.com/authd/authd/account"
	"github.com/authd/authd/internal/csrf"
	"github.com/authd/authd/internal/jobs"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/render"
	"github.com/authd/authd/login"
	"github.com/authd/authd/provider"
	"github.com/authd/authd/ratelimit"
	"github.com/authd/authd/session"
	storesql "github.com/authd/authd/storage/sql"
	"github.com/authd/authd/webhook"
)

// browserApp is everything a person's browser meets: the hosted pages,
// sessions, the account service and the job queue that sends its mail.
type browserApp struct {
	sessions *session.Manager
	accounts *account.Service
	queue    *jobs.Queue
	pages    *login.Pages
	browser  *provider.Browser
	webhooks *webhook.Service
}

// openBrowserApp builds the browser side over the provider p: sessions
// tell p when one ends (back-channel logout), the pages ask it to verify
// logout's id_token_hint, and app.browser is what p.Routes serves the
// authorization endpoint with. The caller stops the queue.
func openBrowserApp(ctx context.Context, cfg Config, d *deps, p *provider.Provider) (*browserApp, error) {
	secure := strings.HasPrefix(cfg.Issuer, "https://")
	iu, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	sender, err := mail.NewSender(cfg.Mail, d.log)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	app := &browserApp{}
	workers := river.NewWorkers()
	if err := mail.AddWorker(workers, sender, d.keyring, d.log); err != nil {
		return nil, err
	}
	// The account service is built below, over the queue; its worker
	// reads it from accounts once it is there (jobs left from an earlier
	// run may start before that, and are tried again).
	var accounts atomic.Pointer[account.Service]
	if err := river.AddWorkerSafely(workers, &accountRequestWorker{accounts: accounts.Load, seal: d.keyring}); err != nil {
		return nil, err
	}
	var hooks atomic.Pointer[webhook.Service]
	if err := webhook.AddWorker(workers, hooks.Load); err != nil {
		return nil, err
	}
	sqlDB, err := d.store.SQLDB()
	if err != nil {
		return nil, err
	}
	queue, err := jobs.Open(ctx, cfg.Jobs, jobs.Deps{DB: sqlDB, Dialect: d.store.Dialect(), Logger: d.log,
		Workers: workers, SkipMigrate: !cfg.Database.AutoMigrate, TxFromContext: storesql.TxFromContext,
		TracerProvider: d.tracerProvider(), Failures: d.reporter, HTTPClient: &http.Client{Transport: d.tracing.Transport(nil)}})
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	app.queue = queue
	fail := func(err error) (*browserApp, error) {
		_ = queue.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	app.sessions = session.New(cfg.Session, session.Options{Store: d.sessions, Logger: d.log, Secure: secure, OnEnd: p.SessionEnded})
	hasher, err := password.NewHasher(cfg.Password)
	if err != nil {
		return fail(fmt.Errorf("password: %w", err))
	}
	app.accounts, err = account.New(cfg.Accounts, account.Deps{
		Store: d.store, Attempts: d.attempts, Hasher: hasher, MAC: d.keyring,
		Mailer:   txMailer{q: mail.NewQueue(queue, d.keyring)},
		Requests: accountRequests{q: queue, seal: d.keyring},
		Sessions: app.sessions, Issuer: cfg.Issuer, ProductName: cfg.Branding.ProductName, Logger: d.log, Metrics: d.metrics,
	})
	if err != nil {
		return fail(err)
	}
	accounts.Store(app.accounts)
	app.webhooks, err = webhookService(cfg, d, queue, txMailer{q: mail.NewQueue(queue, d.keyring)}, p)
	if err != nil {
		return fail(err)
	}
	hooks.Store(app.webhooks)
	protector := csrf.New(d.keyring.MAC("csrf", []byte("authd csrf key v1")), secure)
	if err := protector.AddTrustedOrigin(iu.Scheme + "://" + iu.Host); err != nil {
		return fail(fmt.Errorf("issuer: %w", err))
	}
	renderer, err := render.New(render.Options{CSRF: protector, Logger: d.log, BasePath: iu.Path,
		Branding: cfg.Branding, DefaultLanguage: cfg.I18n.Default()})
	if err != nil {
		return fail(err)
	}
	app.pages = login.New(cfg.Login, login.Deps{
		Accounts: app.accounts, Sessions: app.sessions,
		AuthRequests: d.store, Devices: d.store, Consents: d.store, Clients: d.clients, Users: d.store, Tokens: d.store, Audit: d.store, Tx: d.store,
		Renderer: renderer, CSRF: protector, IDTokenHints: p, Logger: d.log, Limiter: d.rateLimits(cfg), Registrations: d.store,
	})
	app.browser = &provider.Browser{Sessions: app.sessions, Users: d.store, Errors: app.pages, Logout: logoutQueue{queue}}
	return app, nil
}

// rateLimits returns the rate limiter of the configured rules.
func (d *deps) rateLimits(cfg Config) *ratelimit.Limiter {
	return ratelimit.New(cfg.RateLimit, d.limiter, d.log).WithMetrics(d.metrics)
}

// txMailer queues mail inside the caller's transaction when its context
// carries one (the account service sends mail from inside the change it
// belongs to), else on its own.
type txMailer struct{ q *mail.Queue }

func (m txMailer) Enqueue(ctx context.Context, msg mail.Message) error {
	if tx, ok := storesql.TxFromContext(ctx); ok {
		return m.q.EnqueueTx(ctx, tx, msg)
	}
	return m.q.Enqueue(ctx, msg)
}

// logoutQueue queues back-channel logout deliveries, inside the caller's
// transaction when there is one (sessions can end inside account changes).
type logoutQueue struct{ q *jobs.Queue }

func (l logoutQueue) EnqueueBackchannelLogout(ctx context.Context, clientID, uri, token string) error {
	args := jobs.BackchannelLogoutArgs{ClientID: clientID, URI: uri, LogoutToken: token}
	if tx, ok := storesql.TxFromContext(ctx); ok {
		_, err := l.q.EnqueueTx(ctx, tx, args, nil)
		return err
	}
	return l.q.EnqueueBackchannelLogout(ctx, args)
}
