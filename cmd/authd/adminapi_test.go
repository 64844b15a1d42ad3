package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authd/authd/admin"
	"github.com/authd/authd/internal/dpoptest"
)

// apiClient calls the admin API with a key and checks every response
// against the served OpenAPI document with an independent validator
// (pb33f/libopenapi-validator): status, headers and body schema.
type apiClient struct {
	t    *testing.T
	base string
	key  string
	v    validator.Validator
	mu   *sync.Mutex // the validator is not safe for concurrent use
}

func newAPIClient(t *testing.T, s *server, key string) *apiClient {
	t.Helper()
	resp, err := http.Get(s.base + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatalf("the served document does not parse: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("the served document is not valid: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("document: %s: %s", e.Message, e.Reason)
		}
	}
	return &apiClient{t: t, base: s.base, key: key, v: v, mu: &sync.Mutex{}}
}

func (c *apiClient) withKey(key string) *apiClient {
	cp := *c
	cp.key = key
	return &cp
}

type apiResp struct {
	status int
	header http.Header
	body   []byte
}

func (r apiResp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", r.status, err, r.body)
	}
}

// problem decodes a problem document and checks it is one.
func (r apiResp) problem(t *testing.T, status int) admin.Problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p admin.Problem
	r.json(t, &p)
	if p.Status != status || p.Title == "" || p.Type == "" {
		t.Fatalf("problem document %+v does not say status %d", p, status)
	}
	return p
}

