package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// cliClient is the JSON `authd clients create|get|list` prints.
type cliClient struct {
	ClientID                string   `json:"client_id"`
	ClientName              string   `json:"client_name"`
	ClientSecret            *string  `json:"client_secret"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	Scopes                  []string `json:"scopes"`
	Audience                []string `json:"audience"`
	Public                  bool     `json:"public"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	AccessTokenTTL          string   `json:"access_token_ttl"`
	AllowedIntrospectors    []string `json:"allowed_introspectors"`
	WebOrigins              []string `json:"web_origins"`
	RequirePAR              bool     `json:"require_pushed_authorization_requests"`
	ApplicationType         string   `json:"application_type"`
}

func createClient(t *testing.T, env []string, args ...string) cliClient {
	t.Helper()
	var c cliClient
	mustRun(t, env, append([]string{"clients", "create"}, args...)...).decodeJSON(t, &c)
	return c
}

func listClients(t *testing.T, env []string) []cliClient {
	t.Helper()
	var cs []cliClient
	mustRun(t, env, "clients", "list").decodeJSON(t, &cs)
	return cs
}

func TestClientsCreate(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, env []string) {
		tests := []struct {
			name  string
			args  []string
			check func(t *testing.T, in string, c cliClient)
		}{
			{
				name: "confidential authorization code client",
				args: []string{"--name", "Web app", "--redirect-uri", "https://app.example.com/cb",
					"--grant-type", "authorization_code", "--grant-type", "refresh_token",
					"--scope", "openid profile", "--scope", "offline_access"},
				check: func(t *testing.T, in string, c cliClient) {
					checkFields(t, in, []field{
						{"client_name", c.ClientName, "Web app"},
						{"redirect_uris", c.RedirectURIs, []string{"https://app.example.com/cb"}},
						{"grant_types", c.GrantTypes, []string{"authorization_code", "refresh_token"}},
						{"scopes", c.Scopes, []string{"openid", "profile", "offline_access"}},
						{"response_types", c.ResponseTypes, []string{"code"}},
						{"token_endpoint_auth_method", c.TokenEndpointAuthMethod, "client_secret_basic"},
						{"public", c.Public, false},
					})
					if c.ClientID == "" {
						t.Errorf("%s: no client_id", in)
					}
					if c.ClientSecret == nil || len(*c.ClientSecret) < 32 {
						t.Errorf("%s: client_secret = %v, want a generated secret", in, c.ClientSecret)
					}
				},
			},
			{
				name: "default grants are authorization_code and refresh_token",
				args: []string{"--name", "Defaults", "--redirect-uri", "http://127.0.0.1:9999/cb"},
				check: func(t *testing.T, in string, c cliClient) {
					checkFields(t, in, []field{
						{"grant_types", c.GrantTypes, []string{"authorization_code", "refresh_token"}},
						{"token_endpoint_auth_method", c.TokenEndpointAuthMethod, "client_secret_basic"},
					})
				},
			},
			{
				name: "public client",
				args: []string{"--name", "SPA", "--public", "--redirect-uri", "http://localhost:3000/cb"},
				check: func(t *testing.T, in string, c cliClient) {
					checkFields(t, in, []field{
						{"token_endpoint_auth_method", c.TokenEndpointAuthMethod, "none"},
						{"public", c.Public, true},
						{"client_secret", c.ClientSecret, (*string)(nil)},
					})
				},
			},
			{
				name: "native app with private-use scheme",
				args: []string{"--name", "Native", "--public", "--redirect-uri", "com.example.app:/cb"},
				check: func(t *testing.T, in string, c cliClient) {
					checkFields(t, in, []field{{"redirect_uris", c.RedirectURIs, []string{"com.example.app:/cb"}}})
				},
			},
			{
				name: "chosen id and secret",
				args: []string{"--name", "Service", "--id", "svc-1", "--secret", "a-long-enough-secret-value",
					"--grant-type", "client_credentials", "--access-token-ttl", "5m"},
				check: func(t *testing.T, in string, c cliClient) {
					secret := "a-long-enough-secret-value"
					checkFields(t, in, []field{
						{"client_id", c.ClientID, "svc-1"},
						{"client_secret", c.ClientSecret, &secret},
						{"grant_types", c.GrantTypes, []string{"client_credentials"}},
						{"redirect_uris", c.RedirectURIs, []string{}},
						{"access_token_ttl", c.AccessTokenTTL, "5m0s"},
					})
				},
			},
			{
				name: "application type web by default, native on request",
				args: []string{"--name", "Desktop", "--public", "--application-type", "native", "--redirect-uri", "http://127.0.0.1/cb"},
				check: func(t *testing.T, in string, c cliClient) {
					checkFields(t, in, []field{{"application_type", c.ApplicationType, "native"}})
					web := createClient(t, env, "--name", "Web", "--redirect-uri", "https://app.example.com/cb")
					checkFields(t, "clients create --name Web", []field{{"application_type", web.ApplicationType, "web"}})
				},
			},
			{
				name: "resource servers that may introspect its refresh tokens",
				args: []string{"--name", "With RS", "--redirect-uri", "https://app.example.com/cb",
					"--allowed-introspector", "rs-1", "--allowed-introspector", "rs-2"},
				check: func(t *testing.T, in string, c cliClient) {
					checkFields(t, in, []field{{"allowed_introspectors", c.AllowedIntrospectors, []string{"rs-1", "rs-2"}}})
					var got cliClient
					mustRun(t, env, "clients", "get", c.ClientID).decodeJSON(t, &got)
					checkFields(t, "clients get "+c.ClientID, []field{{"allowed_introspectors", got.AllowedIntrospectors, []string{"rs-1", "rs-2"}}})
				},
			},
			{
				name: "pushed authorization requests required",
				args: []string{"--name", "FAPI", "--redirect-uri", "https://app.example.com/cb", "--require-par"},
				check: func(t *testing.T, in string, c cliClient) {
					checkFields(t, in, []field{{"require_pushed_authorization_requests", c.RequirePAR, true}})
					var got cliClient
					mustRun(t, env, "clients", "update", c.ClientID, "--require-par=false").decodeJSON(t, &got)
					checkFields(t, "clients update --require-par=false", []field{{"require_pushed_authorization_requests", got.RequirePAR, false}})
				},
			},
			{
				name: "web origins for CORS, replaced and cleared by update",
				args: []string{"--name", "SPA", "--public", "--redirect-uri", "https://app.example.com/cb",
					"--web-origin", "https://cdn.example.com", "--web-origin", "https://app.example.com"},
				check: func(t *testing.T, in string, c cliClient) {
					checkFields(t, in, []field{{"web_origins", c.WebOrigins, []string{"https://cdn.example.com", "https://app.example.com"}}})
					var got cliClient
					mustRun(t, env, "clients", "update", c.ClientID, "--web-origin", "https://new.example.com").decodeJSON(t, &got)
					checkFields(t, "clients update --web-origin", []field{{"web_origins", got.WebOrigins, []string{"https://new.example.com"}}})
					got = cliClient{}
					mustRun(t, env, "clients", "update", c.ClientID, "--web-origin=").decodeJSON(t, &got)
					checkFields(t, "clients update --web-origin=", []field{{"web_origins", got.WebOrigins, []string(nil)}})
					mustFail(t, env, 1, []string{"web origin"}, "clients", "update", c.ClientID, "--web-origin", "https://app.example.com/path")
				},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				in := "clients create " + strings.Join(tt.args, " ")
				tt.check(t, in, createClient(t, env, tt.args...))
			})
		}

		t.Run("short secret warns", func(t *testing.T) {
			r := mustRun(t, env, "clients", "create", "--name", "weak", "--secret", "short", "--grant-type", "client_credentials")
			if !strings.Contains(r.stderr, "shorter than 16") {
				t.Errorf("--secret short: no warning on stderr:\n%s", r.stderr)
			}
		})

		t.Run("duplicate id", func(t *testing.T) {
			before := listClients(t, env)
			mustFail(t, env, 1, []string{`"svc-1" already exists`},
				"clients", "create", "--name", "Again", "--id", "svc-1", "--grant-type", "client_credentials")
			if after := listClients(t, env); !reflect.DeepEqual(before, after) {
				t.Errorf("a failed create changed the client list:\n got %+v\nwant %+v", after, before)
			}
		})
	})
}

