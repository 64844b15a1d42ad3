package password

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"
)

// Hasher hashes and verifies passwords under one Config, running at most
// Config.MaxConcurrent Argon2id computations at once. It is safe for
// concurrent use; share one per process.
type Hasher struct {
	cfg    Config
	params Params
	// sem holds a token per computation in progress; its capacity is the
	// bound. Waiters queue in FIFO order on the channel.
	sem    chan struct{}
	derive deriveFunc // argon2id; replaced in tests

	waiting atomic.Int64
	// computed counts the Argon2id computations done.
	computed atomic.Uint64

	// dummy is what VerifyDummy verifies against: parameters as
	// configured, random salt and key (no password hashes to it).
	dummy phc
}

// NewHasher returns a Hasher for cfg, or cfg's validation errors.
func NewHasher(cfg Config) (*Hasher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dummy := phc{params: cfg.Params(), salt: make([]byte, saltLen), key: make([]byte, keyLen)}
	rand.Read(dummy.salt)
	rand.Read(dummy.key)
	return &Hasher{cfg: cfg, params: cfg.Params(), sem: make(chan struct{}, cfg.maxConcurrent()), derive: argon2id, dummy: dummy}, nil
}

// Config returns the configuration the Hasher was made with.
func (h *Hasher) Config() Config { return h.cfg }

// Stats is a snapshot of the Hasher's load, for metrics.
type Stats struct {
	// Running is how many hashes are being computed; at most Limit.
	Running int
	// Waiting is how many callers wait for a slot.
	Waiting int
	Limit   int
	// Computed is how many Argon2id computations the Hasher has done
	// (hashes, verifications and dummy verifications alike).
	Computed uint64
}

// Stats returns the current load.
func (h *Hasher) Stats() Stats {
	return Stats{Running: len(h.sem), Waiting: int(h.waiting.Load()), Limit: cap(h.sem), Computed: h.computed.Load()}
}

// acquire takes a slot, or returns ctx's error if ctx ends first.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("password: waiting for a hashing slot: %w", context.Cause(ctx))
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns the PHC string of pw (normalised to NFKC) under the
// configured parameters, with a fresh random salt. It does not apply the
// policy (see Check). It fails only when ctx ends while waiting for a slot
// or pw exceeds MaxInputBytes.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if len(pw) > MaxInputBytes {
		return "", ErrTooLong
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	h.computed.Add(1)
	return hash(h.derive, h.params, normalize(pw)), nil
}

// Verify reports whether pw matches the PHC string encoded, comparing in
// constant time, and whether encoded was made with other parameters than
// the configured ones (the caller should then store Hash(pw) instead).
// A hash it cannot read is ErrMalformedHash; a password longer than
// MaxInputBytes is simply no match.
func (h *Hasher) Verify(ctx context.Context, encoded, pw string) (ok, needsRehash bool, err error) {
	ph, err := parse(encoded)
	if err != nil {
		return false, false, err
	}
	if len(pw) > MaxInputBytes {
		return false, false, nil
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	h.computed.Add(1)
	if !verify(h.derive, ph, normalize(pw)) {
		return false, false, nil
	}
	return true, ph.needsRehash(h.params), nil
}

// VerifyDummy spends the work of a Verify under the configured parameters
// and always fails. Callers run it when there is no hash to check (an
// unknown account), so that the answer takes as long as a wrong password.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	if len(pw) > MaxInputBytes {
		return nil
	}
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	h.computed.Add(1)
	verify(h.derive, h.dummy, normalize(pw))
	return nil
}

// NeedsRehash reports whether encoded was made with other parameters than
// the configured ones, or cannot be read at all.
func (h *Hasher) NeedsRehash(encoded string) bool {
	ph, err := parse(encoded)
	return err != nil || ph.needsRehash(h.params)
}

// Check applies the configured policy; see Config.Check.
func (h *Hasher) Check(pw, email string) []Violation { return h.cfg.Check(pw, email) }
