package webhook

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/authd/authd/storage"
)

// cursorName is the dispatcher's position in the audit log.
const cursorName = "webhooks"

// dispatchBatch is how many audit events one dispatch transaction takes.
const dispatchBatch = 500

// Run dispatches new events every Config.PollInterval until ctx ends.
// Every replica runs it; the cursor's lock makes each event dispatched
// once.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	var pruned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if now := s.now(); now.Sub(pruned) >= pruneInterval {
			pruned = now
			if _, err := s.Prune(ctx); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "webhook: deleting old deliveries failed; will retry", "err", err)
			}
		}
		if _, err := s.Dispatch(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "webhook: dispatching events failed; will retry", "err", err)
		}
		if err := s.flushAlerts(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "webhook: sending alert summaries failed; will retry", "err", err)
		}
	}
}

// pruneInterval is how often each process deletes expired deliveries.
const pruneInterval = 10 * time.Minute

// Prune deletes the finished deliveries older than Config.Retention, a
// thousand at a time, and returns how many.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	before := s.now().Add(-s.cfg.Retention)
	var total int64
	for {
		n, err := s.store.DeleteWebhookDeliveries(ctx, before, 1000)
		total += n
		if err != nil || n < 1000 {
			return total, err
		}
	}
}

// Dispatch consumes the audit events committed since the last call (on
// any replica): for each event of the catalogue, one delivery and its job
// per subscribed endpoint, and the alerts of security events; the
// deliveries, jobs, alert state and the new cursor commit together, so an
// event is dispatched exactly once however processes die. It returns how
// many events it consumed.
func (s *Service) Dispatch(ctx context.Context) (int, error) {
	if s.jobs == nil {
		return 0, ErrNoQueue
	}
	total := 0
	for {
		head, err := s.store.AuditHead(ctx)
		if err != nil {
			return total, err
		}
		if head != 0 && head == atomic.LoadInt64(&s.lastHead) {
			return total, nil // nothing new since this process last looked
		}
		n, pos, err := s.dispatchBatch(ctx)
		total += n
		if err != nil {
			return total, err
		}
		if n < dispatchBatch {
			// Up to date as of head (pos can be ahead of it by now).
			atomic.StoreInt64(&s.lastHead, max(head, pos))
			return total, nil
		}
	}
}

func (s *Service) dispatchBatch(ctx context.Context) (n int, pos int64, err error) {
	err = storage.InTx(ctx, s.store, func(ctx context.Context) error {
		pos, err = s.store.LockEventCursor(ctx, cursorName)
		if err != nil {
			return err
		}
		events, err := s.store.AuditEventsAfter(ctx, pos, dispatchBatch)
		if err != nil || len(events) == 0 {
			return err
		}
		n = len(events)
		hooks, err := s.allWebhooks(ctx)
		if err != nil {
			return err
		}
		var streams []*storage.Webhook
		if s.signer != nil {
			for _, w := range hooks {
				if w.Stream != nil {
					streams = append(streams, w)
				}
			}
		}
		now := s.now()
		var deliveries []*storage.WebhookDelivery
		var jobs []river.InsertManyParams
		for _, e := range events {
			if err := s.observe(ctx, e, now); err != nil {
				return err
			}
			if len(streams) > 0 {
				sets, err := s.streamDeliveries(ctx, e, streams)
				if err != nil {
					return err
				}
				for _, d := range sets {
					deliveries = append(deliveries, d)
					if d.Status == storage.DeliveryPending {
						jobs = append(jobs, deliveryJob(d))
					}
				}
			}
			t, ok := TypeOf(e.Type)
			if !ok {
				continue
			}
			targets := subscribed(hooks, t)
			if len(targets) == 0 {
				continue
			}
			body, err := payloadOf(t, e).marshal()
			if err != nil {
				return err
			}
			for _, w := range targets {
				d := &storage.WebhookDelivery{ID: newID("msg_", now), WebhookID: w.ID, EventID: e.ID, EventType: string(t),
					Payload: body, Status: storage.DeliveryPending, NextAttemptAt: now, CreatedAt: now}
				deliveries = append(deliveries, d)
				jobs = append(jobs, deliveryJob(d))
			}
		}
		if err := s.store.CreateWebhookDeliveries(ctx, deliveries); err != nil {
			return err
		}
		if len(jobs) > 0 {
			if err := s.jobs.EnqueueMany(ctx, jobs); err != nil {
				return err
			}
		}
		pos = events[len(events)-1].ID
		return s.store.SetEventCursor(ctx, cursorName, pos)
	})
	return n, pos, err
}

// allWebhooks reads every endpoint (there are few).
func (s *Service) allWebhooks(ctx context.Context) ([]*storage.Webhook, error) {
	var out []*storage.Webhook
	after := ""
	for {
		page, err := s.store.ListWebhooks(ctx, "", after, 500)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 500 {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}
