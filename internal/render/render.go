// Package render executes the hosted pages of templates/ inside the base
// layout, with the data every page shares (CSRF token, request id,
// language), and defines the data each page takes.
//
// Pages and their data:
//
//	login            LoginData
//	register         RegisterData
//	check_email      CheckEmailData
//	verify_email     VerifyEmailData
//	forgot_password  ForgotPasswordData
//	reset_password   ResetPasswordData
//	consent          ConsentData
//	account          AccountData
//	signed_out       SignedOutData
//	error            ErrorData
//	logout_confirm   LogoutConfirmData
//	device           DeviceData
//
// The labels people and browser tests look for are part of the contract
// (docs/architecture.md): login has "Email", "Password", "Sign in";
// registration "Email", "Password", "Create account"; consent "Allow" and
// "Deny"; logout confirmation "Sign out"; the device verification page
// "Device code" and "Continue".
package render

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/authd/authd/internal/i18n"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/static"
	"github.com/authd/authd/templates"
)

// TokenSource issues CSRF form tokens (csrf.Protector implements it).
type TokenSource interface {
	Token(w http.ResponseWriter, r *http.Request) string
}

// Options are the renderer's collaborators.
type Options struct {
	// CSRF issues the token every form carries; nil renders forms without
	// one (tests of pages without forms).
	CSRF TokenSource
	// Logger hears about templates that fail to execute; never nil.
	Logger *slog.Logger
	// ProductName is shown in the header and titles; "authd" when empty.
	// Branding.ProductName wins when set.
	ProductName string
	// Branding is the configured look (branding.*), already validated.
	Branding Branding
	// DefaultLanguage is the language of a request that asks for none
	// authd has; English when zero.
	DefaultLanguage language.Tag
	// BasePath is the issuer's path ("" for an issuer at the root of its
	// host, else like "/auth"): links and form actions start with it, for
	// a proxy that strips it before authd sees the request.
	BasePath string
}

// Renderer executes the pages. It is safe for concurrent use.
type Renderer struct {
	pages map[language.Tag]map[string]*template.Template // by language, then page name; each holds the layout
	base  string                                         // BasePath, without a trailing slash
	csrf  TokenSource
	log   *slog.Logger
	brand Brand
	// orgBrands are the organizations' brands by name, clientOrgs the
	// organization of each client listed in one.
	orgBrands  map[string]Brand
	clientOrgs map[string]string
	def        language.Tag
}

// View is what every template executes with: the page's data and what the
// renderer adds to it.
type View struct {
	// Page is Data's Page, normalised (Lang is always set).
	Page
	// Data is the page's data, e.g. LoginData.
	Data      any
	CSRFToken string
	// CSRFField is the form field the token goes in.
	CSRFField string
	RequestID string
	// Brand is the product name, logo, stylesheet and support link.
	Brand Brand
}

// CSRFFieldName is the hidden field carrying the CSRF token (csrf.FieldName).
const CSRFFieldName = "csrf_token"

// New parses every page, once per language.
func New(o Options) (*Renderer, error) {
	if o.Logger == nil {
		return nil, fmt.Errorf("templates: Logger is nil")
	}
	if err := o.Branding.Validate(); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if o.Branding.ProductName == "" {
		o.Branding.ProductName = o.ProductName
	}
	base := strings.TrimRight(o.BasePath, "/")
	if base != "" && !strings.HasPrefix(base, "/") {
		return nil, fmt.Errorf("templates: BasePath %q must start with a slash", o.BasePath)
	}
	if o.DefaultLanguage == (language.Tag{}) {
		o.DefaultLanguage = language.English
	}
	r := &Renderer{pages: map[language.Tag]map[string]*template.Template{}, base: base, csrf: o.CSRF, log: o.Logger,
		def: o.DefaultLanguage}
	r.brand, r.orgBrands, r.clientOrgs = o.Branding.brands()
	for _, tag := range i18n.Supported {
		pages, err := parsePages(base, i18n.Printer(tag))
		if err != nil {
			return nil, err
		}
		r.pages[tag] = pages
	}
	return r, nil
}

