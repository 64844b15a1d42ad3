package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// scimClient speaks SCIM the way provisioning clients do.
type scimClient struct {
	t    *testing.T
	base string
	key  string
}

type scimResp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (c scimClient) do(method, path, body string) scimResp {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	req.Header.Set("Accept", "application/scim+json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r := scimResp{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			c.t.Fatalf("%s %s: not JSON: %s", method, path, raw)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/scim+json" {
			c.t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
	}
	return r
}

// scimError checks a SCIM error response (RFC 7644 §3.12).
func (r scimResp) scimError(t *testing.T, status int, scimType string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	schemas, _ := r.body["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || r.body["status"] != strconv.Itoa(status) {
		t.Errorf("not a SCIM error: %s", r.raw)
	}
	if scimType != "" && r.body["scimType"] != scimType {
		t.Errorf("scimType %v, want %s: %s", r.body["scimType"], scimType, r.raw)
	}
}

// listResponse checks the ListResponse shape Okta's tests assert.
func (r scimResp) listResponse(t *testing.T) (total int, resources []map[string]any) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	schemas, _ := r.body["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:ListResponse" {
		t.Errorf("ListResponse schema: %s", r.raw)
	}
	for _, f := range []string{"totalResults", "startIndex", "itemsPerPage"} {
		if _, ok := r.body[f].(float64); !ok {
			t.Errorf("%s is not a number: %s", f, r.raw)
		}
	}
	for _, res := range r.body["Resources"].([]any) {
		resources = append(resources, res.(map[string]any))
	}
	return int(r.body["totalResults"].(float64)), resources
}

func q(filter string) string { return url.QueryEscape(filter) }

// TestSCIMOkta replays the requests of Okta's SCIM 2.0 provisioning (its
// connection test, import, create, update and deactivation).
func TestSCIMOkta(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env []string) {
		s := startServe(t, env, false)
		c := scimClient{t: t, base: s.base, key: createKey(t, s.env, "--name", "okta", "--scope", "scim", "--tier", "unlimited").Key}

		if total, _ := c.do("GET", "/scim/v2/Users?startIndex=1&count=2", "").listResponse(t); total != 0 {
			t.Errorf("empty directory: totalResults %d", total)
		}
		if total, _ := c.do("GET", "/scim/v2/Users?filter="+q(`userName eq "jane.doe@example.com"`)+"&startIndex=1&count=100", "").listResponse(t); total != 0 {
			t.Errorf("dedupe before create: %d", total)
		}
		r := c.do("POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
			"userName":"Jane.Doe@example.com","name":{"givenName":"Jane","familyName":"Doe"},
			"emails":[{"primary":true,"value":"jane.doe@example.com","type":"work"}],"displayName":"Jane Doe",
			"locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],"password":"a long enough passphrase 7","active":true}`)
		if r.status != 201 || r.body["id"] == nil {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		id := r.body["id"].(string)
		if r.body["userName"] != "jane.doe@example.com" || r.body["active"] != true || r.header.Get("ETag") == "" {
			t.Errorf("created: %s", r.raw)
		}
		c.do("POST", "/scim/v2/Users", `{"userName":"jane.doe@example.com"}`).scimError(t, 409, "uniqueness")

		if r := c.do("GET", "/scim/v2/Users/"+id, ""); r.status != 200 || r.body["displayName"] != "Jane Doe" {
			t.Errorf("get: %d %s", r.status, r.raw)
		}
		total, res := c.do("GET", "/scim/v2/Users?filter="+q(`userName eq "jane.doe@example.com"`)+"&startIndex=1&count=100", "").listResponse(t)
		if total != 1 || res[0]["id"] != id {
			t.Errorf("filter after create: %d %v", total, res)
		}
		c.do("GET", "/scim/v2/Users/00000000-0000-0000-0000-000000000000", "").scimError(t, 404, "")

		// Update (PUT) and deactivation (PATCH active false).
		r = c.do("PUT", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"`+id+`",
			"userName":"jane.doe@example.com","name":{"givenName":"Jane","familyName":"Smith"},
			"emails":[{"primary":true,"value":"jane.doe@example.com","type":"work"}],"active":true}`)
		if r.status != 200 || r.body["displayName"] != "Jane Smith" {
			t.Errorf("put: %d %s", r.status, r.raw)
		}
		r = c.do("PATCH", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations":[{"op":"replace","value":{"active":false}}]}`)
		if r.status != 200 || r.body["active"] != false {
			t.Fatalf("deactivate: %d %s", r.status, r.raw)
		}
		var u struct {
			Disabled bool `json:"disabled"`
		}
		mustRun(t, s.env, "users", "get", id).decodeJSON(t, &u)
		if !u.Disabled {
			t.Error("active:false did not disable the account")
		}
		r = c.do("PATCH", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations":[{"op":"replace","value":{"active":true}}]}`)
		if r.body["active"] != true {
			t.Errorf("reactivate: %s", r.raw)
		}
		// A stale If-Match is refused.
		etag := r.header.Get("ETag")
		c.do("PATCH", "/scim/v2/Users/"+id, `{"Operations":[{"op":"replace","path":"displayName","value":"X"}]}`)
		req, _ := http.NewRequest("PATCH", s.base+"/scim/v2/Users/"+id,
			strings.NewReader(`{"Operations":[{"op":"replace","path":"displayName","value":"Y"}]}`))
		req.Header.Set("Authorization", "Bearer "+c.key)
		req.Header.Set("If-Match", etag)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 412 {
			t.Errorf("stale If-Match: %d", resp.StatusCode)
		}
		if r := c.do("DELETE", "/scim/v2/Users/"+id, ""); r.status != 204 {
			t.Errorf("delete: %d", r.status)
		}
	})
}

// TestSCIMEntra replays Microsoft Entra ID's provisioning requests and
// its quirks: capitalised PATCH ops, boolean strings, the enterprise
// extension by URN path, and emails[type eq "work"].value filters.
func TestSCIMEntra(t *testing.T) {
	s := startServe(t, sqliteEnv(t), false)
	c := scimClient{t: t, base: s.base, key: createKey(t, s.env, "--name", "entra", "--scope", "scim", "--tier", "unlimited").Key}
	r := c.do("POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
		"userName":"Test_User_ab6490ee@contoso.com","active":true,"displayName":"Test User",
		"emails":[{"primary":true,"type":"work","value":"Test_User_ab6490ee@contoso.com"}],
		"meta":{"resourceType":"User"},"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},
		"roles":[],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","employeeNumber":"E42",
		"manager":{"value":"x"}}}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	ext, _ := r.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)
	if ext["department"] != "Sales" || ext["employeeNumber"] != "E42" || r.body["displayName"] != "givenName familyName" {
		t.Errorf("created: %s", r.raw)
	}
	for _, f := range []string{`userName eq "test_user_ab6490ee@contoso.com"`, `emails[type eq "work"].value eq "Test_User_ab6490ee@contoso.com"`,
		`userName eq "Test_User_ab6490ee@contoso.com" and active eq true`, `displayName co "familyName"`, `userName sw "test_"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales" or active eq false`} {
		if total, _ := c.do("GET", "/scim/v2/Users?filter="+q(f), "").listResponse(t); total != 1 {
			t.Errorf("filter %s: %d results", f, total)
		}
	}
	for _, f := range []string{`userName eq "nobody@contoso.com"`, `userName eq "x' OR '1'='1"`, `active eq false`, `displayName ew "nope"`} {
		if total, _ := c.do("GET", "/scim/v2/Users?filter="+q(f), "").listResponse(t); total != 0 {
			t.Errorf("filter %s: %d results, want 0", f, total)
		}
	}
	r = c.do("PATCH", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
		{"op":"Replace","path":"displayName","value":"Renamed"},
		{"op":"Add","path":"emails[type eq \"work\"].value","value":"renamed@contoso.com"},
		{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Marketing"},
		{"op":"Add","path":"title","value":"Ignored"},
		{"op":"Replace","path":"active","value":"False"}]}`)
	if r.status != 200 || r.body["displayName"] != "Renamed" || r.body["userName"] != "renamed@contoso.com" || r.body["active"] != false {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	ext, _ = r.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)
	if ext["department"] != "Marketing" {
		t.Errorf("department: %s", r.raw)
	}
	r = c.do("PATCH", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
		{"op":"Remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}]}`)
	ext, _ = r.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)
	if ext["department"] != "" {
		t.Errorf("remove department: %s", r.raw)
	}

	// Discovery.
	for _, p := range []string{"/scim/v2/ServiceProviderConfig", "/scim/v2/ResourceTypes", "/scim/v2/Schemas"} {
		if r := c.do("GET", p, ""); r.status != 200 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
}

