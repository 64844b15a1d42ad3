package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authd/authd/admin"
	"github.com/authd/authd/webhook"
)

// hookReceiver is a webhook endpoint verifying each request with the
// Standard Webhooks reference library; fail makes it answer 500.
type hookReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret atomic.Pointer[string]
	fail   atomic.Bool
	mu     sync.Mutex
	events []webhook.Payload
	ids    []string
	got    chan webhook.Payload
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{t: t, got: make(chan webhook.Payload, 100)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p webhook.Payload
		_ = json.Unmarshal(body, &p)
		if s := h.secret.Load(); s != nil { // known once registered
			wh, _ := standardwebhooks.NewWebhook(*s)
			if err := wh.Verify(body, r.Header); err != nil {
				t.Errorf("delivery %s does not verify: %v", r.Header.Get("webhook-id"), err)
			}
		}
		if h.fail.Load() && p.Type != webhook.WebhookTest {
			http.Error(w, "down for maintenance", 500)
			return
		}
		h.mu.Lock()
		h.events = append(h.events, p)
		h.ids = append(h.ids, r.Header.Get("webhook-id"))
		h.mu.Unlock()
		if p.Type != webhook.WebhookTest {
			h.got <- p
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) next(what string) webhook.Payload {
	h.t.Helper()
	select {
	case p := <-h.got:
		return p
	case <-time.After(30 * time.Second):
		h.t.Fatalf("%s: nothing delivered", what)
	}
	return webhook.Payload{}
}

// TestWebhooksEndToEnd is the newcomer's path: register an endpoint over
// the API, create an account on the registration page, and receive a
// signed user.created; then watch a failing endpoint's delivery retried
// and dead-lettered, retry it and replay the range.
func TestWebhooksEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env []string) {
		env = append(env, "AUTHD_WEBHOOKS_RETRY_SCHEDULE=100ms,200ms", "AUTHD_WEBHOOKS_POLL_INTERVAL=50ms", "AUTHD_JOBS_POLL_INTERVAL=50ms")
		s := startServe(t, env, false)
		key := createKey(t, s.env, "--name", "ops", "--scope", "admin", "--tier", "unlimited")
		api := newAPIClient(t, s, key.Key)
		h := newHookReceiver(t)

		r := api.do("POST", "/api/v1/webhooks", map[string]any{"url": h.srv.URL + "/authd", "events": []string{"user.*"},
			"description": "CRM sync"})
		if r.status != http.StatusCreated || !strings.HasPrefix(r.header.Get("Location"), "/api/v1/webhooks/wh_") {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		var created admin.CreatedWebhook
		r.json(t, &created)
		if !strings.HasPrefix(created.Secret, "whsec_") || !created.Enabled || len(h.events) != 1 || h.events[0].Type != webhook.WebhookTest {
			t.Fatalf("created %+v; receiver got %+v", created, h.events)
		}
		h.secret.Store(&created.Secret)
		var got admin.Webhook
		api.do("GET", "/api/v1/webhooks/"+created.ID, nil).json(t, &got)
		if got.URL != created.URL || strings.Contains(string(api.do("GET", "/api/v1/webhooks/"+created.ID, nil).body), "whsec_") {
			t.Fatalf("get: %+v (the secret must not be shown again)", got)
		}

		// A person registers on the hosted page.
		p := newPerson(t)
		reg := p.get(s.base + "/register")
		done := p.submit(reg, "Create account", url.Values{"email": {"Lin@Example.com"}, "password": {"a long enough passphrase 42"}, "name": {"Lin"}})
		if done.status != 200 && done.status != 303 {
			t.Fatalf("register: %d %s", done.status, done.body)
		}
		ev := h.next("user.created")
		if ev.Type != webhook.UserCreated || ev.Data.Action != "user.registered" || ev.Data.UserID == "" || ev.Data.EventID == 0 {
			t.Fatalf("event %+v", ev)
		}
		if strings.Contains(strings.ToLower(ev.Data.UserID+ev.Data.Action), "passphrase") {
			t.Fatal("a payload carries the password")
		}

		// The endpoint fails: retried on the schedule, then dead-lettered.
		h.fail.Store(true)
		api.do("POST", "/api/v1/users", map[string]any{"email": "mo@example.com"})
		var failed admin.Page[admin.Delivery]
		if !eventually(30*time.Second, func() bool {
			api.do("GET", "/api/v1/webhooks/"+created.ID+"/deliveries?status=failed", nil).json(t, &failed)
			return len(failed.Items) == 1
		}) {
			t.Fatalf("no dead letter: %+v", failed)
		}
		var d admin.Delivery
		api.do("GET", "/api/v1/webhooks/"+created.ID+"/deliveries/"+failed.Items[0].ID, nil).json(t, &d)
		if d.Attempts != 3 || len(d.AttemptLog) != 3 || d.AttemptLog[2].Status != 500 || d.AttemptLog[2].Response == "" ||
			d.Payload.Type != webhook.UserCreated || d.Payload.Data.Action != "user.created" {
			t.Fatalf("dead letter %+v", d)
		}
		h.fail.Store(false)
		r = api.do("POST", "/api/v1/webhooks/"+created.ID+"/deliveries/"+d.ID+"/retry", nil)
		if r.status != http.StatusAccepted {
			t.Fatalf("retry: %d %s", r.status, r.body)
		}
		if ev := h.next("retried"); ev.Data.Action != "user.created" {
			t.Fatalf("retried %+v", ev)
		}
		if !eventually(30*time.Second, func() bool {
			api.do("GET", "/api/v1/webhooks/"+created.ID+"/deliveries/"+d.ID, nil).json(t, &d)
			return d.Status == "succeeded"
		}) {
			t.Fatalf("retried delivery: %+v", d)
		}
		var replay admin.Replayed
		since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		r = api.do("POST", "/api/v1/webhooks/"+created.ID+"/replay", map[string]any{"since": since, "all": true})
		r.json(t, &replay)
		if r.status != http.StatusAccepted || replay.Count != 2 {
			t.Fatalf("replay: %d %s", r.status, r.body)
		}
		h.next("replayed 1")
		h.next("replayed 2")
		h.mu.Lock()
		ids := append([]string(nil), h.ids...)
		h.mu.Unlock()
		if n := strings.Count(strings.Join(ids, " "), d.ID); n != 2 {
			t.Errorf("the dead letter's webhook-id %s arrived %d times, want 2 (retry, replay): %v", d.ID, n, ids)
		}

		// The CLI sees the same endpoint and deliveries.
		var listed []admin.Webhook
		mustRun(t, s.env, "webhooks", "list").decodeJSON(t, &listed)
		if len(listed) != 1 || listed[0].ID != created.ID {
			t.Fatalf("webhooks list: %+v", listed)
		}
		// The receiver has both replays; their attempts are recorded once
		// it has answered, so the listing may lag a moment behind.
		var ds []admin.Delivery
		if !eventually(30*time.Second, func() bool {
			ds = nil
			mustRun(t, s.env, "webhooks", "deliveries", created.ID, "--status", "succeeded").decodeJSON(t, &ds)
			return len(ds) == 2
		}) {
			t.Fatalf("webhooks deliveries: %+v", ds)
		}
		// A retry from the CLI is queued for the server, which sends it.
		var again admin.Delivery
		mustRun(t, s.env, "webhooks", "retry", created.ID, ds[0].ID).decodeJSON(t, &again)
		if again.Status != "pending" {
			t.Fatalf("CLI retry: %+v", again)
		}
		h.next("CLI retry")
		mustFail(t, s.env, 1, []string{"no webhook"}, "webhooks", "retry", created.ID, "msg_nope")
	})
}

