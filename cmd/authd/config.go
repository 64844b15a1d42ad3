package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"

	"github.com/authd/authd/account"
	"github.com/authd/authd/admin"
	"github.com/authd/authd/internal/i18n"
	"github.com/authd/authd/internal/jobs"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/render"
	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/login"
	"github.com/authd/authd/provider"
	"github.com/authd/authd/ratelimit"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage/redis"
	storesql "github.com/authd/authd/storage/sql"
	"github.com/authd/authd/webhook"
)

// Config is the whole configuration tree; config.example.yaml mirrors it.
type Config struct {
	Issuer string               `koanf:"issuer"`
	Tokens provider.TokenConfig `koanf:"tokens"`
	Keys   provider.KeyConfig   `koanf:"keys"`
	Cache  provider.CacheConfig `koanf:"cache"`
	// Authorize bounds the authorization requests kept for people on the
	// hosted pages.
	Authorize provider.AuthorizeConfig `koanf:"authorize"`
	// Device configures the device authorization grant (RFC 8628).
	Device provider.DeviceConfig `koanf:"device"`
	// DPoP tunes DPoP proof checking (RFC 9449).
	DPoP provider.DPoPConfig `koanf:"dpop"`
	// RequirePKCE requires PKCE from confidential clients too.
	RequirePKCE bool `koanf:"require_pkce"`
	// ClientRegistration switches dynamic client registration (RFC 7591).
	ClientRegistration provider.RegistrationConfig `koanf:"client_registration"`
	HTTP               HTTPConfig                  `koanf:"http"`
	Database           storesql.Config             `koanf:"database"`
	Secrets            secrets.Config              `koanf:"secrets"`
	Log                telemetry.LogConfig         `koanf:"log"`
	Session            session.Config              `koanf:"session"`
	Accounts           account.Config              `koanf:"accounts"`
	Password           password.Config             `koanf:"password"`
	Login              login.Config                `koanf:"login"`
	Mail               mail.Config                 `koanf:"mail"`
	Jobs               jobs.Config                 `koanf:"jobs"`
	Redis              redis.Config                `koanf:"redis"`
	RateLimit          ratelimit.Config            `koanf:"ratelimit"`
	Admin              admin.Config                `koanf:"admin"`
	Webhooks           webhook.Config              `koanf:"webhooks"`
	// Alerts is where security alerts (token reuse, lockouts, an API key
	// from a new address, a disabled webhook) are mailed.
	Alerts webhook.AlertConfig `koanf:"alerts"`
	// Metrics serves /metrics (see metrics.go).
	Metrics MetricsConfig `koanf:"metrics"`
	// DataDir holds the embedded default's files: the SQLite database and
	// the generated master key.
	DataDir string    `koanf:"data_dir"`
	Dev     DevConfig `koanf:"dev"`
	// Branding is the hosted pages' and mails' look (product name, logo,
	// colours, support link); I18n their default language.
	Branding render.Branding `koanf:"branding"`
	I18n     i18n.Config     `koanf:"i18n"`

	// Telemetry sends traces (OTLP) and errors (Sentry); both off by default.
	Telemetry telemetry.ExportConfig `koanf:"telemetry"`

	// issuerNote, when set, says that Issuer was derived from http.addr
	// for lack of an issuer setting; serve logs it at every start.
	issuerNote string
}

// DevConfig holds settings that weaken security, for development only;
// serve warns at every start while one is on.
type DevConfig struct {
	// InsecureHTTP allows an http:// issuer on a host other than loopback.
	InsecureHTTP bool `koanf:"insecure_http"`
}

