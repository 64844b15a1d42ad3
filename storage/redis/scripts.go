package redis

import (
	"context"
	"crypto/sha1" // #nosec G505 -- Redis names scripts by their SHA-1 (EVALSHA); no security rests on it
	"encoding/hex"

	"github.com/redis/rueidis"
)

// script is a Lua script run by EVALSHA, falling back to EVAL when the
// server does not know it yet (after a restart or failover). Every script
// touches keys of one hash slot only, so it runs on a Cluster too.
type script struct {
	src, sha string
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src)) // #nosec G401 -- the script id Redis expects, see import
	return &script{src: src, sha: hex.EncodeToString(sum[:])}
}

// exec runs the script once.
func (s *script) exec(ctx context.Context, rc rueidis.Client, keys, args []string) rueidis.RedisResult {
	return s.execMulti(ctx, rc, []rueidis.LuaExec{{Keys: keys, Args: args}})[0]
}

// execMulti runs the script once per exec, pipelined: one round trip (two
// when the server has to be taught the script).
func (s *script) execMulti(ctx context.Context, rc rueidis.Client, execs []rueidis.LuaExec) []rueidis.RedisResult {
	cmds := make(rueidis.Commands, len(execs))
	for i, e := range execs {
		cmds[i] = rc.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(e.Keys))).Key(e.Keys...).Arg(e.Args...).Build()
	}
	res := rc.DoMulti(ctx, cmds...)
	var retry []int
	for i, r := range res {
		if re, ok := rueidis.IsRedisErr(r.Error()); ok && re.IsNoScript() {
			retry = append(retry, i)
		}
	}
	if len(retry) == 0 {
		return res
	}
	cmds = cmds[:0]
	for _, i := range retry {
		e := execs[i]
		cmds = append(cmds, rc.B().Eval().Script(s.src).Numkeys(int64(len(e.Keys))).Key(e.Keys...).Arg(e.Args...).Build())
	}
	for j, r := range rc.DoMulti(ctx, cmds...) {
		res[retry[j]] = r
	}
	return res
}

// addRevocationScript records one revocation entry. KEYS[1] is the entry;
// ARGV[1] its RevokedAt (Unix ms), ARGV[2] its time to live (ms), ARGV[3]
// the latest RevokedAt to trust in a value already there. An existing
// entry keeps the later RevokedAt and the longer life; one that already
// covers the new entry (to within a second of life) is left alone, so
// that replicas re-adding what they polled cause no write and no
// invalidation. A value authd could not have written (not a canonical
// integer, negative, far in the future, not a string at all) is
// overwritten. Returns the RevokedAt stored.
var addRevocationScript = newScript(`
local at = tonumber(ARGV[1])
local px = tonumber(ARGV[2])
local old = redis.pcall('GET', KEYS[1])
if type(old) == 'table' then
  redis.call('DEL', KEYS[1])
elseif old then
  local ttl = redis.call('PTTL', KEYS[1])
  local v = tonumber(old)
  if v and v == math.floor(v) and v >= 0 and v <= tonumber(ARGV[3]) and string.format('%d', v) == old then
    if v >= at and ttl >= px - 1000 then
      return v
    end
    if v > at then
      at = v
    end
  end
  if ttl > px then
    px = ttl
  end
end
redis.call('SET', KEYS[1], string.format('%d', at), 'PX', string.format('%d', px))
return at
`)

// gcraScript is the generic cell rate algorithm, atomically, on the
// server's clock (so replicas with skewed clocks agree). KEYS[1] holds the
// theoretical arrival time in Unix microseconds; ARGV[1] is the emission
// interval and ARGV[2] the tolerance (burst × interval), both in
// microseconds. Returns {allowed (0|1), retry after (µs), remaining}. A
// stored value that no valid state has is treated as absent. Mirrors
// memory.GCRA.
var gcraScript = newScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = redis.pcall('GET', KEYS[1])
if type(tat) == 'table' then
  redis.call('DEL', KEYS[1])
  tat = nil
else
  tat = tonumber(tat)
end
if not tat or tat ~= tat or tat < now or tat > now + tolerance then
  tat = now
end
local nxt = tat + interval
local allow_at = nxt - tolerance
if now < allow_at then
  return {0, allow_at - now, 0}
end
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', string.format('%d', math.max(1, math.ceil((nxt - now) / 1000))))
return {1, 0, math.floor((tolerance - (nxt - now)) / interval)}
`)

// createSessionScript stores a new session hash unless the id is taken.
// KEYS[1] is the hash; ARGV[1] its expiry (Unix ms); ARGV[2...] field,
// value pairs. Returns 1, or 0 when the id exists.
var createSessionScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
`)

// touchSessionScript sets a field of an existing hash only (HSET alone
// would create a hash without expiry). KEYS[1] is the hash; ARGV[1] the
// field, ARGV[2] the value.
var touchSessionScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// renewSessionScript records a new sign-in in an existing session hash.
// KEYS[1] is the hash; ARGV is the new secret hash, auth time (also the
// new last-seen time), AMR and ACR. Returns {old secret, expiry}, or nil
// when the session is gone.
var renewSessionScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
local old = redis.call('HGET', KEYS[1], 'secret') or ''
local exp = redis.call('HGET', KEYS[1], 'expires') or '0'
redis.call('HSET', KEYS[1], 'secret', ARGV[1], 'auth_time', ARGV[2], 'amr', ARGV[3], 'acr', ARGV[4], 'seen', ARGV[2])
return {old, exp}
`)

// addSessionClientScript adds ARGV[1] to the set KEYS[2] of the session
// hash KEYS[1], expiring with the session. Returns 0 when the session is
// gone.
var addSessionClientScript = newScript(`
local exp = redis.call('HGET', KEYS[1], 'expires')
if not exp then
  return 0
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIREAT', KEYS[2], exp)
return 1
`)

// extendExpiryScript sets KEYS[1] to expire at ARGV[1] (Unix ms) unless it
// already lives longer.
var extendExpiryScript = newScript(`
local cur = redis.call('PEXPIRETIME', KEYS[1])
if cur == -2 then
  return 0
end
if cur == -1 or cur < tonumber(ARGV[1]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[1])
end
return 1
`)
