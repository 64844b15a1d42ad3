package sql

import (
	"errors"
	"fmt"
	"time"
)

// Config is the database section of authd's configuration
// (config.example.yaml: database.*).
type Config struct {
	// URL is "sqlite://path/to/authd.db" or "postgres://…". cmd/authd
	// fills an empty one with the embedded default under data_dir.
	URL string `koanf:"url"`
	// AutoMigrate applies pending migrations at start-up; off, serve
	// refuses to start while any are pending (authd migrate up).
	AutoMigrate bool `koanf:"auto_migrate"`
	// MaxOpenConns, MaxIdleConns, ConnMaxLifetime: see Options.
	MaxOpenConns    int           `koanf:"max_open_conns"`
	MaxIdleConns    int           `koanf:"max_idle_conns"`
	ConnMaxLifetime time.Duration `koanf:"conn_max_lifetime"`
	// SimpleProtocol: see Options (PgBouncer in transaction pooling mode).
	SimpleProtocol bool `koanf:"simple_protocol"`
}

// DefaultConfig returns the defaults: migrate at start-up, connections
// recycled every 30 minutes, the pool sized by Open.
func DefaultConfig() Config {
	return Config{AutoMigrate: true, ConnMaxLifetime: 30 * time.Minute}
}

// Validate reports every problem, each naming its key.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := ParseURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("database.url: %w", err))
	}
	for key, n := range map[string]int{"database.max_open_conns": c.MaxOpenConns, "database.max_idle_conns": c.MaxIdleConns} {
		if n < 0 {
			errs = append(errs, fmt.Errorf("%s: must be 0 (the default) or more, got %d", key, n))
		}
	}
	if c.ConnMaxLifetime < 0 {
		errs = append(errs, fmt.Errorf("database.conn_max_lifetime: must be 0 (no limit) or a positive duration, got %v", c.ConnMaxLifetime))
	}
	return errors.Join(errs...)
}

// Options returns the pool settings of c; the caller adds the rest.
func (c Config) Options() Options {
	return Options{MaxOpenConns: c.MaxOpenConns, MaxIdleConns: c.MaxIdleConns, ConnMaxLifetime: c.ConnMaxLifetime,
		SimpleProtocol: c.SimpleProtocol}
}
