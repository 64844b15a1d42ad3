package render

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBrandingValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    Branding
		key  string // the key the error must name; "" for valid
	}{
		{"empty", Branding{}, ""},
		{"all set", Branding{ProductName: "Example ID", LogoURL: "https://cdn.example/logo.svg", PrimaryColor: "#0b57d0", SupportURL: "mailto:help@example.com"}, ""},
		{"relative logo", Branding{LogoURL: "/brand/logo.png", SupportURL: "/help"}, ""},
		{"dark text on a light primary", Branding{PrimaryColor: "#1a73e8", PrimaryTextColor: "#ffffff"}, ""},
		{"short colour", Branding{PrimaryColor: "#fff"}, "branding.primary_color"},
		{"named colour", Branding{PrimaryColor: "blue"}, "branding.primary_color"},
		{"not hex", Branding{PrimaryColor: "#gg0000"}, "branding.primary_color"},
		{"css injection", Branding{PrimaryColor: "#000000;}body{display:none"}, "branding.primary_color"},
		{"too light against white", Branding{PrimaryColor: "#f9a825"}, "branding.primary_color"},
		{"label without contrast", Branding{PrimaryColor: "#0b57d0", PrimaryTextColor: "#0000ff"}, "branding.primary_text_color"},
		{"bad label colour", Branding{PrimaryColor: "#0b57d0", PrimaryTextColor: "white"}, "branding.primary_text_color"},
		{"javascript logo", Branding{LogoURL: "javascript:alert(1)"}, "branding.logo_url"},
		{"http logo", Branding{LogoURL: "http://cdn.example/logo.png"}, "branding.logo_url"},
		{"data logo", Branding{LogoURL: "data:image/svg+xml,<svg/>"}, "branding.logo_url"},
		{"protocol-relative logo", Branding{LogoURL: "//evil.example/l.png"}, "branding.logo_url"},
		{"mailto logo", Branding{LogoURL: "mailto:a@example.com"}, "branding.logo_url"},
		{"javascript support", Branding{SupportURL: "JavaScript:alert(1)"}, "branding.support_url"},
		{"quote in support", Branding{SupportURL: `https://example.com/"onmouseover=x`}, "branding.support_url"},
		{"long name", Branding{ProductName: strings.Repeat("x", 65)}, "branding.product_name"},
		{"two-line name", Branding{ProductName: "a\nb"}, "branding.product_name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.b.Validate()
			switch {
			case tc.key == "" && err != nil:
				t.Errorf("Validate(%+v) = %v, want nil", tc.b, err)
			case tc.key != "" && (err == nil || !strings.Contains(err.Error(), tc.key)):
				t.Errorf("Validate(%+v) = %v, want an error naming %s", tc.b, err, tc.key)
			}
		})
	}
	// Every problem at once.
	err := Branding{PrimaryColor: "red", LogoURL: "javascript:x", SupportURL: "ftp://x"}.Validate()
	for _, key := range []string{"branding.primary_color", "branding.logo_url", "branding.support_url"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("joined error %v lacks %s", err, key)
		}
	}
}

func TestBrandingApplied(t *testing.T) {
	rd, err := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BasePath: "/auth", Branding: Branding{
		ProductName: "Example ID", LogoURL: "https://cdn.example/logo.svg", PrimaryColor: "#6a1b9a", SupportURL: "https://help.example/",
	}})
	if err != nil {
		t.Fatal(err)
	}
	body := render(t, rd, "login", LoginData{ClientName: `<b>Shop</b>`}).Body.String()
	for _, want := range []string{
		"<title>Sign in – Example ID</title>", `<img class="logo" src="https://cdn.example/logo.svg" alt="Example ID">`,
		`<link rel="stylesheet" href="/auth/static/brand.css?v=`, `<a href="https://help.example/">Help and support</a>`,
		"to continue to <strong>&lt;b&gt;Shop&lt;/b&gt;</strong>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "style=") || strings.Contains(body, "<style") {
		t.Error("inline style: the CSP (style-src 'self') would refuse it")
	}
	rec := httptest.NewRecorder()
	rd.StyleHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, rd.brand.StylePath, nil))
	css := rec.Body.String()
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/css; charset=utf-8" ||
		!strings.Contains(css, "--primary: #6a1b9a;") || !strings.Contains(css, "--primary-text: #ffffff;") ||
		!strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("brand.css: %d %v\n%s", rec.Code, rec.Header(), css)
	}
	// Without colours there is no stylesheet, and the page links none.
	plain, _ := newRenderer(t)
	if body := render(t, plain, "login", LoginData{}).Body.String(); strings.Contains(body, "brand.css") || !strings.Contains(body, `<header class="site">authd</header>`) {
		t.Errorf("unbranded page:\n%s", body)
	}
	rec = httptest.NewRecorder()
	plain.StyleHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, StylePrefix, nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("unbranded brand.css: %d, want 404", rec.Code)
	}
}
