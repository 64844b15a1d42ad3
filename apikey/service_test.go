package apikey_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/apikey"
	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
	storesql "github.com/authd/authd/storage/sql"
)

func newService(t *testing.T, url string, kr *secrets.Keyring) (*apikey.Service, *storesql.Store, *atomic.Int64) {
	t.Helper()
	store, err := storesql.Open(url, storesql.Options{AuditKeys: kr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	n := new(atomic.Int64)
	testdb.CountStatements(store.Gorm(), n)
	s, err := apikey.New(apikey.DefaultConfig(), store, kr, func(string) bool { return true }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s, store, n
}

func masterKey(t *testing.T) []byte {
	t.Helper()
	mk, err := secrets.ParseMasterKey(secrets.GenerateMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	return mk
}

func keyring(t *testing.T) *secrets.Keyring {
	t.Helper()
	kr, err := secrets.NewKeyring(masterKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestAuthenticateCostsNoQuery: once a key is cached, checking it makes
// no database statement, however often (the steady state of the API).
func TestAuthenticateCostsNoQuery(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		s, _, n := newService(t, url, keyring(t))
		ctx := context.Background()
		key, k, err := s.Create(ctx, apikey.Spec{Name: "ops", Scopes: []string{"admin"}, Tier: "standard"}, "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, key, "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
		before := n.Load()
		for range 1000 {
			got, err := s.Authenticate(ctx, key, "127.0.0.1")
			if err != nil || got.ID != k.ID {
				t.Fatalf("Authenticate = %v, %v", got, err)
			}
		}
		if d := n.Load() - before; d != 0 {
			t.Errorf("1000 checks of a cached key made %d statements, want 0", d)
		}
		// Unknown ids are remembered too: a second try costs nothing.
		other, _, _ := newService(t, testdb.SQLite(t), keyring(t))
		foreign, _, err := other.Create(ctx, apikey.Spec{Name: "x", Scopes: []string{"admin"}, Tier: "standard"}, "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, foreign, ""); !errors.Is(err, apikey.ErrUnknown) {
			t.Fatalf("a key of another deployment: %v", err)
		}
		before = n.Load()
		if _, err := s.Authenticate(ctx, foreign, ""); !errors.Is(err, apikey.ErrUnknown) || n.Load() != before {
			t.Errorf("second check of an unknown id: %v, %d statements", err, n.Load()-before)
		}
	})
}

func TestRevokeAndLastUse(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		kr := keyring(t)
		s, store, _ := newService(t, url, kr)
		ctx := context.Background()
		key, k, err := s.Create(ctx, apikey.Spec{Name: "ops", Scopes: []string{"users:read"}, Tier: "standard"}, "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, key, "192.0.2.7"); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := store.GetAPIKey(ctx, k.ID)
		if err != nil || got.LastUsedIP != "192.0.2.7" || got.LastUsedAt.IsZero() {
			t.Fatalf("after a use and a flush: %+v, %v", got, err)
		}
		// A second instance has the key cached; revoking through the
		// first reaches it through the change feed.
		s2, err := apikey.New(apikey.DefaultConfig(), store, kr, func(string) bool { return true }, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s2.Authenticate(ctx, key, ""); err != nil {
			t.Fatal(err)
		}
		since := time.Now().Add(-time.Second)
		if err := s.Revoke(ctx, k.ID, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, key, ""); !errors.Is(err, apikey.ErrRevoked) {
			t.Errorf("revoking instance: %v", err)
		}
		changes, err := store.ListChanges(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		if err := s2.Changed(ctx, changes); err != nil {
			t.Fatal(err)
		}
		if _, err := s2.Authenticate(ctx, key, ""); !errors.Is(err, apikey.ErrRevoked) {
			t.Errorf("other instance after the feed: %v", err)
		}
		if err := s.Revoke(ctx, "nope", "test"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("revoke unknown: %v", err)
		}
		// Keys always expire, within the configured bounds.
		for _, spec := range []apikey.Spec{
			{Name: "", Scopes: []string{"admin"}, Tier: "standard"},
			{Name: "x", Scopes: []string{"everything"}, Tier: "standard"},
			{Name: "x", Scopes: []string{"admin"}, Tier: "standard", ExpiresIn: 10 * 365 * 24 * time.Hour},
		} {
			var ie *apikey.InputError
			if _, _, err := s.Create(ctx, spec, "test"); !errors.As(err, &ie) {
				t.Errorf("Create(%+v) = %v, want an InputError", spec, err)
			}
		}
	})
}

// TestKeysSurviveMasterKeyRotation: a key's MAC is checked under the
// master key it was made with, which stays configured as a previous key.
func TestKeysSurviveMasterKeyRotation(t *testing.T) {
	url := testdb.SQLite(t)
	oldKey := masterKey(t)
	oldRing, err := secrets.NewKeyring(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	s, _, _ := newService(t, url, oldRing)
	key, _, err := s.Create(context.Background(), apikey.Spec{Name: "x", Scopes: []string{"admin"}, Tier: "standard"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	newRing, err := secrets.NewKeyring(masterKey(t), oldKey)
	if err != nil {
		t.Fatal(err)
	}
	s2, _, _ := newService(t, url, newRing)
	if _, err := s2.Authenticate(context.Background(), key, ""); err != nil {
		t.Errorf("after a master key rotation: %v", err)
	}
}

// TestNewAddress: the first address a key is used from is just noted;
// another one records apikey.new_address (the security alert), once, and
// across instances (a second service over the same database).
func TestNewAddress(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		kr := keyring(t)
		s, store, _ := newService(t, url, kr)
		ctx := context.Background()
		key, k, err := s.Create(ctx, apikey.Spec{Name: "ops", Scopes: []string{"admin"}, Tier: "standard"}, "test")
		if err != nil {
			t.Fatal(err)
		}
		events := func() []*storage.AuditEvent {
			es, err := store.ListAuditEvents(ctx, storage.AuditFilter{Type: storage.AuditAPIKeyNewAddress})
			if err != nil {
				t.Fatal(err)
			}
			return es
		}
		for _, ip := range []string{"192.0.2.1", "192.0.2.1", ""} {
			if _, err := s.Authenticate(ctx, key, ip); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(events()); n != 0 {
			t.Fatalf("%d new-address events for the first address", n)
		}
		other, err := apikey.New(apikey.DefaultConfig(), store, kr, func(string) bool { return true }, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		for _, svc := range []*apikey.Service{s, other, s} {
			if _, err := svc.Authenticate(ctx, key, "198.51.100.7"); err != nil {
				t.Fatal(err)
			}
		}
		es := events()
		if len(es) != 1 || es[0].IP != "198.51.100.7" || es[0].Details["key_id"] != k.ID || es[0].Details["known_addresses"] != float64(1) {
			t.Fatalf("new-address events %+v, want one for 198.51.100.7", es)
		}
	})
}