func TestClientsCreateInvalid(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, env []string) {
		createClient(t, env, "--name", "existing", "--id", "existing", "--grant-type", "client_credentials")
		before := listClients(t, env)
		if len(before) != 1 {
			t.Fatalf("clients list after one create: got %d clients, want 1", len(before))
		}
		tests := []struct {
			name string
			args []string
			code int
			want []string
		}{
			{"no name", []string{"--grant-type", "client_credentials"}, 1, []string{"name is required"}},
			{"blank name", []string{"--name", "  ", "--grant-type", "client_credentials"}, 1, []string{"name is required"}},
			{"authorization_code without redirect URI", []string{"--name", "x", "--grant-type", "authorization_code"}, 1, []string{"redirect URI"}},
			{"http redirect to a public host", []string{"--name", "x", "--redirect-uri", "http://app.example.com/cb"}, 1, []string{"http is allowed only for loopback"}},
			{"relative redirect", []string{"--name", "x", "--redirect-uri", "/cb"}, 1, []string{"absolute"}},
			{"redirect with fragment", []string{"--name", "x", "--redirect-uri", "https://app.example.com/cb#frag"}, 1, []string{"fragment"}},
			{"javascript redirect", []string{"--name", "x", "--redirect-uri", "javascript:alert(1)"}, 1, []string{"not allowed"}},
			{"public client_credentials", []string{"--name", "x", "--public", "--grant-type", "client_credentials"}, 1, []string{"public clients cannot use the client_credentials grant"}},
			{"public with a secret", []string{"--name", "x", "--public", "--secret", "a-long-enough-secret-value", "--redirect-uri", "https://a.example/cb"}, 1, []string{"has no secret"}},
			{"private_key_jwt without keys", []string{"--name", "x", "--grant-type", "client_credentials", "--token-endpoint-auth-method", "private_key_jwt"}, 1, []string{"private_key_jwt needs exactly one of jwks or jwks_uri"}},
			{"jwks not JSON", []string{"--name", "x", "--grant-type", "client_credentials", "--token-endpoint-auth-method", "private_key_jwt", "--jwks", "{nope"}, 1, []string{"--jwks"}},
			{"unknown auth method", []string{"--name", "x", "--grant-type", "client_credentials", "--token-endpoint-auth-method", "tls_client_auth"}, 1, []string{"tls_client_auth"}},
			{"unknown grant type", []string{"--name", "x", "--grant-type", "implicit"}, 1, []string{`grant type "implicit" is not supported`}},
			{"unknown application type", []string{"--name", "x", "--application-type", "spa", "--redirect-uri", "https://a.example/cb"}, 1, []string{`application type "spa"`}},
			{"bad scope", []string{"--name", "x", "--grant-type", "client_credentials", "--scope", `a"b`}, 1, []string{"scope"}},
			{"id with colon", []string{"--name", "x", "--id", "a:b", "--grant-type", "client_credentials"}, 1, []string{"client id"}},
			{"client TTL above max", []string{"--name", "x", "--grant-type", "client_credentials", "--access-token-ttl", "48h"}, 1, []string{"tokens.max_access_token_ttl"}},
			{"several problems at once", []string{"--grant-type", "implicit", "--redirect-uri", "http://evil.example/#x"}, 1,
				[]string{"name is required", `grant type "implicit"`, "fragment"}},
			{"unknown flag", []string{"--name", "x", "--colour", "red"}, 2, []string{"-colour"}},
			{"stray argument", []string{"--name", "x", "extra"}, 2, []string{"unexpected arguments"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				mustFail(t, env, tt.code, tt.want, append([]string{"clients", "create"}, tt.args...)...)
				if after := listClients(t, env); !reflect.DeepEqual(before, after) {
					t.Errorf("clients create %q failed but changed the client list:\n got %+v\nwant %+v", tt.args, after, before)
				}
			})
		}
	})
}

