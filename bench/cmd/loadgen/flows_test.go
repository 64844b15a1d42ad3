package main

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func stepNames(res *Result) []string {
	var names []string
	for _, s := range res.Steps {
		names = append(names, s.Step)
	}
	return names
}

func noErrors(t *testing.T, res *Result) {
	t.Helper()
	if res.Errors != 0 {
		for _, s := range res.Steps {
			if s.Errors != 0 {
				t.Errorf("step %s: %d errors %v", s.Step, s.Errors, s.ErrorsByKind)
			}
		}
	}
}

func TestFindForm(t *testing.T) {
	page := []byte(`<form method="get" action="/search"><button>Sign in</button></form>
<form method="post" action="/other"><input type="hidden" name="x" value="1"><button type="submit">Elsewhere</button></form>
<FORM method="POST" action="login?x=1&amp;y=2">
<input type="hidden" name="csrf_token" value="a&amp;b">
<input name="email" type="email" value="ignored">
<input type='hidden' value='v' name='ar'>
<button type="submit" name="go" value="&lt;yes&gt;"><span>Sign</span> in</button>
</FORM>`)
	base, _ := url.Parse("http://127.0.0.1:1/login?ar=1")
	f, ok := findForm(page, base, "Sign in")
	if !ok {
		t.Fatal("form not found")
	}
	if got := f.action.String(); got != "http://127.0.0.1:1/login?x=1&y=2" {
		t.Errorf("action = %s", got)
	}
	want := url.Values{"csrf_token": {"a&b"}, "ar": {"v"}, "go": {"<yes>"}}
	if f.values.Encode() != want.Encode() {
		t.Errorf("values = %v, want %v", f.values, want)
	}
	if _, ok := findForm(page, base, "Allow"); ok {
		t.Error("found a form for a button that is not there")
	}
	req, err := submitRequest(context.Background(), f, url.Values{"email": {"e"}})
	if err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("Origin") != "http://127.0.0.1:1" || req.Header.Get("Sec-Fetch-Site") != "same-origin" || req.Method != "POST" {
		t.Errorf("request headers %v", req.Header)
	}
}

func TestSigninAgainstFake(t *testing.T) {
	const n = 60
	f := newFakeOP(t)
	res, err := Run(context.Background(), f.cfg("signin", n))
	if err != nil {
		t.Fatal(err)
	}
	if names := stepNames(res); !slices.Equal(names, []string{"login_page", "signin"}) {
		t.Fatalf("steps %v", names)
	}
	noErrors(t, res)
	if s := step(t, res, "signin"); s.Requests != n || s.RPS <= 0 {
		t.Errorf("signin %+v", s)
	}
	if f.signedIn.Load() != n || f.badCSRF.Load() != 0 {
		t.Errorf("fake: %d sign-ins, %d CSRF failures", f.signedIn.Load(), f.badCSRF.Load())
	}
	// A new browser each time: every login page set a new CSRF cookie.
	if f.newCSRF.Load() != n {
		t.Errorf("%d CSRF cookies issued for %d sign-ins: cookie jar reused?", f.newCSRF.Load(), n)
	}

	// A wrong password is the signin step's error, by status.
	f = newFakeOP(t)
	cfg := f.cfg("signin", 10)
	cfg.UserPassword = "wrong"
	res, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := step(t, res, "signin"); s.ErrorsByKind["401"] != 10 || step(t, res, "login_page").Errors != 0 {
		t.Errorf("errors %+v", res.Steps)
	}

	cfg.UserEmail = ""
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "-user-email") {
		t.Errorf("Run without a user = %v", err)
	}
}

