package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/apikey"
	"github.com/authd/authd/storage"
)

// SCIM 2.0 (RFC 7643 schema, RFC 7644 protocol) at /scim/v2/, for
// provisioning from Okta, Microsoft Entra ID and the like, with an API key
// (or client token) of scope scim. Users map onto accounts: userName and
// the work email are the account's address, name.formatted (or given and
// family name) its name, active its status (false disables it and ends
// its sessions), the enterprise extension its organization, department
// and employeeNumber. Attributes authd does not store are accepted and
// ignored, as provisioning clients send many. Everything goes through the
// account service, as the REST API does.

const (
	scimUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	scimList       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	scimPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	scimError      = "urn:ietf:params:scim:api:messages:2.0:Error"
	scimType       = "application/scim+json"
	// scimMaxFilter bounds a filter's length; scimMaxScan how many users a
	// filter no index serves may examine before the answer is tooMany.
	scimMaxFilter = 1024
	scimMaxScan   = 5000
	scimMaxCount  = 200
)

// scimErr is a SCIM error response (RFC 7644 §3.12).
type scimErr struct {
	status int
	kind   string // scimType: invalidFilter, tooMany, uniqueness, invalidSyntax, invalidValue, ...
	detail string
}

func (e *scimErr) Error() string { return e.detail }

func scimBad(kind, format string, args ...any) *scimErr {
	return &scimErr{status: http.StatusBadRequest, kind: kind, detail: fmt.Sprintf(format, args...)}
}

func writeSCIM(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", scimType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func (a *API) writeSCIMError(w http.ResponseWriter, r *http.Request, err error) {
	var se *scimErr
	var pe *problemError
	switch {
	case errors.As(err, &se):
	case errors.As(err, &pe):
		for k, vs := range pe.headers {
			w.Header()[k] = vs
		}
		se = &scimErr{status: pe.p.Status, detail: pe.p.Detail}
		if pe.p.Status == http.StatusConflict {
			se.kind = "uniqueness"
		}
		if pe.p.Status == http.StatusUnprocessableEntity {
			se.status, se.kind = http.StatusBadRequest, "invalidValue"
		}
	default:
		a.log.ErrorContext(r.Context(), "SCIM: request failed", "err", err)
		se = &scimErr{status: http.StatusInternalServerError, detail: "the server could not complete the request; the log has the cause"}
	}
	body := map[string]any{"schemas": []string{scimError}, "status": strconv.Itoa(se.status), "detail": se.detail}
	if se.kind != "" {
		body["scimType"] = se.kind
	}
	writeSCIM(w, se.status, body)
}

// scimRoutes registers /scim/v2/.
func (a *API) scimRoutes(mux *http.ServeMux) {
	h := func(fn func(ctx context.Context, c *call) (int, any, error)) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := a.authenticate(r, apikey.ScopeSCIM)
			if err == nil {
				err = a.limit(r.Context(), w, p)
			}
			if err != nil {
				a.writeSCIMError(w, r, err)
				return
			}
			status, out, err := fn(r.Context(), &call{r: r, w: w, principal: p})
			if err != nil {
				a.writeSCIMError(w, r, err)
				return
			}
			writeSCIM(w, status, out)
		})
	}
	mux.Handle("GET /scim/v2/ServiceProviderConfig", h(a.scimConfig))
	mux.Handle("GET /scim/v2/ResourceTypes", h(a.scimResourceTypes))
	mux.Handle("GET /scim/v2/Schemas", h(a.scimSchemas))
	mux.Handle("GET /scim/v2/Users", h(a.scimListUsers))
	mux.Handle("POST /scim/v2/Users", h(a.scimCreateUser))
	mux.Handle("GET /scim/v2/Users/{id}", h(a.scimGetUser))
	mux.Handle("PUT /scim/v2/Users/{id}", h(a.scimReplaceUser))
	mux.Handle("PATCH /scim/v2/Users/{id}", h(a.scimPatchUser))
	mux.Handle("DELETE /scim/v2/Users/{id}", h(a.scimDeleteUser))
	a.scimGroupRoutes(mux, h)
	mux.HandleFunc("/scim/v2/", func(w http.ResponseWriter, r *http.Request) {
		a.writeSCIMError(w, r, &scimErr{status: http.StatusNotFound, detail: "no such SCIM endpoint: " + r.Method + " " + r.URL.Path})
	})
}

