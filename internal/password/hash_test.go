package password

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// testConfig is a cheap configuration for tests: policy as the default,
// Argon2id with 64 KiB and one pass.
func testConfig() Config {
	c := DefaultConfig()
	c.Memory, c.Time, c.Threads = 64, 1, 1
	return c
}

func newHasher(t testing.TB, c Config) *Hasher {
	t.Helper()
	h, err := NewHasher(c)
	if err != nil {
		t.Fatalf("NewHasher(%+v): %v", c, err)
	}
	return h
}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashFormatAndKnownDerivation(t *testing.T) {
	h := newHasher(t, DefaultConfig())
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !phcRE.MatchString(enc) {
		t.Fatalf("Hash = %q, want the PHC form %s", enc, phcRE)
	}
	// The key is Argon2id(pw, salt, t, m, p) with the parameters in the
	// order the string names them: recompute it with x/crypto directly.
	parts := strings.Split(enc, "$")
	salt, _ := base64.RawStdEncoding.DecodeString(parts[4])
	key, _ := base64.RawStdEncoding.DecodeString(parts[5])
	want := argon2.IDKey([]byte("correct horse battery staple"), salt, 2, 19456, 1, 32)
	if !bytes.Equal(key, want) {
		t.Errorf("hash key %x, want argon2.IDKey(t=2, m=19456, p=1) = %x", key, want)
	}
	enc2, _ := h.Hash(ctx, "correct horse battery staple")
	if enc2 == enc {
		t.Errorf("two hashes of one password are equal (%q): the salt is not random", enc)
	}
}

func TestVerify(t *testing.T) {
	h := newHasher(t, testConfig())
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"same", "correct horse battery staple", true},
		{"other", "correct horse battery stapler", false},
		{"case", "Correct horse battery staple", false},
		{"empty", "", false},
		{"too long", strings.Repeat("x", MaxInputBytes+1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, enc, tc.pw)
			if err != nil || ok != tc.want || rehash {
				t.Errorf("Verify(%q) = %v, %v, %v; want %v, false, nil", tc.pw, ok, rehash, err, tc.want)
			}
		})
	}
}

