package apikey

import (
	"fmt"
	"slices"
	"strings"
)

// Resources are the admin API's resources; each has a <resource>:read and
// a <resource>:write scope.
var Resources = []string{"users", "clients", "providers", "roles", "organizations", "webhooks", "audit",
	"sessions", "keys", "privacy", "api-keys"}

// Other scopes: ScopeAdmin covers every scope; ScopeSCIM is the SCIM 2.0
// endpoints; ScopeAuthzCheck is the AuthZEN decision endpoints.
const (
	ScopeAdmin      = "admin"
	ScopeSCIM       = "scim"
	ScopeAuthzCheck = "authz:check"
)

// ValidScope reports whether s is a scope the admin API knows.
func ValidScope(s string) bool {
	switch s {
	case ScopeAdmin, ScopeSCIM, ScopeAuthzCheck:
		return true
	}
	res, action, ok := strings.Cut(s, ":")
	return ok && (action == "read" || action == "write") && slices.Contains(Resources, res)
}

// CheckScopes returns an error naming the first unknown scope, or when
// there are none.
func CheckScopes(scopes []string) error {
	if len(scopes) == 0 {
		return fmt.Errorf("at least one scope is required (for example users:read, or admin)")
	}
	for _, s := range scopes {
		if !ValidScope(s) {
			return fmt.Errorf("unknown scope %q: want <resource>:read or <resource>:write (resources: %s), scim, authz:check or admin",
				s, strings.Join(Resources, ", "))
		}
	}
	return nil
}

// Covers reports whether granted includes need: admin covers everything,
// and <resource>:write covers <resource>:read.
func Covers(granted []string, need string) bool {
	for _, g := range granted {
		if g == ScopeAdmin || g == need {
			return true
		}
		if res, ok := strings.CutSuffix(need, ":read"); ok && g == res+":write" {
			return true
		}
	}
	return false
}
