package secrets

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"strings"
)

// ErrMismatch is returned by ClientSecretHasher.Compare when the secret is wrong.
var ErrMismatch = errors.New("secrets: secret does not match")

// ClientSecretHasher hashes client secrets as HMAC-SHA256 under a key
// derived from the master key, in the form "hmac-sha256$<key id>$<mac>".
//
// Why not a slow password hash (bcrypt, PBKDF2, Argon2): client secrets that
// authd generates carry 256 bits of entropy, so a slow hash adds no
// protection against guessing, only CPU on every token request (Ory Hydra
// spends most of its token endpoint on PBKDF2). The HMAC key never touches
// the database, so a leaked table alone does not even allow guessing weak
// operator-chosen secrets offline. Compare is constant-time.
//
// It implements fosite.Hasher.
type ClientSecretHasher struct {
	Keyring *Keyring
}

const hasherScheme = "hmac-sha256"
const hasherPurpose = "client-secret"

// Hash returns the encoded hash of secret.
func (h ClientSecretHasher) Hash(_ context.Context, secret []byte) ([]byte, error) {
	mk := h.Keyring.current
	mac := h.Keyring.mac(mk, hasherPurpose, secret)
	return []byte(hasherScheme + "$" + mk.id + "$" + base64.RawURLEncoding.EncodeToString(mac)), nil
}

// Compare returns nil if secret matches hash, ErrMismatch if it does not,
// ErrUnknownKey or ErrMalformed if hash cannot be checked.
func (h ClientSecretHasher) Compare(_ context.Context, hash, secret []byte) error {
	scheme, rest, ok := strings.Cut(string(hash), "$")
	if !ok || scheme != hasherScheme {
		return ErrMalformed
	}
	id, enc, ok := strings.Cut(rest, "$")
	if !ok {
		return ErrMalformed
	}
	// Only the canonical encoding Hash writes: the decoder alone would also
	// take CR/LF anywhere and non-zero padding bits, so many strings would
	// match one secret.
	want, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || base64.RawURLEncoding.EncodeToString(want) != enc {
		return ErrMalformed
	}
	mk, ok := h.Keyring.byID[id]
	if !ok {
		return ErrUnknownKey
	}
	if !hmac.Equal(h.Keyring.mac(mk, hasherPurpose, secret), want) {
		return ErrMismatch
	}
	return nil
}
