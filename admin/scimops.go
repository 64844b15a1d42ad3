package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/authd/authd/account"
	"github.com/authd/authd/storage"
)

// scimPatch is a PATCH request (RFC 7644 §3.5.2).
type scimPatch struct {
	Schemas    []string `json:"schemas"`
	Operations []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	} `json:"Operations"`
}

// scimPatchUser applies the operations in one update. op is compared
// case-insensitively (Entra ID sends "Replace"); an operation without a
// path carries an object of attributes (Okta's deactivation is
// {"op":"replace","value":{"active":false}}).
func (a *API) scimPatchUser(ctx context.Context, c *call) (int, any, error) {
	var p scimPatch
	if err := readSCIM(c.r, &p); err != nil {
		return 0, nil, err
	}
	if len(p.Operations) == 0 || len(p.Operations) > 100 {
		return 0, nil, scimBad("invalidSyntax", "a PATCH needs between 1 and 100 Operations")
	}
	upd := account.AdminUpdate{IfMatch: scimIfMatch(c.r)}
	for i, op := range p.Operations {
		kind := strings.ToLower(op.Op)
		if kind != "add" && kind != "replace" && kind != "remove" {
			return 0, nil, scimBad("invalidSyntax", "Operations[%d].op %q: want add, replace or remove", i, op.Op)
		}
		if op.Path == "" {
			if kind == "remove" {
				return 0, nil, scimBad("noTarget", "Operations[%d]: remove needs a path", i)
			}
			var attrs map[string]json.RawMessage
			if err := json.Unmarshal(op.Value, &attrs); err != nil {
				return 0, nil, scimBad("invalidValue", "Operations[%d].value: without a path it must be an object of attributes", i)
			}
			for name, v := range attrs {
				if err := setSCIMAttr(&upd, name, v, false); err != nil {
					return 0, nil, err
				}
			}
			continue
		}
		if len(op.Path) > scimMaxFilter {
			return 0, nil, scimBad("invalidPath", "Operations[%d].path is too long", i)
		}
		if err := setSCIMAttr(&upd, op.Path, op.Value, kind == "remove"); err != nil {
			return 0, nil, err
		}
	}
	u, err := a.accounts.AdminUpdateUser(ctx, c.r.PathValue("id"), upd, actor(c), meta(c))
	if err != nil {
		return 0, nil, scimAccountError(err)
	}
	return a.scimRespondUser(c, u, http.StatusOK)
}

