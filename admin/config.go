package admin

import (
	"errors"
	"fmt"
	"math"

	"github.com/authd/authd/apikey"
)

// Config is the admin section.
type Config struct {
	// Tiers are the rate limit tiers keys are created in: requests per
	// second and burst for each; rate 0 is unlimited.
	Tiers map[string]Tier `koanf:"tiers"`
	// ClientTier is the tier of OAuth clients calling with an access
	// token (client_credentials).
	ClientTier string `koanf:"client_tier"`
	// APIKeys configures API keys.
	APIKeys apikey.Config `koanf:"api_keys"`
}

// DefaultConfig has three tiers: free, standard and unlimited.
func DefaultConfig() Config {
	return Config{
		Tiers: map[string]Tier{
			"free":      {Rate: 2, Burst: 20},
			"standard":  {Rate: 20, Burst: 100},
			"unlimited": {},
		},
		ClientTier: DefaultTier,
		APIKeys:    apikey.DefaultConfig(),
	}
}

// Validate reports tiers that cannot be enforced.
func (c Config) Validate() error {
	var errs []error
	for name, t := range c.Tiers {
		switch {
		case t.Rate == 0 && t.Burst == 0:
		case !(t.Rate > 0) || math.IsInf(t.Rate, 0) || t.Burst < 1:
			errs = append(errs, fmt.Errorf("admin.tiers.%s: rate must be positive and burst at least 1 (or both 0: unlimited)", name))
		}
	}
	if _, ok := c.Tiers[DefaultTier]; !ok {
		errs = append(errs, fmt.Errorf("admin.tiers: the tier %q (the default for new keys) must exist", DefaultTier))
	}
	if _, ok := c.Tiers[c.ClientTier]; !ok {
		errs = append(errs, fmt.Errorf("admin.client_tier: %q is not one of admin.tiers", c.ClientTier))
	}
	if err := c.APIKeys.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// HasTier reports whether name is a configured tier.
func (c Config) HasTier(name string) bool {
	_, ok := c.Tiers[name]
	return ok
}
