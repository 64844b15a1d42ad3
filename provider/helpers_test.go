package provider

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/cache"
	"github.com/authd/authd/storage/memory"
	storesql "github.com/authd/authd/storage/sql"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one provider behind a real listening server, on a real database.
type env struct {
	t       *testing.T
	p       *Provider
	store   *storesql.Store
	keyring *secrets.Keyring
	srv     *httptest.Server
	issuer  string
	queries *atomic.Int64 // every SQL statement the store runs
	clock   *testClock    // nil unless the env was made with one
}

type envOption func(*envConfig)

type envConfig struct {
	dbURL   string
	keyring *secrets.Keyring
	clock   *testClock
	cfg     func(*Config)
	browser func(Store, *Provider) *Browser
	limiter Limiter
	wrap    func(Store) Store
}

func withDB(url string) envOption               { return func(c *envConfig) { c.dbURL = url } }
func withKeyring(kr *secrets.Keyring) envOption { return func(c *envConfig) { c.keyring = kr } }
func withClock(c *testClock) envOption          { return func(e *envConfig) { e.clock = c } }
func withBrowser(f func(Store, *Provider) *Browser) envOption {
	return func(c *envConfig) { c.browser = f }
}
func withConfig(f func(*Config)) envOption { return func(c *envConfig) { c.cfg = f } }
func withLimiter(l Limiter) envOption      { return func(c *envConfig) { c.limiter = l } }

// withStoreWrap gives the provider wrap(store) instead of the store.
func withStoreWrap(wrap func(Store) Store) envOption { return func(c *envConfig) { c.wrap = wrap } }

func newTestKeyring(t testing.TB) *secrets.Keyring {
	t.Helper()
	key, _ := secrets.ParseMasterKey(secrets.GenerateMasterKey())
	kr, err := secrets.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// newEnv starts a provider. The database defaults to SQLite in a temp dir.
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	ec := envConfig{}
	for _, o := range opts {
		o(&ec)
	}
	if ec.dbURL == "" {
		ec.dbURL = testdb.SQLite(t)
	}
	if ec.keyring == nil {
		ec.keyring = newTestKeyring(t)
	}
	now := time.Now
	if ec.clock != nil {
		now = ec.clock.Now
	}
	revoked := memory.NewRevocationSet()
	store, err := storesql.Open(ec.dbURL, storesql.Options{Now: now, OnRevoke: revoked.Add})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	if _, err := store.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	queries := new(atomic.Int64)
	testdb.CountStatements(store.Gorm(), queries)

	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	cfg := DefaultConfig()
	cfg.Issuer = issuer
	cfg.Cache.PollInterval = 50 * time.Millisecond
	if ec.cfg != nil {
		ec.cfg(&cfg)
	}
	// Wired as cmd/authd wires it: one client cache, read by the provider
	// and by the store reading stored requests back.
	clients := cache.NewClients(store, cfg.Cache.ClientSize, cfg.Cache.ClientTTL)
	popts := Options{Logger: testLogger(t), Store: store.WithClientLookup(clients.GetStoredClient), Clients: clients,
		SessionClients: store, Keyring: ec.keyring, Revoked: revoked, Now: now, Limiter: ec.limiter,
		Registrar: &Registrar{Store: store, MAC: ec.keyring, Clients: ClientService{Store: store,
			Hasher: secrets.ClientSecretHasher{Keyring: ec.keyring}, MaxAccessTTL: cfg.Tokens.MaxAccessTokenTTL, Now: now,
			Changed: clients.Invalidate}}}
	if ec.wrap != nil {
		popts.Store = ec.wrap(popts.Store)
	}
	p, err := New(ctx, cfg, popts)
	if err != nil {
		t.Fatal(err)
	}
	var browser *Browser
	if ec.browser != nil {
		browser = ec.browser(store, p)
	}
	srv.Config.Handler = p.Handler(browser)
	srv.Start()
	t.Cleanup(srv.Close)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { p.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &env{t: t, p: p, store: store, keyring: ec.keyring, srv: srv, issuer: issuer, queries: queries, clock: ec.clock}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// createClient registers a client and returns it with its clear secret.
func (e *env) createClient(spec ClientSpec) (*storage.Client, string) {
	e.t.Helper()
	if spec.Name == "" {
		spec.Name = "test client"
	}
	c, secret, err := NewClient(context.Background(), spec, secrets.ClientSecretHasher{Keyring: e.keyring}, 24*time.Hour)
	if err != nil {
		e.t.Fatalf("NewClient(%+v): %v", spec, err)
	}
	if err := e.store.CreateClient(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return c, secret
}

// resourceServerID is the id of the client resourceServer registers.
const resourceServerID = "resource-server"

// resourceServer registers a confidential client with the id
// resourceServerID: a resource server that introspects tokens.
func (e *env) resourceServer() (*storage.Client, string) {
	return e.createClient(ClientSpec{ID: resourceServerID, GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"}})
}

func (e *env) ccClient() (*storage.Client, string) {
	return e.createClient(ClientSpec{GrantTypes: []string{"client_credentials"}, Scopes: []string{"api", "read"}})
}

// post sends a form, with HTTP Basic auth when id is not empty.
func (e *env) post(path string, form url.Values, id, secret string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// decode reads a JSON body into a map and closes it.
func decode(t testing.TB, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("response %d is not JSON: %q", resp.StatusCode, b)
	}
	return m
}

// token gets an access token with client_credentials.
func (e *env) token(id, secret, scope string) string {
	e.t.Helper()
	resp := e.post(PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, id, secret)
	m := decode(e.t, resp)
	if resp.StatusCode != 200 {
		e.t.Fatalf("token: %d %v", resp.StatusCode, m)
	}
	return m["access_token"].(string)
}

// introspect returns the introspection response for token.
func (e *env) introspect(token, id, secret string) (int, map[string]any) {
	e.t.Helper()
	resp := e.post(PathIntrospect, url.Values{"token": {token}}, id, secret)
	return resp.StatusCode, decode(e.t, resp)
}

func (e *env) active(token, id, secret string) bool {
	e.t.Helper()
	code, m := e.introspect(token, id, secret)
	if code != 200 {
		e.t.Fatalf("introspect: %d %v", code, m)
	}
	return m["active"] == true
}

// eventually polls cond for up to 5s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// authorize runs the authorization half of the code flow in process, as
// the hosted login pages will: fosite validates the request, the user is
// signed in as subject, a code is issued. It returns the code; an empty challenge
// asks for a code without PKCE.
func (e *env) authorize(clientID, redirectURI, scope, challenge, subject string) string {
	e.t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI},
		"scope": {scope}, "state": {"state-123456789"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	if challenge == "" { // no PKCE
		q.Del("code_challenge")
		q.Del("code_challenge_method")
	}
	req := httptest.NewRequest(http.MethodGet, e.issuer+"/oauth2/authorize?"+q.Encode(), nil)
	ctx := req.Context()
	ar, err := e.p.oauth2.NewAuthorizeRequest(ctx, req)
	if err != nil {
		e.t.Fatalf("NewAuthorizeRequest: %v", fosite.ErrorToRFC6749Error(err).WithExposeDebug(true).GetDescription())
	}
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	sess := NewSession(subject)
	sess.SID = "sid-" + subject
	resp, err := e.p.oauth2.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		e.t.Fatalf("NewAuthorizeResponse: %v", fosite.ErrorToRFC6749Error(err).WithExposeDebug(true).GetDescription())
	}
	return resp.GetCode()
}

func splitJWT(tok string) []string { return strings.SplitN(tok, ".", 3) }
