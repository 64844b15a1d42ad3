package sql_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sql"
)

func testKeyring(t *testing.T) *secrets.Keyring {
	t.Helper()
	key, err := secrets.ParseMasterKey(secrets.GenerateMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secrets.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestPhoneSealed checks that the phone number round-trips and is stored
// sealed: no column holds it in the clear, and a store without a Sealer
// refuses to write or read it.
func TestPhoneSealed(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := b.newStore(t, sql.Options{Sealer: testKeyring(t)})
			const phone = "+15551234567"
			u := &storage.User{Email: "ada@example.com", Phone: phone, PhoneVerified: true}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
			got, err := s.GetUser(ctx, u.ID)
			if err != nil || got.Phone != phone || !got.PhoneVerified {
				t.Fatalf("GetUser = %+v, %v; want phone %s verified", got, err, phone)
			}
			var sealed []byte
			if err := s.Gorm().Raw("SELECT phone_sealed FROM users WHERE id = ?", u.ID).Row().Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			if len(sealed) == 0 || bytes.Contains(sealed, []byte("5551234567")) {
				t.Errorf("users.phone_sealed = %q, want it sealed", sealed)
			}
			got.Phone = ""
			if err := s.UpdateUser(ctx, got); err != nil {
				t.Fatalf("UpdateUser clearing the phone: %v", err)
			}
			if err := s.Gorm().Raw("SELECT phone_sealed FROM users WHERE id = ?", u.ID).Row().Scan(&sealed); err != nil || sealed != nil {
				t.Errorf("phone_sealed after clearing = %q, %v; want NULL", sealed, err)
			}
			got.Phone = phone
			if err := s.UpdateUser(ctx, got); err != nil {
				t.Fatalf("UpdateUser setting the phone: %v", err)
			}

			// Another key cannot open it; no key cannot store or read one.
			other, err := sql.Open(dbURL(t, s), sql.Options{Sealer: testKeyring(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if _, err := other.GetUser(ctx, u.ID); !errors.Is(err, secrets.ErrUnknownKey) {
				t.Errorf("GetUser with another master key: %v, want secrets.ErrUnknownKey", err)
			}
			bare, err := sql.Open(dbURL(t, s), sql.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer bare.Close()
			if _, err := bare.GetUser(ctx, u.ID); err == nil || !strings.Contains(err.Error(), "Sealer") {
				t.Errorf("GetUser of a sealed phone without a Sealer: %v, want an error naming Options.Sealer", err)
			}
			if err := bare.CreateUser(ctx, &storage.User{Email: "bob@example.com", Phone: phone}); err == nil || !strings.Contains(err.Error(), "Sealer") {
				t.Errorf("CreateUser with a phone without a Sealer: %v, want an error naming Options.Sealer", err)
			}
			if err := bare.CreateUser(ctx, &storage.User{Email: "bob@example.com"}); err != nil {
				t.Errorf("CreateUser without a phone and without a Sealer: %v", err)
			}
		})
	}
}

// dbURL recovers the URL a store was opened with, to open a second store
// on the same database.
func dbURL(t *testing.T, s *sql.Store) string {
	t.Helper()
	if s.Dialect() == sql.SQLite {
		var file string
		if err := s.Gorm().Raw("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file).Error; err != nil {
			t.Fatal(err)
		}
		return "sqlite://" + file
	}
	var schema string
	if err := s.Gorm().Raw("SELECT current_schema()").Scan(&schema).Error; err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestAuditTamperEvident checks that the log refuses changes through SQL
// (triggers) and that VerifyAuditChain finds changes made around them.
func TestAuditTamperEvident(t *testing.T) {
	type tamper struct {
		name   string
		sql    string
		wantID int64
	}
	tampers := []tamper{
		{"changed type", "UPDATE audit_events SET type = 'login.succeeded' WHERE id = 3", 3},
		{"changed details", `UPDATE audit_events SET details = '{"reason":"other"}' WHERE id = 2`, 2},
		{"changed time", "UPDATE audit_events SET time = time + 1 WHERE id = 4", 4},
		{"changed subject", "UPDATE audit_events SET subject_id = 'mallory' WHERE id = 1", 1},
		{"deleted from the middle", "DELETE FROM audit_events WHERE id = 2", 2},
		{"deleted from the end", "DELETE FROM audit_events WHERE id = 5", 5},
		{"swapped hashes", "UPDATE audit_events SET hash = (SELECT hash FROM audit_events WHERE id = 5) WHERE id = 4", 4},
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range tampers {
				t.Run(tc.name, func(t *testing.T) {
					ctx := context.Background()
					s := b.newStore(t, sql.Options{})
					for i := range 5 {
						err := s.AppendAuditEvent(ctx, storage.AuditEvent{Type: storage.AuditLoginFailed, SubjectID: "alice",
							Details: map[string]any{"reason": "bad_password", "n": i}})
						if err != nil {
							t.Fatal(err)
						}
					}
					if err := s.VerifyAuditChain(ctx); err != nil {
						t.Fatalf("VerifyAuditChain before tampering: %v", err)
					}
					// The triggers refuse the change.
					if err := s.Gorm().Exec(tc.sql).Error; err == nil || !strings.Contains(err.Error(), "append-only") {
						t.Fatalf("%s: got %v, want the append-only trigger to refuse", tc.sql, err)
					}
					// Someone with enough rights drops them first.
					dropTriggers(t, s)
					if err := s.Gorm().Exec(tc.sql).Error; err != nil {
						t.Fatalf("%s: %v", tc.sql, err)
					}
					err := s.VerifyAuditChain(ctx)
					var te *storage.AuditTamperedError
					if !errors.Is(err, storage.ErrAuditTampered) || !errors.As(err, &te) || te.ID != tc.wantID {
						t.Errorf("VerifyAuditChain after %q = %v, want ErrAuditTampered at event %d", tc.sql, err, tc.wantID)
					}
				})
			}
		})
	}
}

func dropTriggers(t *testing.T, s *sql.Store) {
	t.Helper()
	stmts := []string{"DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete"}
	if s.Dialect() == sql.Postgres {
		stmts = []string{"DROP TRIGGER audit_events_append_only ON audit_events"}
	}
	for _, q := range stmts {
		if err := s.Gorm().Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestAccountTokenStoredAsGiven checks that account tokens are stored as MACs
// only: the caller hands the store the hash, and the store keeps exactly
// that (hex), nothing else derived from the token.
func TestAccountTokenStoredAsGiven(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := b.newStore(t, sql.Options{})
			u := &storage.User{Email: "ada@example.com"}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			mac := bytes.Repeat([]byte{0xab}, 32)
			tok := &storage.AccountToken{Hash: mac, UserID: u.ID, Purpose: storage.PurposeVerifyEmail, ExpiresAt: time.Now().Add(time.Hour)}
			if err := s.CreateAccountToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			var cols []string
			if err := s.Gorm().Raw("SELECT token_hash FROM account_tokens").Scan(&cols).Error; err != nil {
				t.Fatal(err)
			}
			if len(cols) != 1 || cols[0] != strings.Repeat("ab", 32) {
				t.Errorf("account_tokens.token_hash = %q, want the hex MAC", cols)
			}
		})
	}
}
