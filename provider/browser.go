package provider

import (
	"context"
	"net/http"

	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
)

// The browser-facing endpoints: authorization, UserInfo and logout.
const (
	PathAuthorize = "/oauth2/authorize"
	PathResume    = "/oauth2/authorize/resume"
	PathUserInfo  = "/userinfo"
	PathLogout    = "/oauth2/logout"
	// PathLogin and PathConsent are the hosted pages the authorization
	// endpoint sends a person to; they come back to PathResume.
	PathLogin     = "/login"
	PathConsent   = "/consent"
	PathSignedOut = "/signed-out"
)

// UserLookup finds the user behind a session or token.
type UserLookup interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
}

// Pages renders the HTML pages the provider shows itself: error pages (when
// an error cannot be sent back to a client) and the logout confirmation.
type Pages interface {
	Render(w http.ResponseWriter, r *http.Request, status int, page Page)
}

// Page is one of the pages the provider renders.
type Page interface{ pageName() string }

// ErrorPage explains a failed request in plain words; details go to the log.
type ErrorPage struct{ Title, Message string }

// LogoutConfirmPage asks whether to sign out; its form posts Hidden back to
// PathLogout with a "Sign out" button.
type LogoutConfirmPage struct {
	ClientName string
	Hidden     map[string]string
}

// SignedOutPage says the person is signed out.
type SignedOutPage struct{}

func (ErrorPage) pageName() string         { return "error" }
func (LogoutConfirmPage) pageName() string { return "logout_confirm" }
func (SignedOutPage) pageName() string     { return "signed_out" }

// PageName returns the template name of a page.
func PageName(p Page) string { return p.pageName() }

// CSRF guards the logout confirmation form.
type CSRF interface {
	Verify(r *http.Request) error
}

// LogoutNotifier delivers back-channel logout tokens (durably, with retries).
type LogoutNotifier interface {
	EnqueueBackchannelLogout(ctx context.Context, clientID, uri, logoutToken string) error
}

// Auditor records security events.
type Auditor interface {
	AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error
}

// Browser holds the collaborators of the browser-facing endpoints.
type Browser struct {
	Sessions *session.Manager
	Users    UserLookup
	Pages    Pages
	CSRF     CSRF
	// Logout and Audit are optional.
	Logout LogoutNotifier
	Audit  Auditor
}
