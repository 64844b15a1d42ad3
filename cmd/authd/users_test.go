package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// cliUser is the JSON `authd users create|get|list` prints.
type cliUser struct {
	ID            string  `json:"id"`
	Email         string  `json:"email"`
	EmailVerified bool    `json:"email_verified"`
	Name          string  `json:"name"`
	Organization  string  `json:"organization"`
	Department    string  `json:"department"`
	EmployeeID    string  `json:"employee_id"`
	Disabled      bool    `json:"disabled"`
	PasswordHash  *string `json:"password_hash"`
	PasswordSet   string  `json:"password_changed_at"`
	CreatedAt     string  `json:"created_at"`
}

const cliPassword = "correct horse battery staple"

func createUser(t *testing.T, env []string, args ...string) cliUser {
	t.Helper()
	var u cliUser
	mustRun(t, env, append([]string{"users", "create"}, args...)...).decodeJSON(t, &u)
	return u
}

func TestUsersCreate(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, env []string) {
		u := createUser(t, env, "--email", "Ada@Example.com", "--password", cliPassword, "--verified", "--name", "Ada Lovelace",
			"--organization", "Analytical Engines", "--department", "Research", "--employee-id", "E-1815")
		want := cliUser{ID: u.ID, Email: "ada@example.com", EmailVerified: true, Name: "Ada Lovelace",
			Organization: "Analytical Engines", Department: "Research", EmployeeID: "E-1815",
			PasswordSet: u.PasswordSet, CreatedAt: u.CreatedAt}
		if u.ID == "" || u.PasswordSet == "" || u.CreatedAt == "" || !reflect.DeepEqual(u, want) {
			t.Errorf("users create:\n got %+v\nwant %+v (with an id and times)", u, want)
		}
		r := mustRun(t, env, "users", "get", u.ID)
		if strings.Contains(r.stdout, "argon2") || strings.Contains(r.stdout, cliPassword) {
			t.Errorf("users get prints the password or its hash:\n%s", r.stdout)
		}

		// The password from a file; unverified by default.
		pwFile := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(pwFile, []byte("another fine passphrase\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		b := createUser(t, env, "--email", "bob@example.com", "--password-file", pwFile)
		if b.EmailVerified || b.Email != "bob@example.com" {
			t.Errorf("users create --password-file: %+v, want bob, unverified", b)
		}

		tests := []struct {
			name string
			args []string
			code int
			want []string
		}{
			{"weak password", []string{"--email", "c@example.com", "--password", "password"}, 1,
				[]string{"does not meet the policy", "must be at least 12 characters long (it has 8)", "is too common"}},
			{"password with the address", []string{"--email", "carol@example.com", "--password", "carol is the best!"}, 1,
				[]string{"does not meet the policy", `must not contain your email address's name ("carol")`}},
			{"taken address", []string{"--email", "ADA@example.com", "--password", cliPassword}, 1, []string{`a user with email "ADA@example.com" already exists`}},
			{"invalid address", []string{"--email", "ada@@example.com", "--password", cliPassword}, 1, []string{"--email", "exactly one @"}},
			{"control character in name", []string{"--email", "d@example.com", "--password", cliPassword, "--name", "a\x1bb"}, 1, []string{"--name"}},
			{"no email", []string{"--password", cliPassword}, 2, []string{"--email is required"}},
			{"no password", []string{"--email", "e@example.com"}, 2, []string{"--password or --password-file is required"}},
			{"both passwords", []string{"--email", "e@example.com", "--password", "x", "--password-file", pwFile}, 2, []string{"not both"}},
			{"missing password file", []string{"--email", "e@example.com", "--password-file", "/nonexistent/pw"}, 1, []string{"--password-file"}},
			{"stray argument", []string{"--email", "e@example.com", "--password", cliPassword, "extra"}, 2, []string{"unexpected arguments"}},
			{"unknown flag", []string{"--email", "e@example.com", "--phone", "+15551234567"}, 2, []string{"-phone"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				mustFail(t, env, tt.code, tt.want, append([]string{"users", "create"}, tt.args...)...)
			})
		}
		var all []cliUser
		mustRun(t, env, "users", "list").decodeJSON(t, &all)
		if len(all) != 2 {
			t.Errorf("users list after the failures: %+v, want ada and bob", all)
		}
	})
}

