// Package cache holds in-process read-through caches in front of a
// storage contract. cmd/authd builds each one over the backend and gives
// the same cache to every part that reads through it (the provider, the
// hosted pages, the SQL store reading back stored requests); the provider's
// poll of the change feed invalidates it.
package cache

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/authd/authd/storage"
)

// ClientSource reads a client from the backend (storage.Clients'
// GetStoredClient): storage.ErrNotFound if there is none.
type ClientSource interface {
	GetStoredClient(ctx context.Context, id string) (*storage.Client, error)
}

// Clients keeps clients in process so that client authentication on the
// token and introspection endpoints, stored requests read back and the
// hosted pages need no query. Entries are dropped when the change feed says
// the client changed (in this process or any other, the CLI included:
// Invalidate) and expire after a TTL as a backstop. Unknown ids are cached
// too, so a flood of bogus client ids cannot reach the database; creating
// the client invalidates that entry like any change. Safe for concurrent
// use.
type Clients struct {
	src ClientSource
	lru *expirable.LRU[string, *storage.Client] // nil value: known absent
}

// NewClients returns a cache of at most size clients over src, each kept
// at most ttl.
func NewClients(src ClientSource, size int, ttl time.Duration) *Clients {
	return &Clients{src: src, lru: expirable.NewLRU[string, *storage.Client](size, nil, ttl)}
}

// GetStoredClient returns the client or storage.ErrNotFound; ids longer
// than storage.MaxClientIDLength are not looked up at all. The client
// returned is shared: callers must not modify it.
func (c *Clients) GetStoredClient(ctx context.Context, id string) (*storage.Client, error) {
	if len(id) > storage.MaxClientIDLength {
		return nil, storage.ErrNotFound
	}
	if cl, ok := c.lru.Get(id); ok {
		if cl == nil {
			return nil, storage.ErrNotFound
		}
		return cl, nil
	}
	cl, err := c.src.GetStoredClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		c.lru.Add(id, nil)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	c.lru.Add(id, cl)
	return cl, nil
}

// Invalidate forgets id, so the next read asks the backend.
func (c *Clients) Invalidate(id string) { c.lru.Remove(id) }

// Changed forgets the clients the change feed says changed: the
// storage.TopicClient handler of a feed.Feed.
func (c *Clients) Changed(_ context.Context, changes []storage.Change) error {
	for _, ch := range changes {
		c.Invalidate(ch.Ref)
	}
	return nil
}
