package admin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/storage"
)

// User is an account as the API shows it: never its password hash.
type User struct {
	ID            string `json:"id" jsonschema:"required"`
	Email         string `json:"email" jsonschema:"required,format=email"`
	EmailVerified bool   `json:"email_verified" jsonschema:"required"`
	Name          string `json:"name"`
	Picture       string `json:"picture,omitempty"`
	Locale        string `json:"locale,omitempty"`
	PhoneNumber   string `json:"phone_number,omitempty"`
	PhoneVerified bool   `json:"phone_number_verified"`
	Organization  string `json:"organization"`
	Department    string `json:"department"`
	EmployeeID    string `json:"employee_id"`
	// HasPassword says whether the account has a password.
	HasPassword bool `json:"has_password" jsonschema:"required"`
	// Status is active or disabled.
	Status            string     `json:"status" jsonschema:"required,enum=active,enum=disabled"`
	PasswordChangedAt *time.Time `json:"password_changed_at,omitempty"`
	CreatedAt         time.Time  `json:"created_at" jsonschema:"required"`
	UpdatedAt         time.Time  `json:"updated_at" jsonschema:"required"`
}

func toUser(u *storage.User) User {
	out := User{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Picture: u.Picture, Locale: u.Locale,
		PhoneNumber: u.Phone, PhoneVerified: u.PhoneVerified, Organization: u.Organization, Department: u.Department,
		EmployeeID: u.EmployeeID, HasPassword: u.PasswordHash != "", Status: "active", CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
	if u.Disabled {
		out.Status = "disabled"
	}
	if u.PasswordHash != "" && !u.PasswordChangedAt.IsZero() {
		t := u.PasswordChangedAt
		out.PasswordChangedAt = &t
	}
	return out
}

// userETag is the version of a user: it changes with every update.
func userETag(u *storage.User) string { return versionTag(toUser(u)) }

// versionTag is a strong ETag of a representation: the hash of its JSON.
// It changes whenever anything the API shows changes, even twice within
// the millisecond the stored update time has.
func versionTag(representation any) string {
	raw, err := json.Marshal(representation)
	if err != nil {
		panic("admin: an API type does not marshal: " + err.Error())
	}
	sum := sha256.Sum256(raw)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
}

// NewUser is a user to create. Without a password the account has none
// until the person sets one through "Forgot password".
type NewUser struct {
	Email         string `json:"email" jsonschema:"required,maxLength=254"`
	Password      string `json:"password,omitempty" jsonschema:"maxLength=1024,writeOnly=true"`
	EmailVerified bool   `json:"email_verified,omitempty"`
	Name          string `json:"name,omitempty" jsonschema:"maxLength=256"`
	PhoneNumber   string `json:"phone_number,omitempty" jsonschema:"maxLength=64"`
	Organization  string `json:"organization,omitempty" jsonschema:"maxLength=256"`
	Department    string `json:"department,omitempty" jsonschema:"maxLength=256"`
	EmployeeID    string `json:"employee_id,omitempty" jsonschema:"maxLength=256"`
}

// UserPatch is a JSON merge patch (RFC 7396) of a user: members absent
// stay as they are, null clears a text field. id, password and the
// timestamps cannot be patched.
type UserPatch struct {
	Email         *string    `json:"email,omitempty" jsonschema:"maxLength=254"`
	EmailVerified *bool      `json:"email_verified,omitempty"`
	Name          nullString `json:"name,omitzero"`
	Picture       nullString `json:"picture,omitzero"`
	Locale        nullString `json:"locale,omitzero"`
	PhoneNumber   nullString `json:"phone_number,omitzero"`
	Organization  nullString `json:"organization,omitzero"`
	Department    nullString `json:"department,omitzero"`
	EmployeeID    nullString `json:"employee_id,omitzero"`
	// Status active enables the account, disabled disables it (its
	// sessions end and its tokens are revoked).
	Status *string `json:"status,omitempty" jsonschema:"enum=active,enum=disabled"`
}

// nullString is a merge-patch text member: set when present, "" for null.
type nullString struct {
	Set   bool
	Value string
}

func (n *nullString) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Value = ""
		return nil
	}
	return json.Unmarshal(b, &n.Value)
}

