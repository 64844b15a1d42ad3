package i18n

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/language"
)

var verbRE = regexp.MustCompile(`%[-+# 0]*[0-9]*(?:\.[0-9]+)?[a-zA-Z%]`)

// TestCatalogue: every key has a translation in every language, no
// catalogue has a key English lacks, and each translation has its key's
// verbs, in order (placeholders balanced).
func TestCatalogue(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys {
		if seen[k] {
			t.Errorf("key %q listed twice", k)
		}
		seen[k] = true
	}
	for tag, m := range translations {
		for _, k := range Keys {
			v, ok := m[k]
			switch {
			case !ok:
				t.Errorf("%s: no translation of %q", tag, k)
			case strings.TrimSpace(v) == "":
				t.Errorf("%s: empty translation of %q", tag, k)
			case !slices.Equal(verbRE.FindAllString(k, -1), verbRE.FindAllString(v, -1)):
				t.Errorf("%s: %q has verbs %v, its translation %q has %v", tag, k, verbRE.FindAllString(k, -1), v, verbRE.FindAllString(v, -1))
			}
		}
		for k := range m {
			if !seen[k] {
				t.Errorf("%s: %q is not a key (keys.go)", tag, k)
			}
		}
	}
	if len(translations)+1 != len(Supported) {
		t.Errorf("Supported %v, but %d catalogues besides English", Supported, len(translations))
	}
}

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		tag       language.Tag
		key, want string
		args      []any
	}{
		{language.English, "Sign in", "Sign in", nil},
		{language.German, "Sign in", "Anmelden", nil},
		{language.French, "Sign in", "Se connecter", nil},
		{language.German, "to continue to %s", "um mit Example fortzufahren", []any{"Example"}},
		{language.French, "Too many attempts. Try again in %s.", "Trop de tentatives. Réessayez dans 5 minutes.", []any{Count(5, "minute")}},
		{language.German, "Too many attempts. Try again in %s.", "Zu viele Versuche. Versuchen Sie es in 1 Stunde erneut.", []any{Count(1, "hour")}},
		{language.German, "not a key", "not a key", nil},
		{language.Japanese, "Sign in", "Sign in", nil}, // no catalogue: English
	} {
		if got := T(Printer(tc.tag), tc.key, tc.args...); got != tc.want {
			t.Errorf("T(%s, %q, %v) = %q, want %q", tc.tag, tc.key, tc.args, got, tc.want)
		}
	}
}

