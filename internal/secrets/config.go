package secrets

import (
	"errors"
	"fmt"
	"log/slog"
)

// Config is the secrets section of authd's configuration
// (config.example.yaml: secrets.*): the master key, given inline or by
// file, and the previous ones still needed to open what they sealed.
type Config struct {
	// MasterKey is 32 random bytes, standard base64.
	MasterKey string `koanf:"master_key"`
	// MasterKeyFile names a file holding MasterKey instead.
	MasterKeyFile string `koanf:"master_key_file"`
	// PreviousMasterKeys open and verify what older keys sealed or MACed.
	PreviousMasterKeys []string `koanf:"previous_master_keys"`
}

// DefaultConfig returns the defaults: no key configured (the embedded
// default generates one; any other deployment must set it).
func DefaultConfig() Config { return Config{PreviousMasterKeys: []string{}} }

// Validate reports every problem, each naming its key; never the keys'
// values.
func (c Config) Validate() error {
	var errs []error
	if c.MasterKey != "" && c.MasterKeyFile != "" {
		errs = append(errs, errors.New("secrets: set master_key or master_key_file, not both"))
	}
	if c.MasterKey != "" {
		if _, err := ParseMasterKey(c.MasterKey); err != nil {
			errs = append(errs, fmt.Errorf("secrets.master_key: %w (generate one with: openssl rand -base64 32)", err))
		}
	}
	for i, pk := range c.PreviousMasterKeys {
		if _, err := ParseMasterKey(pk); err != nil {
			errs = append(errs, fmt.Errorf("secrets.previous_master_keys[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// LogValue implements slog.LogValuer: whether each key is set, never its
// value.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.Bool("master_key_set", c.MasterKey != ""), slog.String("master_key_file", c.MasterKeyFile),
		slog.Int("previous_master_keys", len(c.PreviousMasterKeys)))
}

// String redacts like LogValue, so that fmt's %v and %+v print no key.
func (c Config) String() string { return c.LogValue().String() }

// GoString redacts for %#v too.
func (c Config) GoString() string { return "secrets.Config" + c.String() }
