package storagetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// registrationTests are the storage.Registrations contract: initial
// access tokens (their uses bounded under concurrency) and the
// registration a deleted client takes with it.
var registrationTests = []namedTest{
	{"InitialTokenCRUD", func(t *testing.T, e *env) {
		s := registrations(t, e)
		tok := &storage.InitialAccessToken{ID: "iat1", Description: "ci", Hash: []byte("0123456789abcdef0123456789abcdef"),
			MACKeyID: "k1", CreatedBy: "cli", ExpiresAt: e.now().Add(time.Hour), MaxUses: 2}
		mustNoErr(t, "CreateInitialAccessToken", s.CreateInitialAccessToken(e.ctx, tok))
		wantErr(t, "CreateInitialAccessToken again", s.CreateInitialAccessToken(e.ctx, &storage.InitialAccessToken{ID: "iat1",
			Hash: []byte("x"), MACKeyID: "k1"}), storage.ErrConflict)
		got, err := s.GetInitialAccessToken(e.ctx, "iat1")
		mustNoErr(t, "GetInitialAccessToken", err)
		if got.Description != "ci" || !bytes.Equal(got.Hash, tok.Hash) || got.MACKeyID != "k1" || got.CreatedBy != "cli" ||
			!got.CreatedAt.Equal(ms(e.now())) || got.CreatedAt.Location() != time.UTC || !got.ExpiresAt.Equal(ms(tok.ExpiresAt)) ||
			got.MaxUses != 2 || got.Uses != 0 || !got.RevokedAt.IsZero() {
			t.Errorf("GetInitialAccessToken = %+v, want what was stored (%+v)", got, tok)
		}
		_, err = s.GetInitialAccessToken(e.ctx, "nope")
		wantErr(t, "GetInitialAccessToken(unknown)", err, storage.ErrNotFound)
		mustNoErr(t, "CreateInitialAccessToken(iat2)", s.CreateInitialAccessToken(e.ctx, &storage.InitialAccessToken{ID: "iat2",
			Hash: []byte("y"), MACKeyID: "k1", CreatedAt: e.now().Add(time.Second)}))
		list, err := s.ListInitialAccessTokens(e.ctx)
		mustNoErr(t, "ListInitialAccessTokens", err)
		if len(list) != 2 || list[0].ID != "iat1" || list[1].ID != "iat2" {
			t.Errorf("ListInitialAccessTokens = %v, want iat1, iat2", list)
		}
		mustNoErr(t, "RevokeInitialAccessToken", s.RevokeInitialAccessToken(e.ctx, "iat1", e.now()))
		mustNoErr(t, "RevokeInitialAccessToken again", s.RevokeInitialAccessToken(e.ctx, "iat1", e.now().Add(time.Hour)))
		if got, _ := s.GetInitialAccessToken(e.ctx, "iat1"); got == nil || !got.RevokedAt.Equal(ms(e.now())) {
			t.Errorf("revoked token = %+v, want revoked at the first time", got)
		}
		wantErr(t, "RevokeInitialAccessToken(unknown)", s.RevokeInitialAccessToken(e.ctx, "nope", e.now()), storage.ErrNotFound)
		wantErr(t, "UseInitialAccessToken(revoked)", s.UseInitialAccessToken(e.ctx, "iat1", e.now()), storage.ErrNotFound)
	}},
	{"InitialTokenExpiresAndIsUsedUp", func(t *testing.T, e *env) {
		s := registrations(t, e)
		mustNoErr(t, "CreateInitialAccessToken", s.CreateInitialAccessToken(e.ctx, &storage.InitialAccessToken{ID: "iat",
			Hash: []byte("x"), MACKeyID: "k1", ExpiresAt: e.now().Add(time.Hour), MaxUses: 2}))
		mustNoErr(t, "first use", s.UseInitialAccessToken(e.ctx, "iat", e.now()))
		wantErr(t, "use after expiry", s.UseInitialAccessToken(e.ctx, "iat", e.now().Add(time.Hour)), storage.ErrNotFound)
		mustNoErr(t, "second use", s.UseInitialAccessToken(e.ctx, "iat", e.now()))
		wantErr(t, "third use", s.UseInitialAccessToken(e.ctx, "iat", e.now()), storage.ErrNotFound)
		wantErr(t, "use of unknown", s.UseInitialAccessToken(e.ctx, "nope", e.now()), storage.ErrNotFound)
		if got, _ := s.GetInitialAccessToken(e.ctx, "iat"); got == nil || got.Uses != 2 || got.Usable(e.now()) {
			t.Errorf("token after two uses = %+v, want uses 2, not usable", got)
		}
		mustNoErr(t, "CreateInitialAccessToken(unbounded)", s.CreateInitialAccessToken(e.ctx, &storage.InitialAccessToken{ID: "free",
			Hash: []byte("x"), MACKeyID: "k1"}))
		for i := range 3 {
			mustNoErr(t, "use of an unbounded token", s.UseInitialAccessToken(e.ctx, "free", e.now().Add(time.Duration(i)*time.Hour)))
		}
	}},
	{"InitialTokenLastUseOnce", func(t *testing.T, e *env) {
		s := registrations(t, e)
		mustNoErr(t, "CreateInitialAccessToken", s.CreateInitialAccessToken(e.ctx, &storage.InitialAccessToken{ID: "iat",
			Hash: []byte("x"), MACKeyID: "k1", MaxUses: 1}))
		errs := race(func() error { return s.UseInitialAccessToken(e.ctx, "iat", e.now()) })
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, storage.ErrNotFound):
			default:
				t.Errorf("racer %d: UseInitialAccessToken = %v, want nil or ErrNotFound", i, err)
			}
		}
		if ok != 1 {
			t.Errorf("%d concurrent uses of a one-use token: %d succeeded, want exactly 1", racers, ok)
		}
	}},
	{"ClientRegistration", func(t *testing.T, e *env) {
		s := registrations(t, e)
		mustCreateClient(t, e, "dyn")
		_, err := s.GetClientRegistration(e.ctx, "dyn")
		wantErr(t, "GetClientRegistration before Put", err, storage.ErrNotFound)
		r := &storage.ClientRegistration{ClientID: "dyn", TokenHash: []byte("h1"), MACKeyID: "k1", InitialTokenID: "iat",
			Metadata: []byte(`{"client_uri":"https://dyn.example"}`)}
		mustNoErr(t, "PutClientRegistration", s.PutClientRegistration(e.ctx, r))
		created := ms(e.now())
		e.clock.Advance(time.Minute)
		r2 := &storage.ClientRegistration{ClientID: "dyn", TokenHash: []byte("h2"), MACKeyID: "k2", InitialTokenID: "iat",
			Metadata: []byte(`{}`)}
		mustNoErr(t, "PutClientRegistration (replace)", s.PutClientRegistration(e.ctx, r2))
		got, err := s.GetClientRegistration(e.ctx, "dyn")
		mustNoErr(t, "GetClientRegistration", err)
		if !bytes.Equal(got.TokenHash, []byte("h2")) || got.MACKeyID != "k2" || got.InitialTokenID != "iat" || string(got.Metadata) != "{}" ||
			!got.CreatedAt.Equal(created) || !got.UpdatedAt.Equal(ms(e.now())) {
			t.Errorf("GetClientRegistration = %+v, want the replacement, created at %v", got, created)
		}
		mustNoErr(t, "DeleteClient", e.s.DeleteClient(e.ctx, "dyn"))
		_, err = s.GetClientRegistration(e.ctx, "dyn")
		wantErr(t, "GetClientRegistration after DeleteClient", err, storage.ErrNotFound)
	}},
}

func registrations(t *testing.T, e *env) storage.Registrations {
	t.Helper()
	s, ok := e.s.(storage.Registrations)
	if !ok {
		t.Fatalf("%T does not implement storage.Registrations", e.s)
	}
	return s
}