// setSCIMAttr records in upd the attribute path (a SCIM attribute path,
// "name.givenName", `emails[type eq "work"].value`, or a URN-prefixed
// enterprise attribute) set to raw, or cleared when remove. Attributes
// authd does not store are ignored; a value of the wrong type is
// invalidValue.
func setSCIMAttr(upd *account.AdminUpdate, path string, raw json.RawMessage, remove bool) error {
	p, err := filter.ParsePath([]byte(path))
	if err != nil {
		return scimBad("invalidPath", "path %q: %v", path, err)
	}
	attr := strings.ToLower(p.AttributePath.AttributeName)
	sub := strings.ToLower(p.AttributePath.SubAttributeName())
	if p.SubAttribute != nil {
		sub = strings.ToLower(*p.SubAttribute)
	}
	uri := strings.ToLower(p.AttributePath.URI())
	str := func() (*string, error) {
		if remove || string(raw) == "null" {
			return ptr(""), nil
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, scimBad("invalidValue", "%s: %v", path, err)
		}
		switch x := v.(type) {
		case string:
			return &x, nil
		case []any: // a multi-valued attribute given whole: its first value
			if len(x) > 0 {
				if m, ok := x[0].(map[string]any); ok {
					if s, ok := m["value"].(string); ok {
						return &s, nil
					}
				}
			}
		case map[string]any:
			if s, ok := x["value"].(string); ok {
				return &s, nil
			}
		}
		return nil, scimBad("invalidValue", "%s: want a string", path)
	}
	set := func(dst **string) error {
		v, err := str()
		if err == nil {
			*dst = v
		}
		return err
	}
	if uri == strings.ToLower(scimEnterprise) {
		switch attr {
		case "organization":
			return set(&upd.Organization)
		case "department":
			return set(&upd.Department)
		case "employeenumber":
			return set(&upd.EmployeeID)
		}
		return nil
	}
	if uri == "" && strings.HasPrefix(strings.ToLower(path), strings.ToLower(scimEnterprise)) {
		// The whole extension as an object.
		var ext map[string]json.RawMessage
		if err := json.Unmarshal(raw, &ext); err != nil {
			return scimBad("invalidValue", "%s: want an object", path)
		}
		for k, v := range ext {
			if err := setSCIMAttr(upd, scimEnterprise+":"+k, v, remove); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case attr == "active":
		if remove {
			return scimBad("mutability", "active cannot be removed")
		}
		var b flexBool
		if err := json.Unmarshal(raw, &b); err != nil {
			return scimBad("invalidValue", "active: %v", err)
		}
		d := !bool(b)
		upd.Disabled = &d
	case attr == "username":
		if remove {
			return scimBad("mutability", "userName cannot be removed")
		}
		return set(&upd.Email)
	case attr == "emails" && (sub == "value" || sub == ""):
		if remove {
			return nil // the account keeps its address
		}
		return set(&upd.Email)
	case attr == "displayname", attr == "name" && (sub == "formatted" || sub == ""):
		if attr == "name" && sub == "" && !remove {
			var n struct{ Formatted, GivenName, FamilyName string }
			if err := json.Unmarshal(raw, &n); err != nil {
				return scimBad("invalidValue", "name: want an object")
			}
			v := n.Formatted
			if v == "" {
				v = strings.TrimSpace(n.GivenName + " " + n.FamilyName)
			}
			upd.Name = &v
			return nil
		}
		return set(&upd.Name)
	case attr == "phonenumbers":
		return set(&upd.Phone)
	case attr == "locale":
		return set(&upd.Locale)
	}
	return nil // not stored by authd (givenName alone, title, addresses, ...)
}

// scimListUsers answers GET /Users with startIndex, count and filter.
func (a *API) scimListUsers(ctx context.Context, c *call) (int, any, error) {
	q := c.r.URL.Query()
	start, count := 1, 100
	if v := q.Get("startIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, nil, scimBad("invalidValue", "startIndex must be an integer")
		}
		start = max(n, 1) // RFC 7644 §3.4.2.4: less than 1 is 1
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, nil, scimBad("invalidValue", "count must be an integer")
		}
		count = min(max(n, 0), scimMaxCount)
	}
	var users []*storage.User
	var total int64
	if f := q.Get("filter"); f != "" {
		var err error
		if users, err = a.scimFilter(ctx, c, f); err != nil {
			return 0, nil, err
		}
		total = int64(len(users))
		if start-1 < len(users) {
			users = users[start-1 : min(len(users), start-1+count)]
		} else {
			users = nil
		}
	} else {
		var err error
		if total, err = a.store.CountUsers(ctx, storage.UserFilter{}); err != nil {
			return 0, nil, err
		}
		if count > 0 {
			if users, err = a.store.SearchUsers(ctx, storage.UserFilter{Offset: start - 1, Limit: count}); err != nil {
				return 0, nil, err
			}
		}
	}
	resources := make([]any, 0, len(users))
	for _, u := range users {
		resources = append(resources, a.scimUserOf(c, u))
	}
	return http.StatusOK, map[string]any{"schemas": []string{scimList}, "totalResults": total, "startIndex": start,
		"itemsPerPage": len(resources), "Resources": resources}, nil
}

