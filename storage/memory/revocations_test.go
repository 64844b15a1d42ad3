package memory

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/storagetest"
)

func TestRevocationSet(t *testing.T) {
	storagetest.RunRevocationSetTests(t, func(t *testing.T) (w, r storagetest.RevocationSet, publish func()) {
		s := NewRevocationSet()
		return s, s, func() {}
	})
}

func TestRevocationSetLenSweep(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	later := now.Add(time.Hour)
	s := NewRevocationSet()
	for _, k := range []storage.RevocationKind{storage.RevokeToken, storage.RevokeGrant, storage.RevokeSession, storage.RevokeSubject, "bogus"} {
		s.Add(storage.Revocation{Kind: k, Value: "v", RevokedAt: now, ExpiresAt: later})
	}
	if n := s.Len(); n != 4 {
		t.Fatalf("Len = %d, want 4 (unknown kinds are dropped)", n)
	}
	if !s.Revoked(storage.TokenRef{JTI: "v"}, now) || s.Revoked(storage.TokenRef{JTI: "v"}, later) {
		t.Fatal("an entry matches after it expired, or not before")
	}
	if n := s.Sweep(later); n != 4 || s.Len() != 0 {
		t.Fatalf("Sweep removed %d, Len now %d; want 4 and 0", n, s.Len())
	}
}

func TestRevocationSetConcurrent(t *testing.T) {
	s := NewRevocationSet()
	now := time.Now()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				v := fmt.Sprint(i, "-", j)
				s.Add(storage.Revocation{Kind: storage.RevokeToken, Value: v, RevokedAt: now, ExpiresAt: now.Add(time.Minute)})
				if !s.Revoked(storage.TokenRef{JTI: v}, now) {
					t.Errorf("just added %s is not revoked", v)
				}
			}
		}()
	}
	wg.Wait()
	if s.Len() != 1600 {
		t.Fatalf("Len = %d, want 1600", s.Len())
	}
}
