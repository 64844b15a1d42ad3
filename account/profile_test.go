package account_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/authd/authd/account"
	"github.com/authd/authd/storage"
)

func ptr(s string) *string { return &s }

func TestUpdateProfile(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		u := e.createUser("ada@example.com")
		err := e.svc.UpdateProfile(e.ctx, u.ID, account.ProfileUpdate{
			Name: ptr("Augusta Ada King"), Locale: ptr("en-gb"), Phone: ptr("+44 (20) 7946-0958"), Picture: ptr("https://example.com/ada.png"),
		}, meta)
		if err != nil {
			t.Fatalf("UpdateProfile: %v", err)
		}
		got := e.user(u.ID)
		if got.Name != "Augusta Ada King" || got.Locale != "en-GB" || got.Phone != "+442079460958" || got.Picture != "https://example.com/ada.png" || got.PhoneVerified {
			t.Errorf("after UpdateProfile: %+v", got)
		}
		ev := e.lastEvent(u.ID)
		fields, _ := json.Marshal(ev.Details["fields"])
		if ev.Type != storage.AuditProfileUpdated || string(fields) != `["name","picture","locale","phone_number"]` {
			t.Errorf("audit event %s %s, want profile.updated naming the changed fields", ev.Type, fields)
		}
		evCopy := *ev
		evCopy.Hash = ""
		raw, _ := json.Marshal(evCopy)
		for _, secret := range []string{"Augusta", "7946", "ada.png"} {
			if strings.Contains(string(raw), secret) {
				t.Errorf("audit event %s holds the value %q: it must name fields only", raw, secret)
			}
		}

		// The same values again change nothing and audit nothing.
		n := len(e.events(u.ID))
		if err := e.svc.UpdateProfile(e.ctx, u.ID, account.ProfileUpdate{Name: ptr("Augusta Ada King"), Locale: ptr("en-GB")}, meta); err != nil {
			t.Fatal(err)
		}
		if len(e.events(u.ID)) != n {
			t.Errorf("an update changing nothing was audited: %q", e.events(u.ID))
		}
		// nil leaves a field, "" clears it.
		if err := e.svc.UpdateProfile(e.ctx, u.ID, account.ProfileUpdate{Picture: ptr("")}, meta); err != nil {
			t.Fatal(err)
		}
		if got := e.user(u.ID); got.Picture != "" || got.Name != "Augusta Ada King" || got.Phone != "+442079460958" {
			t.Errorf("after clearing the picture: %+v", got)
		}
		wantErrIs(t, "UpdateProfile(nobody)", e.svc.UpdateProfile(e.ctx, "nobody", account.ProfileUpdate{Name: ptr("x")}, meta), account.ErrNotFound)
	})
}

func TestUpdateProfileRefuses(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		u := e.createUser("ada@example.com")
		before := e.user(u.ID)
		tests := []struct {
			field string
			pu    account.ProfileUpdate
		}{
			{"name", account.ProfileUpdate{Name: ptr(strings.Repeat("n", 257))}},
			{"name", account.ProfileUpdate{Name: ptr("tab\there")}},
			{"picture", account.ProfileUpdate{Picture: ptr("javascript:alert(1)")}},
			{"picture", account.ProfileUpdate{Picture: ptr("/relative.png")}},
			{"picture", account.ProfileUpdate{Picture: ptr("https://user:pw@example.com/a.png")}},
			{"locale", account.ProfileUpdate{Locale: ptr("not a locale")}},
			{"phone", account.ProfileUpdate{Phone: ptr("555-1234")}},
			{"phone", account.ProfileUpdate{Phone: ptr("+1 555 CALL NOW")}},
			{"phone", account.ProfileUpdate{Phone: ptr("+0123456789")}},
			{"employee_id", account.ProfileUpdate{Name: ptr("ok"), EmployeeID: ptr("E\x00")}},
		}
		for _, tc := range tests {
			err := e.svc.UpdateProfile(e.ctx, u.ID, tc.pu, meta)
			var ie *account.InputError
			if !errors.As(err, &ie) || ie.Field != tc.field || ie.Message == "" {
				t.Errorf("UpdateProfile(%+v) = %v, want an *InputError on %s", tc.pu, err, tc.field)
			}
		}
		if after := e.user(u.ID); after.Name != before.Name || !slices.Equal(e.events(u.ID), []storage.AuditType{storage.AuditUserCreated}) {
			t.Errorf("refused updates changed %+v or were audited: %q", after, e.events(u.ID))
		}
	})
}

// TestUpdateProfileAtomic: a failing audit log keeps the old profile.
func TestUpdateProfileAtomic(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		u := e.createUser("ada@example.com")
		e.store.auditFail = errInjected
		wantErrIs(t, "UpdateProfile with the audit log down", e.svc.UpdateProfile(e.ctx, u.ID, account.ProfileUpdate{Name: ptr("Mallory")}, meta), errInjected)
		if got := e.user(u.ID); got.Name != "Ada" {
			t.Errorf("name after a failed update = %q, want Ada", got.Name)
		}
	})
}
