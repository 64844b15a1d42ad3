package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// cliAuditEvent is the JSON `authd audit list` prints.
type cliAuditEvent struct {
	ID        int64          `json:"id"`
	Time      string         `json:"time"`
	Type      string         `json:"type"`
	ActorID   string         `json:"actor_id"`
	SubjectID string         `json:"subject_id"`
	ClientID  string         `json:"client_id"`
	Details   map[string]any `json:"details"`
	Hash      string         `json:"hash"`
}

func listAudit(t *testing.T, env []string, args ...string) []cliAuditEvent {
	t.Helper()
	var es []cliAuditEvent
	mustRun(t, env, append([]string{"audit", "list"}, args...)...).decodeJSON(t, &es)
	return es
}

func types(es []cliAuditEvent) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.Type)
	}
	return out
}

func TestAudit(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, env []string) {
		if es := listAudit(t, env); len(es) != 0 {
			t.Errorf("audit list on a new database: %+v, want none", es)
		}
		ada := createUser(t, env, "--email", "ada@example.com", "--password", cliPassword)
		bob := createUser(t, env, "--email", "bob@example.com", "--password", cliPassword)
		mustRun(t, env, "users", "disable", ada.ID)
		mustRun(t, env, "users", "enable", ada.ID)
		mustRun(t, env, "users", "delete", ada.ID)

		es := listAudit(t, env, "--user", ada.ID)
		if got, want := types(es), []string{"user.deleted", "user.enabled", "user.disabled", "user.created"}; !slices.Equal(got, want) {
			t.Errorf("audit list --user ada: %q, want %q (newest first)", got, want)
		}
		for _, e := range es {
			if e.ActorID != "cli" || e.SubjectID != ada.ID || len(e.Hash) != 64 || e.Time == "" {
				t.Errorf("event %+v: want actor cli, subject ada, a hash and a time", e)
			}
		}
		if got := types(listAudit(t, env, "--user", bob.ID)); !slices.Equal(got, []string{"user.created"}) {
			t.Errorf("audit list --user bob: %q", got)
		}
		all := listAudit(t, env)
		if len(all) != 5 || all[0].ID != 5 || all[4].ID != 1 {
			t.Errorf("audit list: ids %v, want 5..1", all)
		}
		page := listAudit(t, env, "--limit", "2", "--before", "4")
		if len(page) != 2 || page[0].ID != 3 || page[1].ID != 2 {
			t.Errorf("audit list --limit 2 --before 4: %+v, want events 3 and 2", page)
		}
		var v map[string]any
		mustRun(t, env, "audit", "verify").decodeJSON(t, &v)
		if v["intact"] != true {
			t.Errorf("audit verify: %v, want intact", v)
		}

		// Registering a client is audited too, without its secret.
		var c cliClient
		mustRun(t, env, "clients", "create", "--name", "Audited app", "--redirect-uri", "https://app.example/cb").decodeJSON(t, &c)
		if es := listAudit(t, env, "--limit", "1"); len(es) != 1 || es[0].Type != "client.created" || es[0].ActorID != "cli" ||
			es[0].ClientID != c.ClientID || es[0].Details["name"] != "Audited app" {
			t.Errorf("audit after clients create: %+v, want client.created by cli for %s", es, c.ClientID)
		} else if b, _ := json.Marshal(es[0]); c.ClientSecret == nil || strings.Contains(string(b), *c.ClientSecret) {
			t.Errorf("client.created event %s holds the secret (or the client has none)", b)
		}

		tests := []struct {
			name string
			args []string
			want []string
		}{
			{"no subcommand", []string{"audit"}, []string{"usage: authd audit"}},
			{"unknown subcommand", []string{"audit", "purge"}, []string{`unknown audit subcommand "purge"`}},
			{"bad limit", []string{"audit", "list", "--limit", "5000"}, []string{"--limit must be between 1 and 1000"}},
			{"bad before", []string{"audit", "list", "--before", "-1"}, []string{"--before must be an event id"}},
			{"stray argument", []string{"audit", "list", "x"}, []string{"unexpected arguments"}},
			{"verify argument", []string{"audit", "verify", "x"}, []string{"unexpected arguments"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { mustFail(t, env, 2, tt.want, tt.args...) })
		}
	})
}