func (n nullString) MarshalJSON() ([]byte, error) { return json.Marshal(n.Value) }

func (n nullString) ptr() *string {
	if !n.Set {
		return nil
	}
	return &n.Value
}

// NewPassword sets a password for an operator.
type NewPassword struct {
	Password string `json:"password" jsonschema:"required,maxLength=1024,writeOnly=true"`
	// KeepSessions leaves the user's sessions and tokens alone.
	KeepSessions bool `json:"keep_sessions,omitempty"`
}

// Session is a browser session of a user.
type Session struct {
	ID         string    `json:"id" jsonschema:"required"`
	AuthTime   time.Time `json:"auth_time" jsonschema:"required"`
	AMR        []string  `json:"amr,omitempty"`
	ACR        string    `json:"acr,omitempty"`
	IP         string    `json:"ip,omitempty"`
	UserAgent  string    `json:"user_agent,omitempty"`
	CreatedAt  time.Time `json:"created_at" jsonschema:"required"`
	LastSeenAt time.Time `json:"last_seen_at" jsonschema:"required"`
	ExpiresAt  time.Time `json:"expires_at" jsonschema:"required"`
}

type byID struct {
	ID string `path:"id" doc:"The user's id."`
}

type listUsersIn struct {
	Email        string `query:"email" doc:"Only the user with this address (compared normalised)."`
	Organization string `query:"organization" doc:"Only the users of this organization."`
	Status       string `query:"status" enum:"active,disabled" doc:"Only active or only disabled users."`
	Limit        int    `query:"limit" minimum:"1" maximum:"200" doc:"Page size (default 50)."`
	Cursor       string `query:"cursor" doc:"next_cursor of the previous page."`
}

type createUserIn struct{ Body NewUser }

type patchUserIn struct {
	ID      string `path:"id"`
	IfMatch string `header:"If-Match" doc:"The ETag of the user as last read: the update happens only if it is still current."`
	Body    UserPatch
}

type setPasswordIn struct {
	ID   string `path:"id"`
	Body NewPassword
}

type sessionIn struct {
	ID  string `path:"id"`
	SID string `path:"sid" doc:"The session's id."`
}

type userAuditIn struct {
	ID     string `path:"id"`
	Limit  int    `query:"limit" minimum:"1" maximum:"200"`
	Cursor string `query:"cursor"`
}

func (a *API) userRoutes() {
	errs := []int{http.StatusNotFound}
	register(a, op{Method: "POST", Path: "/api/v1/users", ID: "createUser", Tag: "users", Scope: "users:write",
		Summary: "Create a user", Status: http.StatusCreated, ETag: true, Errors: []int{http.StatusConflict}}, a.createUser)
	register(a, op{Method: "GET", Path: "/api/v1/users", ID: "listUsers", Tag: "users", Scope: "users:read",
		Summary: "List users", Description: "In creation order; filters combine."}, a.listUsers)
	register(a, op{Method: "GET", Path: "/api/v1/users/{id}", ID: "getUser", Tag: "users", Scope: "users:read",
		Summary: "Get a user", ETag: true, Errors: errs}, a.getUser)
	register(a, op{Method: "PATCH", Path: "/api/v1/users/{id}", ID: "updateUser", Tag: "users", Scope: "users:write",
		Summary: "Update a user (JSON merge patch)", ContentType: "application/merge-patch+json", ETag: true,
		Errors: []int{http.StatusNotFound, http.StatusConflict}}, a.patchUser)
	register(a, op{Method: "DELETE", Path: "/api/v1/users/{id}", ID: "deleteUser", Tag: "users", Scope: "users:write",
		Summary: "Delete a user", Description: "Its sessions end and its tokens are revoked; audit events about it stay.",
		Errors: errs}, a.deleteUser)
	register(a, op{Method: "POST", Path: "/api/v1/users/{id}/disable", ID: "disableUser", Tag: "users", Scope: "users:write",
		Summary: "Disable a user", Description: "It can no longer sign in; its sessions end and its tokens are revoked.",
		ETag: true, Errors: errs}, a.toggleUser(true))
	register(a, op{Method: "POST", Path: "/api/v1/users/{id}/enable", ID: "enableUser", Tag: "users", Scope: "users:write",
		Summary: "Enable a user", ETag: true, Errors: errs}, a.toggleUser(false))
	register(a, op{Method: "PUT", Path: "/api/v1/users/{id}/password", ID: "setUserPassword", Tag: "users", Scope: "users:write",
		Summary: "Set a user's password", Description: "The password policy applies. Unless keep_sessions, the user's sessions end.",
		Errors: errs}, a.setPassword)
	register(a, op{Method: "GET", Path: "/api/v1/users/{id}/sessions", ID: "listUserSessions", Tag: "sessions", Scope: "sessions:read",
		Summary: "List a user's sessions", Errors: errs}, a.listSessions)
	register(a, op{Method: "DELETE", Path: "/api/v1/users/{id}/sessions", ID: "endUserSessions", Tag: "sessions", Scope: "sessions:write",
		Summary: "End all of a user's sessions", Errors: errs}, a.endSessions)
	register(a, op{Method: "DELETE", Path: "/api/v1/users/{id}/sessions/{sid}", ID: "endUserSession", Tag: "sessions", Scope: "sessions:write",
		Summary: "End one session", Errors: errs}, a.endSession)
	register(a, op{Method: "GET", Path: "/api/v1/users/{id}/audit-events", ID: "listUserAuditEvents", Tag: "audit", Scope: "audit:read",
		Summary: "List the audit events about a user", Description: "Newest first.", Errors: errs}, a.userAudit)
}

