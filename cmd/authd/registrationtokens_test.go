package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// cliInitialToken is the JSON `authd clients registration-token` prints.
type cliInitialToken struct {
	ID          string     `json:"id"`
	Token       *string    `json:"token"`
	Description string     `json:"description"`
	Status      string     `json:"status"`
	MaxUses     int        `json:"max_uses"`
	Uses        int        `json:"uses"`
	CreatedBy   string     `json:"created_by"`
	ExpiresAt   *time.Time `json:"expires_at"`
}

func listInitialTokens(t *testing.T, env []string) []cliInitialToken {
	t.Helper()
	var ts []cliInitialToken
	mustRun(t, env, "clients", "registration-token", "list").decodeJSON(t, &ts)
	return ts
}

func TestRegistrationTokenCLI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, env []string) {
		var tok cliInitialToken
		before := time.Now()
		mustRun(t, env, "clients", "registration-token", "create", "--expires-in", "1h", "--max-uses", "3",
			"--description", "ci pipeline").decodeJSON(t, &tok)
		if tok.ID == "" || tok.Token == nil || !strings.HasPrefix(*tok.Token, "authd_iat_"+tok.ID+".") || tok.Status != "active" ||
			tok.MaxUses != 3 || tok.Uses != 0 || tok.Description != "ci pipeline" || tok.CreatedBy != "cli" ||
			tok.ExpiresAt == nil || tok.ExpiresAt.Before(before.Add(59*time.Minute)) {
			t.Fatalf("registration-token create printed %+v", tok)
		}
		var forever cliInitialToken
		mustRun(t, env, "clients", "registration-token", "create", "--expires-in", "0").decodeJSON(t, &forever)
		if forever.ExpiresAt != nil || forever.MaxUses != 0 {
			t.Errorf("--expires-in 0: %+v, want no expiry and no use limit", forever)
		}
		list := listInitialTokens(t, env)
		if len(list) != 2 || list[0].ID != tok.ID || list[0].Token != nil || list[1].ID != forever.ID {
			t.Fatalf("registration-token list = %+v, want both tokens, oldest first, without the token itself", list)
		}
		r := mustRun(t, env, "clients", "registration-token", "revoke", tok.ID)
		if !strings.Contains(r.stdout, `"revoked": true`) {
			t.Errorf("revoke printed %s", r.stdout)
		}
		if list := listInitialTokens(t, env); list[0].Status != "revoked" || list[1].Status != "active" {
			t.Errorf("after revoke: %+v, want the first revoked, the second active", list)
		}
		var events []map[string]any
		mustRun(t, env, "audit", "list").decodeJSON(t, &events)
		seen := map[string]bool{}
		for _, e := range events {
			seen[e["type"].(string)] = true
			if b, _ := json.Marshal(e); bytes.Contains(b, []byte(*tok.Token)) {
				t.Errorf("an audit event holds the token: %s", b)
			}
		}
		if !seen["client.registration_token_created"] || !seen["client.registration_token_revoked"] {
			t.Errorf("audit event types %v, want client.registration_token_created and _revoked", seen)
		}
	})
}

func TestRegistrationTokenCLIRefuses(t *testing.T) {
	t.Parallel()
	env := sqliteEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no subcommand", []string{"clients", "registration-token"}, 2, []string{"usage: authd clients registration-token"}},
		{"unknown subcommand", []string{"clients", "registration-token", "mint"}, 2, []string{`unknown registration-token subcommand "mint"`}},
		{"unknown flag", []string{"clients", "registration-token", "create", "--uses", "1"}, 2, []string{"-uses"}},
		{"stray argument", []string{"clients", "registration-token", "create", "extra"}, 2, []string{"unexpected arguments"}},
		{"negative max uses", []string{"clients", "registration-token", "create", "--max-uses", "-1"}, 1, []string{"max-uses must not be negative"}},
		{"negative lifetime", []string{"clients", "registration-token", "create", "--expires-in", "-1h"}, 1, []string{"expires-in must not be negative"}},
		{"revoke without id", []string{"clients", "registration-token", "revoke"}, 2, []string{"usage: authd clients registration-token revoke"}},
		{"revoke unknown", []string{"clients", "registration-token", "revoke", "0123456789abcdef"}, 1, []string{`no registration token with id "0123456789abcdef"`}},
		{"list with arguments", []string{"clients", "registration-token", "list", "x"}, 2, []string{"usage: authd clients registration-token list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustFail(t, env, tc.code, tc.want, tc.args...)
		})
	}
}

// TestDynamicRegistrationEndToEnd: an operator creates an initial access
// token with the CLI; a client registers itself at the running server's
// advertised registration endpoint, gets tokens, and deletes itself.
func TestDynamicRegistrationEndToEnd(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, env []string) {
		var tok cliInitialToken
		mustRun(t, env, "clients", "registration-token", "create", "--max-uses", "1").decodeJSON(t, &tok)
		s := startServe(t, env, false)
		var doc struct {
			RegistrationEndpoint string `json:"registration_endpoint"`
		}
		resp, err := http.Get(s.base + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil || doc.RegistrationEndpoint != s.base+"/oauth2/register" {
			t.Fatalf("discovery registration_endpoint = %q, %v", doc.RegistrationEndpoint, err)
		}
		register := func() (int, map[string]any) {
			req, _ := http.NewRequest(http.MethodPost, doc.RegistrationEndpoint,
				strings.NewReader(`{"client_name":"Self-registered","grant_types":["client_credentials"],"scope":"api"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+*tok.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, m
		}
		code, info := register()
		if code != http.StatusCreated {
			t.Fatalf("register: %d %v", code, info)
		}
		id, secret := info["client_id"].(string), info["client_secret"].(string)
		if _, err := s.tokenConfig(id, secret).Token(context.Background()); err != nil {
			t.Fatalf("client_credentials with the registered client: %v", err)
		}
		if code, m := register(); code != http.StatusUnauthorized || m["error"] != "invalid_token" {
			t.Errorf("second registration with a one-use token: %d %v, want 401 invalid_token", code, m)
		}
		var got cliClient
		mustRun(t, env, "clients", "get", id).decodeJSON(t, &got)
		if got.ClientName != "Self-registered" || got.TokenEndpointAuthMethod != "client_secret_basic" {
			t.Errorf("clients get %s = %+v", id, got)
		}
		if list := listInitialTokens(t, env); len(list) != 1 || list[0].Uses != 1 || list[0].Status != "used_up" {
			t.Errorf("registration-token list after one registration: %+v, want uses 1, used_up", list)
		}
		req, _ := http.NewRequest(http.MethodDelete, info["registration_client_uri"].(string), nil)
		req.Header.Set("Authorization", "Bearer "+info["registration_access_token"].(string))
		dresp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		dresp.Body.Close()
		if dresp.StatusCode != http.StatusNoContent {
			t.Fatalf("RFC 7592 DELETE: %d", dresp.StatusCode)
		}
		if _, err := s.tokenConfig(id, secret).Token(context.Background()); err == nil {
			t.Error("the deleted client still gets tokens")
		}
		mustFail(t, env, 1, []string{"not found"}, "clients", "get", id)
	})
}