// TestWebhooksAPIRefusals: bad input, hostile URLs and missing scopes
// answer clear problems and register nothing.
func TestWebhooksAPIRefusals(t *testing.T) {
	s := startServe(t, sqliteEnv(t), false)
	key := createKey(t, s.env, "--name", "ops", "--scope", "admin", "--tier", "unlimited")
	api := newAPIClient(t, s, key.Key)
	h := newHookReceiver(t)
	h.fail.Store(true)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
	t.Cleanup(down.Close)
	for _, tc := range []struct {
		body    any
		pointer string
	}{
		{map[string]any{"url": "https://10.1.2.3/hook", "events": []string{"*"}}, "/url"},
		{map[string]any{"url": "https://[fd00::1]/hook", "events": []string{"*"}}, "/url"},
		{map[string]any{"url": "https://169.254.169.254/latest/meta-data", "events": []string{"*"}}, "/url"},
		{map[string]any{"url": "https://u:p@example.com/hook", "events": []string{"*"}}, "/url"},
		{map[string]any{"url": "javascript:alert(1)", "events": []string{"*"}}, "/url"},
		{map[string]any{"url": down.URL, "events": []string{"*"}}, "/url"}, // answers 503 to webhook.test
		{map[string]any{"url": h.srv.URL, "events": []string{"user.nope"}}, "/events/0"},
		{map[string]any{"url": h.srv.URL, "events": []string{}}, "/events"},
		{map[string]any{"url": h.srv.URL, "events": []string{"*"}, "extra": 1}, ""},
	} {
		p := api.do("POST", "/api/v1/webhooks", tc.body).problem(t, 422)
		if tc.pointer != "" && (len(p.Errors) == 0 || p.Errors[0].Pointer != tc.pointer) {
			t.Errorf("%v: %+v, want an error at %s", tc.body, p, tc.pointer)
		}
	}
	api.do("POST", "/api/v1/webhooks", `{"url":`).problem(t, 400)
	api.do("GET", "/api/v1/webhooks/wh_nope", nil).problem(t, 404)
	api.do("POST", "/api/v1/webhooks/wh_nope/replay", map[string]any{"since": time.Now().Format(time.RFC3339)}).problem(t, 404)
	api.do("GET", "/api/v1/webhooks/wh_nope/deliveries/msg_nope", nil).problem(t, 404)
	reader := createKey(t, s.env, "--name", "reader", "--scope", "users:read")
	api.withKey(reader.Key).do("GET", "/api/v1/webhooks", nil).problem(t, 403)
	api.withKey("").do("GET", "/api/v1/webhooks", nil).problem(t, 401)
	var list admin.Page[admin.Webhook]
	api.do("GET", "/api/v1/webhooks", nil).json(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("refused endpoints were registered: %+v", list.Items)
	}
	mustFail(t, s.env, 1, []string{"--url"}, "webhooks", "create", "--url", "https://10.0.0.1/x", "--event", "*")
	mustFail(t, s.env, 2, []string{"missing id"}, "webhooks", "get")
}
