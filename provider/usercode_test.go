package provider

import (
	"strings"
	"testing"
)

func TestNormalizeUserCode(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"BCDF-GHJK", "BCDFGHJK", true},
		{"bcdf-ghjk", "BCDFGHJK", true},
		{"bcdfghjk", "BCDFGHJK", true},
		{" BcDf  gHjK ", "BCDFGHJK", true},
		{"B-C-D-F-G-H-J-K", "BCDFGHJK", true},
		{"bcdf\tghjk", "BCDFGHJK", true},
		{"BCDF-GHJ", "", false},                           // too short
		{"BCDF-GHJKL", "", false},                         // too long
		{"BCDF-GHJA", "", false},                          // a vowel
		{"BCDF-GHJ1", "", false},                          // a digit
		{"BCDF-GHJÄ", "", false},                          // not ASCII
		{"BCDF_GHJK", "", false},                          // not a dash
		{"", "", false},                                   // empty
		{"--------", "", false},                           // dashes only
		{strings.Repeat("-", 40) + "BCDFGHJK", "", false}, // over the input bound
		{"ＢＣＤＦＧＨＪＫ", "", false},                           // full-width letters
	} {
		got, ok := NormalizeUserCode(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("NormalizeUserCode(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestNewUserCode: generated codes normalise to themselves, show as
// XXXX-XXXX, and use every letter of the alphabet.
func TestNewUserCode(t *testing.T) {
	seen := map[rune]bool{}
	for range 500 {
		c := newUserCode()
		if got, ok := NormalizeUserCode(c); !ok || got != c {
			t.Fatalf("newUserCode() = %q does not normalise to itself (%q, %v)", c, got, ok)
		}
		if got, ok := NormalizeUserCode(FormatUserCode(c)); !ok || got != c || len(FormatUserCode(c)) != 9 {
			t.Fatalf("FormatUserCode(%q) = %q does not read back", c, FormatUserCode(c))
		}
		for _, r := range c {
			seen[r] = true
		}
	}
	if len(seen) != len(userCodeAlphabet) {
		t.Fatalf("500 codes used %d letters, want all %d", len(seen), len(userCodeAlphabet))
	}
}

// FuzzNormalizeUserCode: whatever is typed, an accepted code is 8 letters
// of the alphabet, normalising is idempotent, and formatting reads back.
func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "", "AAAA-AAAA", "ＢＣＤＦ", "b-c-d-f-g-h-j-k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizeUserCode(s)
		if !ok {
			if got != "" {
				t.Fatalf("refused %q but returned %q", s, got)
			}
			return
		}
		if len(got) != userCodeLength || strings.Trim(got, userCodeAlphabet) != "" {
			t.Fatalf("NormalizeUserCode(%q) = %q: not %d letters of the alphabet", s, got, userCodeLength)
		}
		if again, ok := NormalizeUserCode(FormatUserCode(got)); !ok || again != got {
			t.Fatalf("NormalizeUserCode(FormatUserCode(%q)) = %q, %v", got, again, ok)
		}
	})
}
