package main

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/authd/authd/internal/secrets"
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
			{"get unknown", []string{"clients", "get", "nope"}, 1, []string{`client "nope" not found`, "authd clients list"}},
			{"delete deleted", []string{"clients", "delete", "a"}, 1, []string{`client "a" not found`}},
			{"delete unknown", []string{"clients", "delete", "nope"}, 1, []string{`client "nope" not found`}},
			{"get without id", []string{"clients", "get"}, 2, []string{"missing client id"}},
			{"delete two ids", []string{"clients", "delete", "a", "b"}, 2, []string{"unexpected arguments: [b]", "usage: authd clients delete CLIENT_ID"}},
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

		for _, args := range [][]string{{"keys"}, {"keys", "delete"}} {
			mustFail(t, env, 2, []string{"usage: authd keys rotate|list", "Run 'authd keys --help' for more."}, args...)
		}
		mustFail(t, env, 2, []string{"unexpected arguments", "usage: authd keys list", "Run 'authd keys list --help'"}, "keys", "list", "extra")
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
		for _, args := range [][]string{{"migrate"}, {"migrate", "down"}} {
			mustFail(t, env, 2, []string{"usage: authd migrate up|status"}, args...)
		}
		mustFail(t, env, 2, []string{"unexpected arguments", "usage: authd migrate up"}, "migrate", "up", "now")
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
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	tests := []struct {
		name    string
		environ []string
		args    []string
		code    int // 0: success
		want    []string
		stdout  string // wanted in stdout
	}{
		{name: "no command", code: 2, want: []string{"no command", "usage: authd", "Run 'authd --help' for more."}},
		{name: "only flags", args: []string{"-config", "x.yaml"}, code: 2, want: []string{"no command"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, want: []string{`unknown command "frobnicate"`, "usage: authd", "Run 'authd --help' for more."}},
		{name: "misspelt command", args: []string{"clinets", "list"}, code: 2, want: []string{`unknown command "clinets"`, "did you mean clients?"}},
		{name: "misspelt subcommand", args: []string{"clients", "lsit"}, code: 2, want: []string{`unknown clients subcommand "lsit"`, "did you mean list?"}},
		{name: "unknown global flag", args: []string{"-verbose", "serve"}, code: 2, want: []string{"unknown flag: -verbose"}},
		{name: "unknown flag", args: []string{"clients", "list", "--verbose"}, code: 2,
			want: []string{"unknown flag: --verbose", "usage: authd clients list", "Run 'authd clients list --help' for more."}},
		{name: "serve flag", args: []string{"serve", "-port", "1"}, code: 2, want: []string{"-port", "Run 'authd serve --help' for more."}},
		{name: "bad flag value", args: []string{"users", "list", "--limit", "many"}, code: 2, want: []string{`invalid argument "many"`, "--limit", "usage: authd users list"}},
		{name: "missing argument", args: []string{"clients", "get"}, code: 2,
			want: []string{"missing client id", "usage: authd clients get CLIENT_ID", "Run 'authd clients get --help' for more."}},
		{name: "extra argument", args: []string{"audit", "verify", "now"}, code: 2, want: []string{"unexpected arguments: [now]", "usage: authd audit verify"}},
		// --config is persistent: before or after the command, with one
		// dash or two, with = or a space. The file does not exist: the
		// error proves it was read.
		{name: "--config after the command", args: []string{"keys", "list", "--config", missing}, code: 1, want: []string{missing}},
		{name: "--config before the command", args: []string{"--config", missing, "serve"}, code: 1, want: []string{missing}},
		{name: "serve --config", args: []string{"serve", "--config", missing}, code: 1, want: []string{missing}},
		{name: "serve -config", args: []string{"serve", "-config", missing}, code: 1, want: []string{missing}},
		{name: "serve -config=", args: []string{"serve", "-config=" + missing}, code: 1, want: []string{missing}},
		{name: "AUTHD_CONFIG", environ: []string{"AUTHD_CONFIG=" + missing}, args: []string{"serve"}, code: 1, want: []string{missing}},
		{name: "help", args: []string{"help"}, stdout: "Usage:"},
		{name: "help lists the commands", args: []string{"help"}, stdout: "streams     See and steer"},
		{name: "-h", args: []string{"-h"}, stdout: "Usage:"},
		{name: "--help", args: []string{"--help"}, stdout: "Usage:"},
		{name: "-help", args: []string{"-help"}, stdout: "Usage:"},
		{name: "unknown help topic", args: []string{"help", "frobnicate"}, code: 2, want: []string{`unknown help topic "frobnicate"`}},
		{name: "--version", args: []string{"--version"}, stdout: "authd "},
		{name: "-version", args: []string{"-version"}, stdout: "authd "},
		{name: "version", args: []string{"version"}, stdout: `"go": "go1.`},
		// version and help need no configuration: a broken one does not hide them.
		{name: "version, bad config", environ: []string{"AUTHD_LOG_LEVEL=loud"}, args: []string{"version"}, stdout: `"version": `},
		{name: "--version, bad config", environ: []string{"AUTHD_LOG_LEVEL=loud"}, args: []string{"--version"}, stdout: "authd "},
		{name: "help, bad config", environ: []string{"AUTHD_LOG_LEVEL=loud"}, args: []string{"help"}, stdout: "Usage:"},
		{name: "--help, missing config file", args: []string{"clients", "list", "--help", "--config", missing}, stdout: "authd clients list"},
		// A usage mistake is reported before the configuration is read.
		{name: "unknown command, bad config", environ: []string{"AUTHD_LOG_LEVEL=loud"}, args: []string{"frobnicate"}, code: 2, want: []string{`unknown command "frobnicate"`}},
		// A bad configuration is a runtime error (1), listing the problem.
		{name: "bad config", environ: []string{"AUTHD_LOG_LEVEL=loud"}, args: []string{"keys", "list"}, code: 1, want: []string{"log.level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			environ := append([]string{"AUTHD_DATA_DIR=" + t.TempDir()}, tt.environ...)
			if tt.code == 0 {
				r := mustRun(t, environ, tt.args...)
				if !strings.Contains(r.stdout, tt.stdout) {
					t.Errorf("authd %q: stdout does not contain %q:\n%s", tt.args, tt.stdout, r.stdout)
				}
				return
			}
			r := mustFail(t, environ, tt.code, tt.want, tt.args...)
			if !strings.HasPrefix(r.stderr, "authd: ") {
				t.Errorf("authd %q: stderr does not start with the error:\n%s", tt.args, r.stderr)
			}
		})
	}
}

