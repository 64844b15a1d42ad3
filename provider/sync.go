package provider

import (
	"context"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/feed"
)

// syncStore is what the poll and the janitor read and clean up; the
// change feed (storage/feed) reads ListChanges.
type syncStore interface {
	feed.Source
	ListRevocations(ctx context.Context, since, now time.Time) ([]storage.Revocation, error)
	// DeleteExpired removes expired token state and bookkeeping
	// (storage.Tokens).
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
}

// pollOverlap is how far back each revocation poll looks again, as the
// change feed does (feed.Overlap), so entries written by a transaction
// that committed late, or on a replica whose clock is a little behind,
// are still seen. Re-adding an entry is harmless.
const pollOverlap = feed.Overlap

const (
	keyRefreshInterval = time.Minute
	janitorInterval    = 10 * time.Minute
)

// loadRevocations adds every live revocation recorded since since.
func (p *Provider) loadRevocations(ctx context.Context, since time.Time) error {
	revs, err := p.store.ListRevocations(ctx, since, p.now())
	if err != nil {
		return err
	}
	for _, r := range revs {
		p.revoked.Add(r)
	}
	return nil
}

// rebuildRevocations refills a revocation set that lost its entries (see
// rebuilder) from the database. Failures are logged; the next poll tries
// again.
func (p *Provider) rebuildRevocations(ctx context.Context) {
	rb, ok := p.revoked.(rebuilder)
	if !ok || !rb.NeedsRebuild(ctx) {
		return
	}
	revs, err := p.store.ListRevocations(ctx, time.Time{}, p.now())
	if err == nil {
		err = rb.Rebuild(ctx, revs)
	}
	if err != nil {
		if ctx.Err() == nil {
			p.log.WarnContext(ctx, "rebuilding the shared revocation set from the database failed; retrying at the next poll", "err", err)
		}
		return
	}
	p.log.InfoContext(ctx, "rebuilt the shared revocation set from the database", "entries", len(revs))
}

// sync keeps this process's caches true to the database: every poll
// interval it reads revocations recorded by other processes and polls the
// change feed (whose subscribers invalidate caches and reload keys);
// every minute it reloads the keys (dropping retired ones whose tokens have
// expired); every ten minutes it deletes expired records.
func (p *Provider) sync(ctx context.Context) error {
	poll := time.NewTicker(p.cfg.Cache.PollInterval)
	defer poll.Stop()
	keyTick := time.NewTicker(keyRefreshInterval)
	defer keyTick.Stop()
	janitor := time.NewTicker(janitorInterval)
	defer janitor.Stop()

	since := p.now()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			start := p.now()
			err := p.pollOnce(ctx, since.Add(-pollOverlap))
			if err != nil {
				if !failing && ctx.Err() == nil {
					p.log.WarnContext(ctx, "polling the database for revocations and changes failed; retrying", "err", err)
				}
				failing = true
				continue
			}
			if failing {
				p.log.InfoContext(ctx, "polling the database works again")
				failing = false
			}
			since = start
		case <-keyTick.C:
			if err := p.reloadKeys(ctx); err != nil && ctx.Err() == nil {
				p.log.WarnContext(ctx, "reloading signing keys failed", "err", err)
			}
			p.revoked.Sweep(p.now())
		case <-janitor.C:
			n, err := p.store.DeleteExpired(ctx, p.now())
			if err != nil && ctx.Err() == nil {
				p.log.WarnContext(ctx, "deleting expired records failed", "err", err)
			} else if n > 0 {
				p.log.DebugContext(ctx, "deleted expired records", "count", n)
			}
		}
	}
}

// pollOnce applies the revocations recorded since since, rebuilds a
// shared revocation set that lost its entries, and polls the change feed.
func (p *Provider) pollOnce(ctx context.Context, since time.Time) error {
	if err := p.loadRevocations(ctx, since); err != nil {
		return err
	}
	p.rebuildRevocations(ctx)
	return p.changes.Poll(ctx)
}

func timeUnix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
