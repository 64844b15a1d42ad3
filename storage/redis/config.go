package redis

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Config is the redis section of authd's configuration
// (config.example.yaml: redis.*). An empty URL keeps everything Redis
// would hold in process (the embedded default, one replica).
type Config struct {
	// URL: redis://, rediss://, redis-sentinel:// or redis-cluster:// (see
	// Open), or "".
	URL string `koanf:"url"`
	// Prefix, Timeout, CacheTTL: see Options.
	Prefix   string        `koanf:"prefix"`
	Timeout  time.Duration `koanf:"timeout"`
	CacheTTL time.Duration `koanf:"cache_ttl"`
}

// DefaultConfig returns the defaults: no Redis, and Options' defaults for
// when one is set.
func DefaultConfig() Config {
	return Config{Prefix: DefaultPrefix, Timeout: DefaultTimeout, CacheTTL: DefaultCacheTTL}
}

// Validate reports every problem, each naming its key.
func (c Config) Validate() error {
	var errs []error
	if c.URL != "" && !strings.Contains(c.URL, "://") {
		errs = append(errs, errors.New("redis.url: want redis://host:port (or rediss://, redis-sentinel://, redis-cluster://), or empty for in-process"))
	}
	for key, d := range map[string]time.Duration{"redis.timeout": c.Timeout, "redis.cache_ttl": c.CacheTTL} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be a positive duration, got %v", key, d))
		}
	}
	return errors.Join(errs...)
}

// Options returns the client options of c, logging to log.
func (c Config) Options(log *slog.Logger) Options {
	return Options{Prefix: c.Prefix, Timeout: c.Timeout, CacheTTL: c.CacheTTL, Logger: log}
}
