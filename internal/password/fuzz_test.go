package password

import (
	"context"
	"errors"
	"testing"
)

// FuzzVerify feeds Verify arbitrary stored hashes and passwords. It must
// never panic, must refuse what it cannot read with ErrMalformedHash, must
// accept only the canonical form (what it parses, encode writes back
// byte for byte), and a hash it made must verify its own password.
// Seeds live in testdata/fuzz/FuzzVerify; hostile strings are added here.
func FuzzVerify(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, "password")
	}
	h := newHasher(f, testConfig())
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, encoded, pw string) {
		parsed, perr := parse(encoded)
		if perr == nil {
			if got := parsed.encode(); got != encoded {
				t.Fatalf("parse accepted %q but encodes it as %q: not canonical", encoded, got)
			}
		}
		// Keep each run cheap: verify only hashes that ask for little work.
		if perr != nil || (parsed.params.Memory <= 1024 && parsed.params.Time <= 2) {
			ok, rehash, err := h.Verify(ctx, encoded, pw)
			switch {
			case perr != nil && (!errors.Is(err, ErrMalformedHash) || ok || rehash):
				t.Fatalf("Verify(%q, %q) = %v, %v, %v; want false, false, ErrMalformedHash", encoded, pw, ok, rehash, err)
			case perr == nil && err != nil:
				t.Fatalf("Verify(%q, %q): parse accepted it but Verify failed: %v", encoded, pw, err)
			}
		}
		if len(pw) > MaxInputBytes {
			return
		}
		own, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatalf("Hash(%q): %v", pw, err)
		}
		if ok, rehash, err := h.Verify(ctx, own, pw); !ok || rehash || err != nil {
			t.Fatalf("Verify(Hash(%q)) = %v, %v, %v; want true, false, nil", pw, ok, rehash, err)
		}
	})
}