// scimFilter returns the users matching a filter. An equality on
// userName, emails or id is answered from an index; anything else
// examines at most scimMaxScan users and answers tooMany beyond that, so
// no filter costs more than a bounded read (and none reaches SQL as
// text: it is evaluated here, on parsed values).
func (a *API) scimFilter(ctx context.Context, c *call, raw string) ([]*storage.User, error) {
	if len(raw) > scimMaxFilter {
		return nil, scimBad("invalidFilter", "the filter is longer than %d bytes", scimMaxFilter)
	}
	// Entra ID sends `emails[type eq "work"].value eq "x"`, which RFC
	// 7644's grammar does not have; it means emails[type eq "work" and
	// value eq "x"].
	if m := subAttrFilter.FindStringSubmatch(raw); m != nil {
		raw = m[1] + "[" + m[2] + " and " + m[3] + " " + m[4] + "]"
	}
	expr, err := filter.ParseFilter([]byte(raw))
	if err != nil {
		return nil, scimBad("invalidFilter", "the filter does not parse: %v", err)
	}
	if err := checkFilter(expr, 0); err != nil {
		return nil, err
	}
	if cands, ok, err := a.indexed(ctx, expr); ok || err != nil {
		return keep(cands, expr, a, c), err
	}
	n, err := a.store.CountUsers(ctx, storage.UserFilter{})
	if err != nil {
		return nil, err
	}
	if n > scimMaxScan {
		return nil, &scimErr{status: http.StatusBadRequest, kind: "tooMany",
			detail: fmt.Sprintf("this filter needs a scan of all %d users; filter with userName eq, emails eq or id eq", n)}
	}
	all, err := a.store.SearchUsers(ctx, storage.UserFilter{Limit: scimMaxScan})
	if err != nil {
		return nil, err
	}
	return keep(all, expr, a, c), nil
}

func keep(users []*storage.User, expr filter.Expression, a *API, c *call) []*storage.User {
	out := users[:0]
	for _, u := range users {
		if match(expr, a.scimUserOf(c, u)) {
			out = append(out, u)
		}
	}
	return out
}

var subAttrFilter = regexp.MustCompile(`^\s*(\w+)\[([^\]]*)\]\.(\w+)\s+((?i:eq|ne|co|sw|ew|gt|lt|ge|le)\s+.+?)\s*$`)

// checkFilter refuses attributes authd cannot answer and deep nesting.
func checkFilter(e filter.Expression, depth int) error {
	if depth > 16 {
		return scimBad("invalidFilter", "the filter is nested too deeply")
	}
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if err := checkFilter(x.Left, depth+1); err != nil {
			return err
		}
		return checkFilter(x.Right, depth+1)
	case *filter.NotExpression:
		return checkFilter(x.Expression, depth+1)
	case *filter.ValuePath:
		return checkFilter(x.ValueFilter, depth+1)
	case *filter.AttributeExpression:
		if strings.EqualFold(x.AttributePath.AttributeName, "externalId") {
			return scimBad("invalidFilter", "authd does not store externalId: match on userName")
		}
	}
	return nil
}

// indexed answers an expression an index serves: userName, emails.value
// or id equal to a string, alone or and-ed with anything.
func (a *API) indexed(ctx context.Context, e filter.Expression) ([]*storage.User, bool, error) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			if us, ok, err := a.indexed(ctx, x.Left); ok || err != nil {
				return us, ok, err
			}
			return a.indexed(ctx, x.Right)
		}
	case *filter.ValuePath:
		if strings.EqualFold(x.AttributePath.AttributeName, "emails") {
			if v, ok := valueEq(x.ValueFilter); ok {
				return a.byEmail(ctx, v)
			}
		}
	case *filter.AttributeExpression:
		v, isString := x.CompareValue.(string)
		if x.Operator != filter.EQ || !isString {
			return nil, false, nil
		}
		name := strings.ToLower(x.AttributePath.AttributeName)
		sub := strings.ToLower(x.AttributePath.SubAttributeName())
		switch {
		case name == "username", name == "emails" && (sub == "value" || sub == ""):
			return a.byEmail(ctx, v)
		case name == "id":
			return one(a.store.GetUser(ctx, v))
		}
	}
	return nil, false, nil
}

