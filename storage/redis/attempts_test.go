package redis

import (
	"context"
	"testing"
	"time"

	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
	storesql "github.com/authd/authd/storage/sql"
	"github.com/authd/authd/storage/storagetest"
)

// sqlAttempts is the fallback the attempt store gets in production: the
// SQL store (SQLite in a temp dir here).
func sqlAttempts(t testing.TB) *storesql.Store {
	t.Helper()
	s, err := storesql.Open(testdb.SQLite(t), storesql.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAttemptsConformance(t *testing.T) {
	storagetest.RunAttemptTests(t, func(t *testing.T) storage.Attempts {
		return NewAttempts(sharedClient(t, newPrefix(t)), sqlAttempts(t))
	})
}

// TestAttemptsShared checks that two replicas count against one key.
func TestAttemptsShared(t *testing.T) {
	prefix := newPrefix(t)
	fb := sqlAttempts(t)
	a, b := NewAttempts(sharedClient(t, prefix), fb), NewAttempts(sharedClient(t, prefix), fb)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	backoff := storage.Backoff{Threshold: 2, Base: time.Minute, Max: time.Hour, Window: time.Hour}
	if _, rec, err := a.RecordFailure(ctx, "account:x", now, backoff); err != nil || !rec {
		t.Fatal(rec, err)
	}
	st, rec, err := b.RecordFailure(ctx, "account:x", now, backoff)
	if err != nil || !rec || st.Failures != 2 {
		t.Fatalf("second failure on the other replica = %+v, %v, %v; want 2 failures", st, rec, err)
	}
	if locked, _ := st.Locked(now); !locked {
		t.Fatal("not locked at the threshold")
	}
	if st, _ := a.GetAttempts(ctx, "account:x", now); st.Failures != 2 {
		t.Fatalf("the first replica sees %+v", st)
	}
	// The fallback holds nothing: Redis answered.
	if st, _ := fb.GetAttempts(ctx, "account:x", now); st.Failures != 0 {
		t.Fatalf("the fallback was written while Redis answered: %+v", st)
	}
}

// TestAttemptsGarbage writes values authd could not have written: they
// count as absent, and the next failure overwrites them.
func TestAttemptsGarbage(t *testing.T) {
	prefix := newPrefix(t)
	s := NewAttempts(sharedClient(t, prefix), sqlAttempts(t))
	admin := adminClient(t, testURL())
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	future := now.Add(time.Hour).UnixMilli()
	backoff := storage.Backoff{Threshold: 3, Base: time.Second, Max: time.Minute, Window: time.Hour}
	for name, cmd := range map[string][]string{
		"string":        {"SET", prefix + "att:string", "999"},
		"list":          {"RPUSH", prefix + "att:list", "1"},
		"text":          {"HSET", prefix + "att:text", "f", "lots", "l", "0", "u", "0", "e", itoa(future)},
		"negative":      {"HSET", prefix + "att:negative", "f", "-5", "l", "0", "u", "0", "e", itoa(future)},
		"missing field": {"HSET", prefix + "att:missing field", "f", "9", "e", itoa(future)},
		"lock past end": {"HSET", prefix + "att:lock past end", "f", "9", "l", "0", "u", itoa(future + 1), "e", itoa(future)},
		"float":         {"HSET", prefix + "att:float", "f", "1.5", "l", "0", "u", "0", "e", itoa(future)},
	} {
		if err := admin.Do(ctx, admin.B().Arbitrary(cmd...).Build()).Error(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		st, err := s.GetAttempts(ctx, name, now)
		if err != nil || st != (storage.AttemptState{}) {
			t.Errorf("%s: GetAttempts = %+v, %v; want the zero state", name, st, err)
		}
		st, rec, err := s.RecordFailure(ctx, name, now, backoff)
		if err != nil || !rec || st.Failures != 1 {
			t.Errorf("%s: RecordFailure = %+v, %v, %v; want 1 failure, recorded", name, st, rec, err)
		}
		if got, err := s.GetAttempts(ctx, name, now); err != nil || got != st {
			t.Errorf("%s: after overwriting, GetAttempts = %+v, %v; want %+v", name, got, err, st)
		}
	}
}

// TestAttemptsFallback kills Redis: attempts go to the fallback at once
// (within the timeout), and back to Redis when it returns.
func TestAttemptsFallback(t *testing.T) {
	srv := startServer(t)
	fb := sqlAttempts(t)
	c := openClient(t, srv.url(), Options{Timeout: testTimeout})
	s := NewAttempts(c, fb)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	backoff := storage.Backoff{Threshold: 2, Base: time.Minute, Max: time.Hour, Window: time.Hour}
	if _, _, err := s.RecordFailure(ctx, "account:y", now, backoff); err != nil {
		t.Fatal(err)
	}
	srv.kill()
	bounded(t, "RecordFailure", func() {
		st, rec, err := s.RecordFailure(ctx, "account:y", now, backoff)
		if err != nil || !rec || st.Failures != 1 {
			t.Errorf("RecordFailure while down = %+v, %v, %v; want 1 failure counted by the fallback", st, rec, err)
		}
	})
	for range 2 {
		bounded(t, "RecordFailure", func() {
			if _, _, err := s.RecordFailure(ctx, "account:y", now, backoff); err != nil {
				t.Errorf("RecordFailure while down: %v", err)
			}
		})
	}
	if st, _ := fb.GetAttempts(ctx, "account:y", now); st.Failures != 2 {
		t.Errorf("the fallback holds %+v, want 2 failures (the lock refused the third)", st)
	}
	bounded(t, "GetAttempts", func() {
		if st, err := s.GetAttempts(ctx, "account:y", now); err != nil || st.Failures != 2 {
			t.Errorf("GetAttempts while down = %+v, %v", st, err)
		}
	})
	srv.start()
	waitFor(t, "Redis is used again", 3*time.Second, func() bool {
		c.Ping(ctx)
		return c.Healthy() == nil
	})
	st, rec, err := s.RecordFailure(ctx, "account:z", now, backoff)
	if err != nil || !rec || st.Failures != 1 {
		t.Fatalf("RecordFailure after recovery = %+v, %v, %v", st, rec, err)
	}
	if st, _ := fb.GetAttempts(ctx, "account:z", now); st.Failures != 0 {
		t.Fatalf("after recovery the fallback is still written: %+v", st)
	}
}
