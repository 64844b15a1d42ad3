package sql_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sql"
)

// TestDeviceCodes exercises storage.DeviceCodes on every SQL backend: the
// pending lookup by user code, the compare-and-swap poll, one decision
// and one redemption winning among concurrent callers, and the janitor.
func TestDeviceCodes(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := b.newStore(t, sql.Options{})
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Millisecond)
			d := &storage.DeviceCode{Signature: "sig-1", UserCode: "BCDFGHJK", ClientID: "tv", Scopes: []string{"openid", "offline_access"},
				Interval: 5 * time.Second, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
			if err := s.CreateDeviceCode(ctx, d); err != nil {
				t.Fatal(err)
			}
			dup := *d
			dup.Signature = "sig-2"
			if err := s.CreateDeviceCode(ctx, &dup); !errors.Is(err, storage.ErrConflict) {
				t.Fatalf("same user code again: %v, want ErrConflict", err)
			}
			got, err := s.GetPendingDeviceCode(ctx, "BCDFGHJK", now)
			if err != nil || got.Signature != "sig-1" || got.Status != storage.DevicePending || !slices.Equal(got.Scopes, d.Scopes) ||
				got.Interval != 5*time.Second || !got.LastPolledAt.IsZero() || !got.ExpiresAt.Equal(d.ExpiresAt) {
				t.Fatalf("GetPendingDeviceCode: %+v, %v", got, err)
			}
			if _, err := s.GetPendingDeviceCode(ctx, "BCDFGHJK", now.Add(10*time.Minute)); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("pending lookup once expired: %v, want ErrNotFound", err)
			}
			if _, err := s.GetDeviceCode(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("GetDeviceCode(unknown): %v", err)
			}

			// Polls: compare and swap on the last poll.
			if err := s.RecordDevicePoll(ctx, "sig-1", time.Time{}, now, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := s.RecordDevicePoll(ctx, "sig-1", time.Time{}, now, 5*time.Second); !errors.Is(err, storage.ErrConflict) {
				t.Fatalf("poll with a stale previous time: %v, want ErrConflict", err)
			}
			if err := s.RecordDevicePoll(ctx, "sig-1", now, now.Add(time.Second), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := s.RecordDevicePoll(ctx, "nope", time.Time{}, now, time.Second); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("poll of an unknown code: %v, want ErrNotFound", err)
			}
			got, _ = s.GetDeviceCode(ctx, "sig-1")
			if got.Interval != 10*time.Second || !got.LastPolledAt.Equal(now.Add(time.Second)) {
				t.Fatalf("after polls: interval %v, last poll %v", got.Interval, got.LastPolledAt)
			}

			// Redeeming a pending code fails; of concurrent decisions one wins.
			if err := s.RedeemDeviceCode(ctx, "sig-1"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("redeem while pending: %v, want ErrNotFound", err)
			}
			var wins atomic.Int32
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					st := storage.DeviceApproved
					if i%2 == 1 {
						st = storage.DeviceDenied
					}
					err := s.DecideDeviceCode(ctx, &storage.DeviceCode{Signature: "sig-1", Status: st, Subject: "alice", SessionID: "sid",
						GrantedScopes: []string{"openid"}, Session: []byte(`{"a":1}`)}, now)
					switch {
					case err == nil:
						wins.Add(1)
					case !errors.Is(err, storage.ErrNotFound):
						t.Errorf("DecideDeviceCode: %v", err)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d decisions won, want 1", wins.Load())
			}
			got, _ = s.GetDeviceCode(ctx, "sig-1")
			if got.Subject != "alice" || got.SessionID != "sid" || string(got.Session) != `{"a":1}` || !slices.Equal(got.GrantedScopes, []string{"openid"}) {
				t.Fatalf("decided record: %+v", got)
			}
			if _, err := s.GetPendingDeviceCode(ctx, "BCDFGHJK", now); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("pending lookup once decided: %v", err)
			}
			if got.Status == storage.DeviceApproved {
				wins.Store(0)
				for range 8 {
					wg.Go(func() {
						if err := s.RedeemDeviceCode(ctx, "sig-1"); err == nil {
							wins.Add(1)
						} else if !errors.Is(err, storage.ErrNotFound) {
							t.Errorf("RedeemDeviceCode: %v", err)
						}
					})
				}
				wg.Wait()
				if wins.Load() != 1 {
					t.Fatalf("%d redemptions won, want 1", wins.Load())
				}
			}

			// An expired code cannot be decided, and the janitor removes it.
			late := &storage.DeviceCode{Signature: "sig-3", UserCode: "ZXWVTSRQ", ClientID: "tv", Interval: time.Second,
				CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
			if err := s.CreateDeviceCode(ctx, late); err != nil {
				t.Fatal(err)
			}
			if err := s.DecideDeviceCode(ctx, &storage.DeviceCode{Signature: "sig-3", Status: storage.DeviceApproved}, now.Add(time.Minute)); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("deciding an expired code: %v, want ErrNotFound", err)
			}
			if _, err := s.DeleteExpired(ctx, now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			for _, sig := range []string{"sig-1", "sig-3"} {
				if _, err := s.GetDeviceCode(ctx, sig); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("%s after DeleteExpired: %v", sig, err)
				}
			}
		})
	}
}
