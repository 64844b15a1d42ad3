package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/authd/authd/account"
	"github.com/authd/authd/storage"
)

// SCIM Groups are organizations until roles exist: a group is the set of
// users whose organization is its displayName, and its id is that name.
// Adding a member sets the user's organization (so a user is in one group
// at a time); removing one clears it. The RBAC issue backs groups with
// roles, where a user may hold many.

const (
	scimGroup = "urn:ietf:params:scim:schemas:core:2.0:Group"
	// scimMaxMembers bounds the members a group answer lists.
	scimMaxMembers = 1000
)

func (a *API) scimGroupRoutes(mux *http.ServeMux, h func(func(context.Context, *call) (int, any, error)) http.Handler) {
	mux.Handle("GET /scim/v2/Groups", h(a.scimListGroups))
	mux.Handle("POST /scim/v2/Groups", h(a.scimCreateGroup))
	mux.Handle("GET /scim/v2/Groups/{id}", h(a.scimGetGroup))
	mux.Handle("PATCH /scim/v2/Groups/{id}", h(a.scimPatchGroup))
	mux.Handle("PUT /scim/v2/Groups/{id}", h(a.scimReplaceGroup))
	mux.Handle("DELETE /scim/v2/Groups/{id}", h(a.scimDeleteGroup))
}

func (a *API) members(ctx context.Context, org string) ([]*storage.User, error) {
	return a.store.SearchUsers(ctx, storage.UserFilter{Organization: org, Limit: scimMaxMembers})
}

func (a *API) scimGroupOf(ctx context.Context, name string, withMembers bool) (map[string]any, error) {
	g := map[string]any{"schemas": []string{scimGroup}, "id": name, "displayName": name,
		"meta": map[string]any{"resourceType": "Group", "location": "/scim/v2/Groups/" + url.PathEscape(name)}}
	if withMembers {
		us, err := a.members(ctx, name)
		if err != nil {
			return nil, err
		}
		ms := make([]any, 0, len(us))
		for _, u := range us {
			ms = append(ms, map[string]any{"value": u.ID, "display": u.Email, "$ref": "/scim/v2/Users/" + u.ID})
		}
		g["members"] = ms
	}
	return g, nil
}

func (a *API) groupExists(ctx context.Context, name string) error {
	n, err := a.store.CountUsers(ctx, storage.UserFilter{Organization: name})
	if err != nil {
		return err
	}
	if name == "" || n == 0 {
		return &scimErr{status: http.StatusNotFound, detail: "no such group"}
	}
	return nil
}

func (a *API) scimGetGroup(ctx context.Context, c *call) (int, any, error) {
	name := c.r.PathValue("id")
	if err := a.groupExists(ctx, name); err != nil {
		return 0, nil, err
	}
	g, err := a.scimGroupOf(ctx, name, !strings.Contains(c.r.URL.Query().Get("excludedAttributes"), "members"))
	return http.StatusOK, g, err
}

// scimListGroups lists organizations; filter displayName eq "x" (what
// Okta and Entra send) or none.
func (a *API) scimListGroups(ctx context.Context, c *call) (int, any, error) {
	var names []string
	if f := c.r.URL.Query().Get("filter"); f != "" {
		if len(f) > scimMaxFilter {
			return 0, nil, scimBad("invalidFilter", "the filter is too long")
		}
		expr, err := filter.ParseFilter([]byte(f))
		if err != nil {
			return 0, nil, scimBad("invalidFilter", "the filter does not parse: %v", err)
		}
		x, ok := expr.(*filter.AttributeExpression)
		v, isString := "", false
		if ok {
			v, isString = x.CompareValue.(string)
		}
		if !ok || !isString || x.Operator != filter.EQ || !strings.EqualFold(x.AttributePath.AttributeName, "displayName") {
			return 0, nil, scimBad("invalidFilter", `groups are filtered by displayName eq "name" only`)
		}
		if a.groupExists(ctx, v) == nil {
			names = []string{v}
		}
	} else {
		var err error
		if names, err = a.store.ListOrganizations(ctx, "", scimMaxCount); err != nil {
			return 0, nil, err
		}
	}
	withMembers := !strings.Contains(c.r.URL.Query().Get("excludedAttributes"), "members")
	res := make([]any, 0, len(names))
	for _, n := range names {
		g, err := a.scimGroupOf(ctx, n, withMembers)
		if err != nil {
			return 0, nil, err
		}
		res = append(res, g)
	}
	return http.StatusOK, map[string]any{"schemas": []string{scimList}, "totalResults": len(res), "startIndex": 1,
		"itemsPerPage": len(res), "Resources": res}, nil
}

type scimGroupIn struct {
	DisplayName string `json:"displayName"`
	Members     []struct {
		Value string `json:"value"`
	} `json:"members"`
}

// setOrganization moves users into (or, with "", out of) an organization
// through the account service.
func (a *API) setOrganization(ctx context.Context, c *call, ids []string, org string) error {
	for _, id := range ids {
		o := org
		if _, err := a.accounts.AdminUpdateUser(ctx, id, account.AdminUpdate{ProfileUpdate: account.ProfileUpdate{Organization: &o}},
			actor(c), meta(c)); err != nil {
			if err := scimAccountError(err); err != nil {
				return scimBad("invalidValue", "member %s: %v", id, err)
			}
		}
	}
	return nil
}