func TestUsersListGetDisableDelete(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, env []string) {
		if got := strings.TrimSpace(mustRun(t, env, "users", "list").stdout); got != "[]" {
			t.Errorf("users list on a new database: %q, want []", got)
		}
		var ids []string
		for _, e := range []string{"a@example.com", "b@example.com", "c@example.com"} {
			ids = append(ids, createUser(t, env, "--email", e, "--password", cliPassword, "--verified").ID)
		}
		slices.Sort(ids)

		// Paging.
		var page1, page2 []cliUser
		mustRun(t, env, "users", "list", "--limit", "2").decodeJSON(t, &page1)
		mustRun(t, env, "users", "list", "--limit", "2", "--after", page1[len(page1)-1].ID).decodeJSON(t, &page2)
		var got []string
		for _, u := range append(page1, page2...) {
			got = append(got, u.ID)
		}
		if !slices.Equal(got, ids) || len(page1) != 2 {
			t.Errorf("users list in pages of 2: %q, want %q", got, ids)
		}

		// Get by id or by email.
		var byID, byEmail cliUser
		mustRun(t, env, "users", "get", ids[0]).decodeJSON(t, &byID)
		mustRun(t, env, "users", "get", strings.ToUpper(byID.Email)).decodeJSON(t, &byEmail)
		if byID.ID != ids[0] || !reflect.DeepEqual(byID, byEmail) {
			t.Errorf("users get by id %+v and by email %+v differ", byID, byEmail)
		}

		var u cliUser
		mustRun(t, env, "users", "disable", ids[0]).decodeJSON(t, &u)
		if !u.Disabled || u.ID != ids[0] {
			t.Errorf("users disable: %+v, want the user, disabled", u)
		}
		mustRun(t, env, "users", "disable", ids[0]).decodeJSON(t, &u) // idempotent
		mustRun(t, env, "users", "enable", ids[0]).decodeJSON(t, &u)
		if u.Disabled {
			t.Errorf("users enable: %+v, want enabled", u)
		}
		var del map[string]any
		mustRun(t, env, "users", "delete", ids[1]).decodeJSON(t, &del)
		if want := map[string]any{"id": ids[1], "deleted": true}; !reflect.DeepEqual(del, want) {
			t.Errorf("users delete: %v, want %v", del, want)
		}

		tests := []struct {
			name string
			args []string
			code int
			want []string
		}{
			{"get deleted", []string{"users", "get", ids[1]}, 1, []string{"not found"}},
			{"get unknown email", []string{"users", "get", "nobody@example.com"}, 1, []string{`user "nobody@example.com" not found`}},
			{"delete deleted", []string{"users", "delete", ids[1]}, 1, []string{"not found"}},
			{"disable unknown", []string{"users", "disable", "nope"}, 1, []string{`user "nope" not found`}},
			{"get without id", []string{"users", "get"}, 2, []string{"missing user id", "USER_ID|EMAIL"}},
			{"delete two ids", []string{"users", "delete", "a", "b"}, 2, []string{"unexpected arguments: [b]", "usage: authd users delete USER_ID"}},
			{"list bad limit", []string{"users", "list", "--limit", "0"}, 2, []string{"--limit must be between 1 and 1000"}},
			{"no subcommand", []string{"users"}, 2, []string{"usage: authd users"}},
			{"unknown subcommand", []string{"users", "rename"}, 2, []string{`unknown users subcommand "rename"`}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { mustFail(t, env, tt.code, tt.want, tt.args...) })
		}
	})
}
