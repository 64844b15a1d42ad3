package provider

import (
	"context"
	"net/http"

	"github.com/authd/authd/storage"
)

// The browser-facing endpoints the provider serves: authorization, its
// resume, and UserInfo. Logout (PathLogout) is served by the hosted pages
// (login), which verify its id_token_hint with VerifyIDTokenHint.
const (
	PathAuthorize = "/oauth2/authorize"
	PathResume    = "/oauth2/authorize/resume"
	PathPAR       = "/oauth2/par" // pushed authorization requests (RFC 9126)
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

// Sessions reads the browser's session (session.Manager).
type Sessions interface {
	// Current returns the request's live session, or nil.
	Current(r *http.Request) (*storage.Session, error)
	// End ends s (its user is gone or disabled).
	End(ctx context.Context, s *storage.Session) error
}

// ErrorPages shows a person an error the provider cannot send back to a
// client (the hosted pages' error page).
type ErrorPages interface {
	RenderError(w http.ResponseWriter, r *http.Request, status int, title, message string, args ...any)
}

// LogoutNotifier delivers back-channel logout tokens (durably, with retries).
type LogoutNotifier interface {
	EnqueueBackchannelLogout(ctx context.Context, clientID, uri, logoutToken string) error
}

// Browser holds the collaborators of the browser-facing endpoints, given
// to Routes: they are built after the provider (the sessions they read
// call SessionEnded when one ends).
type Browser struct {
	Sessions Sessions
	Users    UserLookup
	Errors   ErrorPages
	// Logout is optional: without it no back-channel logout is sent.
	Logout LogoutNotifier
}