// TestHelpEveryCommand: every command and subcommand answers --help (and
// authd help PATH) with its usage, an example and each of its flags, exit
// 0, and does nothing else: the configuration is not loaded (a broken one
// does not matter) and the database is not opened (the embedded
// default's data_dir is not created).
func TestHelpEveryCommand(t *testing.T) {
	t.Parallel()
	var paths [][]string
	var cmds []*cobra.Command
	walk(rootCommand(&cliEnv{}, nil), func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		path := strings.Fields(c.CommandPath())[1:]
		paths, cmds = append(paths, path), append(cmds, c)
	})
	if len(paths) < 50 {
		t.Fatalf("the command tree has %d commands, want every one (more than 50)", len(paths))
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	for i, path := range paths {
		cmd := cmds[i]
		t.Run(strings.Join(append([]string{"authd"}, path...), " "), func(t *testing.T) {
			for _, tc := range []struct {
				args    []string
				environ []string
			}{
				{append(slices.Clone(path), "--help"), []string{"AUTHD_DATA_DIR=" + dataDir}},
				{append(slices.Clone(path), "-h"), []string{"AUTHD_DATA_DIR=" + dataDir, "AUTHD_DATABASE_URL=postgres://127.0.0.1:1/nope"}},
				{append([]string{"help"}, path...), []string{"AUTHD_DATA_DIR=" + dataDir, "AUTHD_LOG_LEVEL=loud"}},
			} {
				r := runCLI(t, tc.environ, tc.args...)
				if r.err != nil {
					t.Fatalf("authd %s: %v (exit %d)\nstderr:\n%s", strings.Join(tc.args, " "), r.err, exitCode(r.err), r.stderr)
				}
				desc, _, _ := strings.Cut(cmp.Or(cmd.Long, cmd.Short), "\n")
				use := cmd.UseLine()
				if cmd.HasAvailableSubCommands() {
					use = cmd.CommandPath() + " [command]"
				}
				want := []string{"Usage:", "Example", use, desc}
				cmd.Flags().VisitAll(func(f *pflag.Flag) { want = append(want, "--"+f.Name) })
				cmd.InheritedFlags().VisitAll(func(f *pflag.Flag) { want = append(want, "--"+f.Name) })
				for _, w := range append(want, "--help", "--config") {
					if !strings.Contains(r.stdout, w) {
						t.Errorf("authd %s: the help does not show %q:\n%s", strings.Join(tc.args, " "), w, r.stdout)
					}
				}
				if r.stderr != "" {
					t.Errorf("authd %s: stderr %q, want nothing", strings.Join(tc.args, " "), r.stderr)
				}
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("after authd %s --help, data_dir %s exists (err %v): help did something", strings.Join(path, " "), dataDir, err)
			}
		})
	}
}