// TestNormalization: NFKC makes equivalent spellings one password.
func TestNormalization(t *testing.T) {
	h := newHasher(t, testConfig())
	ctx := context.Background()
	pairs := [][2]string{
		{"caf\u00e9 au lait 2024!", "cafe\u0301 au lait 2024!"}, // precomposed vs combining accent
		{"ｐａｓｓ１２３４５６７８", "pass12345678"},                        // full-width vs ASCII
		{"\ufb01sh and chips!!", "fish and chips!!"},            // ligature
	}
	for _, p := range pairs {
		enc, err := h.Hash(ctx, p[0])
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, err := h.Verify(ctx, enc, p[1]); !ok || err != nil {
			t.Errorf("Verify(Hash(%q), %q) = %v, %v; want true (NFKC-equivalent)", p[0], p[1], ok, err)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	old := newHasher(t, testConfig())
	enc, err := old.Hash(ctx, "a password long enough")
	if err != nil {
		t.Fatal(err)
	}
	stronger := testConfig()
	stronger.Memory = 128
	tests := []struct {
		name        string
		h           *Hasher
		wantRehash  bool
		wantParamsM uint32
	}{
		{"same params", old, false, 64},
		{"changed params", newHasher(t, stronger), true, 64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := tc.h.Verify(ctx, enc, "a password long enough")
			if !ok || err != nil || rehash != tc.wantRehash {
				t.Errorf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tc.wantRehash)
			}
			if got := tc.h.NeedsRehash(enc); got != tc.wantRehash {
				t.Errorf("NeedsRehash = %v, want %v", got, tc.wantRehash)
			}
			// A wrong password never asks for a rehash.
			if ok, rehash, _ := tc.h.Verify(ctx, enc, "wrong"); ok || rehash {
				t.Errorf("Verify(wrong) = %v, %v; want false, false", ok, rehash)
			}
		})
	}
	if p, err := ParseParams(enc); err != nil || p != (Params{Memory: 64, Time: 1, Threads: 1}) {
		t.Errorf("ParseParams = %+v, %v", p, err)
	}
	if !old.NeedsRehash("garbage") {
		t.Error("NeedsRehash(garbage) = false, want true")
	}
	// Another salt or key length than ours: still verifies, asks for a rehash.
	salt := bytes.Repeat([]byte{7}, 8)
	key := argon2.IDKey([]byte("pw"), salt, 1, 64, 1, 16)
	short := phc{params: Params{64, 1, 1}, salt: salt, key: key}.encode()
	if ok, rehash, err := old.Verify(ctx, short, "pw"); !ok || !rehash || err != nil {
		t.Errorf("Verify(8-byte salt, 16-byte key) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
}

// hostile are PHC strings Verify must refuse with ErrMalformedHash, quickly
// and without allocating what they ask for.
var hostile = []string{
	"",
	"$",
	"$argon2id$",
	"$argon2id$v=19$",
	"$argon2id$v=19$m=64,t=1,p=1$",
	"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",
	"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$",
	"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2d$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
	"$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=64,t=4294967295,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=64,t=1,p=255$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=64,t=1,p=256$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=64,t=1,p=0$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=7,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=64,t=1,p=9$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=064,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=+64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=-64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=6_4,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=0x40,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=\u0666\u0664,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m= 64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$t=1,m=64,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=64,t=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=64,t=1,p=1,k=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=64,,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA$extra",
	"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0=$AAAAAAAAAAAAAAAAAAAAAA",    // padding
	"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAB",     // non-zero trailing bits
	"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA",               // 4-byte salt
	"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAA",                // 8-byte key
	"$argon2id$v=19$m=64,t=1,p=1$c2Fs dHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",    // space
	"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA\n",   // newline
	"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAA-_AAAA",     // URL alphabet
	" $argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",    // leading space
	"$ARGON2ID$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",     // case
	"$argon2id$v=19$m=64,t=1,p=1$" + strings.Repeat("A", 300) + "$AAAAAAAAAA", // too long
	"$argon2id$v=19$m=64,t=1,p=1$\x00\x00$AAAAAAAAAAAAAAAAAAAAAA",
	strings.Repeat("$", 100),
}

func TestVerifyHostileHashes(t *testing.T) {
	h := newHasher(t, testConfig())
	h.derive = func([]byte, []byte, Params, uint32) []byte {
		t.Error("a hostile hash was hashed against")
		return nil
	}
	ctx := context.Background()
	for _, enc := range hostile {
		ok, rehash, err := h.Verify(ctx, enc, "password")
		if ok || rehash || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Verify(%q) = %v, %v, %v; want false, false, ErrMalformedHash", enc, ok, rehash, err)
		}
	}
	if st := h.Stats(); st.Computed != 0 {
		t.Errorf("%d Argon2id computations for hostile hashes, want 0: refused before hashing", st.Computed)
	}
}

// TestParseRoundTrip: what parse accepts, encode writes back unchanged.
func TestParseRoundTrip(t *testing.T) {
	for _, s := range []string{
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
	} {
		p, err := parse(s)
		if err != nil {
			t.Fatalf("parse(%q): %v", s, err)
		}
		if got := p.encode(); got != s {
			t.Errorf("encode(parse(%q)) = %q", s, got)
		}
	}
}

func TestHashTooLong(t *testing.T) {
	h := newHasher(t, testConfig())
	if _, err := h.Hash(context.Background(), strings.Repeat("a", MaxInputBytes+1)); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash(%d bytes) error = %v, want ErrTooLong", MaxInputBytes+1, err)
	}
	if _, err := h.Hash(context.Background(), strings.Repeat("a", MaxInputBytes)); err != nil {
		t.Errorf("Hash(%d bytes) error = %v, want nil", MaxInputBytes, err)
	}
}

// gate is a derive function that blocks until released and records how
// many run at once.
type gate struct {
	mu            sync.Mutex
	running, peak int
	entered       chan struct{}
	release       chan struct{}
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (g *gate) derive(pw, salt []byte, p Params, n uint32) []byte {
	g.mu.Lock()
	g.running++
	g.peak = max(g.peak, g.running)
	g.mu.Unlock()
	g.entered <- struct{}{}
	<-g.release
	g.mu.Lock()
	g.running--
	g.mu.Unlock()
	return make([]byte, n)
}

func TestHasherBoundsConcurrency(t *testing.T) {
	c := testConfig()
	c.MaxConcurrent = 3
	h := newHasher(t, c)
	g := newGate()
	h.derive = g.derive
	ctx := context.Background()
	const n = 10
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := h.Hash(ctx, "a password long enough"); err != nil {
				t.Errorf("Hash: %v", err)
			}
		})
	}
	for range 3 {
		<-g.entered
	}
	// Everybody else is queued, not running.
	deadline := time.Now().Add(5 * time.Second)
	for h.Stats().Waiting != n-3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := h.Stats(); st != (Stats{Running: 3, Waiting: n - 3, Limit: 3, Computed: 3}) {
		t.Errorf("Stats with 3 running and %d queued = %+v", n-3, st)
	}
	close(g.release)
	wg.Wait()
	if g.peak != 3 {
		t.Errorf("peak concurrent hashes = %d, want 3", g.peak)
	}
	if st := h.Stats(); st.Running != 0 || st.Waiting != 0 || st.Computed != n {
		t.Errorf("Stats after all finished = %+v, want none running or waiting, %d computed", st, n)
	}
}