func TestSCIMBadInput(t *testing.T) {
	s := startServe(t, sqliteEnv(t), false)
	c := scimClient{t: t, base: s.base, key: createKey(t, s.env, "--name", "idp", "--scope", "scim", "--tier", "unlimited").Key}
	for _, f := range []string{`userName eq`, `userName zz "x"`, `(userName eq "a"`, `externalId eq "abc"`,
		strings.Repeat(`userName eq "a" or `, 60) + `userName eq "b"`} {
		c.do("GET", "/scim/v2/Users?filter="+q(f), "").scimError(t, 400, "invalidFilter")
	}
	c.do("POST", "/scim/v2/Users", `{"userName": `).scimError(t, 400, "invalidSyntax")
	c.do("POST", "/scim/v2/Users", `{"userName": "not-an-address"}`).scimError(t, 400, "invalidValue")
	c.do("POST", "/scim/v2/Users", `{"userName": "a@example.com", "active": "maybe"}`).scimError(t, 400, "invalidSyntax")
	c.do("PATCH", "/scim/v2/Users/x", `{"Operations":[{"op":"explode","path":"active","value":true}]}`).scimError(t, 400, "invalidSyntax")
	c.do("PATCH", "/scim/v2/Users/x", `{"Operations":[]}`).scimError(t, 400, "invalidSyntax")
	c.do("GET", "/scim/v2/Nothing", "").scimError(t, 404, "")
	c.do("GET", "/scim/v2/Groups?filter="+q(`members co "x"`), "").scimError(t, 400, "invalidFilter")
	scimClient{t: t, base: s.base}.do("GET", "/scim/v2/Users", "").scimError(t, 401, "")
	other := createKey(t, s.env, "--name", "rest", "--scope", "users:write")
	scimClient{t: t, base: s.base, key: other.Key}.do("GET", "/scim/v2/Users", "").scimError(t, 403, "")
	if total, _ := c.do("GET", "/scim/v2/Users", "").listResponse(t); total != 0 {
		t.Errorf("refused requests created %d users", total)
	}
}