func TestAuthcodeAgainstFake(t *testing.T) {
	const n = 40
	t.Run("first-party", func(t *testing.T) {
		f := newFakeOP(t)
		f.firstParty = true
		res, err := Run(context.Background(), f.cfg("authcode", n))
		if err != nil {
			t.Fatal(err)
		}
		if names := stepNames(res); !slices.Equal(names, []string{"authorize", "login_page", "signin", "resume", "token", "total"}) {
			t.Fatalf("steps %v", names)
		}
		noErrors(t, res)
		for _, s := range res.Steps {
			if s.Requests != n {
				t.Errorf("step %s: %d requests, want %d", s.Step, s.Requests, n)
			}
		}
		if res.Requests != 5*n {
			t.Errorf("requests %d, want %d (total is not a request)", res.Requests, 5*n)
		}
		if f.codes.Load() != n || f.consentPage.Load() != 0 || f.badCSRF.Load() != 0 || f.newCSRF.Load() != n {
			t.Errorf("fake: %d codes, %d consent pages, %d CSRF failures, %d CSRF cookies", f.codes.Load(), f.consentPage.Load(), f.badCSRF.Load(), f.newCSRF.Load())
		}
		if tot, tok := step(t, res, "total"), step(t, res, "token"); !tot.Aggregate || tot.MaxMs < tok.MaxMs {
			t.Errorf("total %+v", tot)
		}
	})
	t.Run("consent once", func(t *testing.T) {
		// Not first-party: the first flows consent, the rest do not.
		f := newFakeOP(t)
		cfg := f.cfg("authcode", n)
		cfg.Conns = 1
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		noErrors(t, res)
		if c := step(t, res, "consent"); c.Requests != 1 || step(t, res, "consent_page").Requests != 1 {
			t.Errorf("consent %+v", c)
		}
		if r := step(t, res, "resume"); r.Requests != n+1 {
			t.Errorf("resume requests %d, want %d", r.Requests, n+1)
		}
		if tok := step(t, res, "token"); tok.Requests != n || f.codes.Load() != n {
			t.Errorf("token requests %d, codes %d", tok.Requests, f.codes.Load())
		}
	})
	t.Run("fixed rate", func(t *testing.T) {
		f := newFakeOP(t)
		f.firstParty = true
		cfg := f.cfg("authcode", 0)
		cfg.Rate = 50
		cfg.Duration = 400 * time.Millisecond
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		noErrors(t, res)
		if res.Scheduled != 20 || step(t, res, "total").Requests+res.Unsent != 20 || step(t, res, "token").Requests == 0 {
			t.Errorf("scheduled %d unsent %d steps %+v", res.Scheduled, res.Unsent, res.Steps)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		f := newFakeOP(t)
		f.firstParty = true
		cfg := f.cfg("authcode", 10)
		cfg.ClientSecret = "wrong"
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if tok, tot := step(t, res, "token"), step(t, res, "total"); tok.ErrorsByKind["401"] != 10 || tot.ErrorsByKind["401"] != 10 || step(t, res, "resume").Errors != 0 {
			t.Errorf("steps %+v", res.Steps)
		}
	})
}

func TestRefreshAgainstFake(t *testing.T) {
	t.Run("rotation", func(t *testing.T) {
		const n = 200
		f := newFakeOP(t)
		f.firstParty = true
		res, err := Run(context.Background(), f.cfg("refresh", n))
		if err != nil {
			t.Fatal(err)
		}
		if names := stepNames(res); !slices.Equal(names, []string{"refresh"}) {
			t.Fatalf("steps %v", names)
		}
		noErrors(t, res)
		if s := step(t, res, "refresh"); s.Requests != n {
			t.Errorf("refresh requests %d", s.Requests)
		}
		// One untimed code flow per worker (4), each its own chain.
		if f.codes.Load() != 4 || f.refreshFailed.Load() != 0 {
			t.Errorf("fake: %d code exchanges, %d failed refreshes", f.codes.Load(), f.refreshFailed.Load())
		}
	})
	t.Run("not rotated", func(t *testing.T) {
		f := newFakeOP(t)
		f.firstParty = true
		f.noRotate = true
		res, err := Run(context.Background(), f.cfg("refresh", 20))
		if err != nil {
			t.Fatal(err)
		}
		if s := step(t, res, "refresh"); s.ErrorsByKind["reused"] != 20 {
			t.Errorf("errors %v, want reused:20", s.ErrorsByKind)
		}
	})
	t.Run("errors restart the chain", func(t *testing.T) {
		f := newFakeOP(t)
		f.firstParty = true
		f.failRefreshEvery = 5
		res, err := Run(context.Background(), f.cfg("refresh", 100))
		if err != nil {
			t.Fatal(err)
		}
		s := step(t, res, "refresh")
		if s.Requests != 100 || s.Errors == 0 || s.ErrorsByKind["400"] != s.Errors {
			t.Errorf("refresh %d requests, errors %v: want only 400s", s.Requests, s.ErrorsByKind)
		}
		if f.codes.Load() != 4+s.Errors {
			t.Errorf("%d code flows for 4 workers and %d broken chains", f.codes.Load(), s.Errors)
		}
	})
	t.Run("set-up failure", func(t *testing.T) {
		f := newFakeOP(t)
		cfg := f.cfg("refresh", 10)
		cfg.UserPassword = "wrong"
		_, err := Run(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "signin") || !strings.Contains(err.Error(), "401") {
			t.Errorf("Run = %v, want a set-up error naming the signin step and 401", err)
		}
	})
}

// With -users N every worker signs in as user w%N+1 of the pattern, in
// each scenario that signs in.
func TestSeveralUsers(t *testing.T) {
	for _, sc := range []string{"signin", "authcode", "refresh"} {
		t.Run(sc, func(t *testing.T) {
			f := newFakeOP(t)
			f.firstParty = true
			f.users = map[string]bool{"u1@example.com": true, "u2@example.com": true, "u3@example.com": true}
			cfg := f.cfg(sc, 60)
			cfg.UserEmail, cfg.Users, cfg.Conns = "u%d@example.com", 3, 6
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			noErrors(t, res)
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.signins) != 3 {
				t.Fatalf("sign-ins by address %v, want all three users", f.signins)
			}
		})
	}

	f := newFakeOP(t)
	for _, bad := range []struct {
		email string
		users int
	}{{"bench@example.com", 2}, {"u%d%d@example.com", 2}, {"u%s@example.com", 2}, {"u%d@example.com", -1}} {
		cfg := f.cfg("signin", 1)
		cfg.UserEmail, cfg.Users = bad.email, bad.users
		if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "-users") {
			t.Errorf("-user-email %q -users %d: %v, want it refused", bad.email, bad.users, err)
		}
	}
	// One user: the address is taken as it is, % and all.
	if got := (&Env{UserEmail: "a%d@x", Users: 1}).Email(5); got != "a%d@x" {
		t.Errorf("Email = %q", got)
	}
}
