package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/provider"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/cache"
	"github.com/authd/authd/storage/feed"
	"github.com/authd/authd/storage/memory"
	"github.com/authd/authd/storage/redis"
	storesql "github.com/authd/authd/storage/sql"
)

// deps are the stores and keys every command works with.
type deps struct {
	log   *slog.Logger
	store *storesql.Store
	// clients is the one in-process client cache: the provider, the
	// hosted pages and the store reading stored requests back all read
	// through it; the change feed invalidates it.
	clients *cache.Clients
	// changes is the change feed the provider polls; every cache built
	// here subscribes to the topics whose records it holds.
	changes *feed.Feed
	keyring *secrets.Keyring
	// revoked is the revocation set the store's OnRevoke feeds: in
	// process, or shared through Redis.
	revoked provider.RevocationSet
	// sessions stores browser sessions: the SQL store, or Redis (with
	// the token revocations still in SQL).
	sessions sessionStore
	// attempts holds the brute-force counters: SQL, or Redis falling
	// back to SQL.
	attempts storage.Attempts
	// limiter backs the rate limits: in process, or Redis falling back
	// to in process.
	limiter storage.Limiter
	// oneTime remembers the jti of DPoP proofs: in process, or Redis
	// falling back to in process.
	oneTime storage.OneTimeUses
	// redis is the shared Redis; nil for the in-process default.
	redis *redis.Client
	// metrics, set by serve (metrics.enabled), records what the parts
	// count; nil records nothing.
	metrics *telemetry.Metrics
	// tracing exports spans (off without telemetry.otlp_endpoint) and
	// reporter sends errors to Sentry (nil without telemetry.sentry_dsn);
	// both flush, bounded, when the deps close.
	tracing  *telemetry.Tracing
	reporter *telemetry.Reporter
	// closers run in reverse order on Close, before the store closes.
	closers []func()
}

// sessionStore is what the session manager and the provider need of
// session storage.
type sessionStore interface {
	session.Store
	provider.SessionClients
}

// redisSessions is the one real composition of two backends: sessions
// (and which clients got tokens in them) live in Redis, while ending a
// session revokes its tokens in the database, which holds the tokens.
type redisSessions struct {
	*redis.Sessions
	tokens *storesql.Store
}

var _ sessionStore = redisSessions{}

func (s redisSessions) RevokeSessionTokens(ctx context.Context, sid string, includeOffline bool) error {
	return s.tokens.RevokeSessionTokens(ctx, sid, includeOffline)
}

// providerStore returns the store the provider works on: the SQL store,
// reading the clients of stored requests from the client cache.
func (d *deps) providerStore() provider.Store {
	return d.store.WithClientLookup(d.clients.GetStoredClient)
}

// openDeps builds the logger, opens the database (migrating it when
// configured to) and loads the master key. With migrate set (every
// command but migrate) it also connects to Redis when redis.url is set.
func openDeps(ctx context.Context, env *cliEnv, migrate bool) (*deps, error) {
	cfg := env.cfg
	log, err := telemetry.NewLogger(env.stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return nil, err
	}
	if cfg.embedded() {
		dir := filepath.Dir(strings.TrimPrefix(cfg.Database.URL, "sqlite://"))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("database.url: create directory: %w", err)
		}
	}
	kr, err := cfg.keyring(func(msg string, args ...any) { log.WarnContext(ctx, msg, args...) })
	if err != nil {
		return nil, err
	}
	d := &deps{log: log, keyring: kr, metrics: env.metrics}
	fail := func(err error) (*deps, error) {
		d.Close()
		return nil, err
	}
	if err := d.openTelemetry(ctx, cfg); err != nil {
		return fail(err)
	}
	if cfg.Redis.URL != "" && migrate {
		ropts := cfg.Redis.Options(log)
		ropts.Metrics = d.metrics
		ropts.TracerProvider = d.tracerProvider()
		d.redis, err = redis.Open(ctx, cfg.Redis.URL, ropts)
		if err != nil {
			return fail(fmt.Errorf("redis.url: %w", err))
		}
		d.closers = append(d.closers, d.redis.Close)
		rs := redis.NewRevocationSet(d.redis)
		d.closers = append(d.closers, rs.Close)
		d.revoked = rs
		d.limiter = redis.NewRateLimiter(d.redis)
		d.oneTime = redis.NewOneTimeUses(d.redis)
	} else {
		d.revoked = memory.NewRevocationSet()
		d.limiter = memory.NewRateLimiter(nil)
		d.oneTime = memory.NewOneTimeUses(nil)
	}
	opts := cfg.Database.Options()
	opts.MaxAccessTokenTTL, opts.OnRevoke, opts.Sealer, opts.AuditKeys = cfg.Tokens.MaxAccessTokenTTL, d.revoked.Add, kr, kr
	opts.TracerProvider = d.tracerProvider()
	d.store, err = storesql.Open(cfg.Database.URL, opts)
	if err != nil {
		return fail(fmt.Errorf("database.url: %w", err))
	}
	if err := d.store.Ping(ctx); err != nil {
		return fail(fmt.Errorf("database.url: cannot reach the database: %w", err))
	}
	d.clients = cache.NewClients(d.store, cfg.Cache.ClientSize, cfg.Cache.ClientTTL)
	d.changes = feed.New(d.store, nil)
	d.changes.Subscribe(storage.TopicClient, d.clients.Changed)
	if d.redis != nil {
		d.sessions = redisSessions{Sessions: redis.NewSessions(d.redis), tokens: d.store}
		d.attempts = redis.NewAttempts(d.redis, d.store)
	} else {
		d.sessions, d.attempts = d.store, d.store
	}
	if migrate {
		if cfg.Database.AutoMigrate {
			n, err := d.store.Migrate(ctx, nil)
			if err != nil {
				return fail(err)
			}
			if n > 0 {
				log.InfoContext(ctx, "applied database migrations", "count", n)
			}
		} else if n, err := d.store.Pending(ctx); err != nil || n > 0 {
			return fail(errors.Join(err, fmt.Errorf("database has %d pending migrations and database.auto_migrate is off: run `authd migrate up`", n)))
		}
	}
	return d, nil
}

// Close closes Redis (after writing what the revocation set still holds)
// and the database.
func (d *deps) Close() error {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
	if d.store == nil {
		return nil
	}
	return d.store.Close()
}

var _ storage.Clients = (*storesql.Store)(nil)
