package admin

import (
	"github.com/authd/authd/webhook"

	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/invopop/jsonschema"
	jsv "github.com/santhosh-tekuri/jsonschema/v6"
)

// The OpenAPI document is built from the registered operations and the Go
// types they take and return (invopop/jsonschema reflects the types into
// JSON Schema 2020-12); request bodies are validated against the schemas
// of the same document (santhosh-tekuri/jsonschema), so what is served
// and what is described cannot drift apart.

// Version is the admin API's info.version; docs/api.md says how it moves.
const Version = "1.0.0"

const docURL = "urn:authd:admin:openapi"

// buildDocument writes the OpenAPI 3.1 document of a.routes and compiles
// each request body's schema from it.
func (a *API) buildDocument() error {
	schemas := map[string]any{}
	addType := func(t reflect.Type) string {
		s := reflector().ReflectFromType(t)
		for name, def := range s.Definitions {
			schemas[name] = def
		}
		return strings.TrimPrefix(s.Ref, "#/$defs/")
	}
	addType(reflect.TypeFor[Problem]())
	ref := func(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }
	problemContent := map[string]any{"application/problem+json": map[string]any{"schema": ref("Problem")}}
	rateHeaders := map[string]any{
		"RateLimit-Policy": map[string]any{"$ref": "#/components/headers/RateLimit-Policy"},
		"RateLimit":        map[string]any{"$ref": "#/components/headers/RateLimit"},
	}
	paths := map[string]map[string]any{}
	bodyNames := map[*route]string{}
	tags := map[string]bool{}
	for _, rt := range a.routes {
		o := map[string]any{"operationId": rt.ID, "summary": rt.Summary, "tags": []string{rt.Tag}}
		tags[rt.Tag] = true
		if rt.Description != "" {
			o["description"] = rt.Description
		}
		if rt.Scope != "" {
			o["description"] = strings.TrimSpace(rt.Description + "\n\nScope: `" + rt.Scope + "`.")
			o["x-required-scope"] = rt.Scope
		} else {
			o["security"] = []any{}
		}
		var params []any
		for _, p := range rt.params {
			params = append(params, p.document(rt.in.Field(p.Field).Type))
		}
		if params != nil {
			o["parameters"] = params
		}
		if rt.body >= 0 {
			name := addType(rt.in.Field(rt.body).Type)
			bodyNames[rt] = name
			ct := rt.ContentType
			if ct == "" {
				ct = "application/json"
			}
			o["requestBody"] = map[string]any{"required": true, "content": map[string]any{ct: map[string]any{"schema": ref(name)}}}
		}
		ok := map[string]any{"description": http.StatusText(rt.Status)}
		headers := map[string]any{}
		if rt.Scope != "" {
			for k, v := range rateHeaders {
				headers[k] = v
			}
		}
		if rt.ETag {
			headers["ETag"] = map[string]any{"description": "The version of the resource, for If-Match.", "schema": map[string]any{"type": "string"}}
		}
		if len(headers) > 0 {
			ok["headers"] = headers
		}
		if rt.Status != http.StatusNoContent {
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": ref(addType(rt.out))}}
		}
		responses := map[string]any{strconv.Itoa(rt.Status): ok}
		errs := slices.Clone(rt.Errors)
		if rt.Scope != "" {
			errs = append(errs, http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests)
		}
		if len(rt.params) > 0 || rt.body >= 0 {
			errs = append(errs, http.StatusUnprocessableEntity)
		}
		if rt.body >= 0 {
			errs = append(errs, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
		}
		if rt.ETag && (rt.Method == http.MethodPatch || rt.Method == http.MethodPut) {
			errs = append(errs, http.StatusPreconditionFailed)
		}
		for _, s := range errs {
			resp := map[string]any{"description": http.StatusText(s), "content": problemContent}
			if s == http.StatusTooManyRequests {
				resp["headers"] = map[string]any{"Retry-After": map[string]any{"description": "Seconds until a request would be allowed.",
					"schema": map[string]any{"type": "integer"}}}
			}
			responses[strconv.Itoa(s)] = resp
		}
		responses["default"] = map[string]any{"description": "Unexpected error", "content": problemContent}
		o["responses"] = responses
		if paths[rt.Path] == nil {
			paths[rt.Path] = map[string]any{}
		}
		paths[rt.Path][strings.ToLower(rt.Method)] = o
	}
	var tagList []any
	for _, t := range slices.Sorted(maps.Keys(tags)) {
		tagList = append(tagList, map[string]any{"name": t, "description": tagDescriptions[t]})
	}
	doc := map[string]any{
		"openapi":           "3.1.1",
		"jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
		"info": map[string]any{
			"title":   "authd admin API",
			"version": Version,
			"description": "The programmatic front door to authd: users, clients, signing keys, sessions, audit events " +
				"API keys and webhooks. Authenticate with `Authorization: Bearer <API key>` (`authd apikeys create`) or an " +
				"OAuth access token from the client_credentials grant carrying admin scopes. Errors are RFC 9457 " +
				"problem documents. Lists take `limit` and `cursor` and answer `next_cursor` until the last page.",
			"license": map[string]any{"name": "Apache-2.0", "identifier": "Apache-2.0"},
		},
		"servers":  []any{map[string]any{"url": "/", "description": "The authd that serves this document (its issuer's origin)."}},
		"security": []any{map[string]any{"bearer": []any{}}},
		"tags":     tagList,
		"paths":    paths,
		"webhooks": eventsDocument(ref(addType(reflect.TypeFor[webhook.Payload]()))),
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer",
				"description": "An authd API key (authd_…) or an OAuth access token with admin scopes."}},
			"headers": map[string]any{
				"RateLimit-Policy": map[string]any{"description": "The caller's quota (draft-ietf-httpapi-ratelimit-headers): " +
					"q requests per w seconds.", "schema": map[string]any{"type": "string"}},
				"RateLimit": map[string]any{"description": "What is left of the quota: r requests, full again in t seconds.",
					"schema": map[string]any{"type": "string"}},
			},
		},
	}
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	// invopop names its definitions $defs; in OpenAPI they are components.
	raw = bytes.ReplaceAll(raw, []byte(`"#/$defs/`), []byte(`"#/components/schemas/`))
	a.document = append(raw, '\n')
	parsed, err := jsv.UnmarshalJSON(bytes.NewReader(a.document))
	if err != nil {
		return err
	}
	c := jsv.NewCompiler()
	c.DefaultDraft(jsv.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, parsed); err != nil {
		return err
	}
	for rt, name := range bodyNames {
		if rt.schema, err = c.Compile(docURL + "#/components/schemas/" + name); err != nil {
			return fmt.Errorf("admin: compile the schema of %s: %w", rt.ID, err)
		}
	}
	return nil
}

