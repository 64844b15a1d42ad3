package policy

import (
	"slices"
	"time"
)

// Verdict is the risk engine's judgement of a request.
type Verdict int

// The verdicts; the zero value lets the request proceed.
const (
	RiskAllow Verdict = iota
	// RiskStepUp asks for a second factor.
	RiskStepUp
	// RiskDeny refuses the request.
	RiskDeny
)

// State is what is known of an authorization request when deciding.
type State struct {
	// SignedIn: the browser has a live session whose user may sign in.
	SignedIn bool
	// SessionID is that session's id, AuthTime when it signed in, AMR its
	// authentication methods (RFC 8176: "pwd", "otp", "hwk", ...).
	SessionID string
	AuthTime  time.Time
	AMR       []string
	// SignInSessionID is the session that signed in during this request
	// ("" when none did).
	SignInSessionID string
	// Now is the time of the decision.
	Now time.Time

	// Prompts are the request's prompt values; MaxAge its max_age (nil
	// when absent).
	Prompts []string
	MaxAge  *time.Duration

	// FirstParty clients are granted without asking, but on a device.
	FirstParty bool
	// Device: the request is a device's (RFC 8628), approved on the
	// verification page. The person always confirms on the consent page,
	// first-party client or not, so that a code someone else sent them
	// (remote phishing, RFC 8628 §5.4) is not approved unseen.
	Device bool
	// ConsentGiven or ConsentDenied: the person answered the consent page
	// during this request.
	ConsentGiven, ConsentDenied bool
	// ConsentCovers: the person's stored consent covers the scopes wanted
	// (the caller looks it up when NeedsStoredConsent says so).
	ConsentCovers bool

	// PendingLink: an upstream identity waits to be linked to an account.
	PendingLink bool
	// SecondFactorRequired: the client or the request requires a second
	// factor; FactorsEnrolled is how many the person has.
	SecondFactorRequired bool
	FactorsEnrolled      int
	// Risk is the risk engine's verdict.
	Risk Verdict
}

// Kind is what the next step is.
type Kind int

// The steps.
const (
	// Issue: answer the client with a code.
	Issue Kind = iota
	// SignIn: send the person to the sign-in page.
	SignIn
	// LinkAccount: send the person to link an upstream identity.
	LinkAccount
	// SecondFactor: ask for a second factor.
	SecondFactor
	// EnrolFactor: have the person enrol a second factor first.
	EnrolFactor
	// Consent: ask the person to allow the scopes.
	Consent
	// Deny: answer the client with Error.
	Deny
)

var kindNames = [...]string{"issue", "sign in", "link account", "second factor", "enrol factor", "consent", "deny"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Step is Next's answer.
type Step struct {
	Kind Kind
	// Error is, for Deny, the OAuth error the client gets
	// (login_required, consent_required, interaction_required,
	// access_denied), and Hint why.
	Error, Hint string
}

// The OAuth errors Deny carries (OpenID Connect Core §3.1.2.6, RFC 6749 §4.1.2.1).
const (
	ErrLoginRequired       = "login_required"
	ErrConsentRequired     = "consent_required"
	ErrInteractionRequired = "interaction_required"
	ErrAccessDenied        = "access_denied"
)

// Next decides the next step of the request in state s (see the package
// documentation for the state machine).
func Next(s State) Step {
	none := s.prompt("none")
	ask := func(k Kind, errCode, hint string) Step {
		if none {
			return Step{Kind: Deny, Error: errCode, Hint: hint}
		}
		return Step{Kind: k}
	}
	if s.needsSignIn() {
		return ask(SignIn, ErrLoginRequired, "No one is signed in, or the sign-in is too old.")
	}
	if s.SignInSessionID != "" && s.SignInSessionID != s.SessionID {
		return ask(SignIn, ErrLoginRequired, "The browser's session is not the one that signed in for this request.")
	}
	if s.Risk == RiskDeny {
		return Step{Kind: Deny, Error: ErrAccessDenied, Hint: "The request was refused as too risky."}
	}
	if s.PendingLink {
		return ask(LinkAccount, ErrInteractionRequired, "An account must be linked first.")
	}
	if (s.SecondFactorRequired || s.Risk == RiskStepUp) && !hasSecondFactor(s.AMR) {
		if s.FactorsEnrolled == 0 {
			return ask(EnrolFactor, ErrInteractionRequired, "A second factor must be enrolled first.")
		}
		return ask(SecondFactor, ErrInteractionRequired, "A second factor is required.")
	}
	if s.ConsentDenied {
		return Step{Kind: Deny, Error: ErrAccessDenied, Hint: "The person denied the request."}
	}
	if s.FirstParty && !s.Device {
		return Step{Kind: Issue}
	}
	if ((s.prompt("consent") || s.Device) && !s.ConsentGiven) || !s.ConsentCovers {
		return ask(Consent, ErrConsentRequired, "The person has not consented to these scopes.")
	}
	return Step{Kind: Issue}
}

// NeedsStoredConsent reports whether Next reads ConsentCovers in state s,
// so that the caller looks the stored consent up only then.
func NeedsStoredConsent(s State) bool {
	probe := s
	probe.ConsentCovers = true
	covered := Next(probe)
	probe.ConsentCovers = false
	return covered != Next(probe)
}

// needsSignIn: no session, or one that does not satisfy prompt=login,
// prompt=select_account or max_age, unless the browser's session signed
// in during this very request.
func (s State) needsSignIn() bool {
	if !s.SignedIn {
		return true
	}
	if s.SignInSessionID != "" && s.SignInSessionID == s.SessionID {
		return false
	}
	if s.prompt("login") || s.prompt("select_account") {
		return true
	}
	return s.MaxAge != nil && s.Now.Sub(s.AuthTime) > *s.MaxAge
}

func (s State) prompt(v string) bool { return slices.Contains(s.Prompts, v) }

// hasSecondFactor reports whether amr holds a factor beyond a password.
func hasSecondFactor(amr []string) bool {
	for _, m := range amr {
		if m != "pwd" && m != "" {
			return true
		}
	}
	return false
}