func (a *API) scimLocation(c *call, id string) string {
	return "/scim/v2/Users/" + id
}

// scimUserOf is u as a SCIM User resource.
func (a *API) scimUserOf(c *call, u *storage.User) map[string]any {
	res := map[string]any{
		"schemas":     []string{scimUser, scimEnterprise},
		"id":          u.ID,
		"userName":    u.Email,
		"displayName": u.Name,
		"name":        map[string]any{"formatted": u.Name},
		"emails":      []any{map[string]any{"value": u.Email, "type": "work", "primary": true}},
		"active":      !u.Disabled,
		scimEnterprise: map[string]any{"organization": u.Organization, "department": u.Department,
			"employeeNumber": u.EmployeeID},
		"meta": map[string]any{"resourceType": "User", "created": u.CreatedAt.Format(time.RFC3339Nano),
			"lastModified": u.UpdatedAt.Format(time.RFC3339Nano), "location": a.scimLocation(c, u.ID),
			"version": "W/" + userETag(u)},
	}
	if u.Phone != "" {
		res["phoneNumbers"] = []any{map[string]any{"value": u.Phone, "type": "work"}}
	}
	if u.Locale != "" {
		res["locale"] = u.Locale
	}
	return res
}

func (a *API) scimRespondUser(c *call, u *storage.User, status int) (int, any, error) {
	c.w.Header().Set("ETag", "W/"+userETag(u))
	c.w.Header().Set("Location", a.scimLocation(c, u.ID))
	return status, a.scimUserOf(c, u), nil
}

func (a *API) scimGetUser(ctx context.Context, c *call) (int, any, error) {
	u, err := a.store.GetUser(ctx, c.r.PathValue("id"))
	if err != nil {
		return 0, nil, scimAccountError(err)
	}
	return a.scimRespondUser(c, u, http.StatusOK)
}

func scimAccountError(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return &scimErr{status: http.StatusNotFound, detail: "no such user"}
	}
	if errors.Is(err, account.ErrPrecondition) {
		return &scimErr{status: http.StatusPreconditionFailed, detail: "the user changed since it was read (If-Match)"}
	}
	return accountError(err, "user")
}

// scimIfMatch is the precondition of an If-Match header (weak or strong
// form of the user's ETag), or nil without one.
func scimIfMatch(r *http.Request) func(*storage.User) error {
	want := strings.TrimPrefix(r.Header.Get("If-Match"), "W/")
	if want == "" {
		return nil
	}
	return func(u *storage.User) error {
		if want != "*" && want != userETag(u) {
			return account.ErrPrecondition
		}
		return nil
	}
}

// readSCIM decodes a SCIM request body (application/scim+json or
// application/json), bounded like the REST API's.
func readSCIM(r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, scimType) && !strings.HasPrefix(ct, "application/json") {
		return &scimErr{status: http.StatusUnsupportedMediaType, detail: "the body must be " + scimType}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		return &scimErr{status: http.StatusRequestEntityTooLarge, detail: "the body is too large"}
	}
	if err := checkDepth(raw); err != nil {
		return scimBad("invalidSyntax", "%v", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return scimBad("invalidSyntax", "the body is not a SCIM resource: %v", err)
	}
	return nil
}

