package cache_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/cache"
)

// countingSource is a hand-written client source that counts its reads.
type countingSource struct {
	clients map[string]*storage.Client
	reads   map[string]int
	fail    error
}

func (s *countingSource) GetStoredClient(_ context.Context, id string) (*storage.Client, error) {
	s.reads[id]++
	if s.fail != nil {
		return nil, s.fail
	}
	c, ok := s.clients[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return c, nil
}

func TestClients(t *testing.T) {
	ctx := context.Background()
	src := &countingSource{clients: map[string]*storage.Client{"app": {ID: "app"}}, reads: map[string]int{}}
	c := cache.NewClients(src, 10, time.Hour)

	for range 3 {
		if got, err := c.GetStoredClient(ctx, "app"); err != nil || got.ID != "app" {
			t.Fatalf("GetStoredClient(app) = %v, %v; want the client", got, err)
		}
		if _, err := c.GetStoredClient(ctx, "ghost"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetStoredClient(ghost) err = %v, want storage.ErrNotFound", err)
		}
	}
	if src.reads["app"] != 1 || src.reads["ghost"] != 1 {
		t.Errorf("reads %v, want one each: hits and known absences are served from the cache", src.reads)
	}

	src.clients["ghost"] = &storage.Client{ID: "ghost"}
	c.Invalidate("ghost")
	if got, err := c.GetStoredClient(ctx, "ghost"); err != nil || got.ID != "ghost" {
		t.Errorf("after Invalidate: %v, %v; want the new client", got, err)
	}

	long := strings.Repeat("x", storage.MaxClientIDLength+1)
	if _, err := c.GetStoredClient(ctx, long); !errors.Is(err, storage.ErrNotFound) || src.reads[long] != 0 {
		t.Errorf("over-long id: err %v, %d reads; want storage.ErrNotFound without a read", err, src.reads[long])
	}

	src.fail = errors.New("database down")
	if _, err := c.GetStoredClient(ctx, "other"); !errors.Is(err, src.fail) {
		t.Errorf("failing source: err %v, want it passed on", err)
	}
	src.fail = nil
	if _, err := c.GetStoredClient(ctx, "other"); !errors.Is(err, storage.ErrNotFound) || src.reads["other"] != 2 {
		t.Errorf("after a failure: err %v, %d reads; want the failure not cached", err, src.reads["other"])
	}
}