func TestChoose(t *testing.T) {
	de, fr, en := language.German, language.French, language.English
	for _, tc := range []struct {
		name, ui, accept string
		def, want        language.Tag
	}{
		{"nothing asked: the default", "", "", fr, fr},
		{"ui_locales beats Accept-Language", "de", "fr", en, de},
		{"first supported ui_locales wins", "ja de-CH fr", "", en, de},
		{"unsupported ui_locales fall through to Accept-Language", "ja ko", "fr-CA,fr;q=0.9", en, fr},
		{"malformed ui_locales ignored", "<script> 12345678901", "de", en, de},
		{"q-values order Accept-Language", "", "fr;q=0.5, de;q=0.9, en;q=0.1", en, de},
		{"unsupported Accept-Language first, supported later", "", "ja, fr;q=0.8", en, fr},
		{"region matches its language", "", "de-AT", en, de},
		{"unsupported everywhere: the default", "ja", "ko, zh;q=0.5", de, de},
		{"malformed Accept-Language: the default", "", ";;;q=x,,==", fr, fr},
		{"wildcard: the default", "", "*", de, de},
		{"oversized Accept-Language ignored", "", strings.Repeat("xx-YY,", 400) + "de", fr, fr},
		{"oversized ui_locales ignored", strings.Repeat("ja ", 100) + "de", "", fr, fr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Choose(tc.ui, tc.accept, tc.def); got != tc.want {
				t.Errorf("Choose(%.40q, %.40q, %s) = %s, want %s", tc.ui, tc.accept, tc.def, got, tc.want)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	for _, ok := range []string{"", "en", "de", "fr", "DE"} {
		if err := (Config{DefaultLocale: ok}).Validate(); err != nil {
			t.Errorf("default_locale %q: %v", ok, err)
		}
	}
	for _, bad := range []string{"ja", "deutsch", "de_DE"} {
		err := (Config{DefaultLocale: bad}).Validate()
		if err == nil || !strings.Contains(err.Error(), "i18n.default_locale") {
			t.Errorf("default_locale %q: error %v, want one naming i18n.default_locale", bad, err)
		}
	}
	if got := (Config{DefaultLocale: "fr"}).Default(); got != language.French {
		t.Errorf("Default() = %s", got)
	}
	if got := (Config{}).Default(); got != language.English {
		t.Errorf("zero Default() = %s", got)
	}
}

// pageTextCalls are the functions and methods whose string literal
// arguments reach a page or mail as text, and the composite-literal
// fields likewise: each such literal must be a catalogue key.
var (
	pageTextCalls  = map[string]bool{"Add": true, "Addf": true, "fail": true, "failf": true, "renderError": true, "RenderError": true, "invalid": true, "M": true, "T": true, "violation": true}
	pageTextFields = map[string]bool{"Text": true, "Title": true, "Message": true, "Notice": true, "Description": true}
	pageTextMaps   = map[string]bool{"notices": true, "scopeDescriptions": true}
	pageTextConsts = map[string]bool{"badDeviceCode": true}
)

// TestHandlerStringsAreKeys reads the handlers' source: every sentence
// they hand to a page or mail is a catalogue key, so it is translated.
func TestHandlerStringsAreKeys(t *testing.T) {
	keys := map[string]bool{}
	for _, k := range Keys {
		keys[k] = true
	}
	var files []string
	for _, glob := range []string{"../../login/*.go", "../../provider/authorize*.go", "../../provider/device_verify.go",
		"../../cmd/authd/notfound.go", "../../account/mails.go", "../../internal/password/policy.go"} {
		m, _ := filepath.Glob(glob)
		files = append(files, m...)
	}
	fset := token.NewFileSet()
	checked := 0
	check := func(lit ast.Expr) {
		bl, ok := lit.(*ast.BasicLit)
		if !ok || bl.Kind != token.STRING {
			return
		}
		s, err := strconv.Unquote(bl.Value)
		if err != nil || !strings.Contains(s, " ") || !strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") {
			return // a header name, a field name: not a sentence
		}
		checked++
		if !keys[s] {
			t.Errorf("%s: %q reaches a page but is not a catalogue key (internal/i18n/keys.go)", fset.Position(bl.Pos()), s)
		}
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				name := ""
				switch fn := n.Fun.(type) {
				case *ast.Ident:
					name = fn.Name
				case *ast.SelectorExpr:
					name = fn.Sel.Name
				}
				if pageTextCalls[name] {
					for _, a := range n.Args {
						check(a)
					}
				}
			case *ast.KeyValueExpr:
				if id, ok := n.Key.(*ast.Ident); ok && pageTextFields[id.Name] {
					check(n.Value)
				}
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if i >= len(n.Values) {
						break
					}
					if pageTextConsts[id.Name] {
						check(n.Values[i])
					}
					if cl, ok := n.Values[i].(*ast.CompositeLit); ok && pageTextMaps[id.Name] {
						for _, e := range cl.Elts {
							check(e.(*ast.KeyValueExpr).Value)
						}
					}
				}
			case *ast.AssignStmt:
				for i, l := range n.Lhs {
					if sel, ok := l.(*ast.SelectorExpr); ok && pageTextFields[sel.Sel.Name] && i < len(n.Rhs) {
						check(n.Rhs[i])
					}
				}
			}
			return true
		})
	}
	t.Logf("checked %d sentences in %d files", checked, len(files))
	if checked < 80 {
		t.Errorf("checked only %d sentences: the scan lost its files or calls", checked)
	}
}
