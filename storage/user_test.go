package storage

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"ada@example.com", "ada@example.com", false},
		{"  Ada.Lovelace@Example.COM\t\n", "ada.lovelace@example.com", false},
		{"ada+tag@example.com", "ada+tag@example.com", false},
		{"ZOË@example.com", "zoë@example.com", false},
		{"zoe\u0308@example.com", "zoë@example.com", false}, // NFC: e + combining diaeresis
		{"ÅSA@ÖRE.SE", "åsa@öre.se", false},
		{strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com", false},
		{"a@" + strings.Repeat("b", 252), "a@" + strings.Repeat("b", 252), false}, // 254 bytes
		{"", "", true},
		{"   ", "", true},
		{"ada", "", true},
		{"ada@", "", true},
		{"@example.com", "", true},
		{"ada@@example.com", "", true},
		{"a@b@example.com", "", true},
		{"ada lovelace@example.com", "", true},
		{"ada@exa mple.com", "", true},
		{"ada\x00@example.com", "", true},
		{"ada\u200b@example.com", "", true},  // zero-width space
		{"ada\u202e@example.com", "", true},  // right-to-left override
		{"ada\u00a0x@example.com", "", true}, // no-break space
		{"ada\xff@example.com", "", true},    // invalid UTF-8
		{strings.Repeat("a", 65) + "@example.com", "", true},
		{"a@" + strings.Repeat("b", 253), "", true}, // 255 bytes
	}
	for _, tc := range tests {
		got, err := NormalizeEmail(tc.in)
		if tc.wantErr {
			if err == nil || !errors.Is(err, ErrInvalidEmail) || got != "" {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want ErrInvalidEmail", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		// Normalising is idempotent.
		if again, err := NormalizeEmail(got); err != nil || again != got {
			t.Errorf("NormalizeEmail(NormalizeEmail(%q)) = %q, %v; want %q", tc.in, again, err, got)
		}
	}
	_, err := NormalizeEmail("a@b@c")
	if err == nil || err.Error() != "email address must contain exactly one @" {
		t.Errorf("NormalizeEmail(a@b@c) error = %v, want a readable reason", err)
	}
}
