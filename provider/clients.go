package provider

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/authd/authd/storage"
)

// clientCache keeps clients in process so that client authentication on
// the token and introspection endpoints needs no query. Entries are
// dropped when the change feed says the client changed (in this process or
// any other, the CLI included) and expire after a TTL as a backstop.
// Unknown ids are cached too, so a flood of bogus client ids cannot reach
// the database; creating the client invalidates that entry like any change.
type clientCache struct {
	store interface {
		GetStoredClient(ctx context.Context, id string) (*storage.Client, error)
	}
	lru *expirable.LRU[string, *storage.Client] // nil value: known absent
}

func newClientCache(store interface {
	GetStoredClient(ctx context.Context, id string) (*storage.Client, error)
}, size int, ttl time.Duration) (*clientCache, error) {
	return &clientCache{store: store, lru: expirable.NewLRU[string, *storage.Client](size, nil, ttl)}, nil
}

// get returns the client or storage.ErrNotFound.
func (c *clientCache) get(ctx context.Context, id string) (*storage.Client, error) {
	if len(id) > maxClientIDLength {
		return nil, storage.ErrNotFound
	}
	if cl, ok := c.lru.Get(id); ok {
		if cl == nil {
			return nil, storage.ErrNotFound
		}
		return cl, nil
	}
	cl, err := c.store.GetStoredClient(ctx, id)
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

// invalidate forgets id.
func (c *clientCache) invalidate(id string) { c.lru.Remove(id) }

// maxClientIDLength bounds the ids we look up at all.
const maxClientIDLength = 256