// parsePages parses every page with the functions of one language.
func parsePages(base string, p *message.Printer) (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"asset":   func(name string) string { return base + static.Path(name) },
		"path":    func(p string) string { return base + p },
		"input":   func(kv ...any) (Input, error) { return newInput(p, kv...) },
		"summary": func(fe FieldError) string { return summaryText(p, fe) },
		"T":       func(key any, args ...any) string { return translate(p, key, args) },
		"TB":      func(key string, args ...any) template.HTML { return translateBold(p, key, args) },
	}
	layout, err := template.New("layout").Funcs(funcs).ParseFS(templates.FS, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	names, err := fs.Glob(templates.FS, "*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, file := range names {
		if file == "layout.html" {
			continue
		}
		t, err := layout.Clone()
		if err == nil {
			t, err = t.ParseFS(templates.FS, file)
		}
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		pages[strings.TrimSuffix(path.Base(file), ".html")] = t
	}
	return pages, nil
}

// translateBold is the templates' TB: T with each argument shown bold
// (<strong>), for a name or code inside a sentence. Everything is escaped;
// only the strong elements are markup.
func translateBold(p *message.Printer, key string, args []any) template.HTML {
	marks := make([]any, len(args))
	for i := range args {
		marks[i] = fmt.Sprintf("\ue000%d\ue001", i)
	}
	out := template.HTMLEscapeString(i18n.T(p, key, marks...))
	for i, a := range args {
		arg := fmt.Sprint(a)
		if l, ok := a.(i18n.Localizer); ok {
			arg = l.Localize(p)
		}
		out = strings.Replace(out, fmt.Sprintf("\ue000%d\ue001", i), "<strong>"+template.HTMLEscapeString(arg)+"</strong>", 1)
	}
	return template.HTML(out) // #nosec G203 -- every part is escaped above; only <strong> is added
}

// translate is the templates' T: key is a string or an i18n.Msg; a
// single []any argument is spread (Page.NoticeArgs).
func translate(p *message.Printer, key any, args []any) string {
	if len(args) == 1 {
		if a, ok := args[0].([]any); ok {
			args = a
		}
	}
	switch k := key.(type) {
	case i18n.Msg:
		return k.Localize(p)
	case string:
		return i18n.T(p, k, args...)
	}
	return fmt.Sprint(key)
}

// brandOf is the branding of a page: its organization's (Page.Org, else
// the organization Page.ClientID is listed in), else the default.
func (rd *Renderer) brandOf(p Page) Brand {
	org := p.Org
	if org == "" {
		org = rd.clientOrgs[p.ClientID]
	}
	if b, ok := rd.orgBrands[org]; ok {
		return b
	}
	return rd.brand
}

// Language is the language of a page for r whose data asks for prefs
// (Page.Lang: ui_locales): what Render uses, for what a page triggers
// (mails) to be in the same language.
func (rd *Renderer) Language(r *http.Request, prefs string) language.Tag {
	return i18n.Choose(prefs, r.Header.Get("Accept-Language"), rd.def)
}

// BasePath returns the path prefix of every hosted page ("" at the root).
func (rd *Renderer) BasePath() string { return rd.base }

// Names returns the page names.
func (rd *Renderer) Names() []string {
	out := make([]string, 0, len(rd.pages[language.English]))
	for n := range rd.pages[language.English] {
		out = append(out, n)
	}
	return out
}

