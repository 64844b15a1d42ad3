package static

import (
	"fmt"
	"io/fs"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestFocusContrast computes, from style.css, the contrast of the focus
// ring against what it is drawn next to (WCAG 2.2 asks 3:1 of a non-text
// indicator): in both schemes the surfaces a focusable control sits on,
// and in the light scheme also the buttons' colours.
func TestFocusContrast(t *testing.T) {
	css, err := fs.ReadFile(FS, "style.css")
	if err != nil {
		t.Fatal(err)
	}
	light, dark := schemes(t, string(css))
	focusRule := regexp.MustCompile(`:focus-visible\s*\{([^}]*)\}`).FindStringSubmatch(string(css))
	if focusRule == nil || !strings.Contains(focusRule[1], "var(--focus)") || !strings.Contains(focusRule[1], "outline-offset: 2px") {
		t.Fatalf(":focus-visible rule = %q, want an outline of var(--focus) offset by 2px (the contrast below assumes that gap)", focusRule)
	}
	for _, tc := range []struct {
		scheme string
		vars   map[string]string
		next   []string
	}{
		{"light", light, []string{"--card", "--bg", "--error-bg", "--ok-bg", "--primary", "--error"}},
		{"dark", dark, []string{"--card", "--bg", "--error-bg", "--ok-bg"}},
	} {
		for _, other := range tc.next {
			t.Run(tc.scheme+" "+other, func(t *testing.T) {
				focus, against := tc.vars["--focus"], tc.vars[other]
				r, err := contrast(focus, against)
				if err != nil {
					t.Fatal(err)
				}
				if r < 3 {
					t.Errorf("%s: --focus %s against %s %s: %.2f:1, want at least 3:1", tc.scheme, focus, other, against, r)
				}
			})
		}
	}
}

func TestContrast(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"#000000", "#ffffff", 21},
		{"#ffffff", "#ffffff", 1},
		{"#f9a825", "#ffffff", 1.97}, // the old ring
		{"#767676", "#fff", 4.54},
	} {
		got, err := contrast(tc.a, tc.b)
		if err != nil || math.Abs(got-tc.want) > 0.01 {
			t.Errorf("contrast(%s, %s) = %.3f, %v; want %.2f", tc.a, tc.b, got, err, tc.want)
		}
	}
}

// schemes returns the custom properties of the light scheme (the first
// :root) and of the dark one (the light ones, overridden by the :root
// inside prefers-color-scheme: dark).
func schemes(t *testing.T, css string) (light, dark map[string]string) {
	t.Helper()
	block := regexp.MustCompile(`:root\s*\{([^}]*)\}`)
	decl := regexp.MustCompile(`(--[a-z-]+)\s*:\s*([^;]+);`)
	roots := block.FindAllStringSubmatch(css, -1)
	darkAt := strings.Index(css, "prefers-color-scheme: dark")
	if len(roots) != 2 || darkAt < 0 || strings.Index(css, roots[1][0]) < darkAt {
		t.Fatalf("style.css: want a :root and a dark :root, got %d :root blocks", len(roots))
	}
	light, dark = map[string]string{}, map[string]string{}
	for _, m := range decl.FindAllStringSubmatch(roots[0][1], -1) {
		light[m[1]], dark[m[1]] = strings.TrimSpace(m[2]), strings.TrimSpace(m[2])
	}
	for _, m := range decl.FindAllStringSubmatch(roots[1][1], -1) {
		dark[m[1]] = strings.TrimSpace(m[2])
	}
	return light, dark
}

// contrast is the WCAG 2.2 contrast ratio of two #rgb or #rrggbb colours.
func contrast(a, b string) (float64, error) {
	la, err := luminance(a)
	if err != nil {
		return 0, err
	}
	lb, err := luminance(b)
	if err != nil {
		return 0, err
	}
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05), nil
}

// luminance is the relative luminance of a #rgb or #rrggbb colour.
func luminance(hex string) (float64, error) {
	h, ok := strings.CutPrefix(hex, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if !ok || len(h) != 6 {
		return 0, fmt.Errorf("colour %q: want #rgb or #rrggbb", hex)
	}
	var c [3]float64
	for i := range c {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return 0, fmt.Errorf("colour %q: %w", hex, err)
		}
		s := float64(v) / 255
		if s <= 0.04045 {
			c[i] = s / 12.92
		} else {
			c[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2], nil
}
