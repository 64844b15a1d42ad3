package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authd/authd/internal/secrets"
)

// webhookEnv makes deliveries quick to retry and jobs of a killed process
// quick to rescue.
var webhookEnv = []string{"AUTHD_WEBHOOKS_RETRY_SCHEDULE=200ms,500ms,1s,2s", "AUTHD_WEBHOOKS_POLL_INTERVAL=50ms",
	"AUTHD_WEBHOOKS_TIMEOUT=2s", "AUTHD_JOBS_RESCUE_AFTER=10s", "AUTHD_JOBS_POLL_INTERVAL=100ms", "AUTHD_JOBS_WORKERS=8",
	"AUTHD_ALERTS_EMAIL=ops@example.com"}

// sink is a receiver that verifies each delivery and records, per event,
// the webhook-ids it arrived under. It answers slowly, so deliveries are
// in flight when a replica is killed.
type sink struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	byUser map[string]map[string]int // user id -> webhook-id -> arrivals
}

func newSink(t *testing.T) *sink {
	s := &sink{t: t, byUser: map[string]map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p struct {
			Type string `json:"type"`
			Data struct {
				UserID string `json:"user_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &p)
		s.mu.Lock()
		secret := s.secret
		s.mu.Unlock()
		if secret != "" {
			wh, _ := standardwebhooks.NewWebhook(secret)
			if err := wh.Verify(body, r.Header); err != nil {
				t.Errorf("a delivery does not verify: %v", err)
				w.WriteHeader(400)
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // a slow receiver: keeps deliveries in flight
		if p.Type == "user.created" {
			s.mu.Lock()
			if s.byUser[p.Data.UserID] == nil {
				s.byUser[p.Data.UserID] = map[string]int{}
			}
			s.byUser[p.Data.UserID][r.Header.Get("webhook-id")]++
			s.mu.Unlock()
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// register creates the endpoint with the CLI (which verifies it).
func (s *sink) register(cli func(args ...string) string) {
	var created struct {
		Secret string `json:"secret"`
	}
	out := cli("webhooks", "create", "--url", s.srv.URL, "--event", "user.created")
	if err := json.Unmarshal([]byte(out), &created); err != nil || !strings.HasPrefix(created.Secret, "whsec_") {
		s.t.Fatalf("webhooks create: %v\n%s", err, out)
	}
	s.mu.Lock()
	s.secret = created.Secret
	s.mu.Unlock()
}

// check: every user has arrived, each under exactly one webhook-id (a
// redelivery reuses it: at least once, never a second id).
func (s *sink) complete(users []string) (missing int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		ids := s.byUser[u]
		switch {
		case len(ids) == 0:
			missing++
		case len(ids) > 1:
			return missing, fmt.Errorf("user %s was delivered under %d webhook-ids: %v", u, len(ids), ids)
		}
	}
	return missing, nil
}

// createUsers creates n users through the admin API on base and returns
// their ids.
func createUsers(t *testing.T, base, key string, n int, prefix string) []string {
	t.Helper()
	var ids []string
	for i := range n {
		body, _ := json.Marshal(map[string]any{"email": fmt.Sprintf("%s-%d@example.com", prefix, i)})
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/users", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("create user %d: %v", i, err)
		}
		var u struct {
			ID string `json:"id"`
		}
		json.NewDecoder(resp.Body).Decode(&u)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create user %d: %d", i, resp.StatusCode)
		}
		ids = append(ids, u.ID)
	}
	return ids
}

func apiKey(t *testing.T, cli func(args ...string) string) string {
	var k struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(cli("apikeys", "create", "--name", "e2e", "--scope", "admin", "--tier", "unlimited")), &k); err != nil {
		t.Fatal(err)
	}
	return k.Key
}

func waitDelivered(t *testing.T, s *sink, users []string) {
	t.Helper()
	var missing int
	var err error
	if !eventually(90*time.Second, func() bool {
		missing, err = s.complete(users)
		return err != nil || missing == 0
	}) || err != nil {
		t.Fatalf("%d of %d events not delivered (%v)", missing, len(users), err)
	}
}

// TestWebhooksSurviveSIGKILL: two replicas share the queue on Postgres;
// one is killed with SIGKILL while deliveries are in flight and started
// again. Every event arrives, each under one webhook-id. Then a replayed
// refresh token makes one alert mail, however often it is replayed.
func TestWebhooksSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	d := deploy(t, deployOptions{replicas: 2, redisURL: srv.url(), env: webhookEnv})
	s := newSink(t)
	s.register(d.cli)
	key := apiKey(t, d.cli)

	users := createUsers(t, d.replicas[1].base, key, 150, "before")
	a := d.replicas[0]
	a.p.kill() // SIGKILL: no shutdown, jobs left running
	outstanding, _ := s.complete(users)
	t.Logf("killed replica A with %d of %d deliveries outstanding", outstanding, len(users))
	users = append(users, createUsers(t, d.replicas[1].base, key, 50, "during")...)
	a.p = startProcEnv(t, authdBin, a.env, "serve")
	d.waitReady(a)
	users = append(users, createUsers(t, a.base, key, 50, "after")...)
	waitDelivered(t, s, users)

	// Refresh token reuse: revoked, and the administrators get one mail.
	d.cli("users", "create", "--email", "reuse@example.com", "--password", "correct horse battery staple", "--verified")
	tk := d.newPerson().signIn(0, "reuse@example.com", "correct horse battery staple")
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.Refresh}}
	if code, _, m := d.post(d.replicas[0], "/oauth2/token", form); code != http.StatusOK {
		t.Fatalf("refresh: %d %v", code, m)
	}
	for i := range 5 {
		if code, _, _ := d.post(d.replicas[i%2], "/oauth2/token", form); code != http.StatusBadRequest {
			t.Fatalf("replayed refresh token: %d, want 400", code)
		}
	}
	alertMails := func() int {
		n := 0
		for _, r := range d.replicas {
			for _, line := range strings.Split(r.p.out.String(), "\n") {
				if strings.Contains(line, "mail not sent") && strings.Contains(line, "to=ops@example.com") &&
					strings.Contains(line, "token.reuse_detected") {
					n++
				}
			}
		}
		return n
	}
	if !eventually(30*time.Second, func() bool { return alertMails() >= 1 }) {
		t.Fatal("no alert mail for the replayed refresh token")
	}
	if n := alertMails(); n != 1 {
		t.Fatalf("%d alert mails for one attack, want 1 (the rest go in the summary)", n)
	}
}

// TestWebhooksSurviveSIGKILLOnSQLite: the embedded default, one process,
// killed and started again on the same database file.
func TestWebhooksSurviveSIGKILLOnSQLite(t *testing.T) {
	t.Parallel()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env := append([]string{"PATH=" + os.Getenv("PATH"), "AUTHD_ISSUER=http://" + addr, "AUTHD_HTTP_ADDR=" + addr,
		"AUTHD_DATA_DIR=" + t.TempDir(), "AUTHD_SECRETS_MASTER_KEY=" + secrets.GenerateMasterKey(), "AUTHD_LOG_FORMAT=text"},
		webhookEnv...)
	d := &deployment{t: t, env: env}
	r := &replica{name: "A", base: "http://" + addr, env: env}
	d.replicas = []*replica{r}
	r.p = startProcEnv(t, authdBin, env, "serve")
	d.waitReady(r)
	s := newSink(t)
	s.register(d.cli)
	key := apiKey(t, d.cli)
	users := createUsers(t, r.base, key, 100, "before")
	r.p.kill()
	outstanding, _ := s.complete(users)
	t.Logf("killed with %d of %d deliveries outstanding", outstanding, len(users))
	r.p = startProcEnv(t, authdBin, env, "serve")
	d.waitReady(r)
	users = append(users, createUsers(t, r.base, key, 20, "after")...)
	waitDelivered(t, s, users)
}