func TestClientsListGetDelete(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, env []string) {
		if got := strings.TrimSpace(mustRun(t, env, "clients", "list").stdout); got != "[]" {
			t.Errorf("clients list on a new database: got %q, want []", got)
		}
		a := createClient(t, env, "--name", "A", "--id", "a", "--grant-type", "client_credentials", "--scope", "api")
		b := createClient(t, env, "--name", "B", "--id", "b", "--public", "--redirect-uri", "https://b.example/cb")

		list := listClients(t, env)
		var ids []string
		for _, c := range list {
			ids = append(ids, c.ClientID)
			if c.ClientSecret != nil {
				t.Errorf("clients list shows the secret of %s", c.ClientID)
			}
		}
		slices.Sort(ids)
		if !reflect.DeepEqual(ids, []string{"a", "b"}) {
			t.Errorf("clients list: ids %q, want [a b]", ids)
		}

		for _, want := range []cliClient{a, b} {
			var got cliClient
			mustRun(t, env, "clients", "get", want.ClientID).decodeJSON(t, &got)
			want.ClientSecret = nil // shown on create only
			if !reflect.DeepEqual(got, want) {
				t.Errorf("clients get %s:\n got %+v\nwant %+v", want.ClientID, got, want)
			}
		}

		var del map[string]any
		mustRun(t, env, "clients", "delete", "a").decodeJSON(t, &del)
		if want := map[string]any{"client_id": "a", "deleted": true}; !reflect.DeepEqual(del, want) {
			t.Errorf("clients delete a: got %v, want %v", del, want)
		}
		if list := listClients(t, env); len(list) != 1 || list[0].ClientID != "b" {
			t.Errorf("clients list after deleting a: got %+v, want only b", list)
		}

		tests := []struct {
			name string
			args []string
			code int
			want []string
		}{
			{"get deleted", []string{"clients", "get", "a"}, 1, []string{`client "a" not found`}},
			{"get unknown", []string{"clients", "get", "nope"}, 1, []string{`client "nope" not found`}},
			{"delete deleted", []string{"clients", "delete", "a"}, 1, []string{`client "a" not found`}},
			{"delete unknown", []string{"clients", "delete", "nope"}, 1, []string{`client "nope" not found`}},
			{"get without id", []string{"clients", "get"}, 2, []string{"missing client id"}},
			{"delete two ids", []string{"clients", "delete", "a", "b"}, 2, []string{"missing client id"}},
			{"no subcommand", []string{"clients"}, 2, []string{"usage: authd clients"}},
			{"unknown subcommand", []string{"clients", "rename"}, 2, []string{`unknown clients subcommand "rename"`}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { mustFail(t, env, tt.code, tt.want, tt.args...) })
		}
		if list := listClients(t, env); len(list) != 1 || list[0].ClientID != "b" {
			t.Errorf("clients list after the failures: got %+v, want only b", list)
		}
	})
}

