package account

import (
	"context"
	"net/url"
	"strings"
	"unicode"

	"golang.org/x/text/language"

	"github.com/authd/authd/storage"
)

// ProfileUpdate names the fields to change: nil leaves a field as it is,
// a pointer to "" clears it. The hosted account page sets Name, Picture,
// Locale and Phone; the enterprise fields are for operators.
type ProfileUpdate struct {
	Name, Picture, Locale, Phone         *string
	Organization, Department, EmployeeID *string
}

// UpdateProfile changes the fields pu names and audits profile.updated
// with the names of the fields that changed (never their values). A
// changed phone number is unverified again. Invalid values are an
// *InputError naming the field: names at most 256 characters without
// control characters; the picture an absolute http(s) URL; the locale a
// BCP 47 tag (stored canonical, "en-gb" -> "en-GB"); the phone number
// E.164 ("+15551234567"; spaces, dots, dashes and parentheses are
// dropped). ErrNotFound if there is no such user. Nothing changes (and
// nothing is audited) when every value is already as given.
func (s *Service) UpdateProfile(ctx context.Context, userID string, pu ProfileUpdate, m Meta) error {
	return s.updateProfile(ctx, userID, pu, "", m)
}

func (s *Service) updateProfile(ctx context.Context, userID string, pu ProfileUpdate, actor string, m Meta) error {
	vals, err := pu.validate()
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		u, err := s.store.GetUserForUpdate(ctx, userID)
		if err != nil {
			return err
		}
		changed := vals.apply(u)
		if len(changed) == 0 {
			return nil
		}
		if err := s.store.UpdateUser(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, storage.AuditProfileUpdated, u.ID, actor, m, map[string]any{"fields": changed})
	})
}

// apply sets the fields pu names (validated) on u and returns the names of
// those that changed. A changed phone number is unverified again.
func (pu ProfileUpdate) apply(u *storage.User) []string {
	fields := []struct {
		name string
		dst  *string
		val  *string
	}{
		{"name", &u.Name, pu.Name}, {"picture", &u.Picture, pu.Picture}, {"locale", &u.Locale, pu.Locale},
		{"phone_number", &u.Phone, pu.Phone}, {"organization", &u.Organization, pu.Organization},
		{"department", &u.Department, pu.Department}, {"employee_id", &u.EmployeeID, pu.EmployeeID},
	}
	var changed []string
	for _, f := range fields {
		if f.val != nil && *f.val != *f.dst {
			*f.dst = *f.val
			changed = append(changed, f.name)
			if f.dst == &u.Phone {
				u.PhoneVerified = false
			}
		}
	}
	return changed
}

// validate checks every field set and returns them normalised.
func (pu ProfileUpdate) validate() (ProfileUpdate, error) {
	out := pu
	for _, f := range []struct {
		field string
		v     *string
	}{{"name", pu.Name}, {"organization", pu.Organization}, {"department", pu.Department}, {"employee_id", pu.EmployeeID}} {
		if f.v != nil {
			if err := validText(f.field, *f.v); err != nil {
				return out, err
			}
		}
	}
	if pu.Picture != nil && *pu.Picture != "" {
		if msg := checkPicture(*pu.Picture); msg != "" {
			return out, &InputError{Field: "picture", Message: msg}
		}
	}
	if pu.Locale != nil && *pu.Locale != "" {
		tag, err := language.Parse(*pu.Locale)
		if err != nil || len(*pu.Locale) > 35 {
			return out, &InputError{Field: "locale", Message: "is not a language tag such as en or pt-BR", Err: err}
		}
		canon := tag.String()
		out.Locale = &canon
	}
	if pu.Phone != nil && *pu.Phone != "" {
		phone, ok := normalizePhone(*pu.Phone)
		if !ok {
			return out, &InputError{Field: "phone", Message: "is not a phone number in international form such as +15551234567"}
		}
		out.Phone = &phone
	}
	return out, nil
}

func checkPicture(v string) string {
	u, err := url.Parse(v)
	switch {
	case len(v) > 2048:
		return "must be at most 2048 characters long"
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil:
		return "is not a web address (https://...)"
	case checkText(v, 2048) != "":
		return "must not contain control characters"
	}
	return ""
}

// normalizePhone returns the E.164 form of s: "+", a country code not
// starting with 0, 7 to 15 digits in all.
func normalizePhone(s string) (string, bool) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", false
		}
	}
	p := b.String()
	if len(p) < 8 || len(p) > 16 || p[0] != '+' || p[1] == '0' {
		return "", false
	}
	return p, true
}

// isControl reports characters that have no place in a name: control
// characters and the bidirectional overrides and isolates used to make
// text display other than it reads.
func isControl(r rune) bool {
	return unicode.IsControl(r) || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') || r == '\u200e' || r == '\u200f'
}
