package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/authd/authd/internal/telemetry/otlptest"
)

func testRedisURL() string {
	if u := os.Getenv("AUTHD_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379"
}

// TestTraceOfATokenRequest runs authd serve with Redis and tracing to an
// in-process OTLP receiver: a token request carrying a traceparent yields
// one trace, the caller's, holding the server span (its parent the
// caller's span, its name the route), SQL spans and Redis spans; the
// request's log line names the trace.
func TestTraceOfATokenRequest(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, env []string) {
		rcv := otlptest.New()
		defer rcv.Close()
		b := make([]byte, 6)
		rand.Read(b)
		env = append(env, "AUTHD_REDIS_URL="+testRedisURL(), "AUTHD_REDIS_PREFIX=authd-trace-"+hex.EncodeToString(b)+":",
			"AUTHD_TELEMETRY_OTLP_ENDPOINT="+rcv.URL,
			// A per-client token limit: the token request asks Redis.
			"AUTHD_RATELIMIT_TOKEN_PER_CLIENT_PER_MINUTE=6000", "AUTHD_RATELIMIT_TOKEN_PER_CLIENT_BURST=100")
		s := startServe(t, env, false)
		id, secret := "traced-"+strings.ReplaceAll(t.Name(), "/", "-"), "a-long-enough-secret-for-tests"
		mustRun(t, s.env, "clients", "create", "--name", "svc", "--id", id, "--secret", secret,
			"--grant-type", "client_credentials", "--scope", "api")

		traceID := hex.EncodeToString(b) + "00000000000000000000"
		traceID = traceID[:32]
		const parent, parent2 = "00f067aa0ba902b7", "00f067aa0ba902b8"
		req, _ := http.NewRequest(http.MethodPost, s.base+"/oauth2/token",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Traceparent", "00-"+traceID+"-"+parent+"-01")
		req.SetBasicAuth(id, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("token request: %d", resp.StatusCode)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
			t.Fatal(err)
		}
		// The caller introspects the token in the same trace.
		req, _ = http.NewRequest(http.MethodPost, s.base+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Traceparent", "00-"+traceID+"-"+parent2+"-01")
		req.SetBasicAuth(id, secret)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("introspection: %d", resp.StatusCode)
		}
		if err := s.stop(); err != nil { // flushes the spans, bounded
			t.Fatalf("serve: %v", err)
		}

		spans := rcv.Trace(traceID)
		var server, sql, redis int
		for _, sp := range spans {
			switch {
			case sp.Kind == "SPAN_KIND_SERVER":
				server++
				want := map[string]string{parent: "/oauth2/token", parent2: "/oauth2/introspect"}[sp.ParentSpanID]
				if want == "" || sp.Name != "POST "+want || sp.Attrs["http.route"] != want {
					t.Errorf("server span %+v: want the caller's span as parent, named after its route", sp)
				}
			case sp.Attrs["db.system.name"] == "redis":
				redis++
			case sp.Attrs["db.system.name"] == "sqlite" || sp.Attrs["db.system.name"] == "postgresql":
				sql++
				if sp.Attrs["db.query.text"] == "" || sp.Attrs["db.operation.name"] == "" {
					t.Errorf("SQL span %+v: want db.query.text and db.operation.name", sp)
				}
				if strings.Contains(sp.Attrs["db.query.text"], secret) {
					t.Errorf("SQL span carries a bound value: %q", sp.Attrs["db.query.text"])
				}
			}
		}
		if server != 2 || sql == 0 || redis == 0 {
			t.Errorf("trace %s: %d server, %d SQL, %d Redis spans; want 2 and some of each\nall spans: %+v", traceID, server, sql, redis, rcv.Spans())
		}
		if !strings.Contains(s.stderr.String(), `"trace_id":"`+traceID+`"`) {
			t.Errorf("no log line names trace %s:\n%s", traceID, s.stderr)
		}
	})
}
