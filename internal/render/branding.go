package render

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Branding is the branding section of the configuration: what the hosted
// pages show of the product that runs authd.
//
// Colours apply to the light colour scheme only (the dark scheme keeps
// authd's own, whose contrast is checked in static/): a brand colour that
// reads well on white rarely does on a dark card.
type Branding struct {
	// ProductName is shown in the header, in page titles and in mails;
	// "authd" when empty.
	ProductName string `koanf:"product_name"`
	// LogoURL replaces the product name in the header with an image whose
	// alt text is ProductName: https://… or a path on this server.
	LogoURL string `koanf:"logo_url"`
	// PrimaryColor is the buttons' and links' colour, #rrggbb. It must
	// reach 3:1 against white (WCAG 2.2, 1.4.11: the button against the
	// card) and 4.5:1 against PrimaryTextColor (1.4.3: its label).
	PrimaryColor string `koanf:"primary_color"`
	// PrimaryTextColor is the button label's colour, #rrggbb; white when
	// empty.
	PrimaryTextColor string `koanf:"primary_text_color"`
	// SupportURL, when set, is linked in every page's footer ("Help and
	// support"): https://…, mailto:… or a path on this server.
	SupportURL string `koanf:"support_url"`
	// Organizations override the keys above for the pages of one
	// organization: a sign-in to one of its Clients, and /account for a
	// user whose organization attribute is its Name. Keys left empty keep
	// the values above.
	Organizations []OrgBranding `koanf:"organizations"`
}

// OrgBranding is one organization's branding.
type OrgBranding struct {
	// Name is the organization, as in users' organization attribute.
	Name string `koanf:"name"`
	// Clients are the client ids whose sign-in pages carry this branding;
	// a client is in at most one organization.
	Clients          []string `koanf:"clients"`
	ProductName      string   `koanf:"product_name"`
	LogoURL          string   `koanf:"logo_url"`
	PrimaryColor     string   `koanf:"primary_color"`
	PrimaryTextColor string   `koanf:"primary_text_color"`
	SupportURL       string   `koanf:"support_url"`
}

// merged is b with o's non-empty keys over it, without organizations.
func (b Branding) merged(o OrgBranding) Branding {
	out := b
	out.Organizations = nil
	for _, kv := range []struct {
		dst *string
		v   string
	}{
		{&out.ProductName, o.ProductName}, {&out.LogoURL, o.LogoURL}, {&out.PrimaryColor, o.PrimaryColor},
		{&out.PrimaryTextColor, o.PrimaryTextColor}, {&out.SupportURL, o.SupportURL},
	} {
		if kv.v != "" {
			*kv.dst = kv.v
		}
	}
	return out
}

// Brand is what the templates see of Branding.
type Brand struct {
	ProductName string
	LogoURL     string
	SupportURL  string
	// StylePath is the versioned path of the generated stylesheet
	// (StylePath), "" without brand colours.
	StylePath string
	css       string
}

// StylePrefix is the path of the generated brand stylesheet.
const StylePrefix = "/static/brand.css"

// Validate reports every problem, each naming its key.
func (b Branding) Validate() error {
	errs := []error{b.validate("branding.")}
	names, clients := map[string]bool{}, map[string]string{}
	for i, o := range b.Organizations {
		prefix := fmt.Sprintf("branding.organizations[%d].", i)
		switch {
		case strings.TrimSpace(o.Name) == "":
			errs = append(errs, fmt.Errorf("%sname: required", prefix))
		case names[o.Name]:
			errs = append(errs, fmt.Errorf("%sname: %q is listed twice", prefix, o.Name))
		}
		names[o.Name] = true
		for _, c := range o.Clients {
			if other, ok := clients[c]; ok && other != o.Name {
				errs = append(errs, fmt.Errorf("%sclients: %q is in organization %q too", prefix, c, other))
			}
			clients[c] = o.Name
		}
		errs = append(errs, b.merged(o).validate(prefix))
	}
	return errors.Join(errs...)
}

// validate checks the keys of one branding, named under prefix.
func (b Branding) validate(prefix string) error {
	var errs []error
	if len(b.ProductName) > 64 || strings.ContainsAny(b.ProductName, "\r\n") {
		errs = append(errs, fmt.Errorf("%sproduct_name: at most 64 characters on one line", prefix))
	}
	if err := checkURL(b.LogoURL, false); err != nil {
		errs = append(errs, fmt.Errorf("%slogo_url: %w", prefix, err))
	}
	if err := checkURL(b.SupportURL, true); err != nil {
		errs = append(errs, fmt.Errorf("%ssupport_url: %w", prefix, err))
	}
	primary, perr := parseColor(b.PrimaryColor)
	if perr != nil {
		errs = append(errs, fmt.Errorf("%sprimary_color: %w", prefix, perr))
	}
	text, terr := parseColor(b.PrimaryTextColor)
	if terr != nil {
		errs = append(errs, fmt.Errorf("%sprimary_text_color: %w", prefix, terr))
	}
	if b.PrimaryTextColor == "" {
		text = [3]float64{1, 1, 1}
	}
	if b.PrimaryColor != "" && perr == nil {
		if c := contrast(primary, [3]float64{1, 1, 1}); c < 3 {
			errs = append(errs, fmt.Errorf("%sprimary_color: %s has %.1f:1 contrast against white; buttons and focus need at least 3:1 (WCAG 2.2, 1.4.11): choose a darker colour", prefix, b.PrimaryColor, c))
		}
		if terr == nil {
			if c := contrast(primary, text); c < 4.5 {
				errs = append(errs, fmt.Errorf("%sprimary_text_color: %.1f:1 contrast against %sprimary_color; button labels need at least 4.5:1 (WCAG 2.2, 1.4.3)", prefix, c, prefix))
			}
		}
	}
	return errors.Join(errs...)
}