// HTTPConfig configures the listeners, and whose forwarding headers the
// request middleware believes.
type HTTPConfig struct {
	Addr              string        `koanf:"addr"`
	OpsAddr           string        `koanf:"ops_addr"`
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`
	ReadTimeout       time.Duration `koanf:"read_timeout"`
	WriteTimeout      time.Duration `koanf:"write_timeout"`
	IdleTimeout       time.Duration `koanf:"idle_timeout"`
	ShutdownTimeout   time.Duration `koanf:"shutdown_timeout"`
	// PprofToken, when set, serves Go's runtime profiles under
	// /debug/pprof/ (on ops_addr when set) to "Authorization: Bearer <token>".
	PprofToken string `koanf:"pprof_token"`
	// TrustedProxies are the CIDRs of the load balancers and reverse
	// proxies in front of authd: only a request whose TCP peer is in one
	// has its X-Forwarded-For or Forwarded header believed (see
	// telemetry.TrustedProxies.ClientAddr). Empty: no one's.
	TrustedProxies []string `koanf:"trusted_proxies"`
}

// Validate reports every problem, each naming its key.
func (c HTTPConfig) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("http.addr: want host:port, got %q", c.Addr))
	}
	if c.PprofToken != "" && len(c.PprofToken) < 32 {
		errs = append(errs, fmt.Errorf("http.pprof_token: use at least 32 random characters (openssl rand -hex 32)"))
	}
	if c.OpsAddr != "" {
		if _, _, err := net.SplitHostPort(c.OpsAddr); err != nil {
			errs = append(errs, fmt.Errorf("http.ops_addr: want host:port, got %q", c.OpsAddr))
		}
	}
	for key, d := range map[string]time.Duration{"http.read_header_timeout": c.ReadHeaderTimeout,
		"http.read_timeout": c.ReadTimeout, "http.write_timeout": c.WriteTimeout,
		"http.idle_timeout": c.IdleTimeout, "http.shutdown_timeout": c.ShutdownTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be a positive duration, got %v", key, d))
		}
	}
	if _, err := c.trustedProxies(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// trustedProxies parses TrustedProxies.
func (c HTTPConfig) trustedProxies() (telemetry.TrustedProxies, error) {
	return telemetry.ParseTrustedProxies("http.trusted_proxies", c.TrustedProxies)
}

func defaultConfig() Config {
	pc := provider.DefaultConfig()
	return Config{
		Issuer: pc.Issuer, Tokens: pc.Tokens, Keys: pc.Keys, Cache: pc.Cache, Authorize: pc.Authorize, Device: pc.Device, DPoP: pc.DPoP,
		ClientRegistration: pc.ClientRegistration,
		HTTP: HTTPConfig{
			Addr: "127.0.0.1:8080", ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ShutdownTimeout: 20 * time.Second,
			TrustedProxies: []string{},
		},
		Database: storesql.DefaultConfig(), Secrets: secrets.DefaultConfig(), Log: telemetry.DefaultLogConfig(), Telemetry: telemetry.DefaultExportConfig(),
		Session: session.DefaultConfig(), Accounts: account.DefaultConfig(), Password: password.DefaultConfig(),
		Login: login.DefaultConfig(), Mail: mail.DefaultConfig(), Jobs: jobs.DefaultConfig(), I18n: i18n.DefaultConfig(),
		Redis:     redis.DefaultConfig(),
		RateLimit: ratelimit.DefaultConfig(),
		Admin:     admin.DefaultConfig(),
		Webhooks:  webhook.DefaultConfig(),
		Alerts:    webhook.DefaultAlertConfig(),
		Metrics:   MetricsConfig{Enabled: true},
		DataDir:   "data",
	}
}

const envPrefix = "AUTHD_"

// loadConfig reads defaults, then the YAML file (if any), then AUTHD_*
// environment variables, and validates the result. It reports every
// problem at once: unknown keys, values that do not parse (each naming its
// key) and what Validate finds.
func loadConfig(path string, environ []string) (Config, error) {
	k := koanf.New(".")
	if err := k.Load(structs.Provider(defaultConfig(), "koanf"), nil); err != nil {
		return Config{}, err
	}
	for _, key := range fileSecretKeys { // their _file forms are keys too
		if err := k.Set(key+fileSuffix, ""); err != nil {
			return Config{}, err
		}
	}
	known := map[string]string{} // AUTHD_X_Y -> x.y
	lists := map[string]bool{}   // keys whose default is a list
	for _, key := range k.Keys() {
		known[envPrefix+strings.ToUpper(strings.ReplaceAll(key, ".", "_"))] = key
		// Decide list-ness on the defaults: once a YAML file is merged its
		// lists are []any, not []string.
		if _, isList := k.Get(key).([]string); isList {
			lists[key] = true
		}
	}
	var errs []error
	issuerSet := false // by the file or the environment, not by default
	if path != "" {
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(path), yaml.Parser()); err != nil {
			errs = append(errs, fmt.Errorf("config file %s: %w", path, err))
		} else {
			var unknown []string
			for _, key := range fk.Keys() {
				if !k.Exists(key) {
					unknown = append(unknown, key)
				}
			}
			if len(unknown) > 0 {
				slices.Sort(unknown)
				errs = append(errs, fmt.Errorf("config file %s: unknown keys %s (see config.example.yaml)", path, strings.Join(unknown, ", ")))
			}
			issuerSet = fk.Exists("issuer")
			if err := k.Merge(fk); err != nil {
				return Config{}, err
			}
		}
	}
	err := k.Load(env.Provider(".", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			key, ok := known[name]
			if !ok {
				if name != "AUTHD_CONFIG" && !strings.HasPrefix(name, "AUTHD_TEST_") && !kubernetesServiceLink(name) {
					errs = append(errs, fmt.Errorf("environment variable %s matches no config key", name))
				}
				return "", nil
			}
			issuerSet = issuerSet || key == "issuer"
			if lists[key] {
				return key, strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' })
			}
			return key, value
		},
	}), nil)
	if err != nil {
		return Config{}, err
	}
	errs = append(errs, readSecretFiles(k)...)
	// Decode over the defaults: a value that does not parse leaves its
	// default, so Validate does not report the same key a second time.
	cfg := defaultConfig()
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf", FlatPaths: false}); err != nil {
		errs = append(errs, decodeErrors(err, k)...)
	}
	if cfg.Database.URL == "" {
		cfg.Database.URL = "sqlite://" + filepath.Join(cfg.DataDir, "authd.db")
	}
	if !issuerSet {
		issuer, note, err := issuerFromAddr(cfg.HTTP.Addr)
		switch {
		case err != nil:
			errs = append(errs, err)
		case issuer != "":
			cfg.Issuer, cfg.issuerNote = issuer, note
		}
	}
	errs = append(errs, cfg.Validate())
	return cfg, errors.Join(errs...)
}

// decodeErrors splits koanf's decoding error into one error per key, with
// the value that did not parse ("config: tokens.access_token_ttl: time:
// invalid duration (got "banana")"). Only non-string keys fail to decode,
// so no secret is shown.
func decodeErrors(err error, k *koanf.Koanf) []error {
	var errs []error
	var collect func(error)
	collect = func(err error) {
		if de, ok := err.(*mapstructure.DecodeError); ok {
			errs = append(errs, fmt.Errorf("config: %s: %w (got %q)", de.Name(), de.Unwrap(), k.String(de.Name())))
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				collect(e)
			}
			return
		}
		if w := errors.Unwrap(err); w != nil {
			collect(w)
			return
		}
		errs = append(errs, fmt.Errorf("config: %w", err))
	}
	collect(err)
	return errs
}

// issuerFromAddr derives the default issuer from http.addr, for when
// issuer is not set: the listener's own loopback address as written, or
// 127.0.0.1 on the listener's port when it listens on every address
// (":9000", "0.0.0.0:9000"), in which case note says so for serve to log.
// Any other host is refused: authd cannot tell under which name clients
// reach it. An unparsable addr returns nothing; Validate reports it.
func issuerFromAddr(addr string) (issuer, note string, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return "", "", nil
	}
	if ip, perr := netip.ParseAddr(host); host == "" || perr == nil && ip.IsUnspecified() {
		return "http://" + net.JoinHostPort("127.0.0.1", port),
			"issuer is not set: derived from http.addr " + addr + "; set issuer (AUTHD_ISSUER) to the URL clients use for anything but local use", nil
	}
	if provider.IsLoopbackHost(host) {
		return "http://" + net.JoinHostPort(host, port), "", nil
	}
	return "", "", fmt.Errorf("issuer: not set, and cannot be derived from http.addr %q, a host other than loopback: "+
		"set issuer (AUTHD_ISSUER) to the https URL clients reach authd at, or listen on loopback or every address with http.addr (AUTHD_HTTP_ADDR)", addr)
}

// provider returns the provider's part of the config.
func (c Config) provider() provider.Config {
	return provider.Config{Issuer: c.Issuer, Tokens: c.Tokens, Keys: c.Keys, Cache: c.Cache, Authorize: c.Authorize, Device: c.Device, DPoP: c.DPoP, RequirePKCE: c.RequirePKCE,
		ClientRegistration: c.ClientRegistration, InsecureHTTP: c.Dev.InsecureHTTP}
}

// embedded reports whether the config is the embedded default: SQLite.
func (c Config) embedded() bool { return strings.HasPrefix(c.Database.URL, "sqlite://") }

// Validate reports every problem, each naming its key: it composes the
// sections' own Validate.
func (c Config) Validate() error {
	var errs []error
	for _, v := range []interface{ Validate() error }{c.provider(), c.HTTP, c.Database, c.Secrets, c.Log, c.Telemetry, c.Session,
		c.Accounts, c.Password, c.Login, c.Mail, c.Jobs, c.Redis, c.RateLimit, c.Admin, c.Webhooks, c.Alerts, c.Branding, c.I18n} {
		if err := v.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Jobs.RescueAfter <= c.Webhooks.Timeout+5*time.Second {
		errs = append(errs, fmt.Errorf("jobs.rescue_after (%v) must be longer than webhooks.timeout plus 5s (%v): "+
			"a delivery still in flight would be attempted twice at once", c.Jobs.RescueAfter, c.Webhooks.Timeout+5*time.Second))
	}
	return errors.Join(errs...)
}

// keyring loads the master key. The embedded default generates one into
// the data directory on first use (and says so loudly); any other
// deployment must configure it, as every replica must share it.
func (c Config) keyring(warn func(msg string, args ...any)) (*secrets.Keyring, error) {
	raw := c.Secrets.MasterKey
	switch {
	case raw != "":
	case c.Secrets.MasterKeyFile != "":
		b, err := os.ReadFile(c.Secrets.MasterKeyFile) // #nosec G304 -- the operator names the file
		if err != nil {
			return nil, fmt.Errorf("secrets.master_key_file: %w", err)
		}
		raw = strings.TrimSpace(string(b))
	case c.embedded():
		path := filepath.Join(c.DataDir, "master.key")
		b, err := os.ReadFile(path) // #nosec G304 -- data_dir/master.key, the operator names data_dir
		if errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
				return nil, fmt.Errorf("data_dir: %w", err)
			}
			b = []byte(secrets.GenerateMasterKey() + "\n")
			if err := writeFileExclusive(path, b); err != nil && !errors.Is(err, os.ErrExist) {
				return nil, fmt.Errorf("write generated master key: %w", err)
			}
			if b, err = os.ReadFile(path); err != nil { // #nosec G304 -- as above; another process may have won the race
				return nil, err
			}
			warn("GENERATED A MASTER KEY for the embedded default; keep it safe and set secrets.master_key (AUTHD_SECRETS_MASTER_KEY) in production: losing it loses every signing key", "path", path)
		} else if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		raw = strings.TrimSpace(string(b))
	default:
		return nil, errors.New("secrets.master_key: required with a database other than the embedded SQLite; generate one with `openssl rand -base64 32` and give every replica the same (AUTHD_SECRETS_MASTER_KEY)")
	}
	cur, err := secrets.ParseMasterKey(raw)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	var prev [][]byte
	for _, s := range c.Secrets.PreviousMasterKeys {
		b, _ := secrets.ParseMasterKey(s) // validated already
		prev = append(prev, b)
	}
	return secrets.NewKeyring(cur, prev...)
}

func writeFileExclusive(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the generated data_dir/master.key
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
