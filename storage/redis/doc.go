// Package redis keeps the parts of authd's state that replicas share and
// that may expire or be rebuilt — the revocation set, browser sessions,
// brute-force counters and rate limits — in Redis 7 or later, through
// rueidis. storage/memory holds
// the in-process versions used when no Redis is configured.
//
// # Connecting
//
// Open takes one URL; the scheme names the topology:
//
//	redis://[[user]:password@]host[:port][/db][?option=value...]
//	rediss://...                      the same over TLS
//	redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/master-name[/db][?sentinel_username=U&sentinel_password=P]
//	rediss-sentinel://...             the same over TLS (to the sentinels and the primary)
//	redis-cluster://[[user]:password@]host[:port][,host[:port]...][?option=value...]
//	rediss-cluster://...              the same over TLS
//
// The credentials in the authority are the data nodes' (ACL user and
// password); Sentinel's own, if it requires any, are query options. Ports
// default to 6379 (26379 for sentinels). Other query options are
// rueidis's: dial_timeout, write_timeout, client_name, skip_verify (TLS).
// protocol=2 and client_cache=0 are refused: authd relies on RESP3
// client-side caching. A cluster URL lists any number of seed nodes;
// rueidis discovers the rest. A redis:// URL naming a cluster node works
// too (rueidis detects the cluster), but redis-cluster:// says what is
// meant and accepts several seeds.
//
// Every command runs under a deadline (Options.Timeout, 200 ms by
// default), so a Redis that stalls never holds a request longer than
// that.
//
// # Keys
//
// Every key starts with Options.Prefix ("authd:"):
//
//	rev:<kind>:<value>         a revocation entry: RevokedAt in Unix ms, expiring at ExpiresAt
//	rev:epoch                  written when the revocation set is complete (see Rebuild)
//	rev:rebuilding             a rebuild in progress
//	sess:{<id>}, sess:{<id>}:clients, sess-secret:<hash>, user-sess:{<user>}   browser sessions
//	rl:<key>                   a rate limit's theoretical arrival time (Unix µs)
//	att:<key>                  brute-force counters: hash f, l, u, e (failures, last failure, locked until, expires; Unix ms)
//
// # When Redis fails
//
// Redis holds nothing that the database does not (revocations, and
// sessions only in that they make people sign in again) or that may not be
// forgotten (rate limits), so authd keeps serving while Redis is down and
// recovers by itself when it is back. Open fails on a setting that cannot
// work, so that it surfaces at start-up: a malformed URL, a Redis that
// refuses our credentials (WRONGPASS, NOAUTH) or lacks RESP3 and client
// tracking, a failed TLS handshake, a Sentinel or Cluster nobody answers
// for. A single-node Redis that nobody answers for yet (connection refused,
// the dial timeout, a name that does not resolve) opens unreachable
// instead, logs so once, and is treated as an outage from the start:
//
//   - Detection. A command that fails for want of Redis (a network error,
//     the deadline, a server loading, failing over or out of memory) marks
//     the Client unreachable; Healthy (of the Client, the RevocationSet
//     and the RateLimiter) then returns an error for /readyz and the log
//     says so once. A prober pings with backoff (50 ms doubling to 1 s)
//     and marks it reachable again at the first answer; nothing needs a
//     restart. Data errors (a key of the wrong type) are not outages.
//
//   - Revocation checks never fail and never wait for a Redis that is
//     known to be down. Each replica keeps an in-process mirror of every
//     entry it added itself (Add always writes it, so this replica's
//     revocations are never lost) and of every revoked answer it read
//     from Redis, kept for as long as the client-side cache would have
//     kept it (at most Options.CacheTTL). Revoked asks the mirror first
//     and, while Redis is unreachable, only the mirror. A revocation made
//     by another replica during the outage reaches this one through the
//     database poll (provider.sync), which keeps running and feeds Add.
//     Entries added while Redis is down are queued and written when it is
//     back.
//
//   - Values authd could not have written (not an integer, negative, more
//     than an hour in the future, a key of another type) are not trusted:
//     the entry counts as absent — the same as a deleted key — and the
//     mirror and the database poll still answer. Add overwrites such a
//     value. Nothing panics on them.
//
//   - Lost data. A FLUSHALL, or a restart without persistence, deletes the
//     rev:epoch key that Rebuild writes; NeedsRebuild then reports true
//     (through the client-side cache, so polling it is free) and the
//     provider re-adds every live entry from the database with Rebuild.
//
//   - Rate limits fall back to an in-process limiter: limits then hold per
//     replica, and Healthy says so.
//
//   - Brute-force counters (Attempts) fall back to the store given to
//     NewAttempts (the SQL store): lockouts keep holding across replicas.
//
//   - Sessions have no fallback: each method returns an error wrapping
//     storage.ErrUnavailable within the timeout, and the pages answer 503
//     until Redis is back. A session key of the wrong type is an absent
//     session.
package redis