// TestSCIMGroups replays a group push (Okta and Entra): create the group
// with members, add and remove members by PATCH, find it by displayName.
func TestSCIMGroups(t *testing.T) {
	s := startServe(t, sqliteEnv(t), false)
	c := scimClient{t: t, base: s.base, key: createKey(t, s.env, "--name", "idp", "--scope", "scim", "--tier", "unlimited").Key}
	var ids []string
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		ids = append(ids, c.do("POST", "/scim/v2/Users", `{"userName":"`+e+`"}`).body["id"].(string))
	}
	r := c.do("POST", "/scim/v2/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering",
		"members":[{"value":"`+ids[0]+`"},{"value":"`+ids[1]+`"}]}`)
	if r.status != 201 || r.body["id"] != "Engineering" || len(r.body["members"].([]any)) != 2 {
		t.Fatalf("create group: %d %s", r.status, r.raw)
	}
	c.do("POST", "/scim/v2/Groups", `{"displayName":"Engineering"}`).scimError(t, 409, "uniqueness")
	total, res := c.do("GET", "/scim/v2/Groups?filter="+q(`displayName eq "Engineering"`)+"&excludedAttributes=members", "").listResponse(t)
	if total != 1 || res[0]["members"] != nil {
		t.Errorf("find group: %d %v", total, res)
	}
	r = c.do("PATCH", "/scim/v2/Groups/Engineering", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
		{"op":"add","path":"members","value":[{"value":"`+ids[2]+`"}]},
		{"op":"Remove","path":"members[value eq \"`+ids[0]+`\"]"}]}`)
	if r.status != 200 || len(r.body["members"].([]any)) != 2 {
		t.Fatalf("patch members: %d %s", r.status, r.raw)
	}
	var u struct {
		Organization string `json:"organization"`
	}
	mustRun(t, s.env, "users", "get", ids[2]).decodeJSON(t, &u)
	if u.Organization != "Engineering" {
		t.Errorf("added member's organization %q", u.Organization)
	}
	var gone struct {
		Organization string `json:"organization"`
	}
	mustRun(t, s.env, "users", "get", ids[0]).decodeJSON(t, &gone)
	if gone.Organization != "" {
		t.Errorf("removed member's organization %q", gone.Organization)
	}
	c.do("PATCH", "/scim/v2/Groups/Engineering", `{"Operations":[{"op":"add","path":"members","value":[{"value":"nobody"}]}]}`).
		scimError(t, 400, "invalidValue")
	if r := c.do("DELETE", "/scim/v2/Groups/Engineering", ""); r.status != 204 {
		t.Errorf("delete group: %d", r.status)
	}
	c.do("GET", "/scim/v2/Groups/Engineering", "").scimError(t, 404, "")
}
