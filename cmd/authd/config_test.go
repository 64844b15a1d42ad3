package main

import (
	"encoding/base64"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/internal/testdb"
)

// writeFile writes content to name in a new temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// field is one configuration value to check.
type field struct {
	key       string
	got, want any
}

func checkFields(t *testing.T, input string, fields []field) {
	t.Helper()
	for _, f := range fields {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s: %s = %#v, want %#v", input, f.key, f.got, f.want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig("", nil)
	if err != nil {
		t.Fatalf("loadConfig with no file and no environment: %v", err)
	}
	checkFields(t, "no file, no env", []field{
		{"issuer", cfg.Issuer, "http://127.0.0.1:8080"},
		{"http.addr", cfg.HTTP.Addr, "127.0.0.1:8080"},
		{"http.ops_addr", cfg.HTTP.OpsAddr, ""},
		{"data_dir", cfg.DataDir, "data"},
		{"database.url", cfg.Database.URL, "sqlite://" + filepath.Join("data", "authd.db")},
		{"database.auto_migrate", cfg.Database.AutoMigrate, true},
		{"embedded()", cfg.embedded(), true},
		{"tokens.access_token_ttl", cfg.Tokens.AccessTokenTTL, 15 * time.Minute},
		{"tokens.max_access_token_ttl", cfg.Tokens.MaxAccessTokenTTL, 24 * time.Hour},
		{"keys.algorithm", cfg.Keys.Algorithm, "RS256"},
		{"keys.rsa_bits", cfg.Keys.RSABits, 2048},
		{"cache.poll_interval", cfg.Cache.PollInterval, time.Second},
		{"secrets.master_key", cfg.Secrets.MasterKey, ""},
		{"secrets.previous_master_keys len", len(cfg.Secrets.PreviousMasterKeys), 0},
		{"log.level", cfg.Log.Level, "info"},
		{"log.format", cfg.Log.Format, "json"},
		{"log.flush_interval", cfg.Log.FlushInterval, 100 * time.Millisecond},
		{"http.shutdown_timeout", cfg.HTTP.ShutdownTimeout, 20 * time.Second},
	})

	// The SQLite database follows data_dir unless database.url is set.
	dir := t.TempDir()
	cfg, err = loadConfig("", []string{"AUTHD_DATA_DIR=" + dir})
	if err != nil {
		t.Fatal(err)
	}
	checkFields(t, "AUTHD_DATA_DIR="+dir, []field{
		{"database.url", cfg.Database.URL, "sqlite://" + filepath.Join(dir, "authd.db")},
	})
}

// TestConfigExampleIsTheDefault: config.example.yaml says "the values
// shown are the defaults"; loading it must change nothing and must not trip
// the unknown-key check.
func TestConfigExampleIsTheDefault(t *testing.T) {
	t.Parallel()
	def, err := loadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := loadConfig(filepath.Join("..", "..", "config.example.yaml"), nil)
	if err != nil {
		t.Fatalf("loading config.example.yaml: %v", err)
	}
	// An empty YAML list and an absent default are the same thing.
	if len(ex.Secrets.PreviousMasterKeys) == 0 {
		ex.Secrets.PreviousMasterKeys = def.Secrets.PreviousMasterKeys
	}
	if !reflect.DeepEqual(def, ex) {
		t.Errorf("config.example.yaml differs from the defaults:\n got %+v\nwant %+v", ex, def)
	}
}

func TestConfigFileAndEnv(t *testing.T) {
	t.Parallel()
	fileKey, envKey := secrets.GenerateMasterKey(), secrets.GenerateMasterKey()
	prev1, prev2, prev3 := secrets.GenerateMasterKey(), secrets.GenerateMasterKey(), secrets.GenerateMasterKey()
	yaml := `
issuer: https://auth.example.com
data_dir: /var/lib/authd
http:
  addr: 0.0.0.0:9000
  ops_addr: 127.0.0.1:9001
  trusted_proxies: [10.0.0.0/8]
database:
  url: postgres://file@db.example.com/authd
  auto_migrate: false
secrets:
  master_key: ` + fileKey + `
  previous_master_keys: [` + prev1 + `]
tokens:
  access_token_ttl: 10m
  refresh_token_ttl: 48h
keys:
  algorithm: ES256
log:
  level: debug
  format: text
`
	path := writeFile(t, "authd.yaml", yaml)

	// get reads each checked key from a Config.
	get := map[string]func(Config) any{
		"issuer":                       func(c Config) any { return c.Issuer },
		"data_dir":                     func(c Config) any { return c.DataDir },
		"http.addr":                    func(c Config) any { return c.HTTP.Addr },
		"http.ops_addr":                func(c Config) any { return c.HTTP.OpsAddr },
		"http.trusted_proxies":         func(c Config) any { return c.HTTP.TrustedProxies },
		"http.read_timeout":            func(c Config) any { return c.HTTP.ReadTimeout },
		"database.url":                 func(c Config) any { return c.Database.URL },
		"database.auto_migrate":        func(c Config) any { return c.Database.AutoMigrate },
		"secrets.master_key":           func(c Config) any { return c.Secrets.MasterKey },
		"secrets.previous_master_keys": func(c Config) any { return c.Secrets.PreviousMasterKeys },
		"tokens.access_token_ttl":      func(c Config) any { return c.Tokens.AccessTokenTTL },
		"tokens.refresh_token_ttl":     func(c Config) any { return c.Tokens.RefreshTokenTTL },
		"keys.algorithm":               func(c Config) any { return c.Keys.Algorithm },
		"log.level":                    func(c Config) any { return c.Log.Level },
		"log.format":                   func(c Config) any { return c.Log.Format },
	}
	fileOnly := map[string]any{
		"issuer":                       "https://auth.example.com",
		"data_dir":                     "/var/lib/authd",
		"http.addr":                    "0.0.0.0:9000",
		"http.ops_addr":                "127.0.0.1:9001",
		"http.trusted_proxies":         []string{"10.0.0.0/8"},
		"http.read_timeout":            15 * time.Second, // not in the file: the default
		"database.url":                 "postgres://file@db.example.com/authd",
		"database.auto_migrate":        false,
		"secrets.master_key":           fileKey,
		"secrets.previous_master_keys": []string{prev1},
		"tokens.access_token_ttl":      10 * time.Minute,
		"tokens.refresh_token_ttl":     48 * time.Hour,
		"keys.algorithm":               "ES256",
		"log.level":                    "debug",
		"log.format":                   "text",
	}
	// with returns fileOnly with the keys in m changed.
	with := func(m map[string]any) map[string]any {
		out := maps.Clone(fileOnly)
		for k, v := range m {
			if _, ok := out[k]; !ok {
				t.Fatalf("with: %s is not a checked key", k)
			}
			out[k] = v
		}
		return out
	}

	tests := []struct {
		name    string
		path    string
		environ []string
		want    map[string]any
	}{
		{name: "file via -config path", path: path, want: fileOnly},
		{name: "file via AUTHD_CONFIG", environ: []string{"AUTHD_CONFIG=" + path}, want: fileOnly},
		{
			name: "env overrides file",
			path: path,
			environ: []string{
				"AUTHD_DATABASE_URL=postgres://env@db.example.com/authd",
				"AUTHD_SECRETS_MASTER_KEY=" + envKey,
				"AUTHD_TOKENS_ACCESS_TOKEN_TTL=5m",
				"AUTHD_HTTP_ADDR=127.0.0.1:7000",
				"AUTHD_SECRETS_PREVIOUS_MASTER_KEYS=" + prev2 + "," + prev3,
				"AUTHD_DATABASE_AUTO_MIGRATE=true",
				"AUTHD_LOG_LEVEL=warn",
				"AUTHD_TEST_IGNORED=whatever", // AUTHD_TEST_* belongs to the tests
				"HOME=/root",                  // no prefix: not ours
			},
			want: with(map[string]any{
				"http.addr":                    "127.0.0.1:7000",
				"database.url":                 "postgres://env@db.example.com/authd",
				"database.auto_migrate":        true,
				"secrets.master_key":           envKey,
				"secrets.previous_master_keys": []string{prev2, prev3},
				"tokens.access_token_ttl":      5 * time.Minute,
				"log.level":                    "warn",
			}),
		},
		{
			name:    "env list accepts spaces too",
			path:    path,
			environ: []string{"AUTHD_SECRETS_PREVIOUS_MASTER_KEYS=" + prev2 + ", " + prev3},
			want:    with(map[string]any{"secrets.previous_master_keys": []string{prev2, prev3}}),
		},
		{
			name:    "trusted proxies from env",
			path:    path,
			environ: []string{"AUTHD_HTTP_TRUSTED_PROXIES=192.0.2.0/24, 2001:db8::/32,198.51.100.7"},
			want:    with(map[string]any{"http.trusted_proxies": []string{"192.0.2.0/24", "2001:db8::/32", "198.51.100.7"}}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadConfig(tt.path, tt.environ)
			if tt.path == "" { // AUTHD_CONFIG is read by run, not loadConfig
				cfg, err = loadConfig(lookupEnv(tt.environ, "AUTHD_CONFIG"), tt.environ)
			}
			if err != nil {
				t.Fatalf("loadConfig(%q, %q): %v", tt.path, tt.environ, err)
			}
			var fields []field
			for _, key := range slices.Sorted(maps.Keys(tt.want)) {
				fields = append(fields, field{key, get[key](cfg), tt.want[key]})
			}
			checkFields(t, "file "+tt.path+" env "+strings.Join(tt.environ, " "), fields)
		})
	}
}

// TestConfigErrors runs the CLI with bad configurations: each must fail
// with exit code 1, name every offending key, and touch nothing on disk.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	good := secrets.GenerateMasterKey()
	tests := []struct {
		name    string
		yaml    string // written to a file passed with -config when not empty
		environ []string
		want    []string
	}{
		{name: "unknown YAML key", yaml: "tokens:\n  acces_token_ttl: 5m\n", want: []string{"unknown keys", "tokens.acces_token_ttl"}},
		{name: "unknown YAML top-level keys", yaml: "issuer: http://127.0.0.1:8080\nfoo: 1\nbar:\n  baz: 2\n", want: []string{"bar.baz", "foo"}},
		{name: "YAML syntax error", yaml: "issuer: [unclosed\n", want: []string{"config file"}},
		{name: "unknown env variable", environ: []string{"AUTHD_FOO=1"}, want: []string{"AUTHD_FOO"}},
		{name: "unknown env variables all named", environ: []string{"AUTHD_FOO=1", "AUTHD_DATABASE=x"}, want: []string{"AUTHD_FOO", "AUTHD_DATABASE"}},
		{name: "issuer with query", environ: []string{"AUTHD_ISSUER=https://auth.example.com?x=1"}, want: []string{"issuer", "query"}},
		{name: "issuer with trailing slash", environ: []string{"AUTHD_ISSUER=https://auth.example.com/"}, want: []string{"issuer", "slash"}},
		{name: "issuer not http", environ: []string{"AUTHD_ISSUER=ftp://auth.example.com"}, want: []string{"issuer"}},
		{name: "http issuer not loopback", environ: []string{"AUTHD_ISSUER=http://auth.example.com"}, want: []string{"issuer", "https", "dev.insecure_http"}},
		{name: "http issuer on a LAN address", environ: []string{"AUTHD_ISSUER=http://192.168.1.10:8080"}, want: []string{"issuer", "loopback"}},
		{name: "http issuer on a name ending in localhost", environ: []string{"AUTHD_ISSUER=http://localhost.example.com"}, want: []string{"issuer", "loopback"}},
		{name: "negative TTL", environ: []string{"AUTHD_TOKENS_ACCESS_TOKEN_TTL=-5m"}, want: []string{"tokens.access_token_ttl", "positive"}},
		{name: "unparsable TTL", environ: []string{"AUTHD_TOKENS_ACCESS_TOKEN_TTL=banana"}, want: []string{"access_token_ttl"}},
		{name: "access TTL above max", environ: []string{"AUTHD_TOKENS_ACCESS_TOKEN_TTL=25h"}, want: []string{"tokens.access_token_ttl", "tokens.max_access_token_ttl"}},
		{name: "HS256 signing", yaml: "keys:\n  algorithm: HS256\n", want: []string{"keys.algorithm", "HS256"}},
		{name: "RSA 1024", environ: []string{"AUTHD_KEYS_RSA_BITS=1024"}, want: []string{"keys.rsa_bits", "1024"}},
		{name: "master key not base64", environ: []string{"AUTHD_SECRETS_MASTER_KEY=not base64!"}, want: []string{"secrets.master_key", "base64"}},
		{name: "master key too short", environ: []string{"AUTHD_SECRETS_MASTER_KEY=" + short}, want: []string{"secrets.master_key", "16 bytes"}},
		{name: "previous master key bad", environ: []string{"AUTHD_SECRETS_PREVIOUS_MASTER_KEYS=" + good + "," + short}, want: []string{"secrets.previous_master_keys[1]"}},
		{name: "master key and file", environ: []string{"AUTHD_SECRETS_MASTER_KEY=" + good, "AUTHD_SECRETS_MASTER_KEY_FILE=/k"}, want: []string{"master_key_file", "not both"}},
		{name: "http.addr without port", environ: []string{"AUTHD_HTTP_ADDR=127.0.0.1"}, want: []string{"http.addr"}},
		{name: "http.ops_addr without port", environ: []string{"AUTHD_HTTP_OPS_ADDR=localhost"}, want: []string{"http.ops_addr"}},
		{name: "zero shutdown timeout", environ: []string{"AUTHD_HTTP_SHUTDOWN_TIMEOUT=0s"}, want: []string{"http.shutdown_timeout"}},
		{name: "mysql database", environ: []string{"AUTHD_DATABASE_URL=mysql://u@h/db"}, want: []string{"database.url"}},
		{name: "log level loud", environ: []string{"AUTHD_LOG_LEVEL=loud"}, want: []string{"log.level", "loud"}},
		{name: "log format xml", yaml: "log:\n  format: xml\n", want: []string{"log.format"}},
		{name: "trusted proxy not a CIDR", yaml: "http:\n  trusted_proxies: [10.0.0.0/8, proxy.internal, 10.0.0.0/33]\n",
			want: []string{"http.trusted_proxies[1]", "proxy.internal", "http.trusted_proxies[2]", "10.0.0.0/33"}},
		{name: "trusted proxy with a zone", environ: []string{"AUTHD_HTTP_TRUSTED_PROXIES=fe80::1%eth0"}, want: []string{"http.trusted_proxies[0]"}},
		{name: "negative pool size", environ: []string{"AUTHD_DATABASE_MAX_OPEN_CONNS=-1"}, want: []string{"database.max_open_conns"}},
		{name: "zero redis timeout", environ: []string{"AUTHD_REDIS_TIMEOUT=0s"}, want: []string{"redis.timeout"}},
		{name: "negative log flush interval", environ: []string{"AUTHD_LOG_FLUSH_INTERVAL=-1s"}, want: []string{"log.flush_interval"}},
		{name: "device code TTL too long", environ: []string{"AUTHD_DEVICE_CODE_TTL=2h"}, want: []string{"device.code_ttl", "30m"}},
		{name: "device interval longer than the code lives", environ: []string{"AUTHD_DEVICE_INTERVAL=11m"}, want: []string{"device.interval", "device.code_ttl"}},
		{name: "device interval zero", environ: []string{"AUTHD_DEVICE_INTERVAL=0s"}, want: []string{"device.interval"}},
		{name: "log flush interval of a minute", yaml: "log:\n  flush_interval: 1m\n", want: []string{"log.flush_interval", "10s"}},
		{name: "issuer not derivable from a LAN http.addr", environ: []string{"AUTHD_HTTP_ADDR=10.0.0.5:8080"},
			want: []string{"issuer", "AUTHD_ISSUER", "http.addr", "AUTHD_HTTP_ADDR", "10.0.0.5:8080"}},
		{name: "issuer not derivable from a host name", yaml: "http:\n  addr: auth.internal:8080\n", want: []string{"issuer", "http.addr"}},
		{
			name:    "unknown keys, parse errors and a bad env value at once",
			yaml:    "foo: 1\ntokens:\n  acces_token_ttl: 5m\nhttp:\n  read_timeout: soon\n",
			environ: []string{"AUTHD_TOKENS_ACCESS_TOKEN_TTL=banana", "AUTHD_LOG_LEVEL=loud"},
			want:    []string{"foo", "tokens.acces_token_ttl", "http.read_timeout", `"soon"`, "tokens.access_token_ttl", `"banana"`, "log.level"},
		},
		{name: "YAML syntax error and a bad env value", yaml: "issuer: [unclosed\n", environ: []string{"AUTHD_KEYS_RSA_BITS=many"},
			want: []string{"config file", "keys.rsa_bits"}},
		{
			name: "every problem at once",
			yaml: "issuer: https://auth.example.com/\nkeys:\n  algorithm: HS256\n",
			environ: []string{"AUTHD_LOG_LEVEL=loud", "AUTHD_HTTP_ADDR=nope", "AUTHD_DATABASE_URL=mysql://x",
				"AUTHD_TOKENS_ACCESS_TOKEN_TTL=-1s", "AUTHD_SECRETS_MASTER_KEY=short"},
			want: []string{"issuer", "keys.algorithm", "log.level", "http.addr", "database.url", "tokens.access_token_ttl", "secrets.master_key"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dataDir := t.TempDir()
			environ := append([]string{"AUTHD_DATA_DIR=" + dataDir}, tt.environ...)
			var args []string
			if tt.yaml != "" {
				args = append(args, "-config", writeFile(t, "authd.yaml", tt.yaml))
			}
			args = append(args, "keys", "list")
			t.Logf("yaml:\n%s\nenv: %q", tt.yaml, tt.environ)
			mustFail(t, environ, 1, tt.want, args...)
			if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
				t.Errorf("a configuration error left files in data_dir: %v", entries)
			}
		})
	}

	t.Run("missing config file", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(t.TempDir(), "nope.yaml")
		mustFail(t, []string{"AUTHD_DATA_DIR=" + t.TempDir(), "AUTHD_CONFIG=" + missing}, 1, []string{missing}, "keys", "list")
	})
}

