package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/authd/authd/storage"
)

// signedInFlow signs a browser in within authorization request ar, as the
// provider's redirect to /login would have it.
func signedInFlow(t *testing.T, e *env, ar string) *browser {
	t.Helper()
	b := e.browser()
	b.get("/login?ar=" + ar)
	r := b.post("/login", url.Values{"ar": {ar}, "email": {"ada@example.com"}, "password": {"correct horse battery"}})
	wantRedirect(t, r, "/oauth2/authorize/resume?ar="+ar)
	return b
}

func TestConsentAllow(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	// Ada allowed openid before; now the client asks for more.
	if err := e.store.SaveConsent(t.Context(), &storage.Consent{UserID: "u1", ClientID: "app", Scopes: []string{"openid", "address"}}); err != nil {
		t.Fatal(err)
	}
	ar := e.authRequest("ar-consent", url.Values{"scope": {"openid profile email phone offline_access custom:read openid"}})
	b := signedInFlow(t, e, ar)

	r := b.get("/consent?ar=" + ar)
	wantStatus(t, r, http.StatusOK)
	wantLabels(t, r.body, nil, []string{"Allow", "Deny"}, nil)
	wantBody(t, r, "Example App", "ada@example.com",
		"Confirm who you are", "See your name, profile picture and language", "See your email address",
		"See your phone number", "Keep access while you are not using it", "<code>custom:read</code>")
	golden(t, "consent", r.body)

	r = b.post("/consent", url.Values{"ar": {ar}, "action": {"allow"}})
	wantRedirect(t, r, "/oauth2/authorize/resume?ar="+ar)
	got := e.getAuthRequest(ar)
	want := []string{"openid", "profile", "email", "phone", "offline_access", "custom:read"}
	if !got.ConsentGiven || got.ConsentDenied || !slices.Equal(got.GrantedScopes, want) {
		t.Errorf("auth request after Allow: given %v denied %v scopes %v; want scopes %v", got.ConsentGiven, got.ConsentDenied, got.GrantedScopes, want)
	}
	if got.SessionID == "" {
		t.Error("Allow cleared the session of the sign-in")
	}
	c, err := e.store.GetConsent(t.Context(), "u1", "app")
	if err != nil {
		t.Fatal(err)
	}
	if wantAll := []string{"openid", "address", "profile", "email", "phone", "offline_access", "custom:read"}; !slices.Equal(c.Scopes, wantAll) {
		t.Errorf("remembered consent = %v, want the union %v", c.Scopes, wantAll)
	}
	if types := e.audit.types(); !slices.Equal(types, []string{"consent.granted"}) {
		t.Errorf("audit = %v, want consent.granted", types)
	}
	ev := e.audit.events[0]
	if ev.SubjectID != "u1" || ev.ClientID != "app" || ev.RequestID == "" || ev.IP != "127.0.0.1" {
		t.Errorf("audit event = %+v", ev)
	}
}

func TestConsentDeny(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	ar := e.authRequest("ar-deny", nil)
	b := signedInFlow(t, e, ar)
	b.get("/consent?ar=" + ar)
	r := b.post("/consent", url.Values{"ar": {ar}, "action": {"deny"}})
	wantRedirect(t, r, "/oauth2/authorize/resume?ar="+ar)
	got := e.getAuthRequest(ar)
	if got.ConsentGiven || !got.ConsentDenied || len(got.GrantedScopes) != 0 {
		t.Errorf("auth request after Deny: %+v", got)
	}
	if _, err := e.store.GetConsent(t.Context(), "u1", "app"); err == nil {
		t.Error("Deny remembered a consent")
	}
}

func TestConsentNeedsTheSignedInSession(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	e.accounts.add("u2", "bob@example.com", "bobs long password", true)
	ar := e.authRequest("ar-who", nil)

	// Nobody signed in: back to sign-in for this request, GET and POST.
	anon := e.browser()
	wantRedirect(t, anon.get("/consent?ar="+ar), "/login?ar="+ar)
	anon.get("/login?ar=" + ar)
	wantRedirect(t, anon.post("/consent", url.Values{"ar": {ar}, "action": {"allow"}}), "/login?ar="+ar)

	// Ada signs in within the request; Bob, in another browser, is signed
	// in too but is not the one who signed in here.
	signedInFlow(t, e, ar)
	bob := e.browser()
	bob.signIn("bob@example.com", "bobs long password")
	wantRedirect(t, bob.get("/consent?ar="+ar), "/login?ar="+ar)
	bob.get("/account")
	wantRedirect(t, bob.post("/consent", url.Values{"ar": {ar}, "action": {"allow"}}), "/login?ar="+ar)

	got := e.getAuthRequest(ar)
	if got.ConsentGiven || got.ConsentDenied {
		t.Errorf("consent recorded without the right session: %+v", got)
	}

	// A request nobody signed in during (the provider found a session):
	// any signed-in browser may answer for itself.
	ar2 := e.authRequest("ar-existing-session", nil)
	r := bob.get("/consent?ar=" + ar2)
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, "bob@example.com")
}

func TestConsentProblems(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	ar := e.authRequest("ar-problems", nil)
	b := signedInFlow(t, e, ar)
	b.get("/consent?ar=" + ar)
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"no action", url.Values{"ar": {ar}}, http.StatusBadRequest, "Choose Allow or Deny"},
		{"odd action", url.Values{"ar": {ar}, "action": {"maybe"}}, http.StatusBadRequest, "Choose Allow or Deny"},
		{"tampered ar", url.Values{"ar": {ar + "x"}, "action": {"allow"}}, http.StatusBadRequest, "This sign-in has expired"},
		{"no ar", url.Values{"action": {"allow"}}, http.StatusBadRequest, "This sign-in has expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.post("/consent", tc.form)
			wantStatus(t, r, tc.status)
			wantBody(t, r, tc.want)
		})
	}
	wantStatus(t, b.get("/consent"), http.StatusBadRequest)
	wantStatus(t, b.get("/consent?ar=nope"), http.StatusBadRequest)
	if got := e.getAuthRequest(ar); got.ConsentGiven || got.ConsentDenied {
		t.Errorf("a bad consent request changed the auth request: %+v", got)
	}
	if _, err := e.store.GetConsent(context.Background(), "u1", "app"); err == nil {
		t.Error("a bad consent request saved consent")
	}
	if len(e.audit.types()) != 0 {
		t.Errorf("audit = %v, want nothing", e.audit.types())
	}
}

// TestConsentWithItsAuditEvent: a consent is remembered together with its
// consent.granted event, or not at all: with the audit log down, Allow
// fails and nothing is remembered (the request does not go on).
func TestConsentWithItsAuditEvent(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	ar := e.authRequest("ar-audit", url.Values{"scope": {"openid profile"}})
	b := signedInFlow(t, e, ar)
	b.get("/consent?ar=" + ar)
	e.audit.mu.Lock()
	e.audit.fail = errors.New("audit log down")
	e.audit.mu.Unlock()
	r := b.post("/consent", url.Values{"ar": {ar}, "action": {"allow"}})
	wantStatus(t, r, http.StatusInternalServerError)
	if _, err := e.store.GetConsent(t.Context(), "u1", "app"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("consent remembered without its audit event: %v", err)
	}
	if got := e.getAuthRequest(ar); got.ConsentGiven {
		t.Fatal("the request went on as consented")
	}
}
