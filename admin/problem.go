package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Problem is an RFC 9457 problem document: every error the admin API
// answers. Type is a URI naming the kind of problem ("about:blank" when
// the status says it all).
type Problem struct {
	Type   string `json:"type" jsonschema:"required,format=uri-reference"`
	Title  string `json:"title" jsonschema:"required"`
	Status int    `json:"status" jsonschema:"required,minimum=400,maximum=599"`
	Detail string `json:"detail,omitempty"`
	// Instance is the request's id, to quote when asking for help.
	Instance string `json:"instance,omitempty"`
	// Errors name the fields of a 422 and what is wrong with each.
	Errors []FieldError `json:"errors,omitempty"`
}

// FieldError is one invalid field: Pointer is its RFC 6901 JSON pointer
// into the request body ("/email"), or the name of a query parameter or
// header.
type FieldError struct {
	Pointer string `json:"pointer" jsonschema:"required"`
	Detail  string `json:"detail" jsonschema:"required"`
}

// problemError is a Problem as an error, returned by handlers.
type problemError struct {
	p       Problem
	headers http.Header
}

func (e *problemError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.p.Status, e.p.Title, e.p.Detail)
}

// problemBase prefixes the type URIs of authd's own problem kinds.
const problemBase = "https://authd.dev/problems/"

func problem(status int, kind, detail string) *problemError {
	t := "about:blank"
	if kind != "" {
		t = problemBase + kind
	}
	return &problemError{p: Problem{Type: t, Title: http.StatusText(status), Status: status, Detail: detail}}
}

func badRequest(detail string) *problemError {
	return problem(http.StatusBadRequest, "invalid-request", detail)
}

func notFound(what string) *problemError {
	return problem(http.StatusNotFound, "", what+" not found")
}

func conflict(detail string) *problemError { return problem(http.StatusConflict, "conflict", detail) }

// invalid is a 422 naming the fields.
func invalid(errs ...FieldError) *problemError {
	p := problem(http.StatusUnprocessableEntity, "validation", "the request is not valid: see errors")
	p.p.Errors = errs
	if len(errs) == 1 {
		p.p.Detail = errs[0].Pointer + ": " + errs[0].Detail
	}
	return p
}

func unauthorized(detail string) *problemError {
	p := problem(http.StatusUnauthorized, "unauthorized", detail)
	p.headers = http.Header{"Www-Authenticate": {`Bearer realm="authd admin API", error="invalid_token"`}}
	return p
}

func forbidden(scope string) *problemError {
	p := problem(http.StatusForbidden, "insufficient-scope", "this operation needs the scope "+strconv.Quote(scope))
	p.headers = http.Header{"Www-Authenticate": {`Bearer realm="authd admin API", error="insufficient_scope", scope="` + scope + `"`}}
	return p
}

// writeProblem answers err as a problem document; an error that is not a
// problem is a 500 whose detail says nothing of its cause.
func writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	var pe *problemError
	if !errors.As(err, &pe) {
		pe = problem(http.StatusInternalServerError, "", "the server could not complete the request; the log has the cause")
	}
	for k, vs := range pe.headers {
		w.Header()[k] = vs
	}
	p := pe.p
	p.Instance = requestInstance(r)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
