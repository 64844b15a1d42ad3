package redis

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/authd/authd/storage"
)

// memo remembers, in process, what Redis answered for revocation entries
// (absent, or a RevokedAt), so that a warm check costs a map lookup rather
// than a trip through rueidis's client-side cache. It is exactly as fresh
// as that cache: an entry is dropped when Redis invalidates its key (or
// all keys: a flush, a lost connection), and it expires when the cache
// entry it was read from would have. Safe for concurrent use.
type memo struct {
	seed   maphash.Seed
	shards [memoShards]memoShard
	// gen counts invalidations; an answer read while one arrived is not
	// remembered (it may predate the write that caused it).
	gen  atomic.Uint64
	size atomic.Int64
}

const (
	memoShards = 64 // a power of two
	// memoMax bounds the entries; past it the memo starts afresh.
	memoMax = 1 << 20
)

type memoShard struct {
	mu sync.RWMutex
	// m maps an entry to what Redis said. Guarded by mu.
	m map[storage.RevocationKey]memoEntry
}

// memoEntry is one answer: at is the RevokedAt (Unix ms), or -1 for an
// absent entry; untilMs is when the answer stops being fresh.
type memoEntry struct {
	at, untilMs int64
}

func newMemo() *memo {
	m := &memo{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = map[storage.RevocationKey]memoEntry{}
	}
	return m
}

func (m *memo) shard(k storage.RevocationKey) *memoShard {
	return &m.shards[maphash.String(m.seed, k.Value)&(memoShards-1)]
}

// get returns the remembered answer for k, if fresh at nowMs.
func (m *memo) get(k storage.RevocationKey, nowMs int64) (memoEntry, bool) {
	sh := m.shard(k)
	sh.mu.RLock()
	e, ok := sh.m[k]
	sh.mu.RUnlock()
	return e, ok && e.untilMs > nowMs
}

// put remembers e for k unless an invalidation arrived since gen was read.
func (m *memo) put(k storage.RevocationKey, e memoEntry, gen uint64) {
	if m.size.Load() >= memoMax {
		m.clear()
		return
	}
	sh := m.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if m.gen.Load() != gen {
		return
	}
	if _, ok := sh.m[k]; !ok {
		m.size.Add(1)
	}
	sh.m[k] = e
}

// invalidate forgets the entries of the Redis keys given (full names under
// prefix+"rev:"), or every entry for nil.
func (m *memo) invalidate(prefix string, keys []string) {
	m.gen.Add(1)
	if keys == nil {
		m.clear()
		return
	}
	for _, key := range keys {
		rest, ok := strings.CutPrefix(key, prefix+"rev:")
		if !ok {
			continue
		}
		kind, value, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		k := storage.RevocationKey{Kind: storage.RevocationKind(kind), Value: value}
		sh := m.shard(k)
		sh.mu.Lock()
		if _, ok := sh.m[k]; ok {
			delete(sh.m, k)
			m.size.Add(-1)
		}
		sh.mu.Unlock()
	}
	m.gen.Add(1)
}

// clear forgets everything.
func (m *memo) clear() {
	m.gen.Add(1)
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		m.size.Add(-int64(len(sh.m)))
		clear(sh.m)
		sh.mu.Unlock()
	}
}

// sweep forgets entries no longer fresh at nowMs.
func (m *memo) sweep(nowMs int64) {
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if e.untilMs <= nowMs {
				delete(sh.m, k)
				m.size.Add(-1)
			}
		}
		sh.mu.Unlock()
	}
}
