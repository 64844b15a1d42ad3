package storage_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/authd/authd/storage"
)

// TestLogValueRedacts logs every type that holds a secret, as a value, a
// pointer and inside a group, through the JSON and the text handler, and
// checks that no secret appears while the identifying fields do.
func TestLogValueRedacts(t *testing.T) {
	t.Parallel()
	now := time.Now()
	user := &storage.User{ID: "user-1", Email: "ada@example.com", Phone: "+15551234567",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0c2FsdA$SECRETHASHVALUE"}
	client := &storage.Client{ID: "app", Name: "App", SecretHash: []byte("hmac-sha256$k1$SECRETCLIENTMAC"),
		JWKS: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{KeyID: "k", Key: []byte("SECRETSYMMETRICKEY")}}}}
	token := &storage.AccountToken{Hash: []byte("SECRETTOKENMAC"), UserID: "user-1", Purpose: "reset",
		Email: "ada@example.com", ExpiresAt: now}
	key := &storage.SigningKey{KID: "kid-1", Algorithm: "ES256", SealedPrivate: []byte("SECRETSEALEDKEY")}
	secrets := []string{"SECRETHASHVALUE", "+15551234567", "5551234567", "SECRETCLIENTMAC", "SECRETSYMMETRICKEY",
		"SECRETTOKENMAC", "SECRETSEALEDKEY", "ada@example.com",
		// the byte slices as encoding/json would spell them
		"U0VDUkVUQ0xJRU5UTUFD", "U0VDUkVUVE9LRU5NQUM", "U0VDUkVUU0VBTEVES0VZ"}
	wants := []string{"user-1", "app", "reset", "kid-1"}

	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		var h slog.Handler = slog.NewJSONHandler(&buf, nil)
		if format == "text" {
			h = slog.NewTextHandler(&buf, nil)
		}
		log := slog.New(h)
		ctx := context.Background()
		log.InfoContext(ctx, "pointers", "user", user, "client", client, "token", token, "key", key)
		log.InfoContext(ctx, "values", "user", *user, "token", *token)
		log.With("client", client).InfoContext(ctx, "with", slog.Group("g", "user", user, "key", key))
		out := buf.String()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s log holds %q:\n%s", format, s, out)
			}
		}
		for _, s := range wants {
			if !strings.Contains(out, s) {
				t.Errorf("%s log lacks %q:\n%s", format, s, out)
			}
		}
	}
}