func (a *API) byEmail(ctx context.Context, v string) ([]*storage.User, bool, error) {
	return one(a.store.GetUserByEmail(ctx, v))
}

func one(u *storage.User, err error) ([]*storage.User, bool, error) {
	if errors.Is(err, storage.ErrNotFound) {
		return nil, true, nil
	}
	if err != nil {
		return nil, true, err
	}
	return []*storage.User{u}, true, nil
}

// valueEq finds `value eq "x"` in an and-chain of a value filter.
func valueEq(e filter.Expression) (string, bool) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			if v, ok := valueEq(x.Left); ok {
				return v, true
			}
			return valueEq(x.Right)
		}
	case *filter.AttributeExpression:
		v, ok := x.CompareValue.(string)
		return v, ok && x.Operator == filter.EQ && strings.EqualFold(x.AttributePath.AttributeName, "value")
	}
	return "", false
}

// match evaluates a filter on a User resource: attribute names and
// (except id) string comparisons are case-insensitive, as RFC 7643
// §2.1 and caseExact=false say.
func match(e filter.Expression, res map[string]any) bool {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			return match(x.Left, res) && match(x.Right, res)
		}
		return match(x.Left, res) || match(x.Right, res)
	case *filter.NotExpression:
		return !match(x.Expression, res)
	case *filter.ValuePath:
		vals, _ := lookup(res, x.AttributePath.URI(), x.AttributePath.AttributeName).([]any)
		for _, v := range vals {
			if m, ok := v.(map[string]any); ok && match(x.ValueFilter, m) {
				return true
			}
		}
		return false
	case *filter.AttributeExpression:
		v := lookup(res, x.AttributePath.URI(), x.AttributePath.AttributeName)
		if sub := x.AttributePath.SubAttributeName(); sub != "" {
			v = subValues(v, sub)
		}
		return compare(v, x.Operator, x.CompareValue)
	}
	return false
}

func lookup(res map[string]any, uri, name string) any {
	if uri != "" {
		ext, _ := lookupFold(res, uri).(map[string]any)
		return lookupFold(ext, name)
	}
	return lookupFold(res, name)
}

func lookupFold(m map[string]any, name string) any {
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// subValues is the sub-attribute of a complex or multi-valued attribute:
// a list when multi-valued.
func subValues(v any, sub string) any {
	switch x := v.(type) {
	case map[string]any:
		return lookupFold(x, sub)
	case []any:
		var out []any
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				out = append(out, lookupFold(m, sub))
			}
		}
		return out
	}
	return nil
}

func compare(v any, op filter.CompareOperator, want any) bool {
	if list, ok := v.([]any); ok {
		for _, e := range list {
			if compare(e, op, want) {
				return true
			}
		}
		return false
	}
	if op == filter.PR {
		s, isString := v.(string)
		return v != nil && (!isString || s != "")
	}
	switch got := v.(type) {
	case string:
		w, ok := want.(string)
		if !ok {
			return false
		}
		g, w := strings.ToLower(got), strings.ToLower(w)
		switch op {
		case filter.EQ:
			return g == w
		case filter.NE:
			return g != w
		case filter.CO:
			return strings.Contains(g, w)
		case filter.SW:
			return strings.HasPrefix(g, w)
		case filter.EW:
			return strings.HasSuffix(g, w)
		case filter.GT:
			return g > w
		case filter.GE:
			return g >= w
		case filter.LT:
			return g < w
		case filter.LE:
			return g <= w
		}
	case bool:
		w, ok := want.(bool)
		if !ok {
			return false
		}
		switch op {
		case filter.EQ:
			return got == w
		case filter.NE:
			return got != w
		}
	}
	return false
}

