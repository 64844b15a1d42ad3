package provider

import (
	"context"
	"errors"
	"testing"

	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
	storesql "github.com/authd/authd/storage/sql"
)

// failingAudit is the real store whose audit log refuses to be written.
type failingAudit struct{ *storesql.Store }

var errAuditDown = errors.New("audit log down")

func (failingAudit) AppendAuditEvent(context.Context, storage.AuditEvent) error { return errAuditDown }

// TestClientServiceCreate: a client is stored with its client.created
// event, or, when the event cannot be written, not at all; an invalid
// spec is an *InvalidClientError and writes nothing; a taken id is
// storage.ErrConflict.
func TestClientServiceCreate(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, withDB(dbURL))
		ctx := context.Background()
		hasher := secrets.ClientSecretHasher{Keyring: e.keyring}
		svc := ClientService{Store: e.store, Hasher: hasher, MaxAccessTTL: e.p.cfg.Tokens.MaxAccessTokenTTL}
		spec := ClientSpec{ID: "audited", Name: "Audited", RedirectURIs: []string{"https://app.example/cb"}}
		c, secret, err := svc.Create(ctx, spec, "cli")
		if err != nil || secret == "" || c.ID != "audited" {
			t.Fatalf("Create = %+v, %q, %v", c, secret, err)
		}
		es, err := e.store.ListAuditEvents(ctx, storage.AuditFilter{Limit: 10})
		if err != nil || len(es) != 1 || es[0].Type != storage.AuditClientCreated || es[0].ActorID != "cli" || es[0].ClientID != "audited" {
			t.Fatalf("audit events %+v, %v; want one client.created", es, err)
		}
		if _, _, err := svc.Create(ctx, spec, "cli"); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("Create of a taken id: %v, want ErrConflict", err)
		}

		down := ClientService{Store: failingAudit{e.store}, Hasher: hasher, MaxAccessTTL: svc.MaxAccessTTL}
		other := spec
		other.ID = "unaudited"
		if _, _, err := down.Create(ctx, other, "cli"); !errors.Is(err, errAuditDown) {
			t.Fatalf("Create with the audit log down: %v", err)
		}
		if _, err := e.store.GetStoredClient(ctx, "unaudited"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a client whose audit event failed was stored: %v", err)
		}
		var invalid *InvalidClientError
		if _, _, err := svc.Create(ctx, ClientSpec{ID: "bad id", GrantTypes: []string{"password"}}, "cli"); !errors.As(err, &invalid) {
			t.Fatalf("Create of an invalid spec: %v, want *InvalidClientError", err)
		}
		if es, _ := e.store.ListAuditEvents(ctx, storage.AuditFilter{Limit: 10}); len(es) != 1 {
			t.Fatalf("%d audit events after the failures, want still 1", len(es))
		}
	})
}