// checkURL accepts "", https URLs and local paths (and mailto: when
// mailto): never javascript:, data: or http:.
func checkURL(s string, mailto bool) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || strings.ContainsAny(s, " \t\r\n\"'<>\\") {
		return fmt.Errorf("%q is not a URL", s)
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case mailto && u.Scheme == "mailto" && u.Opaque != "":
		return nil
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//"):
		return nil
	}
	if mailto {
		return fmt.Errorf("%q: want https://…, mailto:… or a path starting with /", s)
	}
	return fmt.Errorf("%q: want https://… or a path starting with /", s)
}

// parseColor parses #rrggbb into linear-light sRGB channels; "" is black
// and no error (the caller tells empty from set).
func parseColor(s string) ([3]float64, error) {
	var c [3]float64
	if s == "" {
		return c, nil
	}
	if len(s) != 7 || s[0] != '#' {
		return c, fmt.Errorf("%q: want #rrggbb", s)
	}
	for i := range 3 {
		v, err := strconv.ParseUint(s[1+2*i:3+2*i], 16, 8)
		if err != nil {
			return c, fmt.Errorf("%q: want #rrggbb", s)
		}
		ch := float64(v) / 255
		if ch <= 0.04045 {
			ch /= 12.92
		} else {
			ch = math.Pow((ch+0.055)/1.055, 2.4)
		}
		c[i] = ch
	}
	return c, nil
}

// contrast is the WCAG contrast ratio of two linear colours.
func contrast(a, b [3]float64) float64 {
	lum := func(c [3]float64) float64 { return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2] }
	la, lb := lum(a), lum(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// brands derives the templates' Brand of b and of each organization
// (by name), and the organization of each listed client; b is valid.
func (b Branding) brands() (Brand, map[string]Brand, map[string]string) {
	orgs, clients := map[string]Brand{}, map[string]string{}
	for _, o := range b.Organizations {
		ob := b.merged(o).brand()
		if ob.css != "" {
			ob.StylePath = StylePrefix + "?org=" + url.QueryEscape(o.Name) + "&" + strings.TrimPrefix(ob.StylePath, StylePrefix+"?")
		}
		orgs[o.Name] = ob
		for _, c := range o.Clients {
			clients[c] = o.Name
		}
	}
	return b.brand(), orgs, clients
}

// brand derives the templates' Brand; b is valid.
func (b Branding) brand() Brand {
	out := Brand{ProductName: b.ProductName, LogoURL: b.LogoURL, SupportURL: b.SupportURL}
	if out.ProductName == "" {
		out.ProductName = "authd"
	}
	if b.PrimaryColor == "" {
		return out
	}
	text := b.PrimaryTextColor
	if text == "" {
		text = "#ffffff"
	}
	// Hover: the primary colour a quarter darker, computed in sRGB.
	out.css = "/* generated from branding.* */\n@media (prefers-color-scheme: light) {\n  :root {\n" +
		"    --primary: " + b.PrimaryColor + ";\n    --primary-text: " + text + ";\n    --primary-hover: " + darker(b.PrimaryColor) + ";\n  }\n}\n"
	sum := sha256.Sum256([]byte(out.css))
	out.StylePath = StylePrefix + "?v=" + hex.EncodeToString(sum[:8])
	return out
}

// darker returns #rrggbb with each channel at three quarters.
func darker(hexColor string) string {
	var out strings.Builder
	out.WriteByte('#')
	for i := range 3 {
		v, _ := strconv.ParseUint(hexColor[1+2*i:3+2*i], 16, 8)
		fmt.Fprintf(&out, "%02x", v*3/4)
	}
	return out.String()
}

// StyleHandler serves the generated brand stylesheet at StylePrefix (404
// without brand colours). A stylesheet keeps the Content-Security-Policy's
// style-src 'self': no inline style, no nonce.
//
// ?org=<name> serves that organization's.
func (rd *Renderer) StyleHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := rd.brand
		if org := r.URL.Query().Get("org"); org != "" {
			var ok bool
			if b, ok = rd.orgBrands[org]; !ok {
				http.NotFound(w, r)
				return
			}
		}
		if b.css == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if v := r.URL.Query().Get("v"); v != "" && strings.HasSuffix(b.StylePath, "v="+v) {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		_, _ = w.Write([]byte(b.css))
	})
}
