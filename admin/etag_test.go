package admin

import (
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// TestETagChangesWithinAMillisecond: two updates in the same millisecond
// (the stored time's precision) still give two ETags, so If-Match cannot
// let a lost update through.
func TestETagChangesWithinAMillisecond(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	a := &storage.User{ID: "u1", Email: "a@example.com", Name: "A", UpdatedAt: at}
	b := *a
	b.Name = "B"
	if userETag(a) == userETag(&b) {
		t.Error("two versions of a user with the same update time share an ETag")
	}
	same := *a
	if userETag(a) != userETag(&same) {
		t.Error("the ETag of one version is not stable")
	}
	c1 := &storage.Client{ID: "c1", Name: "one", UpdatedAt: at}
	c2 := *c1
	c2.Scopes = []string{"x"}
	if clientETag(c1) == clientETag(&c2) {
		t.Error("two versions of a client with the same update time share an ETag")
	}
}