// TestIssuerFromAddr: without an issuer setting, the issuer follows
// http.addr; an explicit issuer (file or env) always wins.
func TestIssuerFromAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		yaml     string
		environ  []string
		want     string
		wantNote bool
	}{
		{name: "default", want: "http://127.0.0.1:8080"},
		{name: "IPv4 loopback port", environ: []string{"AUTHD_HTTP_ADDR=127.0.0.1:9000"}, want: "http://127.0.0.1:9000"},
		{name: "other IPv4 loopback", environ: []string{"AUTHD_HTTP_ADDR=127.0.0.2:9000"}, want: "http://127.0.0.2:9000"},
		{name: "IPv6 loopback", environ: []string{"AUTHD_HTTP_ADDR=[::1]:9000"}, want: "http://[::1]:9000"},
		{name: "localhost", yaml: "http:\n  addr: localhost:9000\n", want: "http://localhost:9000"},
		{name: "empty host", environ: []string{"AUTHD_HTTP_ADDR=:9000"}, want: "http://127.0.0.1:9000", wantNote: true},
		{name: "IPv4 unspecified", environ: []string{"AUTHD_HTTP_ADDR=0.0.0.0:9000"}, want: "http://127.0.0.1:9000", wantNote: true},
		{name: "IPv6 unspecified", environ: []string{"AUTHD_HTTP_ADDR=[::]:9000"}, want: "http://127.0.0.1:9000", wantNote: true},
		{name: "issuer in env wins", environ: []string{"AUTHD_HTTP_ADDR=0.0.0.0:9000", "AUTHD_ISSUER=https://auth.example.com"},
			want: "https://auth.example.com"},
		{name: "issuer in file wins, even the default", yaml: "issuer: http://127.0.0.1:8080\n",
			environ: []string{"AUTHD_HTTP_ADDR=127.0.0.1:9000"}, want: "http://127.0.0.1:8080"},
		{name: "issuer in file with a LAN http.addr", yaml: "issuer: https://auth.example.com\nhttp:\n  addr: 10.0.0.5:8080\n",
			want: "https://auth.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tt.yaml != "" {
				path = writeFile(t, "authd.yaml", tt.yaml)
			}
			cfg, err := loadConfig(path, append([]string{"AUTHD_DATA_DIR=" + t.TempDir()}, tt.environ...))
			if err != nil {
				t.Fatalf("yaml %q env %q: %v", tt.yaml, tt.environ, err)
			}
			if cfg.Issuer != tt.want || (cfg.issuerNote != "") != tt.wantNote {
				t.Errorf("yaml %q env %q: issuer %q (note %q), want %q (note: %v)", tt.yaml, tt.environ, cfg.Issuer, cfg.issuerNote, tt.want, tt.wantNote)
			}
		})
	}
}

