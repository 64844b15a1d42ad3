package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
)

// The admin API scenarios read the users an import made (-user-email
// with %d, -users N): each iteration picks one at random, so the reads
// spread over the whole table instead of one hot row.

func init() {
	register(&Scenario{Name: "admin_user_by_id", Help: "GET /api/v1/users/{id} of a random user (ids listed in set-up)",
		Setup: setupAdminByID})
	register(&Scenario{Name: "admin_user_by_email", Help: "GET /api/v1/users?email= of a random user",
		Setup: setupAdminQuery(func(email string) string { return "/api/v1/users?email=" + url.QueryEscape(email) })})
	register(&Scenario{Name: "admin_list_first", Help: "GET /api/v1/users?limit=50: the first page",
		Setup: setupAdminFixed("/api/v1/users?limit=50")})
	register(&Scenario{Name: "admin_list_page1000", Help: "GET the 1000th page of /api/v1/users?limit=50 (its cursor found in set-up)",
		Setup: setupAdminDeepPage})
	register(&Scenario{Name: "scim_username_eq", Help: `GET /scim/v2/Users?filter=userName eq "<random user>"`,
		Setup: setupAdminQuery(func(email string) string {
			return "/scim/v2/Users?filter=" + url.QueryEscape(`userName eq "`+email+`"`)
		})})
}

func (e *Env) bearer() string { return "Bearer " + e.APIKey }

func (e *Env) adminGet(it *Iter, step, u string) {
	req, err := http.NewRequestWithContext(it.Context(), http.MethodGet, u, nil)
	if err != nil {
		it.Fail(step, "badrequest")
		return
	}
	req.Header.Set("Authorization", e.bearer())
	it.Do(step, req, checkOneOrMore)
}

// checkOneOrMore accepts a 200 that found something: an item list, a
// SCIM list or a user.
func checkOneOrMore(r *Reply) string {
	if r.Status != http.StatusOK {
		return strconv.Itoa(r.Status)
	}
	var body struct {
		ID        string            `json:"id"`
		Items     []json.RawMessage `json:"items"`
		Resources []json.RawMessage `json:"Resources"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return "badjson"
	}
	if body.ID == "" && len(body.Items) == 0 && len(body.Resources) == 0 {
		return "empty"
	}
	return ""
}

func (e *Env) randomEmail() string {
	return fmt.Sprintf(e.UserEmail, rand.IntN(max(e.Users, 1))+1) // #nosec G404 -- load spread, not a secret
}

func setupAdminQuery(path func(email string) string) func(context.Context, *Env) (WorkerFunc, error) {
	return func(_ context.Context, env *Env) (WorkerFunc, error) {
		if env.APIKey == "" || env.UserEmail == "" {
			return nil, fmt.Errorf("this scenario needs -api-key and -user-email (with %%d and -users N)")
		}
		return shared(func(it *Iter) { env.adminGet(it, "get", env.URL(path(env.randomEmail()))) }), nil
	}
}

func setupAdminFixed(path string) func(context.Context, *Env) (WorkerFunc, error) {
	return func(_ context.Context, env *Env) (WorkerFunc, error) {
		if env.APIKey == "" {
			return nil, fmt.Errorf("this scenario needs -api-key")
		}
		u := env.URL(path)
		return shared(func(it *Iter) { env.adminGet(it, "get", u) }), nil
	}
}

// adminPage fetches one page of users in set-up.
func (e *Env) adminPage(ctx context.Context, cursor string, limit int) (ids []string, next string, err error) {
	u := e.URL("/api/v1/users?limit=" + strconv.Itoa(limit) + "&cursor=" + url.QueryEscape(cursor))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Authorization", e.bearer())
	resp, err := e.Client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, "", err
	}
	for _, it := range page.Items {
		ids = append(ids, it.ID)
	}
	return ids, page.NextCursor, nil
}

func setupAdminByID(ctx context.Context, env *Env) (WorkerFunc, error) {
	var ids []string
	cursor := ""
	for range 25 { // 5000 ids from the front of the table
		page, next, err := env.adminPage(ctx, cursor, 200)
		if err != nil {
			return nil, err
		}
		ids = append(ids, page...)
		if cursor = next; cursor == "" {
			break
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no users to read")
	}
	return shared(func(it *Iter) {
		env.adminGet(it, "get", env.URL("/api/v1/users/"+ids[rand.IntN(len(ids))])) // #nosec G404 -- load spread, not a secret
	}), nil
}

func setupAdminDeepPage(ctx context.Context, env *Env) (WorkerFunc, error) {
	cursor := ""
	for i := range 999 {
		_, next, err := env.adminPage(ctx, cursor, 50)
		if err != nil {
			return nil, err
		}
		if next == "" {
			return nil, fmt.Errorf("only %d pages of 50 users", i+1)
		}
		cursor = next
	}
	u := env.URL("/api/v1/users?limit=50&cursor=" + url.QueryEscape(cursor))
	return shared(func(it *Iter) { env.adminGet(it, "get", u) }), nil
}
