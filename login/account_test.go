package login

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

func TestAccountNeedsSignIn(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	b := e.browser()
	r := b.get("/account")
	wantRedirect(t, r, "/login?return_to=%2Faccount")
	r = b.get(r.location)
	wantBody(t, r, `name="return_to" value="/account"`)
	r = b.post("/login", url.Values{"email": {"ada@example.com"}, "password": {"correct horse battery"}, "return_to": {"/account"}})
	wantRedirect(t, r, "/account")
	wantStatus(t, b.get("/account"), http.StatusOK)

	// Every account form needs the session too.
	anon := e.browser()
	anon.get("/login")
	for _, path := range []string{"/account/profile", "/account/password", "/account/sessions/end", "/account/sessions/end-all", "/account/consents/revoke"} {
		wantRedirect(t, anon.post(path, url.Values{}), "/login?return_to=%2Faccount")
	}
}

func TestAccountPage(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	if err := e.store.SaveConsent(t.Context(), &storage.Consent{UserID: "u1", ClientID: "app", Scopes: []string{"openid", "email"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SaveConsent(t.Context(), &storage.Consent{UserID: "u1", ClientID: "gone", Scopes: []string{"openid"}}); err != nil {
		t.Fatal(err)
	}
	phone := e.browser()
	phone.ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
	phone.signIn("ada@example.com", "correct horse battery")
	e.clock.Advance(2 * time.Hour)
	b := e.browser()
	b.signIn("ada@example.com", "correct horse battery")

	r := b.get("/account")
	wantStatus(t, r, http.StatusOK)
	wantLabels(t, r.body,
		[]string{"Name", "Picture URL", "Locale", "Phone", "Current password", "New password"},
		[]string{"Save", "Change password", "Sign out", "Sign out everywhere", "Revoke"}, nil)
	wantBody(t, r, "ada@example.com", "Firefox on Linux", "this device", "Safari on iPhone", "2 hours ago",
		"Example App", "Confirm who you are, See your email address", "<strong>gone</strong>")
	doc := parse(t, r.body)
	if n := len(withText(doc, "button", "Sign out")); n != 2 {
		t.Errorf("%d Sign out buttons, want one per session (2)", n)
	}
	golden(t, "account", r.body)
}

func TestAccountProfile(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	b := e.browser()
	b.signIn("ada@example.com", "correct horse battery")
	b.get("/account")

	r := b.post("/account/profile", url.Values{"name": {"Ada King"}, "picture": {"https://img.example/ada.png"}, "locale": {"en-GB"}, "phone": {"+44 20 7946 0000"}})
	wantRedirect(t, r, "/account?notice=profile_saved")
	r = b.get(r.location)
	wantBody(t, r, "Your profile has been saved.", `value="Ada King"`, `value="https://img.example/ada.png"`, `<html lang="en">`)
	if m := e.accounts.lastMeta(); m.SID == "" {
		t.Errorf("UpdateProfile meta = %+v, want the session id", m)
	}

	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
		want  string
	}{
		{"http picture", url.Values{"picture": {"http://img.example/a.png"}}, "picture", "Enter a link starting with https://"},
		{"script picture", url.Values{"picture": {"javascript:alert(1)"}}, "picture", "Enter a link starting with https://"},
		{"bad locale", url.Values{"locale": {"english please"}}, "locale", "Enter a language code"},
		{"bad phone", url.Values{"phone": {"call me"}}, "phone", "Enter a phone number"},
		{"refused by the service", url.Values{"name": {"Bobby Tables"}}, "name", "That name is not allowed."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.accounts.profiles)
			r := b.post("/account/profile", tc.form)
			wantStatus(t, r, http.StatusBadRequest)
			wantBody(t, r, tc.want, `aria-describedby="`+tc.field)
			if len(e.accounts.profiles) != before {
				t.Error("an invalid profile was saved")
			}
		})
	}
	if r := b.post("/account/profile", url.Values{"picture": {"http://x"}}); r.status == http.StatusBadRequest {
		golden(t, "account_profile_error", r.body)
	}
}

