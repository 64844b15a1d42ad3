package provider

import (
	"context"
	"time"

	"github.com/authd/authd/storage"
)

// syncStore is what the poll and the janitor read and clean up.
type syncStore interface {
	ListRevocations(ctx context.Context, since, now time.Time) ([]storage.Revocation, error)
	ListChanges(ctx context.Context, since time.Time) ([]storage.Change, error)
	// DeleteExpired removes expired token state and bookkeeping
	// (storage.Tokens).
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
}

// pollOverlap is how far back each poll looks again, so entries written by
// a transaction that committed late, or on a replica whose clock is a
// little behind, are still seen. Re-applying an entry is harmless.
const pollOverlap = 5 * time.Second

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
// interval it reads revocations and changes recorded by other processes;
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
	seen := map[int64]time.Time{} // change ids applied, until they leave the overlap window
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			start := p.now()
			err := p.pollOnce(ctx, since.Add(-pollOverlap), seen)
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
			for id, at := range seen {
				if at.Before(start.Add(-2 * pollOverlap)) {
					delete(seen, id)
				}
			}
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

// pollOnce applies revocations and changes recorded since since.
func (p *Provider) pollOnce(ctx context.Context, since time.Time, seen map[int64]time.Time) error {
	if err := p.loadRevocations(ctx, since); err != nil {
		return err
	}
	p.rebuildRevocations(ctx)
	changes, err := p.store.ListChanges(ctx, since)
	if err != nil {
		return err
	}
	reloadKeys := false
	for _, c := range changes {
		if _, done := seen[c.ID]; done {
			continue
		}
		seen[c.ID] = c.CreatedAt
		switch c.Topic {
		case storage.TopicClient:
			p.clients.Invalidate(c.Ref)
		case storage.TopicKeys:
			reloadKeys = true
		}
	}
	if reloadKeys {
		return p.reloadKeys(ctx)
	}
	return nil
}

func timeUnix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
