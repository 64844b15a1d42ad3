package sql_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
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

// TestAuditChainKeyed: with the master key, the chain is HMAC-keyed: a
// writer of the database who changes an event and recomputes the chain
// (with SHA-256, or an HMAC under another key) is found out; events from
// before the chain was keyed still verify, the switch to a key and a
// rotation are each recorded by an audit.key_changed event, and a store
// without the key can neither append to nor verify a keyed chain.
func TestAuditChainKeyed(t *testing.T) {
	keyring := func(t *testing.T, keys ...[]byte) *secrets.Keyring {
		t.Helper()
		kr, err := secrets.NewKeyring(keys[0], keys[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	k1, _ := secrets.ParseMasterKey(secrets.GenerateMasterKey())
	k2, _ := secrets.ParseMasterKey(secrets.GenerateMasterKey())
	kr1, kr21, kr2 := keyring(t, k1), keyring(t, k2, k1), keyring(t, k2)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			plain := b.newStore(t, sql.Options{})
			url := dbURL(t, plain)
			open := func(keys storage.AuditKeys) *sql.Store {
				t.Helper()
				s, err := sql.Open(url, sql.Options{AuditKeys: keys})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			appendN := func(s *sql.Store, n int) {
				t.Helper()
				for i := range n {
					if err := s.AppendAuditEvent(ctx, storage.AuditEvent{Type: storage.AuditLoginFailed, SubjectID: "alice", IP: "192.0.2.1",
						Details: map[string]any{"n": i}}); err != nil {
						t.Fatal(err)
					}
				}
			}
			types := func(s *sql.Store) []string {
				es, err := s.ListAuditEvents(ctx, storage.AuditFilter{Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for i := len(es) - 1; i >= 0; i-- {
					out = append(out, string(es[i].Type))
				}
				return out
			}
			appendN(plain, 2) // written before the chain was keyed

			s1 := open(kr1)
			appendN(s1, 2)
			if err := s1.VerifyAuditChain(ctx); err != nil {
				t.Fatalf("verify after keying: %v", err)
			}
			want := []string{"login.failed", "login.failed", string(storage.AuditKeyChanged), "login.failed", "login.failed"}
			if got := types(s1); !slices.Equal(got, want) {
				t.Fatalf("events %v, want %v", got, want)
			}
			if err := plain.AppendAuditEvent(ctx, storage.AuditEvent{Type: storage.AuditLogout}); err == nil {
				t.Fatal("a store without the master key appended to the keyed chain")
			}

			// A rotation: the new key writes, the old one still verifies
			// what it keyed.
			s21 := open(kr21)
			appendN(s21, 1)
			if err := s21.VerifyAuditChain(ctx); err != nil {
				t.Fatalf("verify after rotation: %v", err)
			}
			if got := types(s21); len(got) != 7 || got[5] != string(storage.AuditKeyChanged) {
				t.Fatalf("events after rotation %v, want a key change at event 6", got)
			}
			if err := open(kr2).VerifyAuditChain(ctx); err == nil || errors.Is(err, storage.ErrAuditTampered) {
				t.Fatalf("verify without the previous key = %v, want cannot be verified (not tampered)", err)
			}
			if err := plain.VerifyAuditChain(ctx); err == nil || errors.Is(err, storage.ErrAuditTampered) {
				t.Fatalf("verify without any key = %v, want cannot be verified", err)
			}

			// A database writer changes event 4 and recomputes every hash
			// from it on: with SHA-256 and no key id, or with an HMAC under
			// a key of their own.
			dropTriggers(t, s1)
			forge := func(keyID string, mac func(in []byte) []byte) {
				t.Helper()
				if err := s1.Gorm().Exec("UPDATE audit_events SET ip = '203.0.113.9' WHERE id = 4").Error; err != nil {
					t.Fatal(err)
				}
				rows, err := s1.ListAuditEvents(ctx, storage.AuditFilter{Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				slices.Reverse(rows)
				prev, _ := hex.DecodeString(rows[2].Hash)
				for _, e := range rows[3:] {
					details, _ := storage.MarshalAuditDetails(e.Details)
					in, _ := storage.AuditChainInput(prev, e, details)
					sum := mac(in)
					if err := s1.Gorm().Exec("UPDATE audit_events SET hash = ?, key_id = ? WHERE id = ?", sum, keyID, e.ID).Error; err != nil {
						t.Fatal(err)
					}
					prev = sum
				}
				if err := s1.Gorm().Exec("UPDATE audit_head SET hash = ?, key_id = ?", prev, keyID).Error; err != nil {
					t.Fatal(err)
				}
			}
			forge("", func(in []byte) []byte { s := sha256.Sum256(in); return s[:] })
			var te *storage.AuditTamperedError
			if err := s21.VerifyAuditChain(ctx); !errors.As(err, &te) || te.ID != 4 {
				t.Fatalf("verify after an unkeyed forgery = %v, want tampered at event 4", err)
			}
			own := keyring(t, k2)
			forge(kr1.CurrentKeyID(), func(in []byte) []byte {
				m, _ := own.MACWith(own.CurrentKeyID(), storage.AuditKeyPurpose, in)
				return m
			})
			if err := s21.VerifyAuditChain(ctx); !errors.As(err, &te) || te.ID != 4 {
				t.Fatalf("verify after a forgery under another key = %v, want tampered at event 4", err)
			}
		})
	}
}