// TestConfigFlagEitherSide: --config and its old single-dash form name the
// file wherever they stand; the database it names is the one used.
func TestConfigFlagEitherSide(t *testing.T) {
	t.Parallel()
	for _, form := range [][]string{
		{"--config", "FILE", "clients", "list"},
		{"clients", "--config", "FILE", "list"},
		{"clients", "list", "--config", "FILE"},
		{"clients", "list", "--config=FILE"},
		{"-config", "FILE", "clients", "list"},
		{"clients", "list", "-config", "FILE"},
		{"clients", "list", "-config=FILE"},
	} {
		t.Run(strings.Join(form, " "), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			db := filepath.Join(dir, "chosen", "authd.db")
			cfg := writeFile(t, "authd.yaml", "database:\n  url: sqlite://"+db+"\n")
			args := slices.Clone(form)
			for i := range args {
				args[i] = strings.ReplaceAll(args[i], "FILE", cfg)
			}
			r := mustRun(t, []string{"AUTHD_DATA_DIR=" + filepath.Join(dir, "data")}, args...)
			if strings.TrimSpace(r.stdout) != "[]" {
				t.Errorf("authd %s: %q, want []", strings.Join(args, " "), r.stdout)
			}
			if _, err := os.Stat(db); err != nil {
				t.Errorf("authd %s: the database the config file names was not used: %v", strings.Join(args, " "), err)
			}
		})
	}
}

// TestSingleDashLongFlags: the Go flag package's -name form still works
// for every known long flag, but a value that looks like a flag stays a
// value.
func TestSingleDashLongFlags(t *testing.T) {
	t.Parallel()
	env := sqliteEnv(t)
	c := createClient(t, env, "-name", "old style", "-grant-type=client_credentials", "-id", "old")
	if c.ClientName != "old style" || c.ClientID != "old" || !slices.Equal(c.GrantTypes, []string{"client_credentials"}) {
		t.Errorf("clients create with single-dash flags: %+v", c)
	}
	c = createClient(t, env, "--name", "-public", "--grant-type", "client_credentials")
	if c.ClientName != "-public" || c.Public {
		t.Errorf("clients create --name -public: name %q, public %v: the value was taken for a flag", c.ClientName, c.Public)
	}
	// Unknown single-dash words are not rewritten: pflag reports them.
	mustFail(t, env, 2, []string{"unknown flag: -nme", "usage: authd clients create"}, "clients", "create", "-nme", "x")
}

// TestRuntimeErrorHints: a runtime error exits 1 and says what to do.
func TestRuntimeErrorHints(t *testing.T) {
	t.Parallel()
	env := sqliteEnv(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"clients", "get", "nope"}, []string{`authd: client "nope" not found`, "'authd clients list'"}},
		{[]string{"clients", "delete", "nope"}, []string{`client "nope" not found`, "'authd clients list'"}},
		{[]string{"users", "get", "nobody@example.com"}, []string{`user "nobody@example.com" not found`, "'authd users list'"}},
		{[]string{"apikeys", "revoke", "ak_nope"}, []string{`no API key with id "ak_nope"`, "'authd apikeys list'"}},
		{[]string{"webhooks", "get", "wh_nope"}, []string{"no webhook wh_nope", "'authd webhooks list'"}},
	} {
		r := mustFail(t, env, 1, tc.want, tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("authd %s: stderr does not say %q:\n%s", strings.Join(tc.args, " "), w, r.stderr)
			}
		}
	}
	t.Run("database unreachable", func(t *testing.T) {
		t.Parallel()
		pgEnv := []string{"AUTHD_DATA_DIR=" + t.TempDir(), "AUTHD_DATABASE_URL=postgres://postgres@127.0.0.1:1/authd?sslmode=disable&connect_timeout=5",
			"AUTHD_SECRETS_MASTER_KEY=" + secrets.GenerateMasterKey()}
		r := mustFail(t, pgEnv, 1, []string{"database.url"}, "clients", "list")
		if !strings.Contains(r.stderr, "AUTHD_DATABASE_URL") {
			t.Errorf("unreachable database: stderr does not name AUTHD_DATABASE_URL:\n%s", r.stderr)
		}
	})
}
