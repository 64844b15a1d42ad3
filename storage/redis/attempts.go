package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/authd/authd/storage"
)

// Attempts is storage.Attempts in Redis: the brute-force counters and
// lockouts every replica shares. Per key, the hash
//
//	<prefix>att:<key>   fields f (failures), l (last failure), u (locked until), e (expires); times in Unix ms
//
// expiring at e. RecordFailure is one Lua script (read, decide, write), so
// concurrent failures on one key serialise in Redis exactly as they do
// under the SQL store's row lock.
//
// While Redis is unreachable every method goes to the fallback (the SQL
// store, which every replica shares too), so lockouts keep holding across
// replicas through an outage; what was counted there is not carried back
// into Redis afterwards. A hash holding values authd could not have
// written counts as absent and is overwritten by the next failure.
//
// Safe for concurrent use.
type Attempts struct {
	c        *Client
	fallback storage.Attempts
}

var _ storage.Attempts = (*Attempts)(nil)

// NewAttempts returns the attempt store kept in c's Redis, falling back to
// fallback while Redis is unreachable. fallback must not be nil.
func NewAttempts(c *Client, fallback storage.Attempts) *Attempts {
	return &Attempts{c: c, fallback: fallback}
}

func (a *Attempts) key(k string) string { return a.c.prefix + "att:" + k }

// recordFailureScript counts a failure. KEYS[1] is the hash; ARGV: now,
// threshold, base delay, max delay, window (ms). Returns {recorded (0|1),
// failures, last failure, locked until}. Mirrors storage.Backoff.Delay and
// storage/sql RecordFailure.
var recordFailureScript = newScript(`
local now, th, base, mx, win = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local function int(v)
  local n = tonumber(v)
  if n and n == math.floor(n) and n >= 0 and n < 9007199254740992 then return n end
  return nil
end
local f, l, u, e = 0, 0, 0, 0
local v = redis.pcall('HMGET', KEYS[1], 'f', 'l', 'u', 'e')
if v.err then
  redis.call('DEL', KEYS[1])
else
  local vf, vl, vu, ve = int(v[1]), int(v[2]), int(v[3]), int(v[4])
  if vf and vl and vu and ve and vl <= ve and vu <= ve and ve > now then
    f, l, u, e = vf, vl, vu, ve
  end
end
if now < u then
  return {0, f, l, u}
end
f = f + 1
l = now
u = 0
if th > 0 and f >= th and base > 0 then
  local d = base
  local i = th
  while i < f and d < mx do
    d = d * 2
    i = i + 1
  end
  if d > mx then d = mx end
  if d > 0 then u = now + d end
end
e = math.max(now, u) + win
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'f', string.format('%d', f), 'l', string.format('%d', l), 'u', string.format('%d', u), 'e', string.format('%d', e))
redis.call('PEXPIREAT', KEYS[1], string.format('%d', e))
return {1, f, l, u}
`)

// down reports whether err (from a command under a context derived from
// ctx) means Redis cannot serve: then the caller uses the fallback.
func (a *Attempts) down(ctx context.Context, err error) bool {
	return err != nil && a.c.failed(ctx, err)
}

// GetAttempts implements storage.Attempts.
func (a *Attempts) GetAttempts(ctx context.Context, key string, now time.Time) (storage.AttemptState, error) {
	if !a.c.available() {
		a.c.fellBack("attempts")
		return a.fallback.GetAttempts(ctx, key, now)
	}
	cctx, cancel := a.c.cmdContext(ctx)
	defer cancel()
	vals, err := a.c.rc.Do(cctx, a.c.rc.B().Hmget().Key(a.key(key)).Field("f", "l", "u", "e").Build()).ToArray()
	if a.down(ctx, err) {
		a.c.fellBack("attempts")
		return a.fallback.GetAttempts(ctx, key, now)
	}
	if err != nil {
		if wrongType(err) {
			return storage.AttemptState{}, nil // garbage: absent
		}
		return storage.AttemptState{}, fmt.Errorf("redis: get attempts: %w", err)
	}
	var n [4]int64
	for i, v := range vals {
		s, err := v.ToString()
		if i >= len(n) || err != nil {
			return storage.AttemptState{}, nil // a missing field (or key): absent
		}
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil || x < 0 {
			return storage.AttemptState{}, nil
		}
		n[i] = x // #nosec G602 -- i < len(n) is checked above
	}
	f, l, u, e := n[0], n[1], n[2], n[3]
	if l > e || u > e || e <= now.UnixMilli() || f > 1<<31 {
		return storage.AttemptState{}, nil
	}
	return attemptState(f, l, u), nil
}

