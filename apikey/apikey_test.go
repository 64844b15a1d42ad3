package apikey

import (
	"strings"
	"testing"
)

func TestGeneratedKeysParse(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		key, id := generate()
		if len(key) != Length || !strings.HasPrefix(key, Prefix) {
			t.Fatalf("key %q: wrong shape", key)
		}
		got, err := Parse(key)
		if err != nil || got != id {
			t.Fatalf("Parse(%q) = %q, %v; want %q", key, got, err, id)
		}
		if seen[id] {
			t.Fatalf("id %s repeated", id)
		}
		seen[id] = true
	}
}

func TestParseRefuses(t *testing.T) {
	key, _ := generate()
	for name, k := range map[string]string{
		"empty":          "",
		"prefix only":    Prefix,
		"other prefix":   "ghp_" + key[len(Prefix):],
		"short":          key[:len(key)-1],
		"long":           key + "0",
		"no separator":   key[:len(Prefix)+idLen] + "x" + key[len(Prefix)+idLen+1:],
		"bad character":  key[:10] + "-" + key[11:],
		"checksum":       key[:len(key)-1] + string(rune(key[len(key)-1])^1),
		"secret changed": key[:30] + string(rune(key[30])^1) + key[31:],
		"non-ASCII":      key[:20] + "é" + key[22:],
	} {
		if _, err := Parse(k); err != ErrMalformed {
			t.Errorf("%s: Parse(%q) = %v, want ErrMalformed", name, k, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	key, _ := generate()
	f.Add(key)
	f.Add("authd_")
	f.Add("authd_" + strings.Repeat("0", Length))
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		// Anything accepted has the shape and a matching checksum.
		if len(s) != Length || !strings.HasPrefix(s, Prefix) || len(id) != idLen || checksum(s[:Length-checkLen]) != s[Length-checkLen:] {
			t.Fatalf("Parse accepted %q", s)
		}
	})
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		granted []string
		need    string
		want    bool
	}{
		{[]string{"admin"}, "users:write", true},
		{[]string{"users:write"}, "users:read", true},
		{[]string{"users:read"}, "users:write", false},
		{[]string{"users:read"}, "clients:read", false},
		{[]string{"clients:write"}, "users:read", false},
		{[]string{"scim"}, "users:read", false},
		{nil, "users:read", false},
	} {
		if got := Covers(tc.granted, tc.need); got != tc.want {
			t.Errorf("Covers(%v, %s) = %v", tc.granted, tc.need, got)
		}
	}
	if err := CheckScopes([]string{"users:read", "admin", "scim", "authz:check"}); err != nil {
		t.Error(err)
	}
	for _, bad := range [][]string{nil, {"users"}, {"users:delete"}, {"root:read"}, {"ADMIN"}} {
		if CheckScopes(bad) == nil {
			t.Errorf("CheckScopes(%v) accepted", bad)
		}
	}
}
