package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/admin"
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

var problemResult = regexp.MustCompile(`(BadRequest|Unauthorized|Forbidden|NotFound|Conflict|PreconditionFailed|` +
	`UnprocessableEntity|TooManyRequests|RequestEntityTooLarge|UnsupportedMediaType|ProblemHeaders)$`)

// TestGoSDKEveryOperation calls every operation of the document through
// the generated client, in an order where each has something to act on.
func TestGoSDKEveryOperation(t *testing.T) {
	s := startServe(t, sqliteEnv(t), false)
	c, err := authd.New(s.base, createKey(t, s.env, "--name", "sdk", "--scope", "admin", "--tier", "unlimited").Key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	called := map[string]bool{}
	ok := func(op string) func(res any, err error) any {
		called[op] = true
		return func(res any, err error) any {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", op, err)
			}
			if name := fmt.Sprintf("%T", res); problemResult.MatchString(name) {
				t.Fatalf("%s answered %s: %+v", op, name, res)
			}
			return res
		}
	}
	u := ok("createUser")(c.CreateUser(ctx, &authdapi.NewUser{Email: "every@example.com"})).(*authdapi.UserHeaders).Response
	ok("getUser")(c.GetUser(ctx, authdapi.GetUserParams{ID: u.ID}))
	ok("listUsers")(c.ListUsers(ctx, authdapi.ListUsersParams{Limit: authdapi.NewOptInt(10)}))
	ok("updateUser")(c.UpdateUser(ctx, &authdapi.UserPatch{Department: authdapi.NewOptNilString("R&D")}, authdapi.UpdateUserParams{ID: u.ID}))
	ok("disableUser")(c.DisableUser(ctx, authdapi.DisableUserParams{ID: u.ID}))
	ok("enableUser")(c.EnableUser(ctx, authdapi.EnableUserParams{ID: u.ID}))
	ok("setUserPassword")(c.SetUserPassword(ctx, &authdapi.NewPassword{Password: "a long enough passphrase 9"},
		authdapi.SetUserPasswordParams{ID: u.ID}))
	ok("listUserSessions")(c.ListUserSessions(ctx, authdapi.ListUserSessionsParams{ID: u.ID}))
	ok("endUserSessions")(c.EndUserSessions(ctx, authdapi.EndUserSessionsParams{ID: u.ID}))
	res, err := c.EndUserSession(ctx, authdapi.EndUserSessionParams{ID: u.ID, Sid: "none"})
	called["endUserSession"] = true
	if _, isNotFound := res.(*authdapi.EndUserSessionNotFound); err != nil || !isNotFound {
		t.Errorf("endUserSession of no session: %T %v", res, err)
	}
	ok("listUserAuditEvents")(c.ListUserAuditEvents(ctx, authdapi.ListUserAuditEventsParams{ID: u.ID}))
	ok("listAuditEvents")(c.ListAuditEvents(ctx, authdapi.ListAuditEventsParams{Type: authdapi.NewOptString("user.created")}))
	ok("verifyAuditChain")(c.VerifyAuditChain(ctx))
	cl := ok("createClient")(c.CreateClient(ctx, &authdapi.NewOAuthClient{ClientName: "m2m",
		GrantTypes: []string{"client_credentials"}})).(*authdapi.CreatedOAuthClientHeaders).Response
	ok("getClient")(c.GetClient(ctx, authdapi.GetClientParams{ID: cl.ClientID}))
	ok("listClients")(c.ListClients(ctx, authdapi.ListClientsParams{}))
	ok("updateClient")(c.UpdateClient(ctx, &authdapi.OAuthClientPatch{ClientName: authdapi.NewOptString("m2m v2")},
		authdapi.UpdateClientParams{ID: cl.ClientID}))
	ok("rotateClientSecret")(c.RotateClientSecret(ctx, authdapi.RotateClientSecretParams{ID: cl.ClientID}))
	ok("deleteClient")(c.DeleteClient(ctx, authdapi.DeleteClientParams{ID: cl.ClientID}))
	ok("listSigningKeys")(c.ListSigningKeys(ctx))
	ok("rotateSigningKey")(c.RotateSigningKey(ctx))
	k := ok("createAPIKey")(c.CreateAPIKey(ctx, &authdapi.NewAPIKey{Name: "ci", Scopes: []string{"users:read"}})).(*authdapi.CreatedAPIKeyHeaders).Response
	ok("getAPIKey")(c.GetAPIKey(ctx, authdapi.GetAPIKeyParams{ID: k.ID}))
	ok("listAPIKeys")(c.ListAPIKeys(ctx, authdapi.ListAPIKeysParams{}))
	ok("revokeAPIKey")(c.RevokeAPIKey(ctx, authdapi.RevokeAPIKeyParams{ID: k.ID}))
	ok("deleteUser")(c.DeleteUser(ctx, authdapi.DeleteUserParams{ID: u.ID}))

	h := newHookReceiver(t)
	wh := ok("createWebhook")(c.CreateWebhook(ctx, &authdapi.NewWebhook{URL: h.srv.URL, Events: []string{"user.*"}})).(*authdapi.CreatedWebhookHeaders).Response
	h.secret.Store(&wh.Secret)
	ok("getWebhook")(c.GetWebhook(ctx, authdapi.GetWebhookParams{ID: wh.ID}))
	ok("listWebhooks")(c.ListWebhooks(ctx, authdapi.ListWebhooksParams{}))
	ok("updateWebhook")(c.UpdateWebhook(ctx, &authdapi.WebhookPatch{Description: authdapi.NewOptString("sdk")},
		authdapi.UpdateWebhookParams{ID: wh.ID}))
	rot := ok("rotateWebhookSecret")(c.RotateWebhookSecret(ctx, authdapi.RotateWebhookSecretParams{ID: wh.ID})).(*authdapi.CreatedWebhookHeaders).Response
	h.secret.Store(&rot.Secret)
	d := ok("testWebhook")(c.TestWebhook(ctx, authdapi.TestWebhookParams{ID: wh.ID})).(*authdapi.DeliveryHeaders).Response
	if !eventually(30*time.Second, func() bool {
		got := ok("getWebhookDelivery")(c.GetWebhookDelivery(ctx, authdapi.GetWebhookDeliveryParams{ID: wh.ID, DeliveryID: d.ID}))
		return got.(*authdapi.DeliveryHeaders).Response.Status == authdapi.DeliveryStatusSucceeded
	}) {
		t.Fatal("the webhook.test delivery did not succeed")
	}
	ok("listWebhookDeliveries")(c.ListWebhookDeliveries(ctx, authdapi.ListWebhookDeliveriesParams{ID: wh.ID}))
	ok("retryWebhookDelivery")(c.RetryWebhookDelivery(ctx, authdapi.RetryWebhookDeliveryParams{ID: wh.ID, DeliveryID: d.ID}))
	ok("replayWebhookDeliveries")(c.ReplayWebhookDeliveries(ctx, &authdapi.ReplayRequest{Since: time.Now().Add(-time.Hour)},
		authdapi.ReplayWebhookDeliveriesParams{ID: wh.ID}))
	ok("deleteWebhook")(c.DeleteWebhook(ctx, authdapi.DeleteWebhookParams{ID: wh.ID}))

	doc, err := admin.OpenAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range regexp.MustCompile(`"operationId": "(\w+)"`).FindAllStringSubmatch(string(doc), -1) {
		if !called[id[1]] {
			t.Errorf("operation %s is not exercised through the Go SDK", id[1])
		}
	}
}
