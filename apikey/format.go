// Package apikey issues and checks admin API keys.
//
// A key reads authd_<id>_<secret><check>: a fixed prefix, a 12-character
// public id, a 32-character secret (190 bits) and a 6-character checksum,
// all base62. The checksum is CRC32 (IEEE) of everything before it, so a
// secret scanner (and authd itself, before any lookup) can tell a key from
// random text without the database; the pattern is
//
//	authd_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}
//
// Only a keyed HMAC-SHA256 of the key is stored. The underscores make a
// double click select the whole key. The format is GitHub's token format
// (prefix, base62, CRC32 in the last six characters) applied to authd.
package apikey

import (
	"crypto/rand"
	"errors"
	"hash/crc32"
	"math/big"
	"strings"
)

// Prefix starts every key.
const Prefix = "authd_"

const (
	idLen     = 12
	secretLen = 32
	checkLen  = 6
	// Length is the length of every key.
	Length = len(Prefix) + idLen + 1 + secretLen + checkLen
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformed: the string is not an authd API key (wrong prefix, length,
// characters or checksum).
var ErrMalformed = errors.New("apikey: not an authd API key")

// generate returns a new key and its id.
func generate() (key, id string) {
	id, secret := randomBase62(idLen), randomBase62(secretLen)
	body := Prefix + id + "_" + secret
	return body + checksum(body), id
}

// Parse checks the shape and checksum of key and returns its id.
func Parse(key string) (id string, err error) {
	if len(key) != Length || !strings.HasPrefix(key, Prefix) {
		return "", ErrMalformed
	}
	rest := key[len(Prefix):]
	if rest[idLen] != '_' || !isBase62(rest[:idLen]) || !isBase62(rest[idLen+1:]) {
		return "", ErrMalformed
	}
	body := key[:Length-checkLen]
	if checksum(body) != key[Length-checkLen:] {
		return "", ErrMalformed
	}
	return rest[:idLen], nil
}

// checksum is CRC32 of body in base62, left-padded with zeros to six
// characters (62^6 > 2^32).
func checksum(body string) string {
	n := crc32.ChecksumIEEE([]byte(body))
	var b [checkLen]byte
	for i := checkLen - 1; i >= 0; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	return string(b[:])
}

func randomBase62(n int) string {
	b := make([]byte, n)
	max := big.NewInt(62)
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("apikey: crypto/rand failed: " + err.Error())
		}
		b[i] = base62[v.Int64()]
	}
	return string(b)
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}