// TestMasterKeyGenerated: the embedded default generates data_dir/master.key
// (0600) on first use, says so, and reuses it afterwards.
func TestMasterKeyGenerated(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "state") // does not exist yet
	env := []string{"AUTHD_DATA_DIR=" + dataDir}
	path := filepath.Join(dataDir, "master.key")

	first := mustRun(t, env, "keys", "list")
	if !strings.Contains(first.stderr, "GENERATED A MASTER KEY") {
		t.Errorf("first run: stderr does not warn about the generated master key:\n%s", first.stderr)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("first run did not create %s: %v", path, err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("%s: mode %#o, want 0600", path, mode)
	}
	if st, err := os.Stat(dataDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data_dir %s: %v, mode %v, want 0700", dataDir, err, st.Mode().Perm())
	}
	key1, _ := os.ReadFile(path)
	if _, err := secrets.ParseMasterKey(strings.TrimSpace(string(key1))); err != nil {
		t.Errorf("generated master key %q does not parse: %v", key1, err)
	}

	second := mustRun(t, env, "keys", "list")
	if strings.Contains(second.stderr, "GENERATED A MASTER KEY") {
		t.Errorf("second run generated another master key:\n%s", second.stderr)
	}
	key2, _ := os.ReadFile(path)
	if string(key1) != string(key2) {
		t.Errorf("master key changed between runs:\n got %q\nwant %q", key2, key1)
	}
}

