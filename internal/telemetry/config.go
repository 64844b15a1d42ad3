package telemetry

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// LogConfig is the log section of authd's configuration
// (config.example.yaml: log.*).
type LogConfig struct {
	// Level: debug, info, warn or error.
	Level string `koanf:"level"`
	// Format: json or text.
	Format string `koanf:"format"`
	// FlushInterval, when positive, makes serve buffer its log lines and
	// write them at least this often (and at once for warnings and errors);
	// 0 writes every line as it is logged.
	FlushInterval time.Duration `koanf:"flush_interval"`
}

// DefaultLogConfig returns the defaults: info, JSON, flushed every 100 ms.
func DefaultLogConfig() LogConfig {
	return LogConfig{Level: "info", Format: "json", FlushInterval: 100 * time.Millisecond}
}

// Validate reports every problem, each naming its key.
func (c LogConfig) Validate() error {
	var errs []error
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Level) {
		errs = append(errs, fmt.Errorf("log.level: want debug, info, warn or error, got %q", c.Level))
	}
	if c.Format != "json" && c.Format != "text" {
		errs = append(errs, fmt.Errorf("log.format: want json or text, got %q", c.Format))
	}
	if c.FlushInterval < 0 || c.FlushInterval > 10*time.Second {
		errs = append(errs, fmt.Errorf("log.flush_interval: want 0 (unbuffered) to 10s, got %s", c.FlushInterval))
	}
	return errors.Join(errs...)
}
