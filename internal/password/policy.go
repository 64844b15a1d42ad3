package password

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Violation codes: stable identifiers for pages and APIs.
const (
	TooShort       = "too_short"
	TooLong        = "too_long"
	MissingClasses = "missing_classes"
	Common         = "common"
	ContainsEmail  = "contains_email"
)

// Violation is one way a password breaks the policy.
type Violation struct {
	// Code is one of the constants above.
	Code string `json:"code"`
	// Message is a sentence for people, to show as is, e.g. "must be at
	// least 12 characters long (it has 8)".
	Message string `json:"message"`
	// Format and Args are Message before formatting: Format is the
	// catalogue key the hosted pages translate (internal/i18n).
	Format string `json:"-"`
	Args   []any  `json:"-"`
}

func (v Violation) String() string { return v.Message }

// violation formats a Violation.
func violation(code, format string, args ...any) Violation {
	return Violation{Code: code, Message: fmt.Sprintf(format, args...), Format: format, Args: args}
}

// Check returns every way pw breaks the policy, nil if it breaks none.
// email is the account's address (may be empty): a password containing
// its local part (3 characters or more) is refused. Lengths count
// characters (code points) of the NFKC-normalised password.
func (c Config) Check(pw, email string) []Violation {
	var vs []Violation
	pw = normalize(pw)
	n := utf8.RuneCountInString(pw)
	if n < c.MinLength {
		vs = append(vs, violation(TooShort, "must be at least %d characters long (it has %d)", c.MinLength, n))
	}
	if n > c.MaxLength || len(pw) > MaxInputBytes {
		vs = append(vs, violation(TooLong, "must be at most %d characters long (it has %d)", c.MaxLength, n))
		return vs // the other checks would only spend time on it
	}
	if c.RequireClasses > 0 {
		if got := classes(pw); got < c.RequireClasses {
			vs = append(vs, violation(MissingClasses,
				"must use at least %d of these: lowercase letters, uppercase letters, digits, symbols (it uses %d)", c.RequireClasses, got))
		}
	}
	if c.RejectCommon && IsCommon(pw) {
		vs = append(vs, violation(Common, "is too common: it is on the lists of passwords attackers try first"))
	}
	if part, ok := containsLocalPart(pw, email); ok {
		vs = append(vs, violation(ContainsEmail, "must not contain your email address's name (%q)", part))
	}
	return vs
}

// classes counts the character classes pw uses: lowercase, uppercase,
// digits, symbols. Letters without case (most scripts beyond Latin, Greek
// and Cyrillic) count as lowercase, spaces and everything else as symbols.
func classes(pw string) int {
	var lower, upper, digit, symbol bool
	for _, r := range pw {
		switch {
		case unicode.IsUpper(r) || unicode.IsTitle(r):
			upper = true
		case unicode.IsLetter(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		default:
			symbol = true
		}
	}
	n := 0
	for _, b := range []bool{lower, upper, digit, symbol} {
		if b {
			n++
		}
	}
	return n
}

// containsLocalPart reports whether pw contains the local part of email
// (case-insensitively), or its part before a "+tag", when that is 3
// characters or longer.
func containsLocalPart(pw, email string) (string, bool) {
	local, _, ok := strings.Cut(strings.TrimSpace(email), "@")
	if !ok {
		return "", false
	}
	lpw := strings.ToLower(pw)
	local = strings.ToLower(normalize(local))
	candidates := []string{local}
	if base, _, tagged := strings.Cut(local, "+"); tagged {
		candidates = append(candidates, base)
	}
	for _, c := range candidates {
		if utf8.RuneCountInString(c) >= 3 && strings.Contains(lpw, c) {
			return c, true
		}
	}
	return "", false
}
