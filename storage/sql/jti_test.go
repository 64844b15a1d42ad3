package sql_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/authd/authd/storage/sql"
)

// TestClientAssertionJTIFarFutureExpiry: a jti whose expiry is too far out
// for milliseconds in an int64 (exp=1e16) is remembered, not stored with a
// wrapped, past expiry that let the same assertion through again.
func TestClientAssertionJTIFarFutureExpiry(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := b.newStore(t, sql.Options{})
			ctx := context.Background()
			for _, exp := range []time.Time{time.Unix(1e16, 0), time.Unix(1<<62, 0)} {
				jti := "jti-" + exp.String()
				if err := s.ClientAssertionJWTValid(ctx, jti); err != nil {
					t.Fatalf("fresh jti: %v", err)
				}
				if err := s.SetClientAssertionJWT(ctx, jti, exp); err != nil {
					t.Fatalf("SetClientAssertionJWT(%v): %v", exp, err)
				}
				if err := s.ClientAssertionJWTValid(ctx, jti); !errors.Is(err, fosite.ErrJTIKnown) {
					t.Fatalf("jti with exp %v after use: %v, want ErrJTIKnown", exp, err)
				}
			}
		})
	}
}
