package render

import (
	"strings"
	"time"

	"github.com/authd/authd/internal/i18n"
)

// Page is embedded in every page's data: what the layout shows around the
// page itself.
type Page struct {
	// Lang is the language the page is asked for: a space-separated list
	// of BCP 47 tags in order of preference (ui_locales, or the account's
	// locale). The renderer picks the first one it has a catalogue for,
	// else Accept-Language's best, else the default (i18n.Choose); it is
	// then the html lang attribute and Content-Language.
	Lang string
	// Notice is a confirmation shown at the top of the page
	// (role="status"), e.g. "Your password has been changed."; plain
	// English text, a catalogue key, translated with NoticeArgs.
	Notice     string
	NoticeArgs []any
	// ClientID is the client a sign-in is for, Org the organization of
	// the person signed in (/account): they choose the organization's
	// branding (branding.organizations), Org first.
	ClientID, Org string
}

func (p Page) page() Page { return p }

// FieldError is one problem with the submitted form. Field names the input
// (its name and id) the problem belongs to; "" for the form as a whole.
type FieldError struct {
	Field string
	// Message is the English text, a catalogue key (internal/i18n) that
	// the page translates with Args.
	Message string
	Args    []any
}

// Errors are a form's problems, in the order the fields appear. Pages list
// them in a summary (role="alert") whose items link to their field
// (href="#name") and name it by its label, and next to each field, which
// is then marked aria-invalid and described by its messages.
type Errors []FieldError

// Add returns e with a problem added. message is a catalogue key: the
// English text of a message internal/i18n translates.
func (e Errors) Add(field, message string) Errors {
	return append(e, FieldError{Field: field, Message: message})
}

// Addf returns e with a problem added whose message has arguments
// (an i18n.Localizer argument is localized too).
func (e Errors) Addf(field, format string, args ...any) Errors {
	return append(e, FieldError{Field: field, Message: format, Args: args})
}

// For returns the problems with field.
func (e Errors) For(field string) []FieldError {
	var out []FieldError
	for _, fe := range e {
		if fe.Field == field {
			out = append(out, fe)
		}
	}
	return out
}

// LoginData is the sign-in page.
type LoginData struct {
	Page
	// ClientName is the application the person signs in to; "" outside an
	// authorization request.
	ClientName string
	// ClientLogo is that application's logo (an https URL it registered),
	// or "".
	ClientLogo string
	// AuthRequestID is the authorization request in progress ("ar"), or "".
	AuthRequestID string
	// ReturnTo is the local path to go to after sign-in without an
	// authorization request; already checked to be local.
	ReturnTo string
	Email    string
	Errors   Errors
	// Locked: too many attempts; the page links to the password reset.
	Locked bool
	// Unverified: the email is not verified; the page offers to resend the
	// verification link to Email.
	Unverified bool
	// HideRegister hides the link to registration (registration is off).
	HideRegister bool
}

// RegisterData is the registration page.
type RegisterData struct {
	Page
	AuthRequestID string
	ClientName    string
	ClientLogo    string
	Email         string
	Name          string
	Errors        Errors
}

// CheckEmailData is shown after registration or a resend: a link is on
// its way. It never says whether the address has an account.
type CheckEmailData struct {
	Page
	Email string
	// AuthRequestID, when set, makes "Back to sign in" continue that
	// authorization request.
	AuthRequestID string
}

// VerifyEmailData is the result of following a verification link.
type VerifyEmailData struct {
	Page
	// Verified is true when the address is now verified; false when the
	// link was invalid, expired or used (the page then offers a new one).
	Verified bool
	// ContinueURL is where Continue leads once verified: the sign-in the
	// registration came from, while it is open, else the login page.
	ContinueURL string
}

// ForgotPasswordData is the page asking for the address to send a reset
// link to.
type ForgotPasswordData struct {
	Page
	// AuthRequestID is the sign-in the person came from ("ar"), or "":
	// the form carries it and "Back to sign in" continues it.
	AuthRequestID string
	Email         string
	Errors        Errors
	// Sent: the request was taken; the page says a link was sent if an
	// account exists, and nothing more.
	Sent bool
}