// Render writes page name with data and status, adding the common data
// (CSRF token, request id, language) and the page headers (SetHeaders). It
// executes into a buffer first: a template failure is logged and answered
// with a plain 500, never half a page.
func (rd *Renderer) Render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	ctx := r.Context()
	v := View{Data: data, CSRFField: CSRFFieldName, RequestID: telemetry.RequestID(ctx), Brand: rd.brand}
	if p, ok := data.(interface{ page() Page }); ok {
		v.Page = p.page()
	}
	v.Brand = rd.brandOf(v.Page)
	tag := rd.Language(r, v.Lang)
	v.Lang = tag.String()
	t, ok := rd.pages[tag][name]
	if !ok {
		rd.log.ErrorContext(ctx, "render: no such page", "page", name)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	if rd.csrf != nil {
		v.CSRFToken = rd.csrf.Token(w, r)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		rd.log.ErrorContext(ctx, "render: execute template", "page", name, "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	SetHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", v.Lang)
	w.Header().Add("Vary", "Accept-Language")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// ContentSecurityPolicy is the hosted pages' policy. Scripts come only
// from our own files (static/password.js), never inline. There is no
// form-action directive on purpose: Chrome applies form-action to the
// redirects that follow a form POST, and sign-in ends in a redirect to the
// client's redirect_uri on another origin.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; " +
	"frame-ancestors 'none'; base-uri 'none'"

// SetHeaders sets the headers every hosted page and redirect carries:
// the policy, no sniffing, no referrer (links carry tokens), no caching.
func SetHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

// Input describes one form field for the "field" template: a label tied
// to the input, an optional hint, and the field's errors tied by
// aria-describedby and aria-invalid.
type Input struct {
	ID, Name, Label, Type, Value, Autocomplete, Hint, InputMode string
	Required, Autofocus                                         bool
	// Errors are the field's problems, translated.
	Errors []string
}

// DescribedBy is the value for aria-describedby, or "".
func (in Input) DescribedBy() string {
	var ids []string
	if in.Hint != "" {
		ids = append(ids, in.ID+"-hint")
	}
	if len(in.Errors) > 0 {
		ids = append(ids, in.ID+"-error")
	}
	return strings.Join(ids, " ")
}

// fieldLabels are the labels of every form field, by name (which is also
// its id): the error summary names the field each problem is about with
// them, and input refuses a field missing here or labelled otherwise, so
// the summary and the form cannot drift apart.
var fieldLabels = map[string]string{
	"email":            "Email",
	"password":         "Password",
	"name":             "Name",
	"current_password": "Current password",
	"new_password":     "New password",
	"picture":          "Picture URL",
	"locale":           "Locale",
	"phone":            "Phone",
	"user_code":        "Device code",
}

// summaryText is how the error summary words a problem with field: the
// message, after the field's label unless the message names it already
// ("Enter your email address." but "New password: Use at least 12
// characters."). A problem with the whole form ("") is its message.
func summaryText(p *message.Printer, fe FieldError) string {
	msg := i18n.T(p, fe.Message, fe.Args...)
	label, ok := fieldLabels[fe.Field]
	if !ok {
		return msg
	}
	label = i18n.T(p, label)
	if strings.Contains(strings.ToLower(msg), strings.ToLower(label)) {
		return msg
	}
	return i18n.T(p, "%s: %s", label, msg)
}

// newInput builds an Input from key/value pairs: {{input "name" "email"
// "label" "Email" ...}}. The id defaults to the name; the type to "text".
// Label and hint are given in English and translated with p; the
// field's errors likewise.
func newInput(p *message.Printer, kv ...any) (Input, error) {
	var in Input
	if len(kv)%2 != 0 {
		return in, fmt.Errorf("input: odd number of arguments")
	}
	for i := 0; i < len(kv); i += 2 {
		k, _ := kv[i].(string)
		switch v := kv[i+1].(type) {
		case string:
			switch k {
			case "id":
				in.ID = v
			case "name":
				in.Name = v
			case "label":
				in.Label = v
			case "type":
				in.Type = v
			case "value":
				in.Value = v
			case "autocomplete":
				in.Autocomplete = v
			case "hint":
				in.Hint = v
			case "inputmode":
				in.InputMode = v
			default:
				return in, fmt.Errorf("input: unknown string key %q", k)
			}
		case bool:
			switch k {
			case "required":
				in.Required = v
			case "autofocus":
				in.Autofocus = v
			default:
				return in, fmt.Errorf("input: unknown bool key %q", k)
			}
		case []FieldError:
			if k != "errors" {
				return in, fmt.Errorf("input: unknown list key %q", k)
			}
			for _, fe := range v {
				in.Errors = append(in.Errors, i18n.T(p, fe.Message, fe.Args...))
			}
		case nil:
			if k != "errors" {
				return in, fmt.Errorf("input: nil value for %q", k)
			}
		default:
			return in, fmt.Errorf("input: key %q has unsupported type %T", k, v)
		}
	}
	if in.Name == "" || in.Label == "" {
		return in, fmt.Errorf("input: name and label are required")
	}
	if want, ok := fieldLabels[in.Name]; !ok || want != in.Label {
		return in, fmt.Errorf("input: field %q is labelled %q, but the error summary knows it as %q (fieldLabels)", in.Name, in.Label, want)
	}
	if in.ID == "" {
		in.ID = in.Name
	}
	if in.Type == "" {
		in.Type = "text"
	}
	in.Label = i18n.T(p, in.Label)
	if in.Hint != "" {
		in.Hint = i18n.T(p, in.Hint)
	}
	return in, nil
}