// do sends a request; body is JSON-encoded unless it is a string (sent
// as is). Extra headers come in pairs.
func (c *apiClient) do(method, path string, body any, header ...string) apiResp {
	c.t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		if method == http.MethodPatch {
			ct = "application/merge-patch+json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.validate(req, resp, raw)
	return apiResp{status: resp.StatusCode, header: resp.Header, body: raw}
}

func (c *apiClient) validate(req *http.Request, resp *http.Response, raw []byte) {
	c.t.Helper()
	if strings.HasSuffix(req.URL.Path, "/openapi.json") {
		return
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	vreq := req.Clone(context.Background())
	vreq.Body = http.NoBody
	c.mu.Lock()
	ok, errs := c.v.ValidateHttpResponse(vreq, resp)
	c.mu.Unlock()
	if !ok {
		for _, e := range errs {
			c.t.Errorf("%s %s -> %d does not match the document: %s: %s", req.Method, req.URL.Path, resp.StatusCode, e.Message, e.Reason)
		}
	}
}

// createKey makes an API key with the CLI.
func createKey(t *testing.T, env []string, args ...string) admin.CreatedAPIKey {
	t.Helper()
	var k admin.CreatedAPIKey
	mustRun(t, env, append([]string{"apikeys", "create"}, args...)...).decodeJSON(t, &k)
	return k
}

func TestAdminAPIUsers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env []string) {
		s := startServe(t, env, false)
		key := createKey(t, s.env, "--name", "ops", "--scope", "admin", "--tier", "unlimited")
		api := newAPIClient(t, s, key.Key)

		// Create, with and without a password.
		r := api.do("POST", "/api/v1/users", map[string]any{"email": "Ada@Example.com", "password": "correct horse battery staple",
			"name": "Ada", "organization": "eng", "email_verified": true})
		if r.status != http.StatusCreated || r.header.Get("ETag") == "" || r.header.Get("Location") == "" {
			t.Fatalf("create: %d %v %s", r.status, r.header, r.body)
		}
		var ada admin.User
		r.json(t, &ada)
		if ada.Email != "ada@example.com" || !ada.HasPassword || ada.Status != "active" {
			t.Errorf("created %+v", ada)
		}
		var bob admin.User
		api.do("POST", "/api/v1/users", map[string]any{"email": "bob@example.com", "organization": "ops"}).json(t, &bob)
		if bob.HasPassword {
			t.Errorf("bob was created without a password but has one")
		}
		api.do("POST", "/api/v1/users", map[string]any{"email": "ADA@example.com"}).problem(t, http.StatusConflict)
		p := api.do("POST", "/api/v1/users", map[string]any{"email": "carol@example.com", "password": "short"}).problem(t, 422)
		if len(p.Errors) == 0 || p.Errors[0].Pointer != "/password" {
			t.Errorf("weak password: %+v", p)
		}

		// Get, by id and by email.
		r = api.do("GET", "/api/v1/users/"+ada.ID, nil)
		etag := r.header.Get("ETag")
		if r.status != 200 || etag == "" {
			t.Fatalf("get: %d %s", r.status, r.body)
		}
		api.do("GET", "/api/v1/users/no-such-user", nil).problem(t, 404)
		var byEmail admin.Page[admin.User]
		api.do("GET", "/api/v1/users?email=ADA%40example.com", nil).json(t, &byEmail)
		if len(byEmail.Items) != 1 || byEmail.Items[0].ID != ada.ID {
			t.Errorf("by email: %+v", byEmail)
		}

		// Filters.
		var eng admin.Page[admin.User]
		api.do("GET", "/api/v1/users?organization=eng", nil).json(t, &eng)
		if len(eng.Items) != 1 || eng.Items[0].ID != ada.ID {
			t.Errorf("organization=eng: %+v", eng)
		}

		// Merge patch with If-Match: null clears, a stale ETag is refused.
		r = api.do("PATCH", "/api/v1/users/"+ada.ID, `{"name": "Ada Lovelace", "organization": null}`, "If-Match", etag)
		var patched admin.User
		r.json(t, &patched)
		if r.status != 200 || patched.Name != "Ada Lovelace" || patched.Organization != "" || r.header.Get("ETag") == etag {
			t.Fatalf("patch: %d %s", r.status, r.body)
		}
		api.do("PATCH", "/api/v1/users/"+ada.ID, `{"name": "Lost update"}`, "If-Match", etag).problem(t, http.StatusPreconditionFailed)
		for _, bad := range []string{`{"password_hash": "$argon2id$x"}`, `{"id": "other"}`, `{"created_at": "2020-01-01T00:00:00Z"}`,
			`{"updated_at": "2020-01-01T00:00:00Z"}`, `{"has_password": true}`} {
			p := api.do("PATCH", "/api/v1/users/"+ada.ID, bad).problem(t, 422)
			field := strings.SplitN(strings.Trim(bad, `{"`), `"`, 2)[0]
			if len(p.Errors) != 1 || p.Errors[0].Pointer != "/"+field {
				t.Errorf("PATCH %s: errors %+v, want one naming /%s", bad, p.Errors, field)
			}
		}
		api.do("PATCH", "/api/v1/users/"+ada.ID, `{"name": "x"}`, "Content-Type", "application/json").problem(t, 415)
		var still admin.User
		api.do("GET", "/api/v1/users/"+ada.ID, nil).json(t, &still)
		if still.Name != "Ada Lovelace" || !still.HasPassword {
			t.Errorf("a refused patch changed the user: %+v", still)
		}

		// Disable, enable, set a password, delete.
		var disabled admin.User
		api.do("POST", "/api/v1/users/"+bob.ID+"/disable", nil).json(t, &disabled)
		if disabled.Status != "disabled" {
			t.Errorf("disable: %+v", disabled)
		}
		var dis admin.Page[admin.User]
		api.do("GET", "/api/v1/users?status=disabled", nil).json(t, &dis)
		if len(dis.Items) != 1 || dis.Items[0].ID != bob.ID {
			t.Errorf("status=disabled: %+v", dis)
		}
		api.do("POST", "/api/v1/users/"+bob.ID+"/enable", nil).json(t, &disabled)
		if disabled.Status != "active" {
			t.Errorf("enable: %+v", disabled)
		}
		if r := api.do("PUT", "/api/v1/users/"+bob.ID+"/password", map[string]any{"password": "another long passphrase 42"}); r.status != 204 {
			t.Errorf("set password: %d %s", r.status, r.body)
		}
		var sessions admin.Page[admin.Session]
		api.do("GET", "/api/v1/users/"+bob.ID+"/sessions", nil).json(t, &sessions)
		if r := api.do("DELETE", "/api/v1/users/"+bob.ID+"/sessions", nil); r.status != 204 {
			t.Errorf("end sessions: %d %s", r.status, r.body)
		}
		api.do("DELETE", "/api/v1/users/"+bob.ID+"/sessions/no-such", nil).problem(t, 404)
		if r := api.do("DELETE", "/api/v1/users/"+bob.ID, nil); r.status != 204 {
			t.Errorf("delete: %d %s", r.status, r.body)
		}
		api.do("GET", "/api/v1/users/"+bob.ID, nil).problem(t, 404)
		api.do("DELETE", "/api/v1/users/"+bob.ID, nil).problem(t, 404)

		// Every admin action is in the audit trail, with the key as actor
		// and the request id.
		var events admin.Page[admin.AuditEvent]
		api.do("GET", "/api/v1/audit-events?type=user.created&limit=10", nil).json(t, &events)
		if len(events.Items) != 2 {
			t.Fatalf("user.created events: %+v", events.Items)
		}
		for _, e := range events.Items {
			if e.ActorID != "apikey:"+key.ID || e.RequestID == "" {
				t.Errorf("event %+v: want actor apikey:%s and a request id", e, key.ID)
			}
		}
		var adas admin.Page[admin.AuditEvent]
		api.do("GET", "/api/v1/users/"+ada.ID+"/audit-events", nil).json(t, &adas)
		if len(adas.Items) < 2 {
			t.Errorf("ada's events: %+v", adas.Items)
		}
		var chain admin.ChainStatus
		api.do("POST", "/api/v1/audit-events/verify", nil).json(t, &chain)
		if !chain.Intact {
			t.Errorf("audit chain: %+v", chain)
		}
	})
}

