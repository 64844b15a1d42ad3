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

func TestOrganizationBranding(t *testing.T) {
	b := Branding{ProductName: "Example ID", PrimaryColor: "#0b57d0", SupportURL: "https://help.example/",
		Organizations: []OrgBranding{
			{Name: "Acme", Clients: []string{"acme-portal"}, ProductName: "Acme Login", PrimaryColor: "#6a1b9a", LogoURL: "/acme.svg"},
			{Name: "Globex", Clients: []string{"globex-app"}, SupportURL: "mailto:it@globex.example"},
		}}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	rd, err := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Branding: b})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		page Page
		want []string
	}{
		{"a client of Acme", Page{ClientID: "acme-portal"}, []string{"– Acme Login</title>", `src="/acme.svg" alt="Acme Login"`, `href="/static/brand.css?org=Acme&amp;v=`, `href="https://help.example/"`}},
		{"a user of Globex on /account", Page{Org: "Globex", ClientID: "acme-portal"}, []string{"– Example ID</title>", `href="mailto:it@globex.example"`, `href="/static/brand.css?org=Globex&amp;v=`}},
		{"another client", Page{ClientID: "other"}, []string{"– Example ID</title>", `href="/static/brand.css?v=`}},
		{"an organization without branding", Page{Org: "Initech"}, []string{"– Example ID</title>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := render(t, rd, "login", LoginData{Page: tc.page}).Body.String()
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q:\n%s", w, body)
				}
			}
		})
	}
	get := func(target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		rd.StyleHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec
	}
	if rec := get(rd.orgBrands["Acme"].StylePath); rec.Code != 200 || !strings.Contains(rec.Body.String(), "--primary: #6a1b9a;") || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("Acme's brand.css: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if rec := get(StylePrefix + "?org=Nobody"); rec.Code != http.StatusNotFound {
		t.Errorf("unknown organization's brand.css: %d, want 404", rec.Code)
	}

	for _, tc := range []struct {
		name string
		orgs []OrgBranding
		key  string
	}{
		{"no name", []OrgBranding{{PrimaryColor: "#0b57d0"}}, "branding.organizations[0].name"},
		{"twice", []OrgBranding{{Name: "A"}, {Name: "A"}}, "branding.organizations[1].name"},
		{"client in two", []OrgBranding{{Name: "A", Clients: []string{"c"}}, {Name: "B", Clients: []string{"c"}}}, "branding.organizations[1].clients"},
		{"bad colour", []OrgBranding{{Name: "A"}, {Name: "B", PrimaryColor: "#ffff00"}}, "branding.organizations[1].primary_color"},
		{"javascript logo", []OrgBranding{{Name: "A", LogoURL: "javascript:alert(1)"}}, "branding.organizations[0].logo_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Branding{Organizations: tc.orgs}.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("Validate = %v, want an error naming %s", err, tc.key)
			}
		})
	}
}
