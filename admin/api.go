package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/invopop/jsonschema"
	jsv "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/authd/authd/internal/telemetry"
)

// op describes one operation: what the OpenAPI document says of it and
// what the router and the validator enforce.
type op struct {
	Method, Path string
	// ID is the operationId (the SDK method name).
	ID, Summary, Description, Tag string
	// Scope is the scope a caller needs; empty: none (the document).
	Scope string
	// Status is the success status (200 when zero).
	Status int
	// ContentType is the body's media type; application/json when empty.
	ContentType string
	// ETag says the success response carries an ETag (and If-Match is
	// honoured).
	ETag bool
	// Errors are the 4xx statuses besides 401, 403 and 429.
	Errors []int
}

// NoContent is the output of an operation that answers 204.
type NoContent struct{}

// route is a registered operation with what reflection learned of its
// input once, at startup.
type route struct {
	op
	in      reflect.Type
	out     reflect.Type
	params  []param
	body    int // index of the Body field in the input struct; -1: none
	schema  *jsv.Schema
	serveFn func(ctx context.Context, c *call, in reflect.Value) (any, error)
}

// param is an input struct field bound to a path, query or header value.
type param struct {
	In, Name string
	Field    int
	Required bool
	Enum     []string
	Min, Max *int
	Doc      string
}

// call is what a handler knows of its request besides its input.
type call struct {
	r         *http.Request
	w         http.ResponseWriter
	principal *Principal
	status    int
}

// setETag sets the response's ETag.
func (c *call) setETag(tag string) { c.w.Header().Set("ETag", tag) }

// register adds an operation: fn gets the input decoded and validated.
func register[In, Out any](a *API, o op, fn func(ctx context.Context, c *call, in *In) (Out, error)) {
	rt := &route{op: o, in: reflect.TypeFor[In](), out: reflect.TypeFor[Out](), body: -1}
	if rt.Status == 0 {
		rt.Status = http.StatusOK
	}
	if rt.out == reflect.TypeFor[NoContent]() {
		rt.Status = http.StatusNoContent
	}
	for i := range rt.in.NumField() {
		f := rt.in.Field(i)
		if f.Name == "Body" {
			rt.body = i
			continue
		}
		p := param{Field: i, Doc: f.Tag.Get("doc"), Required: f.Tag.Get("required") == "true"}
		for _, in := range []string{"path", "query", "header"} {
			if n := f.Tag.Get(in); n != "" {
				p.In, p.Name = in, n
			}
		}
		if p.In == "" {
			panic(fmt.Sprintf("admin: %s field %s has no path, query or header tag", rt.in, f.Name))
		}
		if p.In == "path" {
			p.Required = true
		}
		if e := f.Tag.Get("enum"); e != "" {
			p.Enum = strings.Split(e, ",")
		}
		p.Min, p.Max = intTag(f.Tag.Get("minimum")), intTag(f.Tag.Get("maximum"))
		rt.params = append(rt.params, p)
	}
	rt.serveFn = func(ctx context.Context, c *call, in reflect.Value) (any, error) {
		return fn(ctx, c, in.Addr().Interface().(*In))
	}
	a.routes = append(a.routes, rt)
}

func intTag(s string) *int {
	if s == "" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		panic("admin: bad integer tag " + s)
	}
	return &n
}

// Request body limits: larger or deeper bodies are refused before they
// are parsed into anything.
const (
	maxBodyBytes = 1 << 20
	maxBodyDepth = 32
)

func (a *API) serve(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		p, err := a.authenticate(r, rt.Scope)
		if err == nil {
			err = a.limit(r.Context(), w, p)
		}
		if err != nil {
			writeProblem(w, r, err)
			return
		}
		in := reflect.New(rt.in).Elem()
		if err := rt.decode(r, in); err != nil {
			writeProblem(w, r, err)
			return
		}
		c := &call{r: r, w: w, principal: p, status: rt.Status}
		out, err := rt.serveFn(r.Context(), c, in)
		if err != nil {
			if _, ok := errors.AsType[*problemError](err); !ok {
				a.log.ErrorContext(r.Context(), "admin API: operation failed", "operation", rt.ID, "err", err)
			}
			writeProblem(w, r, err)
			return
		}
		if c.status == http.StatusNoContent {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(c.status)
		_ = json.NewEncoder(w).Encode(out)
	})
}