// scimUserIn is what authd reads of a User resource.
type scimUserIn struct {
	UserName    string    `json:"userName"`
	DisplayName string    `json:"displayName"`
	Password    string    `json:"password"`
	Locale      string    `json:"locale"`
	Active      *flexBool `json:"active"`
	Name        struct {
		Formatted  string `json:"formatted"`
		GivenName  string `json:"givenName"`
		FamilyName string `json:"familyName"`
	} `json:"name"`
	Emails []struct {
		Value   string    `json:"value"`
		Type    string    `json:"type"`
		Primary *flexBool `json:"primary"`
	} `json:"emails"`
	PhoneNumbers []struct {
		Value string `json:"value"`
	} `json:"phoneNumbers"`
	Enterprise struct {
		Organization   string `json:"organization"`
		Department     string `json:"department"`
		EmployeeNumber string `json:"employeeNumber"`
	} `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
}

// flexBool is a SCIM boolean; Entra ID sometimes sends "True"/"False".
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*f = flexBool(x)
	case string:
		bv, err := strconv.ParseBool(strings.ToLower(x))
		if err != nil {
			return fmt.Errorf("%q is not a boolean", x)
		}
		*f = flexBool(bv)
	default:
		return fmt.Errorf("%s is not a boolean", b)
	}
	return nil
}

// email is the account address: userName when it is one, else the
// primary (or work, or first) email.
func (in *scimUserIn) email() string {
	if strings.Contains(in.UserName, "@") {
		return in.UserName
	}
	best := ""
	for _, e := range in.Emails {
		if e.Primary != nil && bool(*e.Primary) {
			return e.Value
		}
		if best == "" || e.Type == "work" {
			best = e.Value
		}
	}
	return best
}

func (in *scimUserIn) name() string {
	switch {
	case in.Name.Formatted != "":
		return in.Name.Formatted
	case in.Name.GivenName != "" || in.Name.FamilyName != "":
		return strings.TrimSpace(in.Name.GivenName + " " + in.Name.FamilyName)
	}
	return in.DisplayName
}

func (in *scimUserIn) phone() string {
	if len(in.PhoneNumbers) > 0 {
		return in.PhoneNumbers[0].Value
	}
	return ""
}

func (a *API) scimCreateUser(ctx context.Context, c *call) (int, any, error) {
	var in scimUserIn
	if err := readSCIM(c.r, &in); err != nil {
		return 0, nil, err
	}
	if in.email() == "" {
		return 0, nil, scimBad("invalidValue", "userName (or an email) must be the user's email address")
	}
	u, err := a.accounts.CreateUser(ctx, account.NewUser{Email: in.email(), Password: in.Password, Verified: true,
		Name: in.name(), Organization: in.Enterprise.Organization, Department: in.Enterprise.Department,
		EmployeeID: in.Enterprise.EmployeeNumber, Phone: in.phone()}, actor(c), meta(c))
	if err != nil {
		return 0, nil, scimAccountError(err)
	}
	if in.Active != nil && !bool(*in.Active) {
		disabled := true
		if u, err = a.accounts.AdminUpdateUser(ctx, u.ID, account.AdminUpdate{Disabled: &disabled}, actor(c), meta(c)); err != nil {
			return 0, nil, scimAccountError(err)
		}
	}
	return a.scimRespondUser(c, u, http.StatusCreated)
}

// scimReplaceUser is PUT: every attribute authd maps is set to what the
// resource says (absent ones are cleared).
func (a *API) scimReplaceUser(ctx context.Context, c *call) (int, any, error) {
	var in scimUserIn
	if err := readSCIM(c.r, &in); err != nil {
		return 0, nil, err
	}
	email, name, phone, locale := in.email(), in.name(), in.phone(), in.Locale
	org, dept, emp := in.Enterprise.Organization, in.Enterprise.Department, in.Enterprise.EmployeeNumber
	upd := account.AdminUpdate{ProfileUpdate: account.ProfileUpdate{Name: &name, Phone: &phone, Locale: &locale,
		Organization: &org, Department: &dept, EmployeeID: &emp}, IfMatch: scimIfMatch(c.r)}
	if email != "" {
		upd.Email = &email
	}
	if in.Active != nil {
		d := !bool(*in.Active)
		upd.Disabled = &d
	}
	u, err := a.accounts.AdminUpdateUser(ctx, c.r.PathValue("id"), upd, actor(c), meta(c))
	if err != nil {
		return 0, nil, scimAccountError(err)
	}
	return a.scimRespondUser(c, u, http.StatusOK)
}

func (a *API) scimDeleteUser(ctx context.Context, c *call) (int, any, error) {
	if err := a.accounts.DeleteUser(ctx, c.r.PathValue("id"), actor(c), meta(c)); err != nil {
		return 0, nil, scimAccountError(err)
	}
	return http.StatusNoContent, nil, nil
}
