package redis

import (
	"context"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/memory"
	"github.com/authd/authd/storage/storagetest"
)

// TestOneTimeUses runs the contract on the Redis set and on memory's.
func TestOneTimeUses(t *testing.T) {
	prefix := newPrefix(t)
	for name, o := range map[string]storage.OneTimeUses{
		"redis":  NewOneTimeUses(sharedClient(t, prefix)),
		"memory": memory.NewOneTimeUses(nil),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			storagetest.RunOneTimeUsesTests(t, o)
		})
	}
}

// TestOneTimeUsesShared: a use on one replica is a replay on another.
func TestOneTimeUsesShared(t *testing.T) {
	prefix := newPrefix(t)
	a, b := NewOneTimeUses(sharedClient(t, prefix)), NewOneTimeUses(sharedClient(t, prefix))
	ctx, exp := context.Background(), time.Now().Add(time.Minute)
	if first, err := a.Use(ctx, "jti-1", exp); err != nil || !first {
		t.Fatalf("replica a: %v, %v; want first", first, err)
	}
	if first, err := b.Use(ctx, "jti-1", exp); err != nil || first {
		t.Fatalf("replica b: %v, %v; want a replay", first, err)
	}
	if err := a.Healthy(); err != nil {
		t.Fatalf("Healthy = %v", err)
	}
}
