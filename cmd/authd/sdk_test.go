package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd/authd/sdk/go/authd"
	"github.com/authd/authd/sdk/go/authdapi"
)

// TestGoSDK drives a live authd through the generated Go SDK.
func TestGoSDK(t *testing.T) {
	s := startServe(t, sqliteEnv(t), false)
	key := createKey(t, s.env, "--name", "sdk", "--scope", "admin", "--tier", "unlimited").Key
	c, err := authd.New(s.base, key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := c.CreateUser(ctx, &authdapi.NewUser{Email: "sdk@example.com", Name: authdapi.NewOptString("Sdk User"),
		Organization: authdapi.NewOptString("eng")})
	if err != nil {
		t.Fatal(err)
	}
	created, ok := res.(*authdapi.UserHeaders)
	if !ok || created.Response.Email != "sdk@example.com" || !created.ETag.Set {
		t.Fatalf("CreateUser = %#v", res)
	}
	if res, err := c.CreateUser(ctx, &authdapi.NewUser{Email: "SDK@example.com"}); err != nil {
		t.Fatal(err)
	} else if p, ok := res.(*authdapi.CreateUserConflict); !ok || p.Status != 409 {
		t.Errorf("duplicate: %#v", res)
	}
	got, err := c.GetUser(ctx, authdapi.GetUserParams{ID: created.Response.ID})
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := got.(*authdapi.UserHeaders); !ok || u.Response.Name.Value != "Sdk User" {
		t.Errorf("GetUser = %#v", got)
	}
	list, err := c.ListUsers(ctx, authdapi.ListUsersParams{Organization: authdapi.NewOptString("eng")})
	if err != nil {
		t.Fatal(err)
	}
	if page, ok := list.(*authdapi.UserPageHeaders); !ok || len(page.Response.Items) != 1 {
		t.Errorf("ListUsers = %#v", list)
	}
	bad, err := authd.New(s.base, "authd_bad")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := bad.ListUsers(ctx, authdapi.ListUsersParams{}); err != nil {
		t.Fatal(err)
	} else if p, ok := res.(*authdapi.ListUsersUnauthorized); !ok || p.Status != 401 {
		t.Errorf("bad key: %#v", res)
	}
}

// TestTypeScriptSDK runs the TypeScript SDK's example and test against a
// live authd (node and npm are needed; scripts/services.sh installs them).
func TestTypeScriptSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (scripts/services.sh installs it): the TypeScript SDK is not tested here")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "sdk", "typescript"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	build := exec.Command("npm", "run", "--silent", "build")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("npm run build: %v\n%s", err, out)
	}
	s := startServe(t, sqliteEnv(t), false)
	key := createKey(t, s.env, "--name", "ts", "--scope", "admin", "--tier", "unlimited").Key
	cmd := exec.Command(node, "--test", "dist/test/sdk.test.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AUTHD_URL="+s.base, "AUTHD_API_KEY="+key)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "pass") {
		t.Fatalf("the TypeScript SDK test failed: %v\n%s", err, out)
	}
}
