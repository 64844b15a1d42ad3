package storage

import (
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestMarshalAuditDetails(t *testing.T) {
	tests := []struct {
		in   map[string]any
		want string
	}{
		{nil, "{}"},
		{map[string]any{}, "{}"},
		{map[string]any{"b": 1, "a": "x<y>&z", "c": []string{"name", "locale"}}, `{"a":"x<y>&z","b":1,"c":["name","locale"]}`},
		{map[string]any{"z": map[string]any{"y": true, "x": nil}}, `{"z":{"x":null,"y":true}}`},
	}
	for _, tc := range tests {
		got, err := MarshalAuditDetails(tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("MarshalAuditDetails(%v) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := MarshalAuditDetails(map[string]any{"f": func() {}}); err == nil {
		t.Error("MarshalAuditDetails(func) succeeded, want an error")
	}
}

// TestAuditChainHashGolden pins the canonical form: changing it breaks the
// verification of every log already written.
func TestAuditChainHashGolden(t *testing.T) {
	e := &AuditEvent{ID: 1, Time: time.UnixMilli(1700000000123).UTC(), Type: AuditLoginFailed, SubjectID: "u1",
		IP: "192.0.2.1", UserAgent: "curl/8", RequestID: "r1"}
	details, _ := MarshalAuditDetails(map[string]any{"reason": "bad_password"})
	sum, err := AuditChainHash(make([]byte, 32), e, details)
	if err != nil {
		t.Fatal(err)
	}
	// SHA-256(32 zero bytes || `{"id":1,"time":1700000000123,"type":"login.failed","actor_id":"","subject_id":"u1","client_id":"","ip":"192.0.2.1","user_agent":"curl/8","request_id":"r1","details":{"reason":"bad_password"}}`)
	const want = "1129b6b1f797f7f8232afa3f3f60886c95a1a3951b6eba87ee273d7b239fa400"
	if got := hex.EncodeToString(sum); got != want {
		t.Errorf("AuditChainHash = %s, want %s", got, want)
	}
	other := *e
	other.SubjectID = "u2"
	if s2, _ := AuditChainHash(make([]byte, 32), &other, details); hex.EncodeToString(s2) == hex.EncodeToString(sum) {
		t.Error("changing the subject did not change the hash")
	}
	if s3, _ := AuditChainHash(sum, e, details); hex.EncodeToString(s3) == hex.EncodeToString(sum) {
		t.Error("changing the previous hash did not change the hash")
	}
}

func TestAuditTamperedError(t *testing.T) {
	err := fmt.Errorf("verify: %w", &AuditTamperedError{ID: 7, Reason: "hash does not match"})
	var te *AuditTamperedError
	if !errors.Is(err, ErrAuditTampered) || !errors.As(err, &te) || te.ID != 7 {
		t.Errorf("error %v does not match ErrAuditTampered with id 7", err)
	}
}
