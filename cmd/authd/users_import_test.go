package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd/authd/internal/password"
)

// cliImportSummary is the JSON `authd users import` prints.
type cliImportSummary struct {
	Imported   int64   `json:"imported"`
	Skipped    int64   `json:"skipped"`
	Duplicates int64   `json:"duplicates"`
	Invalid    int64   `json:"invalid"`
	Seconds    float64 `json:"seconds"`
	Problems   []struct {
		Line   int    `json:"line"`
		Kind   string `json:"kind"`
		Reason string `json:"reason"`
	} `json:"problems"`
}

func writeLines(t *testing.T, lines ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "users.jsonl")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// storedHash reads a user's password hash straight from the database the
// CLI uses in env.
func storedHash(t *testing.T, env []string, email string) string {
	t.Helper()
	cfg, err := loadConfig("", env)
	if err != nil {
		t.Fatal(err)
	}
	d, err := openDeps(context.Background(), &cliEnv{cfg: cfg, stdout: io.Discard, stderr: io.Discard}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	u, err := d.store.GetUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("%s: %v", email, err)
	}
	return u.PasswordHash
}

func TestUsersImport(t *testing.T) {
	t.Parallel()
	hasher, err := password.NewHasher(password.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	phc, err := hasher.Hash(context.Background(), "precomputed passphrase")
	if err != nil {
		t.Fatal(err)
	}
	forEachBackend(t, func(t *testing.T, env []string) {
		createUser(t, env, "--email", "taken@example.com", "--password", cliPassword)
		file := writeLines(t,
			`{"email": "Ada@Example.com", "password_hash": "`+phc+`", "name": "Ada Lovelace", "verified": true, "organization": "Analytical Engines"}`, // 1
			`{"email": "bob@example.com", "password": "`+cliPassword+`", "phone": "+1 (555) 123-4567", "phone_verified": true}`,                        // 2
			``,                               // 3: blank, ignored
			`{"email": "carol@example.com"}`, // 4: no password
			`{"email": "ADA@example.com", "password_hash": "`+phc+`"}`,   // 5: line 1's
			`{"email": "taken@example.com", "password_hash": "`+phc+`"}`, // 6: in the database
			`not json`, // 7
			`{"email": "dave@example.com", "pasword": "typo in the field name"}`,               // 8
			`{"email": "erin@example.com", "password": "password"}`,                            // 9: policy
			`{"email": "frank@example.com", "password_hash": "$2a$10$abcdefghijklmnopqrstuv"}`, // 10: not Argon2id
			`{"email": "grace@example.com", "password": "x", "password_hash": "`+phc+`"}`,      // 11: both
			`{"email": "heidi@example.com", "phone": "555-1234"}`,                              // 12: not E.164
			`{"name": "no email"}`,                              // 13
			`{"email": "ivan@example.com", "name": "a\u001bb"}`, // 14: control character
			`{"email": "judy@example.com", "id": "legacy-7", "created_at": "2019-01-02T03:04:05Z", "locale": "pt-br"}`, // 15
		)
		r := mustRun(t, env, "users", "import", "--file", file, "--batch", "2")
		var s cliImportSummary
		r.decodeJSON(t, &s)
		if s.Imported != 4 || s.Duplicates != 2 || s.Invalid != 8 || s.Skipped != 10 || len(s.Problems) != 10 {
			t.Errorf("summary %+v, want 4 imported, 2 duplicates, 8 invalid", s)
		}
		want := map[int]string{
			5: "line 1", 6: "exists already", 7: "not a JSON object", 8: `unknown field "pasword"`,
			9: "does not meet the policy", 10: "not an Argon2id PHC string", 11: "not both", 12: "international form",
			13: "email is missing", 14: "name must not contain control characters",
		}
		for _, p := range s.Problems {
			if w, ok := want[p.Line]; !ok || !strings.Contains(p.Reason, w) {
				t.Errorf("problem on line %d: %q, want %q", p.Line, p.Reason, w)
			}
			if !strings.Contains(r.stderr, "line "+itoa(p.Line)+": "+p.Kind) {
				t.Errorf("stderr does not list line %d:\n%s", p.Line, r.stderr)
			}
		}

		var ada, judy cliUser
		mustRun(t, env, "users", "get", "ada@example.com").decodeJSON(t, &ada)
		if ada.Name != "Ada Lovelace" || !ada.EmailVerified || ada.Organization != "Analytical Engines" || ada.PasswordSet == "" {
			t.Errorf("ada: %+v", ada)
		}
		if h := storedHash(t, env, "ada@example.com"); h != phc {
			t.Errorf("ada's hash %q, want the precomputed one stored as is", h)
		}
		// A clear password is hashed (under the configured parameters).
		if ok, rehash, err := hasher.Verify(context.Background(), storedHash(t, env, "bob@example.com"), cliPassword); !ok || rehash || err != nil {
			t.Errorf("bob's password does not verify: %v %v %v", ok, rehash, err)
		}
		var bobJSON map[string]any
		mustRun(t, env, "users", "get", "bob@example.com").decodeJSON(t, &bobJSON)
		if bobJSON["phone_number"] != "+15551234567" || bobJSON["phone_number_verified"] != true || bobJSON["email_verified"] != false {
			t.Errorf("bob: %v, want the phone in E.164, verified; the email unverified", bobJSON)
		}
		if h := storedHash(t, env, "carol@example.com"); h != "" {
			t.Errorf("carol has a password hash %q, want none", h)
		}
		mustRun(t, env, "users", "get", "legacy-7").decodeJSON(t, &judy)
		if judy.Email != "judy@example.com" || !strings.HasPrefix(judy.CreatedAt, "2019-01-02T03:04:05") {
			t.Errorf("judy: %+v, want the id and created_at given", judy)
		}

		// One audit event for the import.
		var imported []cliAuditEvent
		for _, e := range listAudit(t, env) {
			if e.Type == "user.imported" {
				imported = append(imported, e)
			}
		}
		if len(imported) != 1 || imported[0].ActorID != "cli" || imported[0].Details["count"] != float64(4) ||
			imported[0].Details["source"] != "users.jsonl" || len(imported[0].Details["sha256"].(string)) != 64 {
			t.Errorf("user.imported events: %+v", imported)
		}
		mustRun(t, env, "audit", "verify")

		// --on-conflict fail: the first problem aborts, nothing is imported.
		file2 := writeLines(t, `{"email": "new1@example.com"}`, `{"email": "ada@example.com"}`, `{"email": "new2@example.com"}`)
		r = mustFail(t, env, 1, []string{"line 2: duplicate", "nothing was imported"}, "users", "import", "--file", file2, "--on-conflict", "fail")
		r.decodeJSON(t, &s)
		if s.Imported != 0 {
			t.Errorf("failed import summary %+v, want 0 imported", s)
		}
		mustFail(t, env, 1, []string{"not found"}, "users", "get", "new1@example.com")
		// The same with skip imports the two new users; quietly; the file
		// may be given as the argument.
		r = mustRun(t, env, "users", "import", "--quiet", file2)
		r.decodeJSON(t, &s)
		if s.Imported != 2 || s.Duplicates != 1 || strings.Contains(r.stderr, "line 2") {
			t.Errorf("skip: %+v, stderr %q", s, r.stderr)
		}

		tests := []struct {
			name string
			args []string
			code int
			want []string
		}{
			{"missing file", []string{"--file", "/nonexistent/users.jsonl"}, 1, []string{"--file"}},
			{"bad batch", []string{"--file", file, "--batch", "0"}, 2, []string{"--batch must be between 1 and"}},
			{"bad on-conflict", []string{"--file", file, "--on-conflict", "update"}, 2, []string{"--on-conflict must be skip or fail"}},
			{"stray argument", []string{"--file", file, "extra"}, 2, []string{"unexpected arguments"}},
			{"two files", []string{file, file}, 2, []string{"unexpected arguments"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				mustFail(t, env, tt.code, tt.want, append([]string{"users", "import"}, tt.args...)...)
			})
		}
	})
}

// TestUsersImportLongLine: a line over 1 MiB stops the import with an error
// naming it; the lines before it are imported (skip mode).
func TestUsersImportLongLine(t *testing.T) {
	t.Parallel()
	env := sqliteEnv(t)
	file := writeLines(t, `{"email": "a@example.com"}`, `{"email": "b@example.com", "name": "`+strings.Repeat("x", 1<<20)+`"}`)
	mustFail(t, env, 1, []string{"line 2 is longer than"}, "users", "import", "--file", file)
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
