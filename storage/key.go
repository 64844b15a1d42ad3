package storage

import (
	"log/slog"
	"time"
)

// SigningKey is one asymmetric key that signs tokens. The private key is
// sealed with a key derived from the master key before it reaches storage.
type SigningKey struct {
	// KID is the JWS key id, unique.
	KID string
	// Algorithm is the JWS alg: RS256, ES256 or EdDSA.
	Algorithm string
	// SealedPrivate is the PKCS#8 private key, sealed (see package secrets).
	SealedPrivate []byte
	CreatedAt     time.Time
	// RetiredAt is nil while the key is the active one. A retired key still
	// verifies (and is published in JWKS) until the tokens it signed expire.
	RetiredAt *time.Time
}

// Active reports whether k is not retired.
func (k *SigningKey) Active() bool { return k.RetiredAt == nil }

// LogValue implements slog.LogValuer: the key's id, algorithm and state,
// never the sealed private key.
func (k *SigningKey) LogValue() slog.Value {
	if k == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("kid", k.KID), slog.String("alg", k.Algorithm), slog.Bool("active", k.Active()))
}
