package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/authd/authd/internal/password"
)

func TestWrite(t *testing.T) {
	h, err := Hash(DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Write(&b, 5, 3, "example.org", h); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&b)
	i := 5
	for sc.Scan() {
		var u struct {
			Email        string `json:"email"`
			PasswordHash string `json:"password_hash"`
			Name         string `json:"name"`
			Verified     bool   `json:"verified"`
		}
		if err := json.Unmarshal(sc.Bytes(), &u); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if u.Email != Email(i, "example.org") || u.PasswordHash != h || !u.Verified || !strings.HasSuffix(u.Name, " "+string(rune('0'+i))) {
			t.Errorf("line %q", sc.Text())
		}
		i++
	}
	if i != 8 {
		t.Errorf("%d lines, want 3", i-5)
	}
	// The hash is for the password, under the default parameters.
	hasher, _ := password.NewHasher(password.DefaultConfig())
	ok, rehash, err := hasher.Verify(context.Background(), h, DefaultPassword)
	if !ok || rehash || err != nil {
		t.Errorf("Verify = %v, %v, %v", ok, rehash, err)
	}
	if vs := hasher.Check(DefaultPassword, "user1@example.org"); len(vs) > 0 {
		t.Errorf("DefaultPassword breaks the default policy: %v", vs)
	}
	if err := Write(&b, 0, 1, `a"b`, h); err == nil {
		t.Error("a domain needing escaping was accepted")
	}
}
