// Package policy decides what happens next in a browser's authorization
// request: one pure function, Next, over the request's State, called by
// the provider (the authorization endpoint and its resume) and by the
// hosted pages (the consent page, to know the person may be asked). It
// does no I/O: callers gather the state (session, user, stored consent)
// and act on the Step.
//
// The state machine. Each arrow is taken when its condition holds, in
// this order; a step a person must take becomes Deny when the request
// said prompt=none (the error the client gets is named in brackets):
//
//	start
//	  │ no live session, or prompt=login/select_account, or max_age
//	  │ exceeded, unless the person signed in during this request
//	  ├──────────────────────────────▶ SignIn        [login_required]
//	  │ a sign-in during this request, by another session than the
//	  │ browser's now (consent must not pass to whoever holds it)
//	  ├──────────────────────────────▶ SignIn        [login_required]
//	  │ risk verdict Deny
//	  ├──────────────────────────────▶ Deny          (access_denied)
//	  │ an upstream identity waits to be linked
//	  ├──────────────────────────────▶ LinkAccount   [interaction_required]
//	  │ a second factor is required (by the client, acr_values or a
//	  │ risk verdict StepUp) and the session has none
//	  ├── no factor enrolled ────────▶ EnrolFactor   [interaction_required]
//	  ├── a factor enrolled ─────────▶ SecondFactor  [interaction_required]
//	  │ the person denied consent in this request
//	  ├──────────────────────────────▶ Deny          (access_denied)
//	  │ a first-party client
//	  ├──────────────────────────────▶ Issue (the requested scopes)
//	  │ prompt=consent and no consent given in this request, or the
//	  │ stored consent does not cover the scopes wanted
//	  ├──────────────────────────────▶ Consent       [consent_required]
//	  │ otherwise
//	  └──────────────────────────────▶ Issue
//
// A hosted page comes back to the provider's resume endpoint after its
// step, which gathers the state again and calls Next again: the machine
// advances one step per visit, and a request is finished (its code
// issued) only on Issue.
//
// Account linking, second factors and risk verdicts are states and steps
// now so that federation, MFA and risk add conditions here rather than
// branches in provider and login. Until they exist nothing in authd's
// wiring sets PendingLink, SecondFactorRequired or a Risk verdict, so no
// request reaches LinkAccount, EnrolFactor or SecondFactor (their pages
// do not exist yet); the table tests cover them.
package policy
