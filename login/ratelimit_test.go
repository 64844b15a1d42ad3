package login

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authd/authd/ratelimit"
	"github.com/authd/authd/storage/memory"
)

// TestRateLimits puts a tight limit on every form and checks each answers
// 429 with Retry-After and a readable page once it is exhausted, without
// reaching the account service.
func TestRateLimits(t *testing.T) {
	one := ratelimit.Rule{PerMinute: 1, Burst: 1}
	cfg := ratelimit.Config{SignInPerAccount: one, RegisterPerIP: one, ResetPerIP: one}
	e := newEnv(t, depsOption(func(d *Deps) { d.Limiter = ratelimit.New(cfg, memory.NewRateLimiter(nil), nil) }))
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	for _, tc := range []struct {
		name, path, want string
		form             url.Values
	}{
		{"sign-in", "/login", "Too many sign-in attempts", url.Values{"email": {"ada@example.com"}, "password": {"wrong password!"}}},
		{"register", "/register", "Too many attempts", url.Values{"email": {"new@example.com"}, "password": {"a long enough passphrase"}}},
		{"forgot", "/forgot-password", "Too many attempts", url.Values{"email": {"ada@example.com"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			b.get("/login")
			calls := len(e.accounts.callLog())
			first := b.post(tc.path, tc.form)
			if first.status == http.StatusTooManyRequests {
				t.Fatalf("first request refused: %s", first.body)
			}
			after := len(e.accounts.callLog())
			second := b.post(tc.path, tc.form)
			wantStatus(t, second, http.StatusTooManyRequests)
			wantBody(t, second, tc.want)
			ra := second.header.Get("Retry-After")
			if ra == "" || ra == "0" || strings.HasPrefix(ra, "-") {
				t.Errorf("Retry-After = %q", ra)
			}
			if len(e.accounts.callLog()) != after || after == calls {
				t.Errorf("account service calls: %d before, %d after the first, %d after the refused one",
					calls, after, len(e.accounts.callLog()))
			}
		})
	}
	// Setting the new password shares the reset budget the forgot form
	// spent.
	b := e.browser()
	b.get("/login")
	r := b.post("/reset-password", url.Values{"token": {"tok"}, "new_password": {"a long enough passphrase"}})
	wantStatus(t, r, http.StatusTooManyRequests)
}