// accountError maps the account service's errors to problems.
func accountError(err error, what string) error {
	var ie *account.InputError
	var pe *account.PolicyError
	switch {
	case errors.As(err, &ie):
		field := ie.Field
		if field == "phone" {
			field = "phone_number"
		}
		return invalid(FieldError{"/" + field, ie.Message})
	case errors.As(err, &pe):
		var fes []FieldError
		for _, m := range pe.Messages() {
			fes = append(fes, FieldError{"/password", m})
		}
		return invalid(fes...)
	case errors.Is(err, account.ErrEmailTaken):
		return conflict("another account has this email address")
	case errors.Is(err, account.ErrPrecondition):
		return problem(http.StatusPreconditionFailed, "precondition-failed", "the user changed since it was read: read it again")
	case errors.Is(err, storage.ErrNotFound):
		return notFound(what)
	}
	return err
}

func (a *API) createUser(ctx context.Context, c *call, in *createUserIn) (User, error) {
	b := in.Body
	u, err := a.accounts.CreateUser(ctx, account.NewUser{Email: b.Email, Password: b.Password, Verified: b.EmailVerified,
		Name: b.Name, Organization: b.Organization, Department: b.Department, EmployeeID: b.EmployeeID, Phone: b.PhoneNumber},
		actor(c), meta(c))
	if err != nil {
		return User{}, accountError(err, "user")
	}
	c.setETag(userETag(u))
	c.w.Header().Set("Location", "/api/v1/users/"+u.ID)
	return toUser(u), nil
}

func (a *API) listUsers(ctx context.Context, c *call, in *listUsersIn) (Page[User], error) {
	if in.Email != "" {
		// An address names at most one user: a one-item page.
		out := Page[User]{Items: []User{}}
		u, err := a.store.GetUserByEmail(ctx, in.Email)
		if errors.Is(err, storage.ErrNotFound) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if (in.Organization == "" || u.Organization == in.Organization) && (in.Status == "" || (in.Status == "disabled") == u.Disabled) {
			out.Items = append(out.Items, toUser(u))
		}
		return out, nil
	}
	limit := cmp(in.Limit, defaultLimit)
	list := "users\x00" + in.Organization + "\x00" + in.Status
	after, err := a.cursors.decode(list, in.Cursor)
	if err != nil {
		return Page[User]{}, err
	}
	f := storage.UserFilter{Organization: in.Organization, After: after, Limit: limit + 1}
	if in.Status != "" {
		d := in.Status == "disabled"
		f.Disabled = &d
	}
	rows, err := a.store.SearchUsers(ctx, f)
	if err != nil {
		return Page[User]{}, err
	}
	return page(a.cursors, list, rows, limit, func(u *storage.User) string { return u.ID }, toUser), nil
}