func TestAccountPassword(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	b := e.browser()
	b.signIn("ada@example.com", "correct horse battery")
	b.get("/account")

	r := b.post("/account/password", url.Values{"current_password": {"wrong"}, "new_password": {"a brand new passphrase"}})
	wantStatus(t, r, http.StatusBadRequest)
	wantBody(t, r, "Your current password is incorrect.", `aria-describedby="current_password-error"`)

	r = b.post("/account/password", url.Values{"current_password": {"correct horse battery"}, "new_password": {"short"}})
	wantStatus(t, r, http.StatusBadRequest)
	wantBody(t, r, "Use at least 12 characters.", `aria-describedby="new_password-hint new_password-error"`,
		`<a href="#new_password">New password: Use at least 12 characters.</a>`)
	wantErrorSummary(t, r.body)

	r = b.post("/account/password", url.Values{})
	wantStatus(t, r, http.StatusBadRequest)
	wantBody(t, r, `<a href="#current_password">Enter your current password.</a>`, `<a href="#new_password">Enter a new password.</a>`)
	wantErrorSummary(t, r.body)

	r = b.post("/account/password", url.Values{"current_password": {"correct horse battery"}, "new_password": {"a brand new passphrase"}})
	wantRedirect(t, r, "/account?notice=password_changed")
	wantBody(t, b.get(r.location), "Your password has been changed.")
}

func TestAccountSessions(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	e.accounts.add("u2", "bob@example.com", "bobs long password", true)
	b := e.browser()
	b.signIn("ada@example.com", "correct horse battery")
	e.clock.Advance(time.Minute)
	other := e.browser()
	other.signIn("ada@example.com", "correct horse battery")
	bob := e.browser()
	bob.signIn("bob@example.com", "bobs long password")

	sessions, _ := e.sessions.List(t.Context(), "u1") // newest first
	bobSessions, _ := e.sessions.List(t.Context(), "u2")
	if len(sessions) != 2 || len(bobSessions) != 1 {
		t.Fatalf("sessions: ada %d, bob %d", len(sessions), len(bobSessions))
	}
	otherSID := sessions[0].ID
	b.get("/account")

	// Someone else's session id: the same answer, nothing ends.
	r := b.post("/account/sessions/end", url.Values{"sid": {bobSessions[0].ID}})
	wantRedirect(t, r, "/account?notice=session_ended")
	if after, _ := e.sessions.List(t.Context(), "u2"); len(after) != 1 {
		t.Fatal("Ada ended Bob's session")
	}

	// Ending the other browser's session signs it out; this one stays.
	b.get("/account")
	r = b.post("/account/sessions/end", url.Values{"sid": {otherSID}})
	wantRedirect(t, r, "/account?notice=session_ended")
	wantRedirect(t, other.get("/account"), "/login?return_to=%2Faccount")
	wantStatus(t, b.get("/account"), http.StatusOK)

	// Sign out everywhere: every session, this one included.
	third := e.browser()
	third.signIn("ada@example.com", "correct horse battery")
	b.get("/account")
	r = b.post("/account/sessions/end-all", url.Values{})
	wantRedirect(t, r, "/signed-out")
	if left, _ := e.sessions.List(t.Context(), "u1"); len(left) != 0 {
		t.Errorf("%d sessions left after signing out everywhere", len(left))
	}
	if b.cookie("authd_session") != "" {
		t.Error("session cookie kept after signing out everywhere")
	}
	wantRedirect(t, third.get("/account"), "/login?return_to=%2Faccount")
	if after, _ := e.sessions.List(t.Context(), "u2"); len(after) != 1 {
		t.Error("signing out everywhere ended another person's session")
	}
}

func TestAccountEndOwnSession(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	b := e.browser()
	b.signIn("ada@example.com", "correct horse battery")
	sessions, _ := e.sessions.List(t.Context(), "u1")
	b.get("/account")
	r := b.post("/account/sessions/end", url.Values{"sid": {sessions[0].ID}})
	wantRedirect(t, r, "/signed-out")
	if b.cookie("authd_session") != "" {
		t.Error("session cookie kept")
	}
	wantBody(t, b.get(r.location), "You have signed out.")
}