// Discovery (RFC 7644 §4).

func (a *API) scimConfig(context.Context, *call) (int, any, error) {
	return http.StatusOK, map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "/api/docs",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": scimMaxCount},
		"changePassword":   map[string]any{"supported": true},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{"type": "oauthbearertoken", "name": "API key",
			"description": "An authd API key (or client_credentials access token) with the scope scim, as a Bearer token.",
			"primary":     true}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": "/scim/v2/ServiceProviderConfig"},
	}, nil
}

func (a *API) scimResourceTypes(context.Context, *call) (int, any, error) {
	user := map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
		"id":      "User", "name": "User", "endpoint": "/Users", "description": "An authd account",
		"schema":           scimUser,
		"schemaExtensions": []any{map[string]any{"schema": scimEnterprise, "required": false}},
		"meta":             map[string]any{"resourceType": "ResourceType", "location": "/scim/v2/ResourceTypes/User"},
	}
	group := map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
		"id":      "Group", "name": "Group", "endpoint": "/Groups",
		"description": "An organization: its members are the users whose organization it is",
		"schema":      scimGroup,
		"meta":        map[string]any{"resourceType": "ResourceType", "location": "/scim/v2/ResourceTypes/Group"},
	}
	return http.StatusOK, map[string]any{"schemas": []string{scimList}, "totalResults": 2, "startIndex": 1, "itemsPerPage": 2,
		"Resources": []any{user, group}}, nil
}

func (a *API) scimSchemas(context.Context, *call) (int, any, error) {
	attr := func(name, typ string, extra ...any) map[string]any {
		m := map[string]any{"name": name, "type": typ, "multiValued": false, "required": false, "caseExact": false,
			"mutability": "readWrite", "returned": "default", "uniqueness": "none"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}
	user := map[string]any{"id": scimUser, "name": "User", "description": "An authd account",
		"attributes": []any{
			attr("userName", "string", "required", true, "uniqueness", "server", "description", "The email address the person signs in with."),
			attr("name", "complex", "subAttributes", []any{attr("formatted", "string"), attr("givenName", "string"), attr("familyName", "string")}),
			attr("displayName", "string"),
			attr("emails", "complex", "multiValued", true, "subAttributes", []any{attr("value", "string"), attr("type", "string"), attr("primary", "boolean")}),
			attr("phoneNumbers", "complex", "multiValued", true, "subAttributes", []any{attr("value", "string"), attr("type", "string")}),
			attr("locale", "string"),
			attr("active", "boolean", "description", "false disables the account and ends its sessions."),
			attr("password", "string", "mutability", "writeOnly", "returned", "never"),
		},
		"meta": map[string]any{"resourceType": "Schema", "location": "/scim/v2/Schemas/" + scimUser}}
	ent := map[string]any{"id": scimEnterprise, "name": "EnterpriseUser", "description": "Enterprise User",
		"attributes": []any{attr("organization", "string"), attr("department", "string"), attr("employeeNumber", "string")},
		"meta":       map[string]any{"resourceType": "Schema", "location": "/scim/v2/Schemas/" + scimEnterprise}}
	group := map[string]any{"id": scimGroup, "name": "Group", "description": "An organization",
		"attributes": []any{attr("displayName", "string", "required", true, "uniqueness", "server", "mutability", "immutable"),
			attr("members", "complex", "multiValued", true, "subAttributes", []any{attr("value", "string", "mutability", "immutable"),
				attr("display", "string", "mutability", "readOnly")})},
		"meta": map[string]any{"resourceType": "Schema", "location": "/scim/v2/Schemas/" + scimGroup}}
	for _, s := range []map[string]any{user, ent, group} {
		s["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"}
	}
	return http.StatusOK, map[string]any{"schemas": []string{scimList}, "totalResults": 3, "startIndex": 1, "itemsPerPage": 3,
		"Resources": []any{user, ent, group}}, nil
}