// cmp is v, or def when v is zero.
func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func (a *API) getUser(ctx context.Context, c *call, in *byID) (User, error) {
	u, err := a.store.GetUser(ctx, in.ID)
	if err != nil {
		return User{}, accountError(err, "user")
	}
	c.setETag(userETag(u))
	return toUser(u), nil
}

func (a *API) patchUser(ctx context.Context, c *call, in *patchUserIn) (User, error) {
	b := in.Body
	upd := account.AdminUpdate{
		ProfileUpdate: account.ProfileUpdate{Name: b.Name.ptr(), Picture: b.Picture.ptr(), Locale: b.Locale.ptr(),
			Phone: b.PhoneNumber.ptr(), Organization: b.Organization.ptr(), Department: b.Department.ptr(),
			EmployeeID: b.EmployeeID.ptr()},
		Email: b.Email, EmailVerified: b.EmailVerified,
	}
	if b.Status != nil {
		d := *b.Status == "disabled"
		upd.Disabled = &d
	}
	if want := in.IfMatch; want != "" {
		upd.IfMatch = func(u *storage.User) error {
			if want != "*" && want != userETag(u) {
				return account.ErrPrecondition
			}
			return nil
		}
	}
	u, err := a.accounts.AdminUpdateUser(ctx, in.ID, upd, actor(c), meta(c))
	if err != nil {
		return User{}, accountError(err, "user")
	}
	c.setETag(userETag(u))
	return toUser(u), nil
}

func (a *API) deleteUser(ctx context.Context, c *call, in *byID) (NoContent, error) {
	return NoContent{}, accountError(a.accounts.DeleteUser(ctx, in.ID, actor(c), meta(c)), "user")
}

func (a *API) toggleUser(disable bool) func(ctx context.Context, c *call, in *byID) (User, error) {
	return func(ctx context.Context, c *call, in *byID) (User, error) {
		u, err := a.accounts.AdminUpdateUser(ctx, in.ID, account.AdminUpdate{Disabled: &disable}, actor(c), meta(c))
		if err != nil {
			return User{}, accountError(err, "user")
		}
		c.setETag(userETag(u))
		return toUser(u), nil
	}
}

func (a *API) setPassword(ctx context.Context, c *call, in *setPasswordIn) (NoContent, error) {
	err := a.accounts.SetPassword(ctx, in.ID, in.Body.Password, in.Body.KeepSessions, actor(c), meta(c))
	return NoContent{}, accountError(err, "user")
}

func (a *API) listSessions(ctx context.Context, _ *call, in *byID) (Page[Session], error) {
	if _, err := a.store.GetUser(ctx, in.ID); err != nil {
		return Page[Session]{}, accountError(err, "user")
	}
	ss, err := a.sessions.List(ctx, in.ID)
	if err != nil {
		return Page[Session]{}, err
	}
	out := Page[Session]{Items: make([]Session, 0, len(ss))}
	for _, s := range ss {
		out.Items = append(out.Items, Session{ID: s.ID, AuthTime: s.AuthTime, AMR: s.AMR, ACR: s.ACR, IP: s.IP,
			UserAgent: s.UserAgent, CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt})
	}
	return out, nil
}

func (a *API) endSessions(ctx context.Context, c *call, in *byID) (NoContent, error) {
	return NoContent{}, accountError(a.accounts.EndSessions(ctx, in.ID, "", actor(c), meta(c)), "user")
}

func (a *API) endSession(ctx context.Context, c *call, in *sessionIn) (NoContent, error) {
	return NoContent{}, accountError(a.accounts.EndSessions(ctx, in.ID, in.SID, actor(c), meta(c)), "session")
}

func (a *API) userAudit(ctx context.Context, _ *call, in *userAuditIn) (Page[AuditEvent], error) {
	if _, err := a.store.GetUser(ctx, in.ID); err != nil {
		return Page[AuditEvent]{}, accountError(err, "user")
	}
	return a.auditPage(ctx, storage.AuditFilter{SubjectID: in.ID}, in.Limit, in.Cursor)
}

// clientAddr is the caller's address as the telemetry middleware saw it.
func clientAddr(r *http.Request) string { return telemetry.ClientIP(r) }
