package storage

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Threshold: 5, Base: time.Second, Max: 15 * time.Minute, Window: time.Hour}
	tests := map[int]time.Duration{
		0: 0, 1: 0, 4: 0,
		5: time.Second, 6: 2 * time.Second, 7: 4 * time.Second, 8: 8 * time.Second,
		14: 512 * time.Second, 15: 15 * time.Minute, 16: 15 * time.Minute, 1 << 30: 15 * time.Minute,
	}
	for n, want := range tests {
		if got := b.Delay(n); got != want {
			t.Errorf("Delay(%d) = %v, want %v", n, got, want)
		}
	}
	for _, off := range []Backoff{{}, {Threshold: 0, Base: time.Second, Max: time.Minute}, {Threshold: 3, Base: 0, Max: time.Minute}} {
		if got := off.Delay(100); got != 0 {
			t.Errorf("%+v.Delay(100) = %v, want 0", off, got)
		}
	}
}

func TestAttemptStateLocked(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	st := AttemptState{Failures: 5, LockedUntil: now.Add(3 * time.Second)}
	if locked, left := st.Locked(now); !locked || left != 3*time.Second {
		t.Errorf("Locked(now) = %v, %v; want true, 3s", locked, left)
	}
	if locked, left := st.Locked(now.Add(3 * time.Second)); locked || left != 0 {
		t.Errorf("Locked(at the end) = %v, %v; want false, 0", locked, left)
	}
	if locked, _ := (AttemptState{}).Locked(now); locked {
		t.Error("zero state is locked")
	}
}
