package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
)

// rfc7591 is a registration client written against RFC 7591 and RFC
// 7592 with nothing but net/http.
type rfc7591 struct {
	t        *testing.T
	endpoint string
}

type regResponse struct {
	status int
	header http.Header
	body   map[string]any
}

func (c rfc7591) do(method, uri, token, contentType string, body []byte) regResponse {
	c.t.Helper()
	req, err := http.NewRequest(method, uri, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := regResponse{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			c.t.Fatalf("%s %s: %d, body not JSON: %q", method, uri, resp.StatusCode, raw)
		}
	}
	return out
}

func (c rfc7591) register(token string, metadata any) regResponse {
	c.t.Helper()
	b, _ := json.Marshal(metadata)
	return c.do(http.MethodPost, c.endpoint, token, "application/json", b)
}

// str reads a string member.
func (r regResponse) str(name string) string { s, _ := r.body[name].(string); return s }

// newRegistrationEnv starts a provider and finds the registration
// endpoint as a client would, in discovery.
func newRegistrationEnv(t *testing.T, opts ...envOption) (*env, rfc7591) {
	t.Helper()
	e := newEnv(t, opts...)
	var endpoint string
	for _, path := range []string{PathDiscovery, PathOAuthMetadata} {
		resp, err := http.Get(e.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		endpoint, _ = decode(t, resp)["registration_endpoint"].(string)
		if endpoint != e.issuer+PathRegister {
			t.Fatalf("%s registration_endpoint = %q, want %q", path, endpoint, e.issuer+PathRegister)
		}
	}
	return e, rfc7591{t: t, endpoint: endpoint}
}

// initialToken creates an initial access token as the CLI does.
func (e *env) initialToken(spec InitialTokenSpec) (string, *storage.InitialAccessToken) {
	e.t.Helper()
	tok, rec, err := e.p.registrar.CreateInitialToken(context.Background(), spec, "cli")
	if err != nil {
		e.t.Fatal(err)
	}
	return tok, rec
}

func TestRegistrationLifecycle(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e, rc := newRegistrationEnv(t, withDB(dbURL))
		iat, _ := e.initialToken(InitialTokenSpec{ExpiresIn: time.Hour, MaxUses: 5, Description: "lifecycle"})

		// A confidential client, then a token with x/oauth2 proves it works.
		conf := rc.register(iat, map[string]any{"client_name": "Billing", "grant_types": []string{"client_credentials"},
			"scope": "api read", "client_uri": "https://billing.example", "contacts": []string{"ops@billing.example"},
			"software_id": "billing", "unknown_member": "ignored"})
		if conf.status != http.StatusCreated {
			t.Fatalf("register confidential: %d %v", conf.status, conf.body)
		}
		id, secret, rat := conf.str("client_id"), conf.str("client_secret"), conf.str("registration_access_token")
		if id == "" || secret == "" || rat == "" || conf.body["client_secret_expires_at"] != float64(0) ||
			conf.body["client_id_issued_at"].(float64) <= 0 || conf.str("registration_client_uri") != e.issuer+PathRegister+"/"+id ||
			conf.str("token_endpoint_auth_method") != storage.AuthMethodBasic || conf.str("client_uri") != "https://billing.example" ||
			conf.str("scope") != "api read" || conf.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("client information response = %v, want id, secret, registration token and the metadata", conf.body)
		}
		stored, err := e.store.GetStoredClient(context.Background(), id)
		if err != nil || bytes.Contains(stored.SecretHash, []byte(secret)) || stored.FirstParty {
			t.Fatalf("stored client %+v, %v: want the secret hashed and not first party", stored, err)
		}
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.issuer + PathToken, Scopes: []string{"api"}}
		if _, err := cc.Token(context.Background()); err != nil {
			t.Fatalf("client_credentials with the registered client: %v", err)
		}

		// A public client with a PKCE code flow.
		pub := rc.register(iat, map[string]any{"client_name": "SPA", "token_endpoint_auth_method": "none",
			"redirect_uris": []string{"http://127.0.0.1:9/cb"}, "grant_types": []string{"authorization_code"},
			"response_types": []string{"code"}, "scope": "openid"})
		if pub.status != http.StatusCreated || pub.str("client_secret") != "" || pub.body["client_secret_expires_at"] != nil {
			t.Fatalf("register public: %d %v, want 201 without a secret", pub.status, pub.body)
		}
		verifier := oauth2.GenerateVerifier()
		code := e.authorize(pub.str("client_id"), "http://127.0.0.1:9/cb", "openid", oauth2.S256ChallengeFromVerifier(verifier), "alice")
		oc := oauth2.Config{ClientID: pub.str("client_id"), RedirectURL: "http://127.0.0.1:9/cb",
			Endpoint: oauth2.Endpoint{TokenURL: e.issuer + PathToken, AuthStyle: oauth2.AuthStyleInParams}}
		if _, err := oc.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("code exchange of the public client: %v", err)
		}

		// RFC 7592: read, replace, delete.
		uri := conf.str("registration_client_uri")
		got := rc.do(http.MethodGet, uri, rat, "", nil)
		if got.status != http.StatusOK || got.str("client_id") != id || got.str("client_secret") != "" ||
			got.str("registration_access_token") != "" || got.str("client_name") != "Billing" || got.str("software_id") != "billing" {
			t.Fatalf("GET %s: %d %v", uri, got.status, got.body)
		}
		b, _ := json.Marshal(map[string]any{"client_id": id, "client_secret": secret, "client_name": "Billing v2",
			"grant_types": []string{"client_credentials"}, "scope": "api"})
		upd := rc.do(http.MethodPut, uri, rat, "application/json", b)
		newRAT := upd.str("registration_access_token")
		if upd.status != http.StatusOK || upd.str("client_name") != "Billing v2" || upd.str("scope") != "api" ||
			upd.str("client_uri") != "" || newRAT == "" || newRAT == rat || upd.str("client_secret") != "" {
			t.Fatalf("PUT %s: %d %v, want the replaced metadata and a new registration token", uri, upd.status, upd.body)
		}
		if _, err := cc.Token(context.Background()); err != nil {
			t.Fatalf("the secret must survive an update: %v", err)
		}
		if r := rc.do(http.MethodGet, uri, rat, "", nil); r.status != http.StatusUnauthorized {
			t.Errorf("GET with the registration token replaced by the update: %d %v, want 401", r.status, r.body)
		}
		if r := rc.do(http.MethodDelete, uri, newRAT, "", nil); r.status != http.StatusNoContent {
			t.Fatalf("DELETE %s: %d %v", uri, r.status, r.body)
		}
		if _, err := e.store.GetStoredClient(context.Background(), id); err == nil {
			t.Error("the client is still stored after DELETE")
		}
		eventually(t, "the deleted client's credentials to fail", func() bool {
			_, err := cc.Token(context.Background())
			return err != nil
		})
		if r := rc.do(http.MethodGet, uri, newRAT, "", nil); r.status != http.StatusUnauthorized {
			t.Errorf("GET after DELETE: %d, want 401", r.status)
		}
		types := map[storage.AuditType]string{}
		evs, err := e.store.ListAuditEvents(context.Background(), storage.AuditFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.ClientID == id {
				types[ev.Type] = ev.ActorID
			}
		}
		if !strings.HasPrefix(types[storage.AuditClientCreated], "registration:") || types[storage.AuditClientUpdated] != "client:"+id ||
			types[storage.AuditClientDeleted] != "client:"+id {
			t.Errorf("audit events of the client = %v, want client.created by registration:<token>, updated and deleted by client:<id>", types)
		}
	})
}

