package secrets

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func testKeyring(t *testing.T, previous ...[]byte) *Keyring {
	t.Helper()
	key, err := ParseMasterKey(GenerateMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	kr, err := NewKeyring(key, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestParseMasterKey(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"generated", GenerateMasterKey(), true},
		{"not base64", "!!!", false},
		{"too short", "c2hvcnQ=", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMasterKey(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseMasterKey(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	kr := testKeyring(t)
	sealed, err := kr.Seal("signing-key", []byte("private"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("private")) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := kr.Open("signing-key", sealed)
	if err != nil || string(got) != "private" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := kr.Open("other-purpose", sealed); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Open with another purpose: err = %v, want ErrMalformed", err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := kr.Open("signing-key", tampered); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Open tampered: err = %v, want ErrMalformed", err)
	}
	if _, err := kr.Open("signing-key", sealed[:10]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Open truncated: err = %v, want ErrMalformed", err)
	}
	if _, err := testKeyring(t).Open("signing-key", sealed); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Open under another master key: err = %v, want ErrUnknownKey", err)
	}
}

func TestMasterKeyRotation(t *testing.T) {
	old := testKeyring(t)
	sealed, _ := old.Seal("p", []byte("x"))
	hash, _ := ClientSecretHasher{old}.Hash(context.Background(), []byte("s3cret"))

	rotated := testKeyring(t, old.current.key)
	if got, err := rotated.Open("p", sealed); err != nil || string(got) != "x" {
		t.Fatalf("Open after rotation = %q, %v", got, err)
	}
	if err := (ClientSecretHasher{rotated}).Compare(context.Background(), hash, []byte("s3cret")); err != nil {
		t.Fatalf("Compare after rotation: %v", err)
	}
	if resealed, _ := rotated.Seal("p", []byte("x")); bytes.Equal(resealed[:4], sealed[:4]) {
		t.Fatal("rotated keyring still seals with the old key")
	}
}

func TestClientSecretHasher(t *testing.T) {
	h := ClientSecretHasher{testKeyring(t)}
	ctx := context.Background()
	hash, err := h.Hash(ctx, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		hash   []byte
		secret string
		want   error
	}{
		{"match", hash, "correct horse", nil},
		{"wrong secret", hash, "correct horsE", ErrMismatch},
		{"empty secret", hash, "", ErrMismatch},
		{"bcrypt hash", []byte("$2a$10$abc"), "x", ErrMalformed},
		{"no mac", []byte("hmac-sha256$abcd"), "x", ErrMalformed},
		{"bad base64", []byte("hmac-sha256$abcd$***"), "x", ErrMalformed},
		{"unknown key", []byte("hmac-sha256$00000000$AAAA"), "x", ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := h.Compare(ctx, tc.hash, []byte(tc.secret)); !errors.Is(err, tc.want) {
				t.Fatalf("Compare(%q, %q) = %v, want %v", tc.hash, tc.secret, err, tc.want)
			}
		})
	}
}

func FuzzClientSecretCompare(f *testing.F) {
	kr, _ := NewKeyring(bytes.Repeat([]byte{7}, MasterKeySize))
	h := ClientSecretHasher{kr}
	good, _ := h.Hash(context.Background(), []byte("secret"))
	f.Add(good, []byte("secret"))
	f.Add([]byte("hmac-sha256$$"), []byte(""))
	f.Add([]byte("$$$$"), []byte("x"))
	f.Fuzz(func(t *testing.T, hash, secret []byte) {
		err := h.Compare(context.Background(), hash, secret)
		if err == nil && !(bytes.Equal(hash, good) && string(secret) == "secret") {
			// Only a real hash of the secret may match.
			want, _ := h.Hash(context.Background(), secret)
			if !bytes.Equal(want, hash) {
				t.Fatalf("Compare(%q, %q) matched", hash, secret)
			}
		}
	})
}
