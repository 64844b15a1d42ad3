// Package secrets turns the deployment's master key into purpose-bound keys:
// it seals data at rest with AES-256-GCM and hashes client secrets.
//
// Every derived key is HKDF-SHA256(master, info=purpose). Sealed values and
// secret hashes carry the id of the master key they were made with, so a
// deployment can rotate its master key: the new key seals, the previous keys
// listed in config still open what they sealed.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
)

// MasterKeySize is the size of a master key in bytes.
const MasterKeySize = 32

// ErrUnknownKey means a value was made with a master key that is not
// configured (neither the current nor a previous one).
var ErrUnknownKey = errors.New("secrets: sealed with an unknown master key")

// ErrMalformed means a sealed value or hash is damaged or not ours.
var ErrMalformed = errors.New("secrets: malformed sealed value")

// Keyring holds the current master key and the previous ones.
type Keyring struct {
	current *masterKey
	byID    map[string]*masterKey
}

type masterKey struct {
	id      string // hex of the first 4 bytes of SHA-256(key)
	key     []byte
	derived sync.Map // purpose -> []byte, memoised derive results
}

// ParseMasterKey decodes a standard base64 master key and checks its size.
func ParseMasterKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not standard base64: %w", err)
	}
	if len(b) != MasterKeySize {
		return nil, fmt.Errorf("decodes to %d bytes, want %d", len(b), MasterKeySize)
	}
	return b, nil
}

// GenerateMasterKey returns a new random master key, base64 encoded.
func GenerateMasterKey() string {
	return base64.StdEncoding.EncodeToString(randomBytes(MasterKeySize))
}

// NewKeyring builds a keyring from the current key and any previous keys.
func NewKeyring(current []byte, previous ...[]byte) (*Keyring, error) {
	if len(current) != MasterKeySize {
		return nil, fmt.Errorf("secrets: master key is %d bytes, want %d", len(current), MasterKeySize)
	}
	kr := &Keyring{byID: map[string]*masterKey{}}
	for i, k := range append([][]byte{current}, previous...) {
		if len(k) != MasterKeySize {
			return nil, fmt.Errorf("secrets: previous master key %d is %d bytes, want %d", i, len(k), MasterKeySize)
		}
		sum := sha256.Sum256(k)
		mk := &masterKey{id: hex.EncodeToString(sum[:4]), key: k}
		if i == 0 {
			kr.current = mk
		}
		if _, dup := kr.byID[mk.id]; !dup {
			kr.byID[mk.id] = mk
		}
	}
	return kr, nil
}

// derive returns the 32-byte key for purpose under mk.
func (mk *masterKey) derive(purpose string) []byte {
	if k, ok := mk.derived.Load(purpose); ok {
		return k.([]byte)
	}
	k, err := hkdf.Key(sha256.New, mk.key, nil, "authd/"+purpose, 32)
	if err != nil { // only for impossible lengths
		panic(err)
	}
	mk.derived.Store(purpose, k)
	return k
}

// Seal encrypts plaintext for purpose with AES-256-GCM. The purpose is bound
// as additional data, so a value sealed for one purpose never opens as
// another. Output: keyID(4) || nonce(12) || ciphertext+tag.
func (kr *Keyring) Seal(purpose string, plaintext []byte) ([]byte, error) {
	aead, err := newAEAD(kr.current.derive("seal/" + purpose))
	if err != nil {
		return nil, err
	}
	id, _ := hex.DecodeString(kr.current.id)
	out := make([]byte, 0, len(id)+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out = append(out, id...)
	nonce := randomBytes(aead.NonceSize())
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plaintext, []byte(purpose)), nil
}

// Open decrypts a value made by Seal for the same purpose.
func (kr *Keyring) Open(purpose string, sealed []byte) ([]byte, error) {
	if len(sealed) < 4+12+16 {
		return nil, ErrMalformed
	}
	mk, ok := kr.byID[hex.EncodeToString(sealed[:4])]
	if !ok {
		return nil, ErrUnknownKey
	}
	aead, err := newAEAD(mk.derive("seal/" + purpose))
	if err != nil {
		return nil, err
	}
	nonce := sealed[4 : 4+aead.NonceSize()]
	pt, err := aead.Open(nil, nonce, sealed[4+aead.NonceSize():], []byte(purpose))
	if err != nil {
		return nil, ErrMalformed
	}
	return pt, nil
}

// CurrentKeyID returns the id of the master key that seals.
func (kr *Keyring) CurrentKeyID() string { return kr.current.id }

// MAC returns HMAC-SHA256 of data under the key for purpose derived from the
// current master key.
func (kr *Keyring) MAC(purpose string, data []byte) []byte {
	return kr.mac(kr.current, purpose, data)
}

// MACWith is MAC under the master key whose id is keyID (the current one
// or a previous one); false when no configured key has that id.
func (kr *Keyring) MACWith(keyID, purpose string, data []byte) ([]byte, bool) {
	mk, ok := kr.byID[keyID]
	if !ok {
		return nil, false
	}
	return kr.mac(mk, purpose, data), true
}

func (kr *Keyring) mac(mk *masterKey, purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, mk.derive("mac/"+purpose))
	m.Write(data)
	return m.Sum(nil)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never returns an error (crypto/rand, Go 1.24+)
	return b
}