func TestRegistrationInitialTokenRefused(t *testing.T) {
	clock := &testClock{t: time.Now()}
	e, rc := newRegistrationEnv(t, withClock(clock))
	ctx := context.Background()
	meta := map[string]any{"client_name": "x", "grant_types": []string{"client_credentials"}}
	good, _ := e.initialToken(InitialTokenSpec{})
	expired, _ := e.initialToken(InitialTokenSpec{ExpiresIn: time.Minute})
	revoked, rec := e.initialToken(InitialTokenSpec{})
	if err := e.p.registrar.RevokeInitialToken(ctx, rec.ID, "cli"); err != nil {
		t.Fatal(err)
	}
	once, _ := e.initialToken(InitialTokenSpec{MaxUses: 1})
	if r := rc.register(once, meta); r.status != http.StatusCreated {
		t.Fatalf("first use of a one-use token: %d %v", r.status, r.body)
	}
	clock.Advance(2 * time.Minute)
	for _, tc := range []struct{ name, header string }{
		{"missing", ""},
		{"not bearer", "Basic " + good},
		{"malformed", "Bearer not-a-token"},
		{"unknown", "Bearer " + initialTokenPrefix + "0123456789abcdef." + GenerateSecret()},
		{"wrong secret", "Bearer " + good[:len(good)-4] + "AAAA"},
		{"expired", "Bearer " + expired},
		{"revoked", "Bearer " + revoked},
		{"used up", "Bearer " + once},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := countClients(t, e)
			req, _ := http.NewRequest(http.MethodPost, rc.endpoint, strings.NewReader(`{"client_name":"x","grant_types":["client_credentials"]}`))
			req.Header.Set("Content-Type", "application/json")
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := decode(t, resp)
			if resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_token" ||
				!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("%s: %d %v (WWW-Authenticate %q), want 401 invalid_token with a Bearer challenge",
					tc.header, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
			}
			if got := countClients(t, e); got != before {
				t.Errorf("clients %d -> %d: a refused registration stored one", before, got)
			}
		})
	}
	if r := rc.register(good, meta); r.status != http.StatusCreated {
		t.Errorf("the good token after the refusals: %d %v", r.status, r.body)
	}
}

