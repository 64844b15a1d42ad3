package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Errors.
var (
	// ErrMalformedHash means a stored hash is not an Argon2id PHC string
	// authd can verify (damaged, another algorithm, or parameters beyond
	// the limits).
	ErrMalformedHash = errors.New("password: malformed or unsupported hash")
	// ErrTooLong means the password exceeds MaxInputBytes; nothing was
	// hashed.
	ErrTooLong = errors.New("password: input too long")
)

const (
	saltLen = 16
	keyLen  = 32
	// Bounds on what a parsed hash may carry (RFC 9106 allows 8..2^32-1;
	// real encoders use 16 and 32).
	minSaltLen, maxSaltLen = 8, 64
	minKeyLen, maxKeyLen   = 16, 64
	// maxHashLen bounds the whole PHC string before any parsing.
	maxHashLen = 256
	phcPrefix  = "$argon2id$v=19$"
)

var b64 = base64.RawStdEncoding.Strict()

// phc is a parsed Argon2id PHC string.
type phc struct {
	params Params
	salt   []byte
	key    []byte
}

// normalize returns the form of a password that is checked and hashed.
func normalize(pw string) string { return norm.NFKC.String(pw) }

// encode formats a PHC string.
func (h phc) encode() string {
	var b strings.Builder
	b.Grow(len(phcPrefix) + 32 + b64.EncodedLen(len(h.salt)) + b64.EncodedLen(len(h.key)))
	b.WriteString(phcPrefix)
	b.WriteString("m=")
	b.WriteString(strconv.FormatUint(uint64(h.params.Memory), 10))
	b.WriteString(",t=")
	b.WriteString(strconv.FormatUint(uint64(h.params.Time), 10))
	b.WriteString(",p=")
	b.WriteString(strconv.FormatUint(uint64(h.params.Threads), 10))
	b.WriteByte('$')
	b.WriteString(b64.EncodeToString(h.salt))
	b.WriteByte('$')
	b.WriteString(b64.EncodeToString(h.key))
	return b.String()
}

// parse reads an Argon2id PHC string strictly: exactly the layout encode
// writes, version 19, parameters in the order m, t, p as plain decimal
// numbers within the limits, canonical base64. Anything else is
// ErrMalformedHash; parse never allocates more than the string's size.
func parse(s string) (phc, error) {
	var h phc
	if len(s) > maxHashLen || !strings.HasPrefix(s, phcPrefix) {
		return h, ErrMalformedHash
	}
	parts := strings.Split(s[len(phcPrefix):], "$")
	if len(parts) != 3 {
		return h, ErrMalformedHash
	}
	kv := strings.Split(parts[0], ",")
	if len(kv) != 3 {
		return h, ErrMalformedHash
	}
	m, ok1 := param(kv[0], "m=", maxMemory)
	t, ok2 := param(kv[1], "t=", maxTime)
	p, ok3 := param(kv[2], "p=", maxThreads)
	if !ok1 || !ok2 || !ok3 || t < 1 || p < 1 || m < 8*p {
		return h, ErrMalformedHash
	}
	h.params = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)} // #nosec G115 -- param bounds each by maxMemory, maxTime, maxThreads
	var ok bool
	if h.salt, ok = decodeB64(parts[1], minSaltLen, maxSaltLen); !ok {
		return phc{}, ErrMalformedHash
	}
	if h.key, ok = decodeB64(parts[2], minKeyLen, maxKeyLen); !ok {
		return phc{}, ErrMalformedHash
	}
	return h, nil
}

// decodeB64 decodes canonical unpadded standard base64 of lo to hi
// bytes. encoding/base64 skips CR and LF; this does not.
func decodeB64(s string, lo, hi int) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, false
		}
	}
	b, err := b64.DecodeString(s)
	if err != nil || len(b) < lo || len(b) > hi {
		return nil, false
	}
	return b, true
}

// param reads "<prefix><decimal>" with no sign, no leading zero and a value
// at most limit.
func param(s, prefix string, limit uint64) (uint64, bool) {
	digits, ok := strings.CutPrefix(s, prefix)
	if !ok || digits == "" || len(digits) > 10 || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || v > limit {
		return 0, false
	}
	return v, true
}

// deriveFunc computes an Argon2id key of n bytes.
type deriveFunc func(pw, salt []byte, p Params, n uint32) []byte

func argon2id(pw, salt []byte, p Params, n uint32) []byte {
	return argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, n)
}

// hash makes a new PHC string for the normalised password pw.
func hash(derive deriveFunc, p Params, pw string) string {
	salt := make([]byte, saltLen)
	rand.Read(salt) // never fails (crypto/rand, Go 1.24+)
	return phc{params: p, salt: salt, key: derive([]byte(pw), salt, p, keyLen)}.encode()
}

// verify reports whether the normalised password pw matches h, comparing
// in constant time.
func verify(derive deriveFunc, h phc, pw string) bool {
	got := derive([]byte(pw), h.salt, h.params, uint32(len(h.key))) // #nosec G115 -- the key length is bounded when the hash is parsed
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

// needsRehash reports whether h was made other than a new hash under p
// would be.
func (h phc) needsRehash(p Params) bool {
	return h.params != p || len(h.salt) != saltLen || len(h.key) != keyLen
}

// ParseParams returns the parameters of an Argon2id PHC string, or
// ErrMalformedHash.
func ParseParams(encoded string) (Params, error) {
	h, err := parse(encoded)
	return h.params, err
}
