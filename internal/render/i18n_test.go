package render

import (
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"text/template"
	"text/template/parse"

	"golang.org/x/net/html"
	"golang.org/x/text/language"

	"github.com/authd/authd/internal/i18n"
	"github.com/authd/authd/templates"
)

// renderIn renders a page for a browser asking for accept.
func renderIn(t *testing.T, rd *Renderer, accept, name string, data any) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.Header.Set("Accept-Language", accept)
	rd.Render(rec, r, http.StatusOK, name, data)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: status %d", name, rec.Code)
	}
	return rec
}

// visibleText is what a person meets on the page: text nodes and the
// attributes read out or shown (alt, title, aria-label, placeholder,
// the title element).
func visibleText(t *testing.T, body string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, n := range all(doc) {
		switch n.Type {
		case html.TextNode:
			if p := n.Parent; p != nil && (p.Data == "script" || p.Data == "style") {
				continue
			}
			b.WriteString(n.Data + "\n")
		case html.ElementNode:
			for _, a := range n.Attr {
				switch a.Key {
				case "alt", "title", "aria-label", "placeholder":
					b.WriteString(a.Val + "\n")
				}
			}
		}
	}
	return b.String()
}

// sourcePattern matches key's English text in a page: its literal parts
// between verbs, as whole words.
func sourcePattern(key string) *regexp.Regexp {
	parts := regexp.MustCompile(`%[-+# 0]*[0-9]*[a-zA-Z]`).Split(key, -1)
	longest := ""
	for _, p := range parts {
		if len(strings.TrimSpace(p)) > len(longest) {
			longest = strings.TrimSpace(p)
		}
	}
	if len(longest) < 4 || !strings.ContainsAny(longest, "abcdefghijklmnopqrstuvwxyz") {
		return nil
	}
	return regexp.MustCompile(`\b` + regexp.QuoteMeta(longest) + `\b`)
}

// TestPagesTranslated renders every sample of every page in German and
// French: no English text of the catalogue is left, the page says its
// language, and no verb is left unformatted.
func TestPagesTranslated(t *testing.T) {
	rd, err := New(Options{CSRF: fixedToken("tok"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []language.Tag{language.German, language.French} {
		p := i18n.Printer(tag)
		type check struct {
			key string
			re  *regexp.Regexp
		}
		var checks []check
		for _, k := range i18n.Keys {
			if i18n.T(p, k) == k { // the same word in both languages ("Name", "Profil")
				continue
			}
			if re := sourcePattern(k); re != nil {
				checks = append(checks, check{k, re})
			}
		}
		for name, datas := range samples {
			for i, data := range datas {
				rec := renderIn(t, rd, tag.String()+",en;q=0.5", name, data)
				body := rec.Body.String()
				if want := `<html lang="` + tag.String() + `">`; !strings.Contains(body, want) {
					t.Errorf("%s %s #%d lacks %s", tag, name, i, want)
				}
				if got := rec.Header().Get("Content-Language"); got != tag.String() {
					t.Errorf("%s %s #%d: Content-Language %q", tag, name, i, got)
				}
				text := visibleText(t, body)
				for _, c := range checks {
					if loc := c.re.FindStringIndex(text); loc != nil {
						t.Errorf("%s %s #%d shows English %q (key %q)", tag, name, i, text[loc[0]:loc[1]], c.key)
					}
				}
				if m := regexp.MustCompile(`%!?[a-zA-Z(]|%[sdqv]`).FindString(text); m != "" {
					t.Errorf("%s %s #%d has an unformatted verb %q", tag, name, i, m)
				}
			}
		}
	}
}

// TestTemplatesTextGoesThroughT reads the templates: outside tags, their
// literal text has no words (every word is in a T call), and every string
// given to T, or as an input's label or hint, is a catalogue key.
func TestTemplatesTextGoesThroughT(t *testing.T) {
	keys := map[string]bool{}
	for _, k := range i18n.Keys {
		keys[k] = true
	}
	for k := range fieldLabels {
		if !keys[fieldLabels[k]] {
			t.Errorf("field label %q is not a catalogue key", fieldLabels[k])
		}
	}
	stub := template.FuncMap{"T": fmtStub, "TB": fmtStub, "asset": fmtStub, "path": fmtStub, "input": fmtStub, "summary": fmtStub}
	tags := regexp.MustCompile(`(?s)<[^>]*>`)
	shown := regexp.MustCompile(`(?i)\b(alt|title|aria-label|placeholder)="[^"{]*[a-z]`)
	files, _ := fs.Glob(templates.FS, "*.html")
	strs := 0
	actions := regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	for _, f := range files {
		b, _ := fs.ReadFile(templates.FS, f)
		// The file without its actions: what is left outside tags is
		// literal text, which must have no words.
		// (The width template's " wide" is a class name.)
		src := actions.ReplaceAllString(strings.ReplaceAll(string(b), `{{define "width"}} wide{{end}}`, ""), "")
		if m := shown.FindString(src); m != "" {
			t.Errorf("%s: attribute text outside T: %q", f, m)
		}
		rest := regexp.MustCompile(`&[a-z]+;`).ReplaceAllString(tags.ReplaceAllString(src, ""), "")
		for _, line := range strings.Split(rest, "\n") {
			if regexp.MustCompile(`[A-Za-z]`).MatchString(line) {
				t.Errorf("%s: text outside T: %q", f, strings.TrimSpace(line))
			}
		}
		tpl, err := template.New(f).Funcs(stub).Parse(string(b))
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tpl.Templates() {
			if tt.Tree == nil {
				continue
			}
			walk(tt.Tree.Root, func(n parse.Node) {
				switch n := n.(type) {
				case *parse.CommandNode:
					if len(n.Args) == 0 {
						return
					}
					id, ok := n.Args[0].(*parse.IdentifierNode)
					if !ok {
						return
					}
					switch id.Ident {
					case "T", "TB":
						walk(n, func(m parse.Node) {
							if s, ok := m.(*parse.StringNode); ok {
								strs++
								if !keys[s.Text] {
									t.Errorf("%s: T %q is not a catalogue key", f, s.Text)
								}
							}
						})
					case "input":
						for i := 1; i+1 < len(n.Args); i += 2 {
							k, _ := n.Args[i].(*parse.StringNode)
							v, _ := n.Args[i+1].(*parse.StringNode)
							if k != nil && v != nil && (k.Text == "label" || k.Text == "hint") && !keys[v.Text] {
								t.Errorf("%s: input %s %q is not a catalogue key", f, k.Text, v.Text)
							}
						}
					}
				}
			})
		}
	}
	if strs < 60 {
		t.Errorf("only %d strings in T calls: the walk lost its way", strs)
	}
}

func fmtStub(...any) string { return "" }

// walk calls fn on n and every node below it.
func walk(n parse.Node, fn func(parse.Node)) {
	if n == nil {
		return
	}
	fn(n)
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walk(c, fn)
		}
	case *parse.ActionNode:
		walk(n.Pipe, fn)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walk(c, fn)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walk(a, fn)
		}
	case *parse.IfNode:
		walk(n.Pipe, fn)
		walk(n.List, fn)
		if n.ElseList != nil {
			walk(n.ElseList, fn)
		}
	case *parse.WithNode:
		walk(n.Pipe, fn)
		walk(n.List, fn)
		if n.ElseList != nil {
			walk(n.ElseList, fn)
		}
	case *parse.RangeNode:
		walk(n.Pipe, fn)
		walk(n.List, fn)
		if n.ElseList != nil {
			walk(n.ElseList, fn)
		}
	case *parse.TemplateNode:
		walk(n.Pipe, fn)
	}
}
