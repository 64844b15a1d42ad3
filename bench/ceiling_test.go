package bench

// Crypto ceiling benchmarks: the raw cost of the primitives authd's hot
// paths are built on (signing and verifying JWTs, hashing client secrets
// and passwords), so a load-test result can be compared with what the
// machine could do if the server did nothing else. Each runs in parallel on
// all GOMAXPROCS, so with -cpu 2 ns/op is wall time per operation with both
// cores busy, and the reported ops/s is the two-core ceiling. See README.md.
//
// Each JWS benchmark has two sub-benchmarks:
//   - jose: go-jose/v4 as authd uses it: sign the claims with typ and kid
//     headers and serialise compactly; parse a compact JWS and verify it.
//   - raw: the primitive alone on a JWT-sized signing input (hash + sign or
//     verify), the floor under the jose numbers.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/argon2"
)

// claims is the payload of a typical client_credentials access token.
var claims = []byte(`{"iss":"http://127.0.0.1:8080","sub":"bench-client","aud":["api"],` +
	`"exp":1767229200,"iat":1767225600,"nbf":1767225600,"jti":"` + strings.Repeat("a", 36) + `",` +
	`"client_id":"bench-client","scope":"api","grant_id":"` + strings.Repeat("b", 36) + `"}`)

// signingInput is the JWS signing input for claims:
// base64url(header) "." base64url(claims).
func signingInput(alg string) []byte {
	enc := base64.RawURLEncoding
	header := `{"alg":"` + alg + `","kid":"nRPlWjbwvCop1e8t","typ":"at+jwt"}`
	return []byte(enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(claims))
}

var errVerify = errors.New("bench: verification failed")

// parallel runs op on every GOMAXPROCS goroutine and reports the aggregate
// throughput as ops/s next to ns/op, and the CPU time one op costs
// (cpu-us/op: the process's user + system time over b.N). ops/s depends on
// how much of the machine the benchmark got; cpu-us/op much less, so it is
// what a server's CPU time per request compares with on a shared machine.
func parallel(b *testing.B, op func() error) {
	b.Helper()
	b.ReportAllocs()
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
	if cpu1, ok := processCPU(); ok && cpuOK && b.N > 0 {
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
	}
}

// jwsAlg is one JWS algorithm: its key and its raw sign/verify primitive.
type jwsAlg struct {
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
	sign func(input []byte) ([]byte, error)
	ver  func(input, sig []byte) bool
}

func rs256(b *testing.B) jwsAlg {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	return jwsAlg{
		alg: jose.RS256, priv: key,
		sign: func(in []byte) ([]byte, error) {
			h := sha256.Sum256(in)
			return rsa.SignPKCS1v15(nil, key, crypto.SHA256, h[:])
		},
		ver: func(in, sig []byte) bool {
			h := sha256.Sum256(in)
			return rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, h[:], sig) == nil
		},
	}
}

func es256(b *testing.B) jwsAlg {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return jwsAlg{
		alg: jose.ES256, priv: key,
		sign: func(in []byte) ([]byte, error) {
			h := sha256.Sum256(in)
			return ecdsa.SignASN1(rand.Reader, key, h[:])
		},
		ver: func(in, sig []byte) bool {
			h := sha256.Sum256(in)
			return ecdsa.VerifyASN1(&key.PublicKey, h[:], sig)
		},
	}
}

func eddsa(b *testing.B) jwsAlg {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return jwsAlg{
		alg: jose.EdDSA, priv: key,
		sign: func(in []byte) ([]byte, error) { return ed25519.Sign(key, in), nil },
		ver:  func(in, sig []byte) bool { return ed25519.Verify(pub, in, sig) },
	}
}

func (a jwsAlg) signer(b *testing.B) jose.Signer {
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader(jose.HeaderKey("kid"), "nRPlWjbwvCop1e8t")
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: a.alg, Key: a.priv}, opts)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchSign(b *testing.B, newAlg func(*testing.B) jwsAlg) {
	a := newAlg(b)
	b.Run("jose", func(b *testing.B) {
		s := a.signer(b)
		parallel(b, func() error {
			obj, err := s.Sign(claims)
			if err != nil {
				return err
			}
			_, err = obj.CompactSerialize()
			return err
		})
	})
	b.Run("raw", func(b *testing.B) {
		in := signingInput(string(a.alg))
		parallel(b, func() error {
			_, err := a.sign(in)
			return err
		})
	})
}

func benchVerify(b *testing.B, newAlg func(*testing.B) jwsAlg) {
	a := newAlg(b)
	b.Run("jose", func(b *testing.B) {
		obj, err := a.signer(b).Sign(claims)
		if err != nil {
			b.Fatal(err)
		}
		token, err := obj.CompactSerialize()
		if err != nil {
			b.Fatal(err)
		}
		pub := a.priv.Public()
		algs := []jose.SignatureAlgorithm{a.alg}
		parallel(b, func() error {
			jws, err := jose.ParseSignedCompact(token, algs)
			if err != nil {
				return err
			}
			_, err = jws.Verify(pub)
			return err
		})
	})
	b.Run("raw", func(b *testing.B) {
		in := signingInput(string(a.alg))
		sig, err := a.sign(in)
		if err != nil {
			b.Fatal(err)
		}
		parallel(b, func() error {
			if !a.ver(in, sig) {
				return errVerify
			}
			return nil
		})
	})
}

func BenchmarkRS256Sign(b *testing.B)   { benchSign(b, rs256) }
func BenchmarkRS256Verify(b *testing.B) { benchVerify(b, rs256) }
func BenchmarkES256Sign(b *testing.B)   { benchSign(b, es256) }
func BenchmarkES256Verify(b *testing.B) { benchVerify(b, es256) }
func BenchmarkEdDSASign(b *testing.B)   { benchSign(b, eddsa) }
func BenchmarkEdDSAVerify(b *testing.B) { benchVerify(b, eddsa) }

// BenchmarkArgon2id is one password (or client secret) hash with the OWASP
// minimum parameters: m=19 MiB, t=2, p=1, 32-byte key. Each op allocates
// the 19 MiB.
func BenchmarkArgon2id(b *testing.B) {
	password := []byte("correct horse battery staple")
	salt := []byte("0123456789abcdef")
	parallel(b, func() error {
		if k := argon2.IDKey(password, salt, 2, 19*1024, 1, 32); len(k) != 32 {
			return errVerify
		}
		return nil
	})
}
