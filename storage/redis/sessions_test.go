package redis

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/storagetest"
)

func TestSessionsConformance(t *testing.T) {
	storagetest.RunSessionTests(t, func(t *testing.T) storage.Sessions {
		return NewSessions(sharedClient(t, newPrefix(t)))
	})
}

// TestSessionsExpire: Redis forgets a session, its secret and its clients
// at ExpiresAt, and listing drops the id.
func TestSessionsExpire(t *testing.T) {
	prefix := newPrefix(t)
	s := NewSessions(sharedClient(t, prefix))
	ctx := context.Background()
	now := time.Now()
	short := &storage.Session{ID: "short", UserID: "alice", AuthTime: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(200 * time.Millisecond)}
	long := &storage.Session{ID: "long", UserID: "alice", AuthTime: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	for _, sess := range []*storage.Session{short, long} {
		if err := s.CreateSession(ctx, sess, []byte("secret-"+sess.ID)); err != nil {
			t.Fatal(err)
		}
		if err := s.AddSessionClient(ctx, sess.ID, "app"); err != nil {
			t.Fatal(err)
		}
	}
	// Redis expires the keys on its own clock: wait for it, bounded.
	waitFor(t, "the short session expires in Redis", 5*time.Second, func() bool {
		_, err := s.GetSession(ctx, "short")
		return errors.Is(err, storage.ErrNotFound)
	})
	if ids, _ := s.ListSessionClients(ctx, "short"); len(ids) != 0 {
		t.Fatalf("clients of an expired session: %v", ids)
	}
	ss, err := s.ListUserSessions(ctx, "alice", time.Time{})
	if err != nil || len(ss) != 1 || ss[0].ID != "long" {
		t.Fatalf("ListUserSessions = %v, %v; want [long]", ss, err)
	}
	admin := adminClient(t, testURL())
	keys, err := admin.Do(ctx, admin.B().Keys().Pattern(prefix+"*").Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k == prefix+"sess:{short}" || k == prefix+"sess:{short}:clients" || k == prefix+"sess-secret:"+"7365637265742d73686f7274" {
			t.Errorf("key %s outlived its session", k)
		}
	}
	members, _ := admin.Do(ctx, admin.B().Zrange().Key(prefix+"user-sess:{alice}").Min("0").Max("-1").Build()).AsStrSlice()
	if len(members) != 1 || members[0] != "long" {
		t.Errorf("user's set after listing = %v, want [long] (expired ids pruned)", members)
	}
	pttl, _ := admin.Do(ctx, admin.B().Pttl().Key(prefix+"user-sess:{alice}").Build()).AsInt64()
	if pttl < int64(59*time.Minute/time.Millisecond) {
		t.Errorf("user's set PTTL = %d ms, want it to live as long as the longest session", pttl)
	}
}

// TestSessionsGarbage: keys of the wrong type or with values authd could
// not have written are absent sessions, never errors.
func TestSessionsGarbage(t *testing.T) {
	prefix := newPrefix(t)
	s := NewSessions(sharedClient(t, prefix))
	admin := adminClient(t, testURL())
	ctx := context.Background()
	hash := []byte("0123456789abcdef0123456789abcdef")
	for _, cmd := range [][]string{
		{"SET", prefix + "sess:{str}", "garbage"},
		{"HSET", prefix + "sess:{nofields}", "user", "u"},
		{"RPUSH", prefix + "sess-secret:" + hex.EncodeToString(hash), "x"},
		{"SET", prefix + "sess-secret:" + hex.EncodeToString(hash[:16]), "str"},
	} {
		if err := admin.Do(ctx, admin.B().Arbitrary(cmd...).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"str", "nofields"} {
		if _, err := s.GetSession(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetSession(%s) = %v, want ErrNotFound", id, err)
		}
	}
	for _, h := range [][]byte{hash, hash[:16]} {
		if _, err := s.GetSessionBySecret(ctx, h, time.Now()); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetSessionBySecret(garbage) = %v, want ErrNotFound", err)
		}
	}
}
