package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBrandingConfig: branding and i18n load from YAML, organizations as a
// list; bad values are refused naming their key.
func TestBrandingConfig(t *testing.T) {
	load := func(yaml string) (Config, error) {
		path := filepath.Join(t.TempDir(), "authd.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return loadConfig(path, nil)
	}
	cfg, err := load(`
branding:
  product_name: Example ID
  primary_color: "#0b57d0"
  organizations:
    - name: Acme
      clients: [acme-portal, acme-admin]
      product_name: Acme Login
i18n:
  default_locale: de
`)
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.Branding; b.ProductName != "Example ID" || len(b.Organizations) != 1 || b.Organizations[0].Name != "Acme" ||
		!slices.Equal(b.Organizations[0].Clients, []string{"acme-portal", "acme-admin"}) || cfg.I18n.DefaultLocale != "de" {
		t.Errorf("loaded %+v, %+v", cfg.Branding, cfg.I18n)
	}
	_, err = load(`
branding:
  logo_url: "javascript:alert(1)"
  primary_color: "#fff"
  organizations:
    - name: Acme
      primary_color: "#ffff00"
i18n:
  default_locale: xx
`)
	for _, key := range []string{"branding.logo_url", "branding.primary_color", "branding.organizations[0].primary_color", "i18n.default_locale"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error %v does not name %s", err, key)
		}
	}
}
