package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/internal/secrets"
)

// deployment is N authd replicas sharing one Postgres database (through
// PgBouncer) and one Redis, behind a load balancer the test steers: the
// issuer is the balancer's address, and route picks the replica it
// forwards to. Tests also talk to replicas directly.
type deployment struct {
	t        *testing.T
	env      []string // what every replica and CLI run share
	issuer   string
	replicas []*replica
	route    atomic.Int32
	client   client // confidential, first-party, every grant
}

type replica struct {
	name string
	base string // http://127.0.0.1:port
	p    *proc
	env  []string
}

type client struct{ ID, Secret string }

// deployOptions tune a deployment.
type deployOptions struct {
	replicas int
	redisURL string
	env      []string // extra AUTHD_* settings
}

// deploy starts a deployment and waits until every replica is ready.
// Replicas start at once, so they race to migrate the fresh database.
func deploy(t *testing.T, o deployOptions) *deployment {
	t.Helper()
	base, name := newDatabase(t)
	dbURL := startPgBouncer(t, base, name)
	d := &deployment{t: t}
	lb := d.startBalancer()
	d.issuer = "http://" + lb
	d.env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AUTHD_ISSUER=" + d.issuer,
		"AUTHD_DATABASE_URL=" + dbURL,
		"AUTHD_DATABASE_SIMPLE_PROTOCOL=true",
		"AUTHD_DATABASE_MAX_OPEN_CONNS=10",
		"AUTHD_REDIS_URL=" + o.redisURL,
		"AUTHD_SECRETS_MASTER_KEY=" + secrets.GenerateMasterKey(),
		"AUTHD_LOG_FORMAT=text",
		"AUTHD_DATA_DIR=" + t.TempDir(),
		"AUTHD_PASSWORD_MEMORY=8192", "AUTHD_PASSWORD_TIME=1", // fast hashing for tests
	}, o.env...)
	var wg sync.WaitGroup
	for i := range o.replicas {
		r := &replica{name: string(rune('A' + i))}
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		r.base = "http://" + addr
		r.env = append(append([]string{}, d.env...), "AUTHD_HTTP_ADDR="+addr)
		d.replicas = append(d.replicas, r)
		wg.Add(1)
		go func() { defer wg.Done(); r.p = startProcEnv(t, authdBin, r.env, "serve") }()
	}
	wg.Wait()
	for _, r := range d.replicas {
		d.waitReady(r)
	}
	out := d.cli("clients", "create", "--name", "App", "--first-party", "--redirect-uri", "http://127.0.0.1:9/cb",
		"--post-logout-redirect-uri", "http://127.0.0.1:9/bye",
		"--grant-type", "authorization_code", "--grant-type", "refresh_token", "--grant-type", "client_credentials",
		"--scope", "openid profile email offline_access api")
	if err := json.Unmarshal([]byte(out), &struct {
		ID     *string `json:"client_id"`
		Secret *string `json:"client_secret"`
	}{&d.client.ID, &d.client.Secret}); err != nil {
		t.Fatalf("clients create: %v\n%s", err, out)
	}
	return d
}

func startProcEnv(t testing.TB, bin string, env []string, args ...string) *proc {
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{}), out: &logBuffer{}}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Errorf("start %s: %v", bin, err)
		return p
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.kill()
		}
		if t.Failed() {
			t.Logf("--- %s %s output:\n%s", bin, strings.Join(args, " "), tail(p.out.String(), 6000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func (d *deployment) waitReady(r *replica) {
	d.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-r.p.done:
			d.t.Fatalf("replica %s exited at start:\n%s", r.name, r.p.out.String())
		default:
		}
		if code, _ := d.readyz(r); code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("replica %s not ready within 60 s:\n%s", r.name, tail(r.p.out.String(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readyz returns /readyz's status and body.
func (d *deployment) readyz(r *replica) (int, string) {
	resp, err := httpClient.Get(r.base + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// cli runs the authd CLI with the deployment's settings and returns its
// stdout.
func (d *deployment) cli(args ...string) string {
	d.t.Helper()
	cmd := exec.Command(authdBin, args...)
	cmd.Env = d.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		d.t.Fatalf("authd %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// startBalancer listens on a loopback port and forwards each request to
// the replica route names, keeping the Host header (the issuer's).
func (d *deployment) startBalancer() string {
	d.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		d.t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		u, _ := url.Parse(d.replicas[int(d.route.Load())%len(d.replicas)].base)
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host
	}}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	d.t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// via makes the balancer send the next requests to replica i.
func (d *deployment) via(i int) { d.route.Store(int32(i)) }

// httpClient bounds every test request: none may hang.
var httpClient = &http.Client{Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// post sends form to r's path with client authentication and returns the
// status, headers and decoded JSON.
func (d *deployment) post(r *replica, path string, form url.Values) (int, http.Header, map[string]any) {
	d.t.Helper()
	code, h, m, err := d.tryPost(r, path, form)
	if err != nil {
		d.t.Fatalf("POST %s%s: %v", r.base, path, err)
	}
	return code, h, m
}

func (d *deployment) tryPost(r *replica, path string, form url.Values) (int, http.Header, map[string]any, error) {
	req, _ := http.NewRequest(http.MethodPost, r.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(d.client.ID), url.QueryEscape(d.client.Secret))
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &m)
	return resp.StatusCode, resp.Header, m, nil
}

// clientToken gets a client_credentials access token from r.
func (d *deployment) clientToken(r *replica) string {
	d.t.Helper()
	code, _, m := d.post(r, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}})
	tok, _ := m["access_token"].(string)
	if code != http.StatusOK || tok == "" {
		d.t.Fatalf("client_credentials on %s: %d %v", r.name, code, m)
	}
	return tok
}

// active introspects tok on r.
func (d *deployment) active(r *replica, tok string) bool {
	d.t.Helper()
	code, _, m := d.post(r, "/oauth2/introspect", url.Values{"token": {tok}})
	if code != http.StatusOK {
		d.t.Fatalf("introspect on %s: %d %v", r.name, code, m)
	}
	return m["active"] == true
}

// revoke revokes tok on r (RFC 7009).
func (d *deployment) revoke(r *replica, tok string) {
	d.t.Helper()
	if code, _, m := d.post(r, "/oauth2/revoke", url.Values{"token": {tok}}); code != http.StatusOK {
		d.t.Fatalf("revoke on %s: %d %v", r.name, code, m)
	}
}

// kid returns the key id in a JWT's header.
func kid(t *testing.T, jwt string) string {
	t.Helper()
	h, _, _ := strings.Cut(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	var v struct {
		Kid string `json:"kid"`
	}
	json.Unmarshal(b, &v)
	return v.Kid
}

// jwks returns the key ids r publishes.
func (d *deployment) jwks(r *replica) []string {
	d.t.Helper()
	resp, err := httpClient.Get(r.base + "/.well-known/jwks.json")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	json.NewDecoder(resp.Body).Decode(&v)
	var out []string
	for _, k := range v.Keys {
		out = append(out, k.Kid)
	}
	return out
}

// eventually polls cond every 10 ms until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var _ = context.Background
