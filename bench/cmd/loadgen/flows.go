package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The scenarios of a person in a browser: the hosted sign-in form, the
// whole authorization code + PKCE flow, and refresh token rotation (each
// worker's chain starting from one such flow). See browser.go.

func init() {
	register(&Scenario{
		Name:  "signin",
		Help:  "GET /login, POST email and password with its csrf_token (a new cookie jar each time); 303 = success",
		Setup: setupSignin,
	})
	register(&Scenario{
		Name:  "authcode",
		Total: true,
		Help:  "authorization code + PKCE flow, new cookie jar per flow: authorize, login_page, signin, resume, token",
		Setup: setupAuthcode,
	})
	register(&Scenario{
		Name:  "refresh",
		Help:  "each worker gets a refresh token with one authorization code flow, then rotates it (grant_type=refresh_token)",
		Setup: setupRefresh,
	})
}

// setupSignin: each iteration is a new browser (fresh cookie jar, shared
// connections) that loads the login page and signs in; without an
// authorization request authd answers 303 to the account page.
func setupSignin(_ context.Context, env *Env) (WorkerFunc, error) {
	if env.UserEmail == "" || env.UserPassword == "" {
		return nil, fmt.Errorf("-user-email and -user-password are required (a verified user)")
	}
	loginURL, err := url.Parse(env.URL("/login"))
	if err != nil {
		return nil, err
	}
	return func(_ context.Context, worker int) (IterFunc, error) {
		email := env.Email(worker)
		return func(it *Iter) {
			b := env.newBrowser()
			form, ok := signinForm(it.Context(), it, b, loginURL)
			if !ok {
				return
			}
			signin(it.Context(), it, b, form, email, env.UserPassword)
		}, nil
	}, nil
}

// setupAuthcode: each iteration is one whole flow in a new browser, with a
// total row.
func setupAuthcode(ctx context.Context, env *Env) (WorkerFunc, error) {
	flow, err := newCodeFlow(ctx, env)
	if err != nil {
		return nil, err
	}
	return func(_ context.Context, worker int) (IterFunc, error) {
		f := flow.as(env.Email(worker))
		return func(it *Iter) { f.run(it.Context(), it, env, false) }, nil
	}, nil
}

// setupRefresh: each worker gets its own chain with one untimed
// authorization code flow; every iteration then sends the current refresh
// token and replaces it with the one in the answer. Errors: an HTTP status
// (e.g. 400 invalid_grant), "notoken", "norefresh" (no new refresh token),
// "reused" (the answer's refresh token is the one just sent: not rotated),
// "badjson", and "nochain" (no chain could be started for this iteration).
// After an error the chain is started anew (untimed, at the end of the
// failed iteration) since the old token may be spent.
func setupRefresh(ctx context.Context, env *Env) (WorkerFunc, error) {
	flow, err := newCodeFlow(ctx, env)
	if err != nil {
		return nil, err
	}
	// One flow now, so a set-up problem (wrong secret, unknown user, a
	// client without refresh_token or offline_access) is reported once
	// and clearly instead of as every worker's error.
	first := &refreshChain{flow: flow.as(env.Email(0)), env: env}
	if err := first.start(ctx); err != nil {
		return nil, err
	}
	return func(ctx context.Context, worker int) (IterFunc, error) {
		c := first
		if worker > 0 {
			c = &refreshChain{flow: flow.as(env.Email(worker)), env: env}
			if err := c.start(ctx); err != nil {
				return nil, err
			}
		}
		return func(it *Iter) {
			if c.token == "" {
				if err := c.start(it.Context()); err != nil {
					it.Fail(stepRefresh, "nochain")
					return
				}
			}
			old := c.token
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old}}.Encode()
			req, err := http.NewRequestWithContext(it.Context(), http.MethodPost, flow.tokenURL, strings.NewReader(form))
			if err != nil {
				it.Fail(stepRefresh, "badrequest")
				return
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Authorization", flow.basicAuth)
			var tr tokenResponse
			check := checkTokenResponse(&tr, true)
			_, ok := it.Do(stepRefresh, req, func(r *Reply) string {
				if kind := check(r); kind != "" {
					return kind
				}
				if tr.RefreshToken == old {
					return "reused"
				}
				return ""
			})
			if ok {
				c.token = tr.RefreshToken
				return
			}
			c.token = ""
			if it.Context().Err() == nil {
				_ = c.start(it.Context()) // on failure, retried at the next iteration
			}
		}, nil
	}, nil
}