func TestHasherWaitCancelled(t *testing.T) {
	c := testConfig()
	c.MaxConcurrent = 1
	h := newHasher(t, c)
	g := newGate()
	h.derive = g.derive
	enc, _ := (&Hasher{params: c.Params(), sem: make(chan struct{}, 1), derive: argon2id}).Hash(context.Background(), "pw")
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = h.Hash(context.Background(), "holds the only slot")
	}()
	<-g.entered

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	steps := []struct {
		name string
		fn   func() error
	}{
		{"Hash", func() error { _, err := h.Hash(ctx, "pw"); return err }},
		{"Verify", func() error { _, _, err := h.Verify(ctx, enc, "pw"); return err }},
		{"VerifyDummy", func() error { return h.VerifyDummy(ctx, "pw") }},
	}
	for _, st := range steps {
		if err := st.fn(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s while the only slot is taken, ctx expiring: error %v, want context.DeadlineExceeded", st.name, err)
		}
	}
	if w := h.Stats().Waiting; w != 0 {
		t.Errorf("Stats().Waiting after the waiters gave up = %d, want 0", w)
	}
	close(g.release)
	<-done
}

// TestVerifyDummyCostsAVerify: a dummy verification does the work of a
// real one, deterministically: one Argon2id computation under the same
// parameters, key length and password, through the same concurrency slot.
// How long each takes is BenchmarkVerifyDummy's beside BenchmarkVerify's.
func TestVerifyDummyCostsAVerify(t *testing.T) {
	h := newHasher(t, DefaultConfig())
	ctx := context.Background()
	enc, err := h.Hash(ctx, "some password here")
	if err != nil {
		t.Fatal(err)
	}
	type call struct {
		pw     string
		params Params
		n      uint32
	}
	var calls []call
	h.derive = func(pw, salt []byte, p Params, n uint32) []byte {
		calls = append(calls, call{string(pw), p, n})
		return make([]byte, n)
	}
	before := h.Stats().Computed
	_, _, _ = h.Verify(ctx, enc, "wrong password")
	if err := h.VerifyDummy(ctx, "wrong password"); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0] != calls[1] {
		t.Fatalf("derivations of Verify and VerifyDummy: %+v, want two alike", calls)
	}
	if calls[1].params != h.Config().Params() {
		t.Errorf("VerifyDummy derived under %+v, want the configured %+v", calls[1].params, h.Config().Params())
	}
	if got := h.Stats().Computed - before; got != 2 {
		t.Errorf("%d computations counted, want 2", got)
	}

	// It waits for a slot like a real verification.
	g := newGate()
	c := testConfig()
	c.MaxConcurrent = 1
	h1 := newHasher(t, c)
	h1.derive = g.derive
	go func() { _ = h1.VerifyDummy(ctx, "holds the only slot") }()
	<-g.entered
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := h1.VerifyDummy(short, "queued"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("VerifyDummy while the only slot is taken: %v, want context.DeadlineExceeded", err)
	}
	close(g.release)
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"memory too small", func(c *Config) { c.Memory = 7 }, "password.memory"},
		{"memory below 8 per thread", func(c *Config) { c.Threads, c.Memory = 4, 31 }, "password.memory"},
		{"memory too large", func(c *Config) { c.Memory = 1<<21 + 1 }, "password.memory"},
		{"time zero", func(c *Config) { c.Time = 0 }, "password.time"},
		{"threads zero", func(c *Config) { c.Threads = 0 }, "password.threads"},
		{"negative concurrency", func(c *Config) { c.MaxConcurrent = -1 }, "password.max_concurrent"},
		{"min length below 8", func(c *Config) { c.MinLength = 7 }, "password.min_length"},
		{"max length below 128", func(c *Config) { c.MaxLength = 127 }, "password.max_length"},
		{"min above max", func(c *Config) { c.MinLength, c.MaxLength = 200, 150 }, "must not exceed max_length"},
		{"classes 5", func(c *Config) { c.RequireClasses = 5 }, "password.require_classes"},
		{"classes negative", func(c *Config) { c.RequireClasses = -1 }, "password.require_classes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate(%+v) = %v, want an error naming %q", c, err, tc.want)
			}
			if _, err := NewHasher(c); err == nil {
				t.Errorf("NewHasher(%+v) succeeded, want the validation error", c)
			}
		})
	}
	// Every problem is reported, not just the first.
	c := Config{}
	err := c.Validate()
	for _, key := range []string{"memory", "time", "threads", "min_length", "max_length"} {
		if err == nil || !strings.Contains(err.Error(), "password."+key) {
			t.Errorf("Validate(zero Config) = %v, want it to name password.%s", err, key)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	h := newHasher(b, DefaultConfig())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h := newHasher(b, DefaultConfig())
	ctx := context.Background()
	enc, _ := h.Hash(ctx, "correct horse battery staple")
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, enc, "correct horse battery staple"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkVerifyDummy is BenchmarkVerify's twin: an unknown account
// must cost what a wrong password costs (compare the two ns/op).
func BenchmarkVerifyDummy(b *testing.B) {
	h := newHasher(b, DefaultConfig())
	ctx := context.Background()
	for b.Loop() {
		if err := h.VerifyDummy(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	c := DefaultConfig()
	for b.Loop() {
		c.Check("Tr0ub4dor&3 horse staple", "alice@example.com")
	}
}