func TestAccountRevokeConsent(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	for _, c := range []string{"app", "other"} {
		if err := e.store.SaveConsent(t.Context(), &storage.Consent{UserID: "u1", ClientID: c, Scopes: []string{"openid"}}); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser()
	b.signIn("ada@example.com", "correct horse battery")
	b.get("/account")

	r := b.post("/account/consents/revoke", url.Values{"client_id": {"app"}})
	wantRedirect(t, r, "/account?notice=app_revoked")
	if _, err := e.store.GetConsent(t.Context(), "u1", "app"); err == nil {
		t.Error("consent kept after Revoke")
	}
	if _, err := e.store.GetConsent(t.Context(), "u1", "other"); err != nil {
		t.Error("Revoke removed another application's consent")
	}
	if !slices.Equal(e.tokens.revoked, []string{"app u1"}) {
		t.Errorf("revoked tokens = %v, want app's for u1", e.tokens.revoked)
	}
	if types := e.audit.types(); !slices.Equal(types, []string{"consent.revoked"}) {
		t.Errorf("audit = %v", types)
	}
	r = b.get(r.location)
	wantBody(t, r, "The application no longer has access to your account.")
	if strings.Contains(r.body, "Example App") {
		t.Error("the revoked application is still listed")
	}

	// Revoking what is not there: the same answer, nothing revoked.
	r = b.post("/account/consents/revoke", url.Values{"client_id": {"app"}})
	wantRedirect(t, r, "/account?notice=app_revoked")
	if len(e.tokens.revoked) != 1 {
		t.Error("tokens revoked again for an application without consent")
	}
	wantStatus(t, b.post("/account/consents/revoke", url.Values{}), http.StatusBadRequest)

	// Token revocation failing: an error page, and the consent stays.
	e.tokens.fail = errBroken
	r = b.post("/account/consents/revoke", url.Values{"client_id": {"other"}})
	wantStatus(t, r, http.StatusInternalServerError)
	if _, err := e.store.GetConsent(t.Context(), "u1", "other"); err != nil {
		t.Error("consent deleted although its tokens could not be revoked")
	}
}

// TestAccountUserGone: a session whose account no longer exists is ended.
func TestAccountUserGone(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	b := e.browser()
	b.signIn("ada@example.com", "correct horse battery")
	e.accounts.mu.Lock()
	delete(e.accounts.byID, "u1")
	e.accounts.mu.Unlock()
	wantRedirect(t, b.get("/account"), "/login?return_to=%2Faccount")
	if left, _ := e.sessions.List(t.Context(), "u1"); len(left) != 0 {
		t.Error("the session of a deleted account lives on")
	}
}

func TestDescribeDevice(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36":               "Chrome on Windows",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0": "Edge on Windows",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15":            "Safari on macOS",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36":         "Chrome on Android",
		"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0 Mobile/15E148 Safari/604.1": "Chrome on iPad",
		"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0":                                                        "Firefox on Linux",
		"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36":                "Chrome on ChromeOS",
		"curl/8.5.0": "curl",
		"":           "Unknown device",
		"Mozilla/5.0 (X11; Linux x86_64) SomethingNew/1.0": "A browser on Linux",
	} {
		if got := describeDevice(ua).String(); got != want {
			t.Errorf("describeDevice(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestAgo(t *testing.T) {
	now := t0
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "unknown"},
		{now, "just now"},
		{now.Add(-59 * time.Second), "just now"},
		{now.Add(-time.Minute), "1 minute ago"},
		{now.Add(-5 * time.Minute), "5 minutes ago"},
		{now.Add(-time.Hour), "1 hour ago"},
		{now.Add(-25 * time.Hour), "1 day ago"},
		{now.Add(-72 * time.Hour), "3 days ago"},
	} {
		if got := ago(now, tc.t).String(); got != tc.want {
			t.Errorf("ago(%v) = %q, want %q", now.Sub(tc.t), got, tc.want)
		}
	}
}
