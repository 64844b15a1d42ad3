package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/authd/authd/secrets"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/memory"
	storesql "github.com/authd/authd/storage/sql"
	"github.com/authd/authd/telemetry"
)

// deps are the stores and keys every command works with.
type deps struct {
	log     *slog.Logger
	store   *storesql.Store
	keyring *secrets.Keyring
	revoked *memory.RevocationSet
}

// openDeps builds the logger, opens the database (migrating it when
// configured to) and loads the master key.
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
	revoked := memory.NewRevocationSet()
	store, err := storesql.Open(cfg.Database.URL, storesql.Options{
		MaxOpenConns: cfg.Database.MaxOpenConns, MaxIdleConns: cfg.Database.MaxIdleConns,
		ConnMaxLifetime: cfg.Database.ConnMaxLifetime, SimpleProtocol: cfg.Database.SimpleProtocol,
		MaxAccessTokenTTL: cfg.Tokens.MaxAccessTokenTTL, OnRevoke: revoked.Add, Sealer: kr,
	})
	if err != nil {
		return nil, fmt.Errorf("database.url: %w", err)
	}
	if err := store.Ping(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("database.url: cannot reach the database: %w", err)
	}
	if migrate {
		if cfg.Database.AutoMigrate {
			n, err := store.Migrate(ctx, nil)
			if err != nil {
				store.Close()
				return nil, err
			}
			if n > 0 {
				log.InfoContext(ctx, "applied database migrations", "count", n)
			}
		} else if n, err := store.Pending(ctx); err != nil || n > 0 {
			store.Close()
			return nil, errors.Join(err, fmt.Errorf("database has %d pending migrations and database.auto_migrate is off: run `authd migrate up`", n))
		}
	}
	return &deps{log: log, store: store, keyring: kr, revoked: revoked}, nil
}

func (d *deps) Close() error { return d.store.Close() }

var _ storage.Clients = (*storesql.Store)(nil)
