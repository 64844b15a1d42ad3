package provider

import (
	"crypto/rand"
	"strings"
)

// User codes (RFC 8628 §6.1): 8 letters from 20 consonants (no vowels, so
// no words; none of the letters people confuse with digits), about 34
// bits, which the verification page's rate limit and the code's short life
// keep out of reach of guessing. Shown as XXXX-XXXX; typed in any case,
// with or without the dash and spaces.
const (
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLength   = 8
)

// maxUserCodeInput bounds what NormalizeUserCode reads: the code and a
// generous allowance of dashes and spaces.
const maxUserCodeInput = 32

// newUserCode returns a random user code, normalised (no dash).
func newUserCode() string {
	const n = len(userCodeAlphabet)
	out := make([]byte, 0, userCodeLength)
	var buf [16]byte
	for len(out) < userCodeLength {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand)
		for _, b := range buf {
			// Rejection sampling: 240 is the largest multiple of 20 that
			// fits a byte, so every letter is equally likely.
			if int(b) < 256-256%n && len(out) < userCodeLength {
				out = append(out, userCodeAlphabet[int(b)%n])
			}
		}
	}
	return string(out)
}

// NormalizeUserCode returns the user code s stands for, as stored (8
// letters of the alphabet, upper case, no dash), ignoring case, dashes and
// white space; ok is false when s cannot be a user code.
func NormalizeUserCode(s string) (code string, ok bool) {
	if len(s) > maxUserCodeInput {
		return "", false
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\u00a0':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if r > 'Z' || !strings.ContainsRune(userCodeAlphabet, r) || b.Len() == userCodeLength {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != userCodeLength {
		return "", false
	}
	return b.String(), true
}

// FormatUserCode shows a normalised user code as people read it:
// XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != userCodeLength {
		return code
	}
	return code[:4] + "-" + code[4:]
}
