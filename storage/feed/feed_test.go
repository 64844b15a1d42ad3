package feed_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/feed"
	storesql "github.com/authd/authd/storage/sql"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// recorder is a subscriber that remembers the refs it was given, poll by
// poll, and fails while fail is set.
type recorder struct {
	calls [][]string
	fail  error
}

func (r *recorder) handle(_ context.Context, cs []storage.Change) error {
	var refs []string
	for _, c := range cs {
		refs = append(refs, c.Ref)
	}
	r.calls = append(r.calls, refs)
	return r.fail
}

func (r *recorder) last() []string {
	if len(r.calls) == 0 {
		return nil
	}
	return r.calls[len(r.calls)-1]
}

// source is the real store, made unreadable while err is set.
type source struct {
	*storesql.Store
	err error
}

func (s *source) ListChanges(ctx context.Context, since time.Time) ([]storage.Change, error) {
	if s.err != nil {
		return nil, s.err
	}
	return s.Store.ListChanges(ctx, since)
}

type env struct {
	t     *testing.T
	store *storesql.Store
	src   *source
	clk   *clock
	feed  *feed.Feed
}

func newEnv(t *testing.T, dbURL string) *env {
	clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	store, err := storesql.Open(dbURL, storesql.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	src := &source{Store: store}
	return &env{t: t, store: store, src: src, clk: clk, feed: feed.New(src, clk.Now)}
}

func (e *env) publish(topic, ref string) {
	e.t.Helper()
	if err := e.store.PublishChange(context.Background(), topic, ref); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) poll() error { return e.feed.Poll(context.Background()) }

func (e *env) mustPoll() {
	e.t.Helper()
	if err := e.poll(); err != nil {
		e.t.Fatalf("Poll: %v", err)
	}
}

// TestFeedDelivers: each topic's subscribers get that topic's changes,
// oldest first, once per poll; a change is applied once although every
// poll reads the overlap again; a change recorded late, within the
// overlap, is still seen, and one older than the look-back is not.
func TestFeedDelivers(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		var clients, clients2, keys recorder
		e.feed.Subscribe(storage.TopicClient, clients.handle)
		e.feed.Subscribe(storage.TopicClient, clients2.handle)
		e.feed.Subscribe(storage.TopicKeys, keys.handle)

		e.mustPoll()
		if len(clients.calls)+len(keys.calls) != 0 {
			t.Fatalf("an empty feed called handlers: %v %v", clients.calls, keys.calls)
		}
		e.clk.Advance(time.Second)
		e.publish(storage.TopicClient, "c1")
		e.publish(storage.TopicKeys, "k1")
		e.publish(storage.TopicClient, "c2")
		e.publish("elsewhere", "x") // a topic nobody here holds
		e.clk.Advance(time.Second)
		e.mustPoll()
		if !slices.Equal(clients.last(), []string{"c1", "c2"}) || !slices.Equal(clients2.last(), []string{"c1", "c2"}) ||
			!slices.Equal(keys.last(), []string{"k1"}) {
			t.Fatalf("first poll delivered clients %v / %v, keys %v; want [c1 c2] to both and [k1]", clients.calls, clients2.calls, keys.calls)
		}

		// The next polls read the same rows again (they are within the
		// overlap) but apply nothing twice.
		e.clk.Advance(time.Second)
		e.mustPoll()
		e.mustPoll()
		if len(clients.calls) != 1 || len(keys.calls) != 1 {
			t.Fatalf("changes applied again: clients %v, keys %v", clients.calls, keys.calls)
		}

		// A change that committed late: recorded with a time before the
		// last poll, but within the overlap.
		e.clk.Advance(-(feed.Overlap - time.Second))
		e.publish(storage.TopicClient, "late")
		e.clk.Advance(feed.Overlap - time.Second)
		e.mustPoll()
		if !slices.Equal(clients.last(), []string{"late"}) {
			t.Fatalf("a change within the overlap: clients got %v, want [late]", clients.calls)
		}

		// One recorded further back than the look-back is not read.
		e.clk.Advance(time.Second)
		e.mustPoll()
		e.clk.Advance(-3 * feed.Overlap)
		e.publish(storage.TopicClient, "ancient")
		e.clk.Advance(3 * feed.Overlap)
		e.mustPoll()
		if slices.Contains(clients.last(), "ancient") {
			t.Fatalf("a change older than the look-back was delivered: %v", clients.calls)
		}
	})
}

// TestFeedRetries: a handler that fails gets the same changes again at
// the next poll (its topic's other handlers may too); another topic's
// handlers are not called again; once it succeeds, nothing is repeated.
// A feed that cannot read fails its poll and reads from the same point
// next time.
func TestFeedRetries(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		var keys, clients recorder
		keys.fail = errors.New("key store unreachable")
		e.feed.Subscribe(storage.TopicKeys, keys.handle)
		e.feed.Subscribe(storage.TopicClient, clients.handle)
		e.publish(storage.TopicKeys, "k1")
		e.publish(storage.TopicClient, "c1")
		if err := e.poll(); !errors.Is(err, keys.fail) {
			t.Fatalf("Poll with a failing handler = %v, want its error", err)
		}
		// Longer than the overlap: the failed poll did not move the
		// starting point, so the change is read again.
		e.clk.Advance(3 * feed.Overlap)
		keys.fail = nil
		e.mustPoll()
		if len(keys.calls) != 2 || !slices.Equal(keys.last(), []string{"k1"}) {
			t.Fatalf("keys handler calls %v, want [k1] twice", keys.calls)
		}
		if len(clients.calls) != 1 {
			t.Fatalf("clients handler calls %v, want one: its changes were applied", clients.calls)
		}
		e.clk.Advance(time.Second)
		e.mustPoll()
		if len(keys.calls) != 2 {
			t.Fatalf("keys applied again after success: %v", keys.calls)
		}

		// A database that cannot be read: the poll fails, and the change
		// written meanwhile is delivered once it can be.
		e.publish(storage.TopicClient, "c2")
		e.src.err = errors.New("connection refused")
		if err := e.poll(); !errors.Is(err, e.src.err) {
			t.Fatalf("Poll on an unreadable database = %v, want its error", err)
		}
		e.clk.Advance(3 * feed.Overlap)
		e.src.err = nil
		e.mustPoll()
		if !slices.Equal(clients.last(), []string{"c2"}) || len(clients.calls) != 2 {
			t.Fatalf("after the database is back: clients calls %v, want [c1] then [c2]", clients.calls)
		}
	})
}