// ResetPasswordData is the page choosing a new password.
type ResetPasswordData struct {
	Page
	// Token is the reset token from the link, carried in a hidden field.
	Token  string
	Errors Errors
	// AuthRequestID is the sign-in this browser asked for the reset from,
	// or "": "Back to sign in" continues it.
	AuthRequestID string
}

// Scope is one requested scope in plain words.
type Scope struct {
	Name string
	// Description says in plain words what the scope allows; "" for scopes
	// authd does not know, which are shown by name.
	Description string
}

// ConsentData is the consent page.
type ConsentData struct {
	Page
	AuthRequestID string
	ClientName    string
	ClientLogo    string // as LoginData's
	// UserEmail is who is signed in.
	UserEmail string
	Scopes    []Scope
	// DeviceUserCode is set when a device asks (RFC 8628): the code it
	// shows (XXXX-XXXX), which the page names so the person can check it.
	DeviceUserCode string
}

// DeviceData is the device verification page (RFC 8628 §3.3): the form
// for the code a device shows, or, with Result, how the request ended.
type DeviceData struct {
	Page
	// UserCode prefills the field (?user_code=, or what was sent).
	UserCode string
	Errors   Errors
	// Result is "" for the form, "approved" or "denied" once decided.
	Result string
}

// SessionItem is one browser session on the account page.
type SessionItem struct {
	ID string
	// Device is the browser and system in plain words ("Firefox on Windows").
	Device   i18n.Msg
	IP       string
	LastSeen time.Time
	// LastSeenText is LastSeen in words ("5 minutes ago").
	LastSeenText i18n.Msg
	// Current marks the session of this browser.
	Current bool
}

// AppItem is one application the person has consented to.
type AppItem struct {
	ClientID   string
	ClientName string
	Scopes     []Scope
}

// AccountData is the account page.
type AccountData struct {
	Page
	Email         string
	EmailVerified bool
	Name          string
	Picture       string
	Locale        string
	Phone         string
	// Errors belong to the form that was submitted; field names are
	// unique across the page's forms.
	Errors   Errors
	Sessions []SessionItem
	// MaxSessions is the cap on the person's sessions (0: none); the
	// session list says that signing in past it signs out the oldest.
	MaxSessions int
	Apps        []AppItem
}

// SignedOutData is the page shown after signing out.
type SignedOutData struct {
	Page
	// Message replaces the default "You have signed out." when set.
	Message string
}

// Link is a link on a page.
type Link struct {
	Href string
	Text string
}

// ErrorData is the error page. Message is plain and safe to show; details
// belong in the log, correlated by RequestID.
type ErrorData struct {
	Page
	Title   string
	Message string
	// Args are Message's arguments (Title and Message are catalogue keys).
	Args []any
	// RequestID defaults to the request's id (telemetry.RequestID).
	RequestID string
	// Link, when set, is offered as the way on ("Back to sign in").
	Link *Link
}

// LogoutConfirmData is the RP-initiated logout confirmation: a form
// POSTing to /oauth2/logout with the Hidden fields (sorted by name) plus
// the CSRF field, and a "Sign out" button.
type LogoutConfirmData struct {
	Page
	// ClientName is the application asking to sign out, if known.
	ClientName string
	// Hidden are the logout request's parameters to carry through the form.
	Hidden map[string]string
}

// langOK reports whether tag looks like a BCP 47 language tag: letters,
// digits and hyphens, starting with a 2–8 letter language.
func langOK(tag string) bool {
	if len(tag) < 2 || len(tag) > 35 {
		return false
	}
	parts := strings.Split(tag, "-")
	if len(parts[0]) > 8 {
		return false
	}
	for i, p := range parts {
		if p == "" || len(p) > 8 {
			return false
		}
		for _, c := range p {
			isLetter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			isDigit := c >= '0' && c <= '9'
			if !isLetter && (i == 0 || !isDigit) {
				return false
			}
		}
	}
	return true
}

// Lang returns the first well-formed tag of a space-separated preference
// list (OpenID Connect ui_locales), or "".
func Lang(prefs string) string {
	for _, t := range strings.Fields(prefs) {
		if langOK(t) {
			return t
		}
	}
	return ""
}
