package ratelimit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage/memory"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := DefaultConfig()
	c.TokenPerIP = Rule{PerMinute: -1, Burst: 1}
	c.ResetPerIP = Rule{PerMinute: 5, Burst: 0}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "ratelimit.token_per_ip") || !strings.Contains(err.Error(), "ratelimit.reset_per_ip") {
		t.Fatalf("Validate = %v, want both bad keys named", err)
	}
	c = Config{} // everything off
	if err := c.Validate(); err != nil {
		t.Fatalf("all off: %v", err)
	}
}

func TestLimiter(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	cfg := Config{
		SignInPerIP:      Rule{PerMinute: 60, Burst: 5},
		SignInPerAccount: Rule{PerMinute: 1, Burst: 2},
		TokenPerClient:   Rule{PerMinute: 60, Burst: 1},
	}
	l := New(cfg, memory.NewRateLimiter(clock), nil)

	// Per account: variants of one address share a budget.
	for i, email := range []string{"Ada@Example.com", " ada@example.com"} {
		if _, ok := l.SignIn(ctx, "192.0.2.1", email); !ok {
			t.Fatalf("sign-in %d refused", i)
		}
	}
	retry, ok := l.SignIn(ctx, "192.0.2.2", "ADA@example.COM")
	if ok || retry <= 0 || retry > time.Minute {
		t.Fatalf("third sign-in for one account = %v, %v; want refused with a retry within a minute", retry, ok)
	}
	// Per IP: other accounts from one address, up to the burst (two
	// spent above; the refused one spent nothing of the account rule but
	// did count against 192.0.2.2's).
	n := 0
	for i := range 10 {
		if _, ok := l.SignIn(ctx, "192.0.2.1", "user"+string(rune('a'+i))+"@example.com"); ok {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d sign-ins allowed from one address after 2, want 3 (burst 5)", n)
	}
	// Rules that are off never refuse.
	for range 100 {
		if _, ok := l.Register(ctx, "192.0.2.1"); !ok {
			t.Fatal("register refused with the rule off")
		}
		if _, ok := l.TokenByIP(ctx, "192.0.2.1"); !ok {
			t.Fatal("token refused with the rule off")
		}
	}
	if _, ok := l.TokenByClient(ctx, "app"); !ok {
		t.Fatal("first token request refused")
	}
	if _, ok := l.TokenByClient(ctx, "app"); ok {
		t.Fatal("second token request at once allowed (burst 1)")
	}
	now = now.Add(time.Second)
	if _, ok := l.TokenByClient(ctx, "app"); !ok {
		t.Fatal("token request a second later refused (60/min)")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, time.Minute: 60} {
		if got := RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

// TestLimiterMetrics: each refusal is counted under its rule's name,
// never its key (the address or client), and every rule's series exists
// from the start.
func TestLimiterMetrics(t *testing.T) {
	ctx := context.Background()
	m := telemetry.NewMetrics(telemetry.BuildInfo{})
	l := New(Config{TokenPerClient: Rule{PerMinute: 1, Burst: 1}}, memory.NewRateLimiter(nil), nil).WithMetrics(m)
	for range 3 {
		l.TokenByClient(ctx, "client-secret-name")
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "authd_rate_limited_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, lp := range s.GetLabel() {
				got[lp.GetValue()] = s.GetCounter().GetValue()
			}
		}
	}
	if got["token_client"] != 2 {
		t.Errorf("token_client refusals = %v, want 2 (burst 1, three requests)", got["token_client"])
	}
	if len(got) != len(ruleNames) {
		t.Errorf("rule series %v, want one per rule (%d)", got, len(ruleNames))
	}
	if _, ok := got["client-secret-name"]; ok {
		t.Error("a key became a label value")
	}
}