// TestEmbeddedDefaultInWorkingDirectory: with no file and no environment at
// all, the CLI works in ./data.
func TestEmbeddedDefaultInWorkingDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	r := mustRun(t, nil, "keys", "list")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("keys list on a new database: got %q, want []", r.stdout)
	}
	for _, f := range []string{"data/authd.db", "data/master.key"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("the embedded default did not create %s: %v", f, err)
		}
	}
}

// TestMasterKeyRequiredOffSQLite: any database but the embedded SQLite
// needs a configured master key, shared by every replica.
func TestMasterKeyRequiredOffSQLite(t *testing.T) {
	t.Parallel()
	pg := testdb.Postgres(t)
	dataDir := t.TempDir()
	mustFail(t, []string{"AUTHD_DATA_DIR=" + dataDir, "AUTHD_DATABASE_URL=" + pg}, 1, []string{"secrets.master_key"}, "keys", "list")
	if _, err := os.Stat(filepath.Join(dataDir, "master.key")); !os.IsNotExist(err) {
		t.Errorf("a master key was generated for Postgres (stat: %v)", err)
	}

	// master_key_file works instead, and a trailing newline is fine.
	keyFile := writeFile(t, "master.key", secrets.GenerateMasterKey()+"\n")
	mustRun(t, []string{"AUTHD_DATA_DIR=" + dataDir, "AUTHD_DATABASE_URL=" + pg, "AUTHD_SECRETS_MASTER_KEY_FILE=" + keyFile}, "keys", "list")

	missing := filepath.Join(t.TempDir(), "absent.key")
	mustFail(t, []string{"AUTHD_DATA_DIR=" + dataDir, "AUTHD_DATABASE_URL=" + pg, "AUTHD_SECRETS_MASTER_KEY_FILE=" + missing},
		1, []string{"secrets.master_key_file"}, "keys", "list")
}