func attemptState(f, l, u int64) storage.AttemptState {
	return storage.AttemptState{Failures: int(f), LastFailure: fromMillis(l), LockedUntil: fromMillis(u)}
}

// RecordFailure implements storage.Attempts.
func (a *Attempts) RecordFailure(ctx context.Context, key string, now time.Time, b storage.Backoff) (storage.AttemptState, bool, error) {
	if !a.c.available() {
		a.c.fellBack("attempts")
		return a.fallback.RecordFailure(ctx, key, now, b)
	}
	cctx, cancel := a.c.cmdContext(ctx)
	defer cancel()
	args := []string{itoa(now.UnixMilli()), itoa(int64(b.Threshold)), itoa(b.Base.Milliseconds()), itoa(b.Max.Milliseconds()),
		itoa(b.Window.Milliseconds())}
	v, err := recordFailureScript.exec(cctx, a.c.rc, []string{a.key(key)}, args).AsIntSlice()
	if a.down(ctx, err) {
		a.c.fellBack("attempts")
		return a.fallback.RecordFailure(ctx, key, now, b)
	}
	if err == nil && len(v) != 4 {
		err = fmt.Errorf("unexpected reply %v", v)
	}
	if err != nil {
		return storage.AttemptState{}, false, fmt.Errorf("redis: record failure: %w", err)
	}
	return attemptState(v[1], v[2], v[3]), v[0] == 1, nil
}

// ResetAttempts implements storage.Attempts. While Redis is unreachable
// the fallback forgets key; Redis's own state for it (if any) is
// forgotten too once Redis answers again only by expiring.
func (a *Attempts) ResetAttempts(ctx context.Context, key string) error {
	if !a.c.available() {
		a.c.fellBack("attempts")
		return a.fallback.ResetAttempts(ctx, key)
	}
	cctx, cancel := a.c.cmdContext(ctx)
	defer cancel()
	err := a.c.rc.Do(cctx, a.c.rc.B().Del().Key(a.key(key)).Build()).Error()
	if a.down(ctx, err) {
		a.c.fellBack("attempts")
		return a.fallback.ResetAttempts(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("redis: reset attempts: %w", err)
	}
	return nil
}

// deleteExpiredAttemptScript deletes KEYS[1] when its expiry field is at
// or before ARGV[1] (or it is not a well-formed attempt hash). Returns 1
// when it deleted.
var deleteExpiredAttemptScript = newScript(`
local v = redis.pcall('HGET', KEYS[1], 'e')
if type(v) == 'table' and v.err then
  redis.call('DEL', KEYS[1])
  return 1
end
local e = tonumber(v)
if e == nil or e <= tonumber(ARGV[1]) then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// DeleteExpiredAttempts implements storage.Attempts. Redis expires the
// states itself by the wall clock; this also removes those expired by
// now's clock, scanning every node (so it is for tests and occasional
// janitors, not hot paths). The fallback is swept too.
func (a *Attempts) DeleteExpiredAttempts(ctx context.Context, now time.Time) (int64, error) {
	n, ferr := a.fallback.DeleteExpiredAttempts(ctx, now)
	if !a.c.available() {
		return n, ferr
	}
	var errs []error
	for _, node := range a.c.rc.Nodes() {
		var cursor uint64
		for {
			cctx, cancel := a.c.cmdContext(ctx)
			e, err := node.Do(cctx, node.B().Scan().Cursor(cursor).Match(a.key("*")).Count(1000).Build()).AsScanEntry()
			cancel()
			if err != nil {
				a.c.failed(ctx, err)
				errs = append(errs, err)
				break
			}
			for _, k := range e.Elements {
				cctx, cancel := a.c.cmdContext(ctx)
				d, err := deleteExpiredAttemptScript.exec(cctx, a.c.rc, []string{k}, []string{itoa(now.UnixMilli())}).AsInt64()
				cancel()
				if err != nil {
					errs = append(errs, err)
					continue
				}
				n += d
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	if err := errors.Join(append(errs, ferr)...); err != nil {
		return n, fmt.Errorf("redis: delete expired attempts: %w", err)
	}
	return n, nil
}
