// Package memory holds the in-process versions of the parts of authd's
// state that a multi-replica deployment keeps in Redis. It is the embedded
// default.
package memory

import (
	"sync"
	"time"

	"github.com/authd/authd/storage"
)

// RevocationSet is the in-process revocation set: what introspection and
// every token check consult, with no I/O. It is fed by the store's OnRevoke
// hook (revocations made by this process) and by polling the durable copy
// (revocations made by others). Entries are forgotten once they expire.
//
// Safe for concurrent use; lookups take a read lock only.
type RevocationSet struct {
	mu sync.RWMutex
	// entries maps kind -> value -> entry. Guarded by mu.
	entries map[storage.RevocationKind]map[string]entry
}

type entry struct {
	revokedAtMs int64
	expiresAtMs int64
}

// NewRevocationSet returns an empty set.
func NewRevocationSet() *RevocationSet {
	s := &RevocationSet{entries: map[storage.RevocationKind]map[string]entry{}}
	for _, k := range []storage.RevocationKind{storage.RevokeToken, storage.RevokeGrant, storage.RevokeSession, storage.RevokeSubject, storage.RevokeClientSubject} {
		s.entries[k] = map[string]entry{}
	}
	return s
}

// Add records r; for an existing (kind, value) the later times win.
func (s *RevocationSet) Add(r storage.Revocation) {
	e := entry{revokedAtMs: r.RevokedAt.UnixMilli(), expiresAtMs: r.ExpiresAt.UnixMilli()}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.entries[r.Kind]
	if !ok {
		return // an unknown kind matches nothing
	}
	if old, ok := m[r.Value]; ok {
		e.revokedAtMs = max(e.revokedAtMs, old.revokedAtMs)
		e.expiresAtMs = max(e.expiresAtMs, old.expiresAtMs)
	}
	m[r.Value] = e
}

// Revoked reports whether any entry matches t at now (storage.Matches).
func (s *RevocationSet) Revoked(t storage.TokenRef, now time.Time) bool {
	nowMs := now.UnixMilli()
	var buf [storage.MaxRevocationKeys]storage.RevocationKey
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range t.Keys(&buf) {
		if e, ok := s.entries[k.Kind][k.Value]; ok && e.expiresAtMs > nowMs && storage.Matches(k.Kind, e.revokedAtMs, t) {
			return true
		}
	}
	return false
}

// Sweep forgets entries that expired before now and returns how many.
func (s *RevocationSet) Sweep(now time.Time) int {
	nowMs := now.UnixMilli()
	n := 0
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.entries {
		for v, e := range m {
			if e.expiresAtMs <= nowMs {
				delete(m, v)
				n++
			}
		}
	}
	return n
}

// Len returns the number of entries.
func (s *RevocationSet) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, m := range s.entries {
		n += len(m)
	}
	return n
}