var tagDescriptions = map[string]string{
	"users":    "Local accounts: create, read, update (JSON merge patch), disable, enable, delete, set a password.",
	"sessions": "People's browser sessions: list and end them.",
	"clients":  "Registered OAuth 2.0 / OpenID Connect clients.",
	"keys":     "Token signing keys (their public halves are in JWKS).",
	"audit":    "The hash-chained audit trail.",
	"api-keys": "Admin API keys.",
	"webhooks": "Endpoints that receive authd's events (the top-level webhooks section documents each event), " +
		"their deliveries, dead letters, retries and replays.",
}

// eventsDocument is the document's top-level webhooks section: every
// event of the catalogue as the request authd makes to an endpoint.
func eventsDocument(payload map[string]any) map[string]any {
	header := func(name, desc string) map[string]any {
		return map[string]any{"name": name, "in": "header", "required": true, "description": desc,
			"schema": map[string]any{"type": "string"}}
	}
	params := []any{
		header("webhook-id", "The delivery's id (msg_…): the same on every attempt of a delivery, so receivers de-duplicate by it."),
		header("webhook-timestamp", "The attempt's time, Unix seconds; reject ones more than 5 minutes off."),
		header("webhook-signature", "Space-separated v1,<base64 HMAC-SHA256 of id.timestamp.body> under the endpoint's secret "+
			"(the base64 after whsec_); two during a secret rotation's overlap (Standard Webhooks 1.0)."),
	}
	out := map[string]any{}
	for _, e := range webhook.Catalogue {
		schema := map[string]any{"allOf": []any{payload, map[string]any{"properties": map[string]any{
			"type": map[string]any{"const": string(e.Type)}}}}}
		out[string(e.Type)] = map[string]any{"post": map[string]any{
			"operationId": "event:" + string(e.Type), "summary": string(e.Type), "description": e.Description,
			"tags": []string{"webhooks"}, "parameters": params,
			"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": schema}}},
			"responses": map[string]any{
				"2XX": map[string]any{"description": "Delivered. Anything else is retried on webhooks.retry_schedule, then dead-lettered."},
				"410": map[string]any{"description": "Gone: authd disables the endpoint."},
			}}}
	}
	return out
}

func (p param) document(t reflect.Type) map[string]any {
	s := map[string]any{}
	switch t {
	case reflect.TypeFor[int]():
		s["type"] = "integer"
		if p.Min != nil {
			s["minimum"] = *p.Min
		}
		if p.Max != nil {
			s["maximum"] = *p.Max
		}
	case reflect.TypeFor[bool]():
		s["type"] = "boolean"
	default:
		s["type"] = "string"
		if t.Name() == "Time" {
			s["format"] = "date-time"
		}
	}
	if p.Enum != nil {
		s["enum"] = p.Enum
	}
	d := map[string]any{"name": p.Name, "in": p.In, "schema": s}
	if p.Required {
		d["required"] = true
	}
	if p.Doc != "" {
		d["description"] = p.Doc
	}
	return d
}

var qualifier = regexp.MustCompile(`[\w./-]*\.`)

// typeName names schemas after their Go types; an instance of a generic
// type is named after its argument: Page[admin.User] is "UserPage".
func typeName(t reflect.Type) string {
	n := t.Name()
	base, arg, ok := strings.Cut(n, "[")
	if !ok {
		return n
	}
	return qualifier.ReplaceAllString(strings.TrimSuffix(arg, "]"), "") + base
}

// mapType gives the types the reflector cannot see into their schemas.
func mapType(t reflect.Type) *jsonschema.Schema {
	if t == reflect.TypeFor[nullString]() {
		return &jsonschema.Schema{AnyOf: []*jsonschema.Schema{{Type: "string", MaxLength: ptr(uint64(2048))}, {Type: "null"}}}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