type cliKey struct {
	KID       string     `json:"kid"`
	Algorithm string     `json:"algorithm"`
	Active    bool       `json:"active"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at"`
}

func listKeys(t *testing.T, env []string) []cliKey {
	t.Helper()
	var ks []cliKey
	mustRun(t, env, "keys", "list").decodeJSON(t, &ks)
	return ks
}

func rotateKey(t *testing.T, env []string) string {
	t.Helper()
	var out struct {
		KID       string `json:"kid"`
		Algorithm string `json:"algorithm"`
	}
	mustRun(t, env, "keys", "rotate").decodeJSON(t, &out)
	if out.KID == "" {
		t.Fatal("keys rotate printed no kid")
	}
	return out.KID
}

func TestKeys(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, env []string) {
		if ks := listKeys(t, env); len(ks) != 0 {
			t.Errorf("keys list on a new database: got %+v, want none", ks)
		}
		first := rotateKey(t, env)
		ks := listKeys(t, env)
		if len(ks) != 1 || ks[0].KID != first || !ks[0].Active || ks[0].RetiredAt != nil || ks[0].Algorithm != "RS256" {
			t.Errorf("keys list after one rotate: got %+v, want one active RS256 key %s", ks, first)
		}

		second := rotateKey(t, env)
		if second == first {
			t.Fatalf("keys rotate: new kid %s equals the old one", second)
		}
		ks = listKeys(t, env)
		if len(ks) != 2 {
			t.Fatalf("keys list after two rotations: got %+v, want 2 keys", ks)
		}
		byKID := map[string]cliKey{ks[0].KID: ks[0], ks[1].KID: ks[1]}
		if k := byKID[second]; !k.Active || k.RetiredAt != nil {
			t.Errorf("new key %s: got %+v, want active, not retired", second, k)
		}
		if k := byKID[first]; k.Active || k.RetiredAt == nil {
			t.Errorf("old key %s: got %+v, want retired", first, k)
		}
		if ks[0].KID != second {
			t.Errorf("keys list order: got %s first, want the newest (%s)", ks[0].KID, second)
		}

		// keys.algorithm decides the algorithm of the next key.
		r := mustRun(t, append(env, "AUTHD_KEYS_ALGORITHM=ES256"), "keys", "rotate")
		if !strings.Contains(r.stdout, `"ES256"`) {
			t.Errorf("keys rotate with AUTHD_KEYS_ALGORITHM=ES256: got %s", r.stdout)
		}

		for _, args := range [][]string{{"keys"}, {"keys", "delete"}, {"keys", "list", "extra"}} {
			mustFail(t, env, 2, []string{"usage: authd keys rotate|list"}, args...)
		}
	})
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	type status struct {
		Version int64  `json:"version"`
		Name    string `json:"name"`
		Applied bool   `json:"applied"`
	}
	forEachBackend(t, func(t *testing.T, env []string) {
		var up struct{ Applied int }
		mustRun(t, env, "migrate", "up").decodeJSON(t, &up)
		if up.Applied == 0 {
			t.Errorf("migrate up on a new database applied 0 migrations")
		}
		var st []status
		mustRun(t, env, "migrate", "status").decodeJSON(t, &st)
		if len(st) != up.Applied {
			t.Errorf("migrate status lists %d migrations, migrate up applied %d", len(st), up.Applied)
		}
		for _, m := range st {
			if !m.Applied {
				t.Errorf("migrate status after up: %+v not applied", m)
			}
		}
		mustRun(t, env, "migrate", "up").decodeJSON(t, &up)
		if up.Applied != 0 {
			t.Errorf("second migrate up: applied %d, want 0", up.Applied)
		}
		for _, args := range [][]string{{"migrate"}, {"migrate", "down"}, {"migrate", "up", "now"}} {
			mustFail(t, env, 2, []string{"usage: authd migrate up|status"}, args...)
		}
	})

	t.Run("status before up", func(t *testing.T) {
		t.Parallel()
		env := sqliteEnv(t)
		var st []status
		mustRun(t, env, "migrate", "status").decodeJSON(t, &st)
		if len(st) == 0 {
			t.Fatal("migrate status on a new database lists no migrations")
		}
		for _, m := range st {
			if m.Applied {
				t.Errorf("migrate status on a new database: %+v applied", m)
			}
		}
	})

	t.Run("auto_migrate off", func(t *testing.T) {
		t.Parallel()
		env := append(sqliteEnv(t), "AUTHD_DATABASE_AUTO_MIGRATE=false")
		mustFail(t, env, 1, []string{"pending migrations", "authd migrate up"}, "clients", "list")
		mustRun(t, env, "migrate", "up")
		mustRun(t, env, "clients", "list")
	})
}

func TestUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string
		args    []string
		code    int // 0: success
		want    []string
		stdout  string // wanted in stdout
	}{
		{name: "no command", code: 2, want: []string{"no command", "usage: authd"}},
		{name: "only flags", args: []string{"-config", "x.yaml"}, code: 2, want: []string{"no command"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, want: []string{`unknown command "frobnicate"`, "usage: authd"}},
		{name: "unknown global flag", args: []string{"-verbose", "serve"}, code: 2, want: []string{"-verbose"}},
		{name: "-config after the command", args: []string{"keys", "list", "-config", "x.yaml"}, code: 2, want: []string{"usage: authd keys"}},
		{name: "serve flag", args: []string{"serve", "-port", "1"}, code: 2, want: []string{"-port"}},
		{name: "help", args: []string{"help"}, stdout: "usage: authd"},
		{name: "-h", args: []string{"-h"}, want: []string{"usage: authd"}},
		{name: "--help", args: []string{"--help"}, want: []string{"usage: authd"}},
		{name: "--version", args: []string{"--version"}, stdout: "authd "},
		{name: "version", args: []string{"version"}, stdout: `"go": "go1.`},
		// version and help need no configuration: a broken one does not hide them.
		{name: "version, bad config", environ: []string{"AUTHD_LOG_LEVEL=loud"}, args: []string{"version"}, stdout: `"version": `},
		{name: "--version, bad config", environ: []string{"AUTHD_LOG_LEVEL=loud"}, args: []string{"--version"}, stdout: "authd "},
		{name: "help, bad config", environ: []string{"AUTHD_LOG_LEVEL=loud"}, args: []string{"help"}, stdout: "usage: authd"},
		// The configuration is loaded before the command is looked at.
		{name: "unknown command, bad config", environ: []string{"AUTHD_LOG_LEVEL=loud"}, args: []string{"frobnicate"}, code: 1, want: []string{"log.level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			environ := append([]string{"AUTHD_DATA_DIR=" + t.TempDir()}, tt.environ...)
			if tt.code == 0 {
				r := mustRun(t, environ, tt.args...)
				for _, w := range append(tt.want, tt.stdout) {
					if !strings.Contains(r.stdout+r.stderr, w) {
						t.Errorf("authd %q: output does not contain %q:\nstdout:\n%s\nstderr:\n%s", tt.args, w, r.stdout, r.stderr)
					}
				}
				if !strings.Contains(r.stdout, tt.stdout) {
					t.Errorf("authd %q: stdout does not contain %q:\n%s", tt.args, tt.stdout, r.stdout)
				}
				return
			}
			mustFail(t, environ, tt.code, tt.want, tt.args...)
		})
	}
}