func (a *API) scimCreateGroup(ctx context.Context, c *call) (int, any, error) {
	var in scimGroupIn
	if err := readSCIM(c.r, &in); err != nil {
		return 0, nil, err
	}
	if in.DisplayName == "" || len(in.DisplayName) > 256 {
		return 0, nil, scimBad("invalidValue", "displayName is required (at most 256 bytes)")
	}
	if a.groupExists(ctx, in.DisplayName) == nil {
		return 0, nil, &scimErr{status: http.StatusConflict, kind: "uniqueness", detail: "a group with this displayName exists"}
	}
	ids := make([]string, 0, len(in.Members))
	for _, m := range in.Members {
		ids = append(ids, m.Value)
	}
	if err := a.setOrganization(ctx, c, ids, in.DisplayName); err != nil {
		return 0, nil, err
	}
	g, err := a.scimGroupOf(ctx, in.DisplayName, true)
	c.w.Header().Set("Location", "/scim/v2/Groups/"+url.PathEscape(in.DisplayName))
	return http.StatusCreated, g, err
}

// scimPatchGroup handles members add/remove (Okta and Entra's group push)
// and replace of the whole member list.
func (a *API) scimPatchGroup(ctx context.Context, c *call) (int, any, error) {
	name := c.r.PathValue("id")
	if err := a.groupExists(ctx, name); err != nil {
		return 0, nil, err
	}
	var p scimPatch
	if err := readSCIM(c.r, &p); err != nil {
		return 0, nil, err
	}
	if len(p.Operations) == 0 || len(p.Operations) > 100 {
		return 0, nil, scimBad("invalidSyntax", "a PATCH needs between 1 and 100 Operations")
	}
	for i, op := range p.Operations {
		kind := strings.ToLower(op.Op)
		var vals []struct {
			Value string `json:"value"`
		}
		path := strings.ToLower(op.Path)
		switch {
		case path == "" && kind != "remove":
			var in scimGroupIn
			if err := json.Unmarshal(op.Value, &in); err != nil {
				return 0, nil, scimBad("invalidValue", "Operations[%d].value: %v", i, err)
			}
			if in.DisplayName != "" && in.DisplayName != name {
				return 0, nil, scimBad("mutability", "a group's displayName is its id and cannot change")
			}
			for _, m := range in.Members {
				vals = append(vals, struct {
					Value string `json:"value"`
				}{m.Value})
			}
			path = "members"
		case strings.HasPrefix(path, "members[value eq "):
			v := strings.Trim(strings.TrimSuffix(op.Path[len("members[value eq "):], "]"), `"`)
			vals = append(vals, struct {
				Value string `json:"value"`
			}{v})
			path = "members"
		case path == "members":
			if len(op.Value) > 0 && json.Unmarshal(op.Value, &vals) != nil {
				return 0, nil, scimBad("invalidValue", "Operations[%d].value: want a list of members", i)
			}
		case path == "displayname":
			return 0, nil, scimBad("mutability", "a group's displayName is its id and cannot change")
		default:
			continue // an attribute authd does not store
		}
		ids := make([]string, 0, len(vals))
		for _, v := range vals {
			ids = append(ids, v.Value)
		}
		switch kind {
		case "add":
			if err := a.setOrganization(ctx, c, ids, name); err != nil {
				return 0, nil, err
			}
		case "remove":
			if len(ids) == 0 { // remove all members
				us, err := a.members(ctx, name)
				if err != nil {
					return 0, nil, err
				}
				for _, u := range us {
					ids = append(ids, u.ID)
				}
			}
			if err := a.setOrganization(ctx, c, ids, ""); err != nil {
				return 0, nil, err
			}
		case "replace":
			if err := a.replaceMembers(ctx, c, name, ids); err != nil {
				return 0, nil, err
			}
		default:
			return 0, nil, scimBad("invalidSyntax", "Operations[%d].op %q: want add, replace or remove", i, op.Op)
		}
	}
	if a.groupExists(ctx, name) != nil {
		return http.StatusNoContent, nil, nil
	}
	g, err := a.scimGroupOf(ctx, name, true)
	return http.StatusOK, g, err
}

func (a *API) replaceMembers(ctx context.Context, c *call, name string, ids []string) error {
	us, err := a.members(ctx, name)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, id := range ids {
		keep[id] = true
	}
	var gone []string
	for _, u := range us {
		if !keep[u.ID] {
			gone = append(gone, u.ID)
		}
	}
	if err := a.setOrganization(ctx, c, gone, ""); err != nil {
		return err
	}
	return a.setOrganization(ctx, c, ids, name)
}

func (a *API) scimReplaceGroup(ctx context.Context, c *call) (int, any, error) {
	name := c.r.PathValue("id")
	if err := a.groupExists(ctx, name); err != nil {
		return 0, nil, err
	}
	var in scimGroupIn
	if err := readSCIM(c.r, &in); err != nil {
		return 0, nil, err
	}
	if in.DisplayName != "" && in.DisplayName != name {
		return 0, nil, scimBad("mutability", "a group's displayName is its id and cannot change")
	}
	ids := make([]string, 0, len(in.Members))
	for _, m := range in.Members {
		ids = append(ids, m.Value)
	}
	if err := a.replaceMembers(ctx, c, name, ids); err != nil {
		return 0, nil, err
	}
	g, err := a.scimGroupOf(ctx, name, true)
	return http.StatusOK, g, err
}

// scimDeleteGroup clears the organization of every member.
func (a *API) scimDeleteGroup(ctx context.Context, c *call) (int, any, error) {
	name := c.r.PathValue("id")
	if err := a.groupExists(ctx, name); err != nil {
		return 0, nil, err
	}
	if err := a.replaceMembers(ctx, c, name, nil); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
