package admin_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/authd/authd/admin"
)

var update = flag.Bool("update", false, "rewrite docs/openapi.json from the code")

const committed = "../docs/openapi.json"

// TestDocumentIsCommitted fails when the document the code serves differs
// from docs/openapi.json: every change to the API shows up in review as
// a change to that file, and the SDKs are generated from it. Within v1
// only additions are allowed (docs/api.md); run with -update to accept.
func TestDocumentIsCommitted(t *testing.T) {
	doc, err := admin.OpenAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(committed, doc, 0o644); err != nil { // #nosec G306 -- a committed, public document
			t.Fatal(err)
		}
	}
	old, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(old, doc) {
		t.Errorf("the admin API's OpenAPI document differs from %s.\n"+
			"If the change only adds (operations, optional fields, responses), run `go test ./admin -run TestDocumentIsCommitted -update` "+
			"and regenerate the SDKs; removing or changing anything in v1 breaks clients (see docs/api.md).\n%s",
			committed, removals(t, old, doc))
	}
}

// removals lists the operations of old that doc no longer has: the
// changes that break clients.
func removals(t *testing.T, old, doc []byte) string {
	ops := func(raw []byte) map[string]bool {
		var d struct {
			Paths map[string]map[string]any `json:"paths"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for p, m := range d.Paths {
			for method := range m {
				out[strings.ToUpper(method)+" "+p] = true
			}
		}
		return out
	}
	now := ops(doc)
	var gone []string
	for op := range ops(old) {
		if !now[op] {
			gone = append(gone, op)
		}
	}
	if len(gone) == 0 {
		return "No operation was removed."
	}
	return "REMOVED (breaking): " + strings.Join(gone, ", ")
}

// TestDocumentShape checks what every client of the document relies on.
func TestDocumentShape(t *testing.T) {
	raw, err := admin.OpenAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", d.OpenAPI)
	}
	ids := map[string]bool{}
	for p, methods := range d.Paths {
		if !strings.HasPrefix(p, "/api/v1/") {
			t.Errorf("path %s is not under /api/v1/", p)
		}
		for m, o := range methods {
			id, _ := o["operationId"].(string)
			if id == "" || ids[id] {
				t.Errorf("%s %s: operationId %q missing or repeated", m, p, id)
			}
			ids[id] = true
			responses, _ := o["responses"].(map[string]any)
			for status, r := range responses {
				if status[0] != '4' && status != "default" {
					continue
				}
				content, _ := r.(map[string]any)["content"].(map[string]any)
				if _, ok := content["application/problem+json"]; !ok {
					t.Errorf("%s %s %s: error response is not application/problem+json", m, p, status)
				}
			}
		}
	}
	if len(ids) < 20 {
		t.Errorf("only %d operations documented", len(ids))
	}
}