// decode fills in from the request's path, query, headers and body,
// validating each against what the document says.
func (rt *route) decode(r *http.Request, in reflect.Value) error {
	var errs []FieldError
	q := r.URL.Query()
	for _, p := range rt.params {
		var vals []string
		switch p.In {
		case "path":
			vals = []string{r.PathValue(p.Name)}
		case "query":
			vals = q[p.Name]
		case "header":
			vals = r.Header.Values(p.Name)
		}
		if len(vals) > 1 {
			errs = append(errs, FieldError{p.Name, "must be given at most once"})
			continue
		}
		if len(vals) == 0 || vals[0] == "" {
			if p.Required {
				errs = append(errs, FieldError{p.Name, "is required"})
			}
			continue
		}
		if msg := p.set(in.Field(p.Field), vals[0]); msg != "" {
			errs = append(errs, FieldError{p.Name, msg})
		}
	}
	for name := range q {
		if !slices.ContainsFunc(rt.params, func(p param) bool { return p.In == "query" && p.Name == name }) {
			errs = append(errs, FieldError{name, "is not a parameter of this operation"})
		}
	}
	if len(errs) > 0 {
		return invalid(errs...)
	}
	if rt.body < 0 {
		return nil
	}
	return rt.decodeBody(r, in.Field(rt.body))
}

func (p param) set(f reflect.Value, v string) string {
	if len(v) > 2048 {
		return "is longer than 2048 bytes"
	}
	if len(p.Enum) > 0 && !slices.Contains(p.Enum, v) {
		return "must be one of " + strings.Join(p.Enum, ", ")
	}
	switch f.Interface().(type) {
	case string:
		f.SetString(v)
	case int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return "must be an integer"
		}
		if p.Min != nil && n < *p.Min || p.Max != nil && n > *p.Max {
			return fmt.Sprintf("must be between %d and %d", *p.Min, *p.Max)
		}
		f.SetInt(int64(n))
	case bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "must be true or false"
		}
		f.SetBool(b)
	case time.Time:
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return "must be an RFC 3339 date-time (2026-01-02T15:04:05Z)"
		}
		f.Set(reflect.ValueOf(t))
	default:
		panic("admin: unsupported parameter type " + f.Type().String())
	}
	return ""
}

func (rt *route) decodeBody(r *http.Request, dst reflect.Value) error {
	want := rt.ContentType
	if want == "" {
		want = "application/json"
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != want {
		return problem(http.StatusUnsupportedMediaType, "unsupported-media-type", "the body must be "+want)
	}
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return problem(http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("the body is larger than %d bytes", maxBodyBytes))
		}
		return badRequest("the body could not be read")
	}
	if err := checkDepth(raw); err != nil {
		return badRequest(err.Error())
	}
	doc, err := jsv.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return badRequest("the body is not JSON: " + err.Error())
	}
	if err := rt.schema.Validate(doc); err != nil {
		ve, ok := errors.AsType[*jsv.ValidationError](err)
		if !ok {
			return err
		}
		return invalid(fieldErrors(ve)...)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(dst.Addr().Interface()); err != nil {
		// The schema admits nothing the type does not; a mismatch here is
		// a value the schema cannot express (e.g. a duration string).
		return invalid(FieldError{"/", err.Error()})
	}
	return nil
}

// checkDepth refuses JSON nested deeper than maxBodyDepth, before any
// parser recurses into it. It only counts brackets outside strings.
func checkDepth(raw []byte) error {
	depth, inString, escaped := 0, false, false
	for _, c := range raw {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			if depth > maxBodyDepth {
				return fmt.Errorf("the body is nested more than %d levels deep", maxBodyDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// requestInstance is the problem document's instance: the request id.
func requestInstance(r *http.Request) string {
	if id := telemetry.RequestID(r.Context()); id != "" {
		return "urn:authd:request:" + id
	}
	return ""
}

// reflector turns the API's Go types into JSON Schema 2020-12, the schema
// dialect of OpenAPI 3.1.
func reflector() *jsonschema.Reflector {
	return &jsonschema.Reflector{Anonymous: true, RequiredFromJSONSchemaTags: true, Mapper: mapType, Namer: typeName}
}

// fieldErrors flattens a validation error into the fields it names: the
// leaves of its tree, each with the JSON pointer of the value at fault
// (for an unknown member, the member itself).
func fieldErrors(ve *jsv.ValidationError) []FieldError {
	var out []FieldError
	var walk func(e *jsv.ValidationError)
	walk = func(e *jsv.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		ptr := "/" + strings.Join(e.InstanceLocation, "/")
		if ap, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
			for _, p := range ap.Properties {
				out = append(out, FieldError{strings.TrimSuffix(ptr, "/") + "/" + p, "is not a field of this resource (or cannot be set)"})
			}
			return
		}
		out = append(out, FieldError{ptr, e.ErrorKind.LocalizedString(printer)})
	}
	walk(ve)
	if len(out) > 20 {
		out = out[:20]
	}
	return out
}

var printer = message.NewPrinter(language.English)