// TestAdminAPIPagination pages through users while others are created:
// every user that existed before the first page is seen exactly once, in
// order; cursors cannot be edited or moved to another filter.
func TestAdminAPIPagination(t *testing.T) {
	env := sqliteEnv(t)
	s := startServe(t, env, false)
	api := newAPIClient(t, s, createKey(t, s.env, "--name", "ops", "--scope", "users:write", "--tier", "unlimited").Key)
	var want []string
	for i := range 7 {
		var u admin.User
		api.do("POST", "/api/v1/users", map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "organization": "o"}).json(t, &u)
		want = append(want, u.ID)
	}
	var got []string
	cursor := ""
	for i := 0; ; i++ {
		var pg admin.Page[admin.User]
		api.do("GET", "/api/v1/users?limit=3&organization=o&cursor="+url.QueryEscape(cursor), nil).json(t, &pg)
		for _, u := range pg.Items {
			got = append(got, u.ID)
		}
		if i == 0 { // inserted mid-walk: after the others, so seen at the end
			api.do("POST", "/api/v1/users", map[string]any{"email": "late@example.com", "organization": "o"})
		}
		if pg.NextCursor == "" {
			break
		}
		cursor = pg.NextCursor
		if i == 0 {
			tampered := "A" + cursor[1:]
			api.do("GET", "/api/v1/users?limit=3&organization=o&cursor="+url.QueryEscape(tampered), nil).problem(t, 400)
			api.do("GET", "/api/v1/users?limit=3&organization=other&cursor="+url.QueryEscape(cursor), nil).problem(t, 400)
		}
	}
	if len(got) != len(want)+1 || strings.Join(got[:len(want)], ",") != strings.Join(want, ",") {
		t.Errorf("paged %v, want %v then the late one", got, want)
	}
	for _, bad := range []string{"limit=0", "limit=201", "limit=x", "status=gone", "unknown=1", "limit=1&limit=2"} {
		api.do("GET", "/api/v1/users?"+bad, nil).problem(t, 422)
	}
}