func TestRegistrationMetadataRefused(t *testing.T) {
	e, rc := newRegistrationEnv(t)
	iat, rec := e.initialToken(InitialTokenSpec{MaxUses: 100})
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		err                     string
	}{
		{"redirect with fragment", "application/json", `{"client_name":"x","redirect_uris":["https://app.example/cb#frag"]}`, 400, "invalid_redirect_uri"},
		{"http redirect off loopback", "application/json", `{"client_name":"x","redirect_uris":["http://app.example/cb"]}`, 400, "invalid_redirect_uri"},
		{"code grant without redirect", "application/json", `{"client_name":"x","grant_types":["authorization_code"]}`, 400, "invalid_redirect_uri"},
		{"unknown grant type", "application/json", `{"client_name":"x","grant_types":["password"]}`, 400, "invalid_client_metadata"},
		{"implicit response type", "application/json", `{"client_name":"x","redirect_uris":["https://app.example/cb"],"response_types":["token"]}`, 400, "invalid_client_metadata"},
		{"unknown auth method", "application/json", `{"client_name":"x","grant_types":["client_credentials"],"token_endpoint_auth_method":"tls_client_auth"}`, 400, "invalid_client_metadata"},
		{"public client_credentials", "application/json", `{"client_name":"x","grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, 400, "invalid_client_metadata"},
		{"no name", "application/json", `{"grant_types":["client_credentials"]}`, 400, "invalid_client_metadata"},
		{"http logo", "application/json", `{"client_name":"x","grant_types":["client_credentials"],"logo_uri":"http://app.example/l.png"}`, 400, "invalid_client_metadata"},
		{"invalid JSON", "application/json", `{"client_name":`, 400, "invalid_client_metadata"},
		{"not an object", "application/json", `["client_name"]`, 400, "invalid_client_metadata"},
		{"two objects", "application/json", `{"client_name":"x"}{}`, 400, "invalid_client_metadata"},
		{"wrong type", "application/json", `{"client_name":"x","redirect_uris":"https://app.example/cb"}`, 400, "invalid_client_metadata"},
		{"duplicate member", "application/json", `{"client_name":"x","grant_types":["client_credentials"],"grant_types":["authorization_code"]}`, 400, "invalid_client_metadata"},
		{"duplicate member by case", "application/json", `{"client_name":"x","Client_Name":"y","grant_types":["client_credentials"]}`, 400, "invalid_client_metadata"},
		{"form body", "application/x-www-form-urlencoded", `client_name=x`, 415, "invalid_client_metadata"},
		{"oversized", "application/json", `{"client_name":"x","grant_types":["client_credentials"],"contacts":["` + strings.Repeat("a", 70<<10) + `"]}`, 413, "invalid_client_metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := countClients(t, e)
			r := rc.do(http.MethodPost, rc.endpoint, iat, tc.contentType, []byte(tc.body))
			if r.status != tc.status || r.str("error") != tc.err || r.str("error_description") == "" {
				t.Errorf("POST %.80s: %d %v, want %d %s with a description", tc.body, r.status, r.body, tc.status, tc.err)
			}
			if got := countClients(t, e); got != before {
				t.Errorf("clients %d -> %d: a refused registration stored one", before, got)
			}
		})
	}
	got, err := e.store.GetInitialAccessToken(context.Background(), rec.ID)
	if err != nil || got.Uses != 0 {
		t.Errorf("initial token after refused registrations: %+v, %v; want no use counted", got, err)
	}
	if r := rc.do(http.MethodGet, rc.endpoint, iat, "", nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET %s: %d (Allow %q), want 405 Allow: POST", rc.endpoint, r.status, r.header.Get("Allow"))
	}
}

func TestRegistrationManagementRefused(t *testing.T) {
	e, rc := newRegistrationEnv(t)
	iat, _ := e.initialToken(InitialTokenSpec{})
	meta := map[string]any{"client_name": "x", "grant_types": []string{"client_credentials"}}
	a, b := rc.register(iat, meta), rc.register(iat, meta)
	if a.status != http.StatusCreated || b.status != http.StatusCreated {
		t.Fatalf("register: %d, %d", a.status, b.status)
	}
	uriA, ratA, ratB := a.str("registration_client_uri"), a.str("registration_access_token"), b.str("registration_access_token")
	cli, _ := e.createClient(ClientSpec{GrantTypes: []string{"client_credentials"}})
	put := func(body string) []byte { return []byte(body) }
	for _, tc := range []struct {
		name, method, uri, token string
		body                     []byte
		status                   int
		err                      string
	}{
		{"another client's token", http.MethodGet, uriA, ratB, nil, 401, "invalid_token"},
		{"another client's token, PUT", http.MethodPut, uriA, ratB, put(`{"client_name":"y","grant_types":["client_credentials"]}`), 401, "invalid_token"},
		{"another client's token, DELETE", http.MethodDelete, uriA, ratB, nil, 401, "invalid_token"},
		{"initial access token", http.MethodGet, uriA, iat, nil, 401, "invalid_token"},
		{"no token", http.MethodGet, uriA, "", nil, 401, "invalid_token"},
		{"client not registered dynamically", http.MethodGet, rc.endpoint + "/" + cli.ID, ratA, nil, 401, "invalid_token"},
		{"unknown client", http.MethodDelete, rc.endpoint + "/nope", ratA, nil, 401, "invalid_token"},
		{"client_id mismatch", http.MethodPut, uriA, ratA, put(`{"client_id":"other","client_name":"y","grant_types":["client_credentials"]}`), 400, "invalid_client_metadata"},
		{"wrong client_secret", http.MethodPut, uriA, ratA, put(`{"client_secret":"guess","client_name":"y","grant_types":["client_credentials"]}`), 400, "invalid_client_metadata"},
		{"invalid redirect", http.MethodPut, uriA, ratA, put(`{"client_name":"y","redirect_uris":["https://a.example/#x"]}`), 400, "invalid_redirect_uri"},
		{"unknown grant", http.MethodPut, uriA, ratA, put(`{"client_name":"y","grant_types":["implicit"]}`), 400, "invalid_client_metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := ""
			if tc.body != nil {
				ct = "application/json"
			}
			r := rc.do(tc.method, tc.uri, tc.token, ct, tc.body)
			if r.status != tc.status || r.str("error") != tc.err {
				t.Errorf("%s %s: %d %v, want %d %s", tc.method, tc.uri, r.status, r.body, tc.status, tc.err)
			}
		})
	}
	// Nothing changed: A still answers to its token with its metadata.
	if r := rc.do(http.MethodGet, uriA, ratA, "", nil); r.status != http.StatusOK || r.str("client_name") != "x" {
		t.Errorf("GET after the refusals: %d %v, want the unchanged client", r.status, r.body)
	}
	if _, err := e.store.GetStoredClient(context.Background(), cli.ID); err != nil {
		t.Errorf("the CLI's client after a DELETE with another token: %v", err)
	}
}

// TestRegistrationDisabled: with client_registration.enabled off the
// endpoint is neither served nor advertised.
func TestRegistrationDisabled(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.ClientRegistration.Enabled = false }))
	resp, err := http.Get(e.issuer + PathDiscovery)
	if err != nil {
		t.Fatal(err)
	}
	if doc := decode(t, resp); doc["registration_endpoint"] != nil {
		t.Errorf("discovery advertises registration_endpoint %v while disabled", doc["registration_endpoint"])
	}
	resp, err = http.Post(e.issuer+PathRegister, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST %s while disabled: %d, want 404", PathRegister, resp.StatusCode)
	}
}

// TestRegistrationRateLimited: registration counts against the token
// endpoint's per-address limit.
func TestRegistrationRateLimited(t *testing.T) {
	_, rc := newRegistrationEnv(t, withLimiter(denyAll{}))
	r := rc.register("whatever", map[string]any{})
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("registration over the limit: %d %v, want 429 with Retry-After", r.status, r.body)
	}
}

type denyAll struct{}

func (denyAll) AuthorizeByIP(context.Context, string) (time.Duration, bool) {
	return time.Second, false
}
func (denyAll) TokenByIP(context.Context, string) (time.Duration, bool) { return time.Second, false }
func (denyAll) TokenByClient(context.Context, string) (time.Duration, bool) {
	return time.Second, false
}

func countClients(t *testing.T, e *env) int {
	t.Helper()
	cs, err := e.store.ListClients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// TestRegistrationLastUseRace: registrations racing for a one-use initial
// access token register exactly one client; the others are 401.
func TestRegistrationLastUseRace(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e, rc := newRegistrationEnv(t, withDB(dbURL))
		iat, rec := e.initialToken(InitialTokenSpec{MaxUses: 1})
		const racers = 8
		statuses := make(chan int, racers)
		start := make(chan struct{})
		for range racers {
			go func() {
				<-start
				req, _ := http.NewRequest(http.MethodPost, rc.endpoint,
					strings.NewReader(`{"client_name":"racer","grant_types":["client_credentials"]}`))
				req.Header.Set("Authorization", "Bearer "+iat)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					statuses <- 0
					return
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			}()
		}
		close(start)
		got := map[int]int{}
		for range racers {
			got[<-statuses]++
		}
		if got[http.StatusCreated] != 1 || got[http.StatusUnauthorized] != racers-1 {
			t.Errorf("%d registrations racing for one use: statuses %v, want one 201 and %d 401", racers, got, racers-1)
		}
		if n := countClients(t, e); n != 1 {
			t.Errorf("%d clients stored, want 1", n)
		}
		if tok, err := e.store.GetInitialAccessToken(context.Background(), rec.ID); err != nil || tok.Uses != 1 {
			t.Errorf("token after the race: %+v, %v; want uses 1", tok, err)
		}
	})
}

// TestRegistrationDPoPBound: dpop_bound_access_tokens (RFC 9449 §5.2)
// registers a client whose token requests need a proof, and is read back.
func TestRegistrationDPoPBound(t *testing.T) {
	e, rc := newRegistrationEnv(t)
	iat, _ := e.initialToken(InitialTokenSpec{ExpiresIn: time.Hour, MaxUses: 1})
	r := rc.register(iat, map[string]any{"client_name": "Worker", "grant_types": []string{"client_credentials"}, "scope": "api",
		"dpop_bound_access_tokens": true})
	if r.status != http.StatusCreated || r.body["dpop_bound_access_tokens"] != true {
		t.Fatalf("register: %d %v", r.status, r.body)
	}
	resp := e.postDPoP(PathToken, ccForm, r.str("client_id"), r.str("client_secret"))
	if m := decode(t, resp); resp.StatusCode != 400 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("a token without a proof: %d %v", resp.StatusCode, m)
	}
}
