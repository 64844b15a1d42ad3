package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd/authd/internal/secrets"
)

// TestConfigKubernetesServiceLinks: the variables Kubernetes injects for
// a Service named authd never stop authd from starting, while a misspelt
// setting is still refused.
func TestConfigKubernetesServiceLinks(t *testing.T) {
	t.Parallel()
	environ := []string{
		"AUTHD_PORT=tcp://10.96.12.34:8080",
		"AUTHD_PORT_8080_TCP=tcp://10.96.12.34:8080",
		"AUTHD_PORT_8080_TCP_PROTO=tcp",
		"AUTHD_PORT_8080_TCP_PORT=8080",
		"AUTHD_PORT_8080_TCP_ADDR=10.96.12.34",
		"AUTHD_PORT_9090_TCP=tcp://10.96.12.34:9090",
		"AUTHD_PORT_9090_TCP_ADDR=10.96.12.34",
		"AUTHD_PORT_53_UDP=udp://10.96.12.34:53",
		"AUTHD_SERVICE_HOST=10.96.12.34",
		"AUTHD_SERVICE_PORT=8080",
		"AUTHD_SERVICE_PORT_HTTP=8080",
		"AUTHD_SERVICE_PORT_OPS_METRICS=9090",
	}
	for i := range 40 { // other Services' links are not ours either way
		environ = append(environ, fmt.Sprintf("SVC%d_SERVICE_HOST=10.0.0.%d", i, i))
	}
	cfg, err := loadConfig("", environ)
	if err != nil {
		t.Fatalf("service-link variables: %v", err)
	}
	if cfg.HTTP.Addr != defaultConfig().HTTP.Addr {
		t.Errorf("http.addr = %q: a service-link variable changed a setting", cfg.HTTP.Addr)
	}
	for _, bad := range []string{"AUTHD_PORTS=1", "AUTHD_SERVICE=x", "AUTHD_PORT_HTTP=8080", "AUTHD_SERVICE_HOSTNAME=x"} {
		if _, err := loadConfig("", []string{bad}); err == nil || !strings.Contains(err.Error(), strings.SplitN(bad, "=", 2)[0]) {
			t.Errorf("%s: got %v, want it refused as matching no config key", bad, err)
		}
	}
}

// TestConfigSecretFiles: each secret setting can be read from a file (its
// trailing newline trimmed), from the YAML file or the environment; set
// both ways it is an error naming both keys; an unreadable or empty file
// is an error naming the key, never showing the content.
func TestConfigSecretFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mk := secrets.GenerateMasterKey()
	pgURL := "postgres://authd:s3cr3t-pw@db.example:5432/authd"
	environ := []string{
		"AUTHD_SECRETS_MASTER_KEY=" + mk,
		"AUTHD_DATABASE_URL_FILE=" + write("db", pgURL+"\n"),
		"AUTHD_REDIS_URL_FILE=" + write("redis", "redis://:pw@redis.example:6379/0\r\n"),
		"AUTHD_HTTP_PPROF_TOKEN_FILE=" + write("pprof", strings.Repeat("p", 40)),
	}
	yamlPath := write("authd.yaml", "mail:\n  smtp_url_file: "+write("smtp", "smtps://u:pw@mail.example:465\n")+"\n  from: a@example.com\n")
	cfg, err := loadConfig(yamlPath, environ)
	if err != nil {
		t.Fatal(err)
	}
	for key, got := range map[string]string{
		"database.url": cfg.Database.URL, "redis.url": cfg.Redis.URL, "mail.smtp_url": cfg.Mail.SMTPURL, "http.pprof_token": cfg.HTTP.PprofToken,
	} {
		want := map[string]string{"database.url": pgURL, "redis.url": "redis://:pw@redis.example:6379/0",
			"mail.smtp_url": "smtps://u:pw@mail.example:465", "http.pprof_token": strings.Repeat("p", 40)}[key]
		if got != want {
			t.Errorf("%s from its _file: %q, want %q", key, got, want)
		}
	}

	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"both set", []string{"AUTHD_DATABASE_URL=" + pgURL, "AUTHD_DATABASE_URL_FILE=" + write("db2", pgURL)},
			[]string{"database.url and database.url_file are both set"}},
		{"missing file", []string{"AUTHD_REDIS_URL_FILE=" + filepath.Join(dir, "nope")}, []string{"redis.url_file", "no such file"}},
		{"empty file", []string{"AUTHD_MAIL_SMTP_URL_FILE=" + write("empty", "\n")}, []string{"mail.smtp_url_file", "is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig("", append([]string{"AUTHD_SECRETS_MASTER_KEY=" + mk}, tt.environ...))
			if err == nil {
				t.Fatalf("loaded, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t-pw") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}