func TestAdminAPIAuthentication(t *testing.T) {
	env := sqliteEnv(t)
	s := startServe(t, env, false)
	admin1 := createKey(t, s.env, "--name", "ops", "--scope", "admin", "--tier", "unlimited")
	reader := createKey(t, s.env, "--name", "reader", "--scope", "users:read", "--tier", "unlimited")
	expired := createKey(t, s.env, "--name", "short", "--scope", "admin", "--expires-in", "1ms")
	api := newAPIClient(t, s, admin1.Key)

	// A valid-looking key of another deployment (another master key).
	other := createKey(t, sqliteEnv(t), "--name", "elsewhere", "--scope", "admin")
	flip := []byte(admin1.Key)
	flip[len(flip)-8] ^= 1 // a secret character changed: the checksum no longer matches

	for name, key := range map[string]string{
		"no key": "", "not a key": "hello", "malformed": "authd_short", "wrong checksum": string(flip),
		"expired": expired.Key, "other deployment": other.Key,
	} {
		t.Run(name, func(t *testing.T) {
			r := api.withKey(key).do("GET", "/api/v1/users", nil)
			r.problem(t, 401)
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("no Bearer challenge: %v", r.header)
			}
		})
	}
	r := api.do("GET", "/api/v1/users", nil, "Authorization", "Basic "+admin1.Key)
	r.problem(t, 401)

	// Scopes: users:read reads users, and nothing else.
	ro := api.withKey(reader.Key)
	if r := ro.do("GET", "/api/v1/users", nil); r.status != 200 {
		t.Errorf("users:read listing users: %d", r.status)
	}
	r = ro.do("POST", "/api/v1/users", map[string]any{"email": "x@example.com"})
	r.problem(t, 403)
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="users:write"`) {
		t.Errorf("403 challenge %q does not name the scope", r.header.Get("WWW-Authenticate"))
	}
	ro.do("GET", "/api/v1/clients", nil).problem(t, 403)
	ro.do("POST", "/api/v1/api-keys", map[string]any{"name": "escalate", "scopes": []string{"admin"}}).problem(t, 403)
	keyMaker := api.withKey(createKey(t, s.env, "--name", "maker", "--scope", "api-keys:write", "--scope", "users:read", "--tier", "free").Key)
	keyMaker.do("POST", "/api/v1/api-keys", map[string]any{"name": "faster", "scopes": []string{"users:read"}, "tier": "unlimited"}).problem(t, 403)
	var same admin.CreatedAPIKey
	keyMaker.do("POST", "/api/v1/api-keys", map[string]any{"name": "same", "scopes": []string{"users:read"}}).json(t, &same)
	if same.Tier != "free" {
		t.Errorf("a key made by a free key is in tier %q", same.Tier)
	}
	short := createKey(t, s.env, "--name", "short-lived", "--scope", "api-keys:write", "--scope", "users:read", "--expires-in", "1h")
	var child admin.CreatedAPIKey
	api.withKey(short.Key).do("POST", "/api/v1/api-keys", map[string]any{"name": "child", "scopes": []string{"users:read"}}).json(t, &child)
	if child.ExpiresAt == nil || short.ExpiresAt == nil || child.ExpiresAt.After(*short.ExpiresAt) {
		t.Errorf("a key made by a key expiring at %v expires at %v", short.ExpiresAt, child.ExpiresAt)
	}

	// A key made through the API, then revoked: refused at once here.
	var made admin.CreatedAPIKey
	api.do("POST", "/api/v1/api-keys", map[string]any{"name": "temp", "scopes": []string{"users:read"}, "tier": "unlimited"}).json(t, &made)
	tmp := api.withKey(made.Key)
	if r := tmp.do("GET", "/api/v1/users", nil); r.status != 200 {
		t.Fatalf("new key: %d %s", r.status, r.body)
	}
	if r := api.do("DELETE", "/api/v1/api-keys/"+made.ID, nil); r.status != 204 {
		t.Fatalf("revoke: %d", r.status)
	}
	tmp.do("GET", "/api/v1/users", nil).problem(t, 401)
	var got admin.APIKey
	api.do("GET", "/api/v1/api-keys/"+made.ID, nil).json(t, &got)
	if got.RevokedAt == nil || got.LastUsedAt != nil && got.LastUsedAt.IsZero() {
		t.Errorf("revoked key reads %+v", got)
	}

	// Revoked by the CLI (another process): refused after the next poll.
	mustRun(t, s.env, "apikeys", "revoke", reader.ID)
	if !eventually(10*time.Second, func() bool {
		return ro.do("GET", "/api/v1/users", nil).status == 401
	}) {
		t.Error("a key revoked by the CLI still works")
	}
	var list []admin.APIKey
	mustRun(t, s.env, "apikeys", "list").decodeJSON(t, &list)
	if len(list) != 8 {
		t.Errorf("apikeys list: %d keys", len(list))
	}
	mustFail(t, s.env, 1, []string{"unknown scope"}, "apikeys", "create", "--name", "x", "--scope", "everything")
	mustFail(t, s.env, 1, []string{"tier"}, "apikeys", "create", "--name", "x", "--scope", "admin", "--tier", "gold")
}

// TestAdminAPIClientCredentials: an access token of a client with admin
// scopes works like a key, within its scopes.
func TestAdminAPIClientCredentials(t *testing.T) {
	env := sqliteEnv(t)
	s := startServe(t, env, false)
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	mustRun(t, s.env, "clients", "create", "--name", "hr-sync", "--grant-type", "client_credentials",
		"--scope", "users:read", "--scope", "users:write").decodeJSON(t, &c)
	cc := clientcredentials.Config{ClientID: c.ID, ClientSecret: c.Secret, TokenURL: s.base + "/oauth2/token", Scopes: []string{"users:write"}}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	api := newAPIClient(t, s, tok.AccessToken)
	r := api.do("POST", "/api/v1/users", map[string]any{"email": "hired@example.com"})
	if r.status != 201 {
		t.Fatalf("create with a client token: %d %s", r.status, r.body)
	}
	api.do("GET", "/api/v1/clients", nil).problem(t, 403)
	var events admin.Page[admin.AuditEvent]
	newAPIClient(t, s, createKey(t, s.env, "--name", "a", "--scope", "audit:read").Key).
		do("GET", "/api/v1/audit-events?type=user.created", nil).json(t, &events)
	if len(events.Items) != 1 || events.Items[0].ActorID != "client:"+c.ID {
		t.Errorf("events %+v, want one by client:%s", events.Items, c.ID)
	}
	api.withKey(tok.AccessToken+"x").do("GET", "/api/v1/users", nil).problem(t, 401)
}

func TestAdminAPIBadInput(t *testing.T) {
	env := sqliteEnv(t)
	s := startServe(t, env, false)
	api := newAPIClient(t, s, createKey(t, s.env, "--name", "ops", "--scope", "admin", "--tier", "unlimited").Key)
	deep := strings.Repeat("[", 40) + strings.Repeat("]", 40)
	cases := []struct {
		name, body string
		status     int
	}{
		{"malformed", `{"email": "a@example.com"`, 400},
		{"not an object", `[1, 2]`, 422},
		{"too deep", `{"email": "a@example.com", "name": ` + deep + `}`, 400},
		{"too large", `{"email": "a@example.com", "name": "` + strings.Repeat("x", 2<<20) + `"}`, 413},
		{"unknown field", `{"email": "a@example.com", "admin": true}`, 422},
		{"wrong type", `{"email": "a@example.com", "email_verified": "yes"}`, 422},
		{"missing email", `{"name": "x"}`, 422},
		{"bad email", `{"email": "not an address"}`, 422},
		{"password hash", `{"email": "a@example.com", "password_hash": "$argon2id$v=19$m=1,t=1,p=1$x$y"}`, 422},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api.do("POST", "/api/v1/users", tc.body).problem(t, tc.status)
		})
	}
	api.do("POST", "/api/v1/users", `{"email": "a@example.com"}`, "Content-Type", "text/plain").problem(t, 415)
	var all admin.Page[admin.User]
	api.do("GET", "/api/v1/users", nil).json(t, &all)
	if len(all.Items) != 0 {
		t.Errorf("refused requests created users: %+v", all.Items)
	}
	req, _ := http.NewRequest(http.MethodPut, s.base+"/api/v1/users", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Content-Type") != "application/problem+json" || resp.Header.Get("Allow") == "" {
		t.Errorf("PUT /api/v1/users: %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = http.Get(s.base + "/api/v1/nothing-here") // not in the document: not validated against it
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown operation: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestAdminAPIRateLimit(t *testing.T) {
	env := sqliteEnv(t)
	s := startServe(t, append(env, "AUTHD_ADMIN_TIERS_FREE_RATE=0.01", "AUTHD_ADMIN_TIERS_FREE_BURST=3"), false)
	api := newAPIClient(t, s, createKey(t, s.env, "--name", "free", "--scope", "users:read", "--tier", "free").Key)
	for i := range 3 {
		r := api.do("GET", "/api/v1/users", nil)
		if r.status != 200 {
			t.Fatalf("request %d within the burst: %d", i, r.status)
		}
		if r.header.Get("RateLimit-Policy") != `"free";q=3;w=300` || !strings.HasPrefix(r.header.Get("RateLimit"), fmt.Sprintf(`"free";r=%d;`, 2-i)) {
			t.Errorf("request %d: RateLimit-Policy %q, RateLimit %q", i, r.header.Get("RateLimit-Policy"), r.header.Get("RateLimit"))
		}
	}
	r := api.do("GET", "/api/v1/users", nil)
	r.problem(t, 429)
	if r.header.Get("Retry-After") == "" || r.header.Get("Retry-After") == "0" {
		t.Errorf("429 without Retry-After: %v", r.header)
	}
}

func TestAdminAPIClientsAndKeys(t *testing.T) {
	env := sqliteEnv(t)
	s := startServe(t, env, false)
	api := newAPIClient(t, s, createKey(t, s.env, "--name", "ops", "--scope", "clients:write", "--scope", "keys:write", "--tier", "unlimited").Key)
	r := api.do("POST", "/api/v1/clients", map[string]any{"client_name": "batch", "grant_types": []string{"client_credentials"},
		"scopes": []string{"reports"}})
	var c admin.CreatedOAuthClient
	r.json(t, &c)
	if r.status != 201 || c.ClientSecret == "" || c.ClientID == "" {
		t.Fatalf("create client: %d %s", r.status, r.body)
	}
	p := api.do("POST", "/api/v1/clients", map[string]any{"client_name": "web", "grant_types": []string{"authorization_code"}}).problem(t, 422)
	if !strings.Contains(p.Detail+fmt.Sprint(p.Errors), "redirect") {
		t.Errorf("client without redirect URIs: %+v", p)
	}
	api.do("POST", "/api/v1/clients", map[string]any{"client_id": c.ClientID, "client_name": "dup",
		"grant_types": []string{"client_credentials"}}).problem(t, 409)
	var got admin.OAuthClient
	api.do("GET", "/api/v1/clients/"+c.ClientID, nil).json(t, &got)
	if got.ClientName != "batch" {
		t.Errorf("get client: %+v", got)
	}
	var list admin.Page[admin.OAuthClient]
	api.do("GET", "/api/v1/clients?limit=1", nil).json(t, &list)
	if len(list.Items) != 1 || list.NextCursor != "" {
		t.Errorf("clients: %+v", list)
	}

	// Merge patch with If-Match; the registration rules apply to the result.
	r = api.do("GET", "/api/v1/clients/"+c.ClientID, nil)
	etag := r.header.Get("ETag")
	var upd admin.UpdatedOAuthClient
	r = api.do("PATCH", "/api/v1/clients/"+c.ClientID, `{"client_name": "batch v2", "scopes": ["reports", "exports"]}`, "If-Match", etag)
	r.json(t, &upd)
	if r.status != 200 || upd.ClientName != "batch v2" || len(upd.Scopes) != 2 || upd.ClientSecret != "" || r.header.Get("ETag") == etag {
		t.Fatalf("patch client: %d %s", r.status, r.body)
	}
	api.do("PATCH", "/api/v1/clients/"+c.ClientID, `{"client_name": "lost"}`, "If-Match", etag).problem(t, 412)
	api.do("PATCH", "/api/v1/clients/"+c.ClientID, `{"grant_types": ["authorization_code"]}`).problem(t, 422)
	api.do("PATCH", "/api/v1/clients/"+c.ClientID, `{"client_id": "other"}`).problem(t, 422)
	api.do("PATCH", "/api/v1/clients/nope", `{"client_name": "x"}`).problem(t, 404)

	// A browser application's web origins (CORS).
	var spa admin.CreatedOAuthClient
	api.do("POST", "/api/v1/clients", map[string]any{"client_name": "spa", "public": true, "redirect_uris": []string{"https://spa.example/cb"},
		"web_origins": []string{"https://cdn.example"}}).json(t, &spa)
	if !slices.Equal(spa.WebOrigins, []string{"https://cdn.example"}) {
		t.Fatalf("web_origins on create: %+v", spa.OAuthClient)
	}
	api.do("PATCH", "/api/v1/clients/"+spa.ClientID, `{"web_origins": ["https://spa.example/"]}`).problem(t, 422)
	api.do("PATCH", "/api/v1/clients/"+spa.ClientID, `{"web_origins": []}`).json(t, &upd)
	if len(upd.WebOrigins) != 0 {
		t.Fatalf("web_origins cleared: %+v", upd.OAuthClient)
	}

	token := func(secret string) error {
		cc := clientcredentials.Config{ClientID: c.ClientID, ClientSecret: secret, TokenURL: s.base + "/oauth2/token",
			AuthStyle: oauth2.AuthStyleInHeader}
		_, err := cc.Token(context.Background())
		return err
	}
	if err := token(c.ClientSecret); err != nil {
		t.Fatalf("the client cannot get a token after an update: %v", err)
	}
	var rotated admin.OAuthClientSecret
	api.do("POST", "/api/v1/clients/"+c.ClientID+"/secret", nil).json(t, &rotated)
	if err := token(c.ClientSecret); err == nil {
		t.Error("the old secret still works after rotation")
	}
	if err := token(rotated.ClientSecret); err != nil {
		t.Errorf("the new secret does not work: %v", err)
	}
	if r := api.do("DELETE", "/api/v1/clients/"+c.ClientID, nil); r.status != 204 {
		t.Errorf("delete client: %d", r.status)
	}
	api.do("GET", "/api/v1/clients/"+c.ClientID, nil).problem(t, 404)

	var keys admin.Page[admin.SigningKey]
	api.do("GET", "/api/v1/keys", nil).json(t, &keys)
	var k admin.SigningKey
	if r := api.do("POST", "/api/v1/keys/rotate", nil); r.status != 201 {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	} else {
		r.json(t, &k)
	}
	var after admin.Page[admin.SigningKey]
	api.do("GET", "/api/v1/keys", nil).json(t, &after)
	if len(after.Items) != len(keys.Items)+1 || after.Items[0].KID != k.KID {
		t.Errorf("keys after rotation: %+v", after.Items)
	}
}

func TestAdminAPIDocs(t *testing.T) {
	s := startServe(t, sqliteEnv(t), false)
	resp, err := http.Get(s.base + "/api/docs")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "/api/docs/swagger-ui-bundle.js") {
		t.Fatalf("docs page: %d", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "http") {
		t.Errorf("docs CSP %q", csp)
	}
	for _, asset := range []string{"/api/docs/swagger-ui-bundle.js", "/api/docs/swagger-ui.css", "/api/docs/init.js"} {
		resp, err := http.Get(s.base + asset)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", asset, resp.StatusCode)
		}
	}
}

// TestCLIUpdateSetPasswordRotateSecret: the CLI has what the API has,
// through the same services.
func TestCLIUpdateSetPasswordRotateSecret(t *testing.T) {
	env := sqliteEnv(t)
	var u struct {
		ID string `json:"id"`
	}
	mustRun(t, env, "users", "create", "--email", "cli@example.com", "--password", "a long enough passphrase 1").decodeJSON(t, &u)
	var got struct {
		Name          string `json:"name"`
		Organization  string `json:"organization"`
		EmailVerified bool   `json:"email_verified"`
	}
	mustRun(t, env, "users", "update", u.ID, "--name", "Cli User", "--organization", "eng", "--verified=true").decodeJSON(t, &got)
	if got.Name != "Cli User" || got.Organization != "eng" || !got.EmailVerified {
		t.Errorf("users update: %+v", got)
	}
	var cleared struct {
		Name         string `json:"name"`
		Organization string `json:"organization"`
	}
	mustRun(t, env, "users", "update", u.ID, "--organization", "").decodeJSON(t, &cleared)
	if cleared.Organization != "" || cleared.Name != "Cli User" {
		t.Errorf("clearing organization: %+v", cleared)
	}
	mustFail(t, env, 1, []string{"phone"}, "users", "update", u.ID, "--phone", "not a number")
	mustFail(t, env, 2, nil, "users", "update", u.ID)
	mustRun(t, env, "users", "set-password", u.ID, "--password", "another long passphrase 2")
	mustFail(t, env, 1, []string{"policy"}, "users", "set-password", u.ID, "--password", "short")
	mustFail(t, env, 1, []string{"not found"}, "users", "set-password", "nobody", "--password", "another long passphrase 3")

	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	mustRun(t, env, "clients", "create", "--name", "m2m", "--grant-type", "client_credentials").decodeJSON(t, &c)
	var rotated struct {
		Secret string `json:"client_secret"`
	}
	mustRun(t, env, "clients", "rotate-secret", c.ID).decodeJSON(t, &rotated)
	if rotated.Secret == "" || rotated.Secret == c.Secret {
		t.Errorf("rotate-secret: %+v", rotated)
	}
	mustFail(t, env, 1, []string{"not found"}, "clients", "rotate-secret", "nope")
	var updated struct {
		Name   string   `json:"client_name"`
		Scopes []string `json:"scopes"`
	}
	mustRun(t, env, "clients", "update", c.ID, "--name", "m2m v2", "--scope", "a b").decodeJSON(t, &updated)
	if updated.Name != "m2m v2" || len(updated.Scopes) != 2 {
		t.Errorf("clients update: %+v", updated)
	}
	mustFail(t, env, 1, []string{"redirect"}, "clients", "update", c.ID, "--grant-type", "authorization_code")
	var events []struct {
		Type    string `json:"type"`
		ActorID string `json:"actor_id"`
	}
	mustRun(t, env, "audit", "list").decodeJSON(t, &events)
	seen := map[string]bool{}
	for _, e := range events {
		if e.ActorID == "cli" {
			seen[e.Type] = true
		}
	}
	for _, want := range []string{"profile.updated", "password.changed", "client.secret_rotated", "client.updated"} {
		if !seen[want] {
			t.Errorf("no %s event by the CLI in %+v", want, events)
		}
	}
}

// TestAdminAPIDPoP: a client created with --require-dpop gets only
// DPoP-bound tokens (x/oauth2 through a DPoP transport), which the admin
// API takes with a proof by the token's key and refuses as bearer tokens,
// with a DPoP challenge.
func TestAdminAPIDPoP(t *testing.T) {
	env := sqliteEnv(t)
	s := startServe(t, env, false)
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
		DPoP   bool   `json:"dpop_bound_access_tokens"`
	}
	mustRun(t, s.env, "clients", "create", "--name", "dpop-sync", "--grant-type", "client_credentials",
		"--scope", "users:read", "--require-dpop").decodeJSON(t, &c)
	if !c.DPoP {
		t.Fatalf("clients create --require-dpop printed %+v", c)
	}
	cc := clientcredentials.Config{ClientID: c.ID, ClientSecret: c.Secret, TokenURL: s.base + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader,
		Scopes: []string{"users:read"}}
	if _, err := cc.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "invalid_dpop_proof") {
		t.Fatalf("a token without a proof: %v, want invalid_dpop_proof", err)
	}
	dc := dpoptest.New(t, jose.ES256, nil)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: &dpoptest.Transport{C: dc}})
	tok, err := cc.Token(ctx)
	if err != nil || tok.TokenType != "DPoP" {
		t.Fatalf("token with a proof: %v %+v", err, tok)
	}
	api := newAPIClient(t, s, "")
	users := s.base + "/api/v1/users"
	if r := api.do("GET", "/api/v1/users", nil, "Authorization", "DPoP "+tok.AccessToken, "DPoP", dc.Proof("GET", users, tok.AccessToken)); r.status != 200 {
		t.Fatalf("with the proof: %d %s", r.status, r.body)
	}
	r := api.do("GET", "/api/v1/users", nil, "Authorization", "Bearer "+tok.AccessToken)
	r.problem(t, 401)
	if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "DPoP ") || !strings.Contains(ch, `error="invalid_token"`) {
		t.Fatalf("bearer use of a bound token: challenge %q", ch)
	}
	other := dpoptest.New(t, jose.ES256, nil)
	api.do("GET", "/api/v1/users", nil, "Authorization", "DPoP "+tok.AccessToken, "DPoP", other.Proof("GET", users, tok.AccessToken)).problem(t, 401)
	api.do("GET", "/api/v1/users", nil, "Authorization", "DPoP "+tok.AccessToken).problem(t, 401)
	var updated map[string]any
	mustRun(t, s.env, "clients", "update", c.ID, "--require-dpop=false").decodeJSON(t, &updated)
	if _, ok := updated["dpop_bound_access_tokens"]; ok || updated["client_id"] != c.ID {
		t.Fatal("clients update --require-dpop=false kept the flag")
	}
}

// TestClientsProfileFAPI2: clients create --profile fapi2 needs
// private_key_jwt and keys.algorithm ES256 or EdDSA, and stores a client
// that must use PAR and DPoP.
func TestClientsProfileFAPI2(t *testing.T) {
	env := sqliteEnv(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	args := []string{"clients", "create", "--name", "bank", "--redirect-uri", "https://rp.example/cb", "--profile", "fapi2",
		"--token-endpoint-auth-method", "private_key_jwt", "--jwks", string(jwks)}
	mustFail(t, env, 1, []string{"keys.algorithm"}, args...)
	mustFail(t, append(env, "AUTHD_KEYS_ALGORITHM=ES256"), 1, []string{"private_key_jwt"}, args[:8]...)
	var c map[string]any
	mustRun(t, append(env, "AUTHD_KEYS_ALGORITHM=ES256"), args...).decodeJSON(t, &c)
	if c["profile"] != "fapi2" || c["dpop_bound_access_tokens"] != true || c["require_pushed_authorization_requests"] != true {
		t.Fatalf("clients create --profile fapi2 printed %v", c)
	}
}
