package memory

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

func TestRevocationSet(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	later := now.Add(time.Hour)
	s := NewRevocationSet()
	s.Add(storage.Revocation{Kind: storage.RevokeToken, Value: "jti-1", RevokedAt: now, ExpiresAt: later})
	s.Add(storage.Revocation{Kind: storage.RevokeGrant, Value: "grant-1", RevokedAt: now, ExpiresAt: later})
	s.Add(storage.Revocation{Kind: storage.RevokeSession, Value: "sid-1", RevokedAt: now, ExpiresAt: later})
	s.Add(storage.Revocation{Kind: storage.RevokeSubject, Value: "alice", RevokedAt: now, ExpiresAt: later})
	s.Add(storage.Revocation{Kind: "bogus", Value: "x", RevokedAt: now, ExpiresAt: later})

	for _, tc := range []struct {
		name string
		tok  Token
		at   time.Time
		want bool
	}{
		{"revoked jti", Token{JTI: "jti-1"}, now, true},
		{"other jti", Token{JTI: "jti-2", Subject: "bob"}, now, false},
		{"revoked grant", Token{JTI: "x", GrantID: "grant-1"}, now, true},
		{"revoked session", Token{JTI: "x", SessionID: "sid-1"}, now, true},
		{"subject, issued before", Token{JTI: "x", Subject: "alice", IssuedAtMs: now.UnixMilli() - 1}, now, true},
		{"subject, issued at cut-off", Token{JTI: "x", Subject: "alice", IssuedAtMs: now.UnixMilli()}, now, true},
		{"subject, issued after", Token{JTI: "x", Subject: "alice", IssuedAtMs: now.UnixMilli() + 1}, now, false},
		{"empty ids match nothing", Token{}, now, false},
		{"expired entry", Token{JTI: "jti-1"}, later, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.Revoked(tc.tok, tc.at); got != tc.want {
				t.Fatalf("Revoked(%+v, %v) = %v, want %v", tc.tok, tc.at, got, tc.want)
			}
		})
	}
	if n := s.Len(); n != 4 {
		t.Fatalf("Len = %d, want 4 (unknown kinds are dropped)", n)
	}
	if n := s.Sweep(later); n != 4 || s.Len() != 0 {
		t.Fatalf("Sweep removed %d, Len now %d; want 4 and 0", n, s.Len())
	}
}

func TestRevocationSetLaterWins(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := NewRevocationSet()
	s.Add(storage.Revocation{Kind: storage.RevokeSubject, Value: "a", RevokedAt: t0.Add(time.Second), ExpiresAt: t0.Add(time.Hour)})
	s.Add(storage.Revocation{Kind: storage.RevokeSubject, Value: "a", RevokedAt: t0, ExpiresAt: t0.Add(time.Minute)})
	if !s.Revoked(Token{Subject: "a", IssuedAtMs: t0.Add(time.Second).UnixMilli()}, t0.Add(30*time.Minute)) {
		t.Fatal("an older duplicate entry shortened the revocation")
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
				if !s.Revoked(Token{JTI: v}, now) {
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

func TestRevocationSetClientSubject(t *testing.T) {
	now := time.Unix(5000, 0)
	s := NewRevocationSet()
	s.Add(storage.Revocation{Kind: storage.RevokeClientSubject, Value: storage.ClientSubjectKey("app", "alice"), RevokedAt: now, ExpiresAt: now.Add(time.Hour)})
	for _, tc := range []struct {
		tok  Token
		want bool
	}{
		{Token{Subject: "alice", ClientID: "app", IssuedAtMs: now.UnixMilli()}, true},
		{Token{Subject: "alice", ClientID: "other", IssuedAtMs: now.UnixMilli()}, false},
		{Token{Subject: "bob", ClientID: "app", IssuedAtMs: now.UnixMilli()}, false},
		{Token{Subject: "alice", ClientID: "app", IssuedAtMs: now.UnixMilli() + 1}, false},
	} {
		if got := s.Revoked(tc.tok, now); got != tc.want {
			t.Errorf("Revoked(%+v) = %v, want %v", tc.tok, got, tc.want)
		}
	}
}
