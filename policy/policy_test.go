package policy_test

import (
	"testing"
	"time"

	"github.com/authd/authd/policy"
)

var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func dur(d time.Duration) *time.Duration { return &d }

// signedIn is a browser signed in an hour ago with a password, whose
// stored consent covers the request: the state in which a request is
// answered at once.
func signedIn() policy.State {
	return policy.State{SignedIn: true, SessionID: "s1", AuthTime: now.Add(-time.Hour), AMR: []string{"pwd"}, Now: now, ConsentCovers: true}
}

func with(mod func(*policy.State)) policy.State {
	s := signedIn()
	mod(&s)
	return s
}

// TestNext covers every transition of the state machine in doc.go.
func TestNext(t *testing.T) {
	issue := policy.Step{Kind: policy.Issue}
	signIn := policy.Step{Kind: policy.SignIn}
	consent := policy.Step{Kind: policy.Consent}
	deny := func(e string) policy.Step { return policy.Step{Kind: policy.Deny, Error: e} }
	for _, tc := range []struct {
		name string
		s    policy.State
		want policy.Step
	}{
		{"signed in, consent covers: issue", signedIn(), issue},
		{"no session: sign in", policy.State{Now: now}, signIn},
		{"no session, prompt=none: login_required", policy.State{Now: now, Prompts: []string{"none"}}, deny(policy.ErrLoginRequired)},
		{"prompt=login: sign in", with(func(s *policy.State) { s.Prompts = []string{"login"} }), signIn},
		{"prompt=select_account: sign in", with(func(s *policy.State) { s.Prompts = []string{"select_account"} }), signIn},
		{"prompt=login satisfied by a sign-in in this request", with(func(s *policy.State) {
			s.Prompts, s.SignInSessionID = []string{"login"}, "s1"
		}), issue},
		{"max_age exceeded: sign in", with(func(s *policy.State) { s.MaxAge = dur(30 * time.Minute) }), signIn},
		{"max_age exceeded, prompt=none: login_required", with(func(s *policy.State) {
			s.MaxAge, s.Prompts = dur(30*time.Minute), []string{"none"}
		}), deny(policy.ErrLoginRequired)},
		{"max_age met", with(func(s *policy.State) { s.MaxAge = dur(2 * time.Hour) }), issue},
		{"max_age exceeded but signed in during this request", with(func(s *policy.State) {
			s.MaxAge, s.SignInSessionID = dur(time.Minute), "s1"
		}), issue},
		{"max_age 0 forces a sign-in", with(func(s *policy.State) { s.MaxAge = dur(0) }), signIn},
		{"signed in during this request by another session: sign in", with(func(s *policy.State) { s.SignInSessionID = "s0" }), signIn},
		{"risk deny", with(func(s *policy.State) { s.Risk = policy.RiskDeny }), deny(policy.ErrAccessDenied)},
		{"pending link", with(func(s *policy.State) { s.PendingLink = true }), policy.Step{Kind: policy.LinkAccount}},
		{"pending link, prompt=none: interaction_required", with(func(s *policy.State) {
			s.PendingLink, s.Prompts = true, []string{"none"}
		}), deny(policy.ErrInteractionRequired)},
		{"second factor required, none enrolled: enrol", with(func(s *policy.State) { s.SecondFactorRequired = true }), policy.Step{Kind: policy.EnrolFactor}},
		{"second factor required, one enrolled: second factor", with(func(s *policy.State) {
			s.SecondFactorRequired, s.FactorsEnrolled = true, 1
		}), policy.Step{Kind: policy.SecondFactor}},
		{"risk step-up: second factor", with(func(s *policy.State) { s.Risk, s.FactorsEnrolled = policy.RiskStepUp, 2 }), policy.Step{Kind: policy.SecondFactor}},
		{"second factor required and used", with(func(s *policy.State) {
			s.SecondFactorRequired, s.AMR = true, []string{"pwd", "otp"}
		}), issue},
		{"second factor, prompt=none: interaction_required", with(func(s *policy.State) {
			s.SecondFactorRequired, s.FactorsEnrolled, s.Prompts = true, 1, []string{"none"}
		}), deny(policy.ErrInteractionRequired)},
		{"consent denied in this request", with(func(s *policy.State) { s.ConsentDenied = true }), deny(policy.ErrAccessDenied)},
		{"first party, no stored consent", with(func(s *policy.State) { s.FirstParty, s.ConsentCovers = true, false }), issue},
		{"first party, prompt=consent", with(func(s *policy.State) { s.FirstParty, s.Prompts = true, []string{"consent"} }), issue},
		{"device, stored consent: consent all the same", with(func(s *policy.State) { s.Device = true }), consent},
		{"device, first party: consent all the same", with(func(s *policy.State) { s.Device, s.FirstParty = true, true }), consent},
		{"device, consent given in this request", with(func(s *policy.State) { s.Device, s.ConsentGiven = true, true }), issue},
		{"device, consent denied in this request", with(func(s *policy.State) { s.Device, s.ConsentDenied = true, true }), deny(policy.ErrAccessDenied)},
		{"no stored consent: consent", with(func(s *policy.State) { s.ConsentCovers = false }), consent},
		{"no stored consent, prompt=none: consent_required", with(func(s *policy.State) {
			s.ConsentCovers, s.Prompts = false, []string{"none"}
		}), deny(policy.ErrConsentRequired)},
		{"prompt=consent, not yet given: consent", with(func(s *policy.State) { s.Prompts = []string{"consent"} }), consent},
		{"prompt=consent, given in this request", with(func(s *policy.State) {
			s.Prompts, s.ConsentGiven = []string{"consent"}, true
		}), issue},
		{"consent given in this request but not covering (another person's): consent", with(func(s *policy.State) {
			s.ConsentGiven, s.ConsentCovers = true, false
		}), consent},
		{"prompt=none, all satisfied: issue", with(func(s *policy.State) { s.Prompts = []string{"none"} }), issue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := policy.Next(tc.s)
			got.Hint = ""
			if got != tc.want {
				t.Fatalf("Next = %v %q, want %v %q", got.Kind, got.Error, tc.want.Kind, tc.want.Error)
			}
		})
	}
}

// TestNeedsStoredConsent: the stored consent is looked up only when it
// can change the answer.
func TestNeedsStoredConsent(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    policy.State
		want bool
	}{
		{"signed in, third party", signedIn(), true},
		{"not signed in", policy.State{Now: now}, false},
		{"first party", with(func(s *policy.State) { s.FirstParty = true }), false},
		{"consent denied", with(func(s *policy.State) { s.ConsentDenied = true }), false},
		{"prompt=consent, not given", with(func(s *policy.State) { s.Prompts = []string{"consent"} }), false},
		{"prompt=consent, given", with(func(s *policy.State) { s.Prompts, s.ConsentGiven = []string{"consent"}, true }), true},
	} {
		if got := policy.NeedsStoredConsent(tc.s); got != tc.want {
			t.Errorf("%s: NeedsStoredConsent = %v, want %v", tc.name, got, tc.want)
		}
	}
}
