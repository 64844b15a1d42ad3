// Package feed delivers the change feed (storage.Changes) to the caches
// that hold copies of records: every process polls the database's changes
// table, and each cache subscribes to the topics whose records it holds
// (the client cache to storage.TopicClient, the key snapshot to
// storage.TopicKeys; federation providers, roles, API keys and
// organizations next). A write in one process, or by the CLI, reaches
// every other process's caches at its next poll.
//
// Delivery is at least once: each poll looks Overlap back again, so a
// change written by a transaction that committed late, or on a machine
// whose clock is a little behind, is still seen; changes already applied
// are skipped by id while they can still be read again. A handler that
// fails gets the same changes again at the next poll, and so may the
// other handlers of that topic: handlers must be idempotent (invalidating
// a cache entry, reloading a snapshot).
package feed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd/authd/storage"
)

// Overlap is how far back each poll looks again. Re-reading a change is
// harmless: it is skipped by id.
const Overlap = 5 * time.Second

// Source is where the feed reads changes (storage.Changes).
type Source interface {
	// ListChanges returns changes recorded at or after since, oldest first.
	ListChanges(ctx context.Context, since time.Time) ([]storage.Change, error)
}

// Handler applies the changes of one topic that one poll read, oldest
// first. An error makes the feed deliver them again at the next poll.
type Handler func(ctx context.Context, changes []storage.Change) error

// Feed is one process's view of the change feed. Subscribe before the
// first Poll; Poll is called by the loop that owns the polling (the
// provider's, every cache.poll_interval). Safe for concurrent use.
type Feed struct {
	src Source
	now func() time.Time

	mu   sync.Mutex
	subs map[string][]Handler
	// since is when the last successful poll started; the next one reads
	// from Overlap before it.
	since time.Time
	// seen holds the ids of changes applied, with when they were
	// recorded, until they can no longer be read again.
	seen map[int64]time.Time
	// lastOK is when the last successful poll started (Unix ns); read
	// without mu, which a slow poll holds.
	lastOK atomic.Int64
}

// LastPoll is when the last successful poll started; zero before one.
func (f *Feed) LastPoll() time.Time {
	if n := f.lastOK.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// New returns a feed over src that delivers changes recorded from now on
// (now is the clock; time.Now when nil).
func New(src Source, now func() time.Time) *Feed {
	if now == nil {
		now = time.Now
	}
	return &Feed{src: src, now: now, subs: map[string][]Handler{}, since: now(), seen: map[int64]time.Time{}}
}

// Subscribe calls h with the changes of topic each poll reads.
func (f *Feed) Subscribe(topic string, h Handler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs[topic] = append(f.subs[topic], h)
}

// Poll reads the changes recorded since the last successful poll (less
// Overlap) and delivers those not yet applied to their topic's handlers,
// one call per topic. When reading fails or a handler fails it returns
// the error, and the next poll reads from the same point again.
func (f *Feed) Poll(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	start := f.now()
	changes, err := f.src.ListChanges(ctx, f.since.Add(-Overlap))
	if err != nil {
		return err
	}
	var topics []string
	byTopic := map[string][]storage.Change{}
	for _, c := range changes {
		if _, done := f.seen[c.ID]; done {
			continue
		}
		if _, ok := byTopic[c.Topic]; !ok {
			topics = append(topics, c.Topic)
		}
		byTopic[c.Topic] = append(byTopic[c.Topic], c)
	}
	var errs []error
	for _, topic := range topics {
		cs := byTopic[topic]
		failed := false
		for _, h := range f.subs[topic] {
			if err := h(ctx, cs); err != nil {
				errs = append(errs, fmt.Errorf("feed: applying %d %q changes: %w", len(cs), topic, err))
				failed = true
			}
		}
		if !failed {
			for _, c := range cs {
				f.seen[c.ID] = c.CreatedAt
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	f.since = start
	f.lastOK.Store(start.UnixNano())
	for id, at := range f.seen {
		if at.Before(start.Add(-2 * Overlap)) {
			delete(f.seen, id)
		}
	}
	return nil
}
