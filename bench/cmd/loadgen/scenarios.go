package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// A Scenario is a kind of load. Setup runs once, untimed, before any load
// (discovery, obtaining a token, ...); the WorkerFunc it returns runs once per
// worker, also untimed, and returns the function that performs one iteration.
// Per-worker state (a refresh-token chain, a cookie jar for a sign-in flow)
// lives in that function's closure: a worker never runs two of its
// iterations at once. An iteration may send several requests, each reported
// under its own step name (see Iter.Do); with Total set, a synthetic step
// named "total" also reports each whole iteration.
type Scenario struct {
	Name  string
	Help  string
	Total bool
	Setup func(ctx context.Context, env *Env) (WorkerFunc, error)
}

// WorkerFunc builds one worker's iteration function.
type WorkerFunc func(ctx context.Context, worker int) (IterFunc, error)

// IterFunc performs one iteration, sending its requests through it.
type IterFunc func(it *Iter)

// shared is a WorkerFunc giving every worker the same stateless iteration.
func shared(fn IterFunc) WorkerFunc {
	return func(context.Context, int) (IterFunc, error) { return fn, nil }
}

var scenarios = map[string]*Scenario{}

func register(s *Scenario) {
	if _, dup := scenarios[s.Name]; dup {
		panic("loadgen: duplicate scenario " + s.Name)
	}
	scenarios[s.Name] = s
}

func scenarioNames() []string {
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func init() {
	register(&Scenario{
		Name:  "discovery",
		Help:  "GET /.well-known/openid-configuration",
		Setup: setupDiscovery,
	})
	register(&Scenario{
		Name:  "jwks",
		Help:  "GET the jwks_uri from discovery",
		Setup: setupJWKS,
	})
	register(&Scenario{
		Name:  "client_credentials",
		Help:  "POST token_endpoint, grant_type=client_credentials, HTTP Basic client auth",
		Setup: setupClientCredentials,
	})
	register(&Scenario{
		Name:  "introspect",
		Help:  "POST introspection_endpoint with one client_credentials token; active must be true",
		Setup: setupIntrospect(false),
	})
	register(&Scenario{
		Name:  "introspect_revoked",
		Help:  "revoke one client_credentials token, then POST introspection_endpoint with it; active must be false",
		Setup: setupIntrospect(true),
	})
}

func setupDiscovery(_ context.Context, env *Env) (WorkerFunc, error) {
	u := env.URL("/.well-known/openid-configuration")
	return shared(func(it *Iter) { it.Get("discovery", u, nil) }), nil
}

func setupJWKS(ctx context.Context, env *Env) (WorkerFunc, error) {
	u, err := env.Endpoint(ctx, "jwks_uri", func(d *Discovery) string { return d.JWKSURI })
	if err != nil {
		return nil, err
	}
	return shared(func(it *Iter) { it.Get("jwks", u, nil) }), nil
}

func setupClientCredentials(ctx context.Context, env *Env) (WorkerFunc, error) {
	u, err := env.Endpoint(ctx, "token_endpoint", func(d *Discovery) string { return d.TokenEndpoint })
	if err != nil {
		return nil, err
	}
	form, auth := env.ClientCredentialsForm(), env.BasicAuth()
	return shared(func(it *Iter) { it.PostForm("token", u, form, auth, checkToken) }), nil
}

// checkToken accepts a 200 token response carrying an access_token.
func checkToken(r *Reply) string {
	if r.Status != http.StatusOK {
		return strconv.Itoa(r.Status)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(r.Body, &tr); err != nil {
		return "badjson"
	}
	if tr.AccessToken == "" {
		return "notoken"
	}
	return ""
}

// checkActive accepts a 200 introspection response whose "active" is want.
// A wrong value is reported as "inactive" (want true) or "active" (want false).
func checkActive(want bool) Check {
	return func(r *Reply) string {
		if r.Status != http.StatusOK {
			return strconv.Itoa(r.Status)
		}
		var ir struct {
			Active *bool `json:"active"`
		}
		if err := json.Unmarshal(r.Body, &ir); err != nil || ir.Active == nil {
			return "badjson"
		}
		switch {
		case *ir.Active == want:
			return ""
		case want:
			return "inactive"
		default:
			return "active"
		}
	}
}

func setupIntrospect(revoked bool) func(context.Context, *Env) (WorkerFunc, error) {
	return func(ctx context.Context, env *Env) (WorkerFunc, error) {
		u, err := env.Endpoint(ctx, "introspection_endpoint", func(d *Discovery) string { return d.IntrospectionEndpoint })
		if err != nil {
			return nil, err
		}
		tok, err := env.ClientCredentialsToken(ctx)
		if err != nil {
			return nil, err
		}
		if revoked {
			rev, err := env.Endpoint(ctx, "revocation_endpoint", func(d *Discovery) string { return d.RevocationEndpoint })
			if err != nil {
				return nil, err
			}
			status, body, err := env.fetch(ctx, http.MethodPost, rev, url.Values{"token": {tok}}.Encode(), true)
			if err != nil {
				return nil, fmt.Errorf("revocation: %w", err)
			}
			if status != http.StatusOK {
				return nil, fmt.Errorf("revocation: POST %s: HTTP %d: %s", rev, status, snippet(body))
			}
		}
		form, auth, check := url.Values{"token": {tok}}.Encode(), env.BasicAuth(), checkActive(!revoked)
		return shared(func(it *Iter) { it.PostForm("introspect", u, form, auth, check) }), nil
	}
}
