package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/authd/authd/storage"
)

// TestUserInfoAudience: UserInfo accepts only access tokens meant for the
// issuer (RFC 9068 §4); one for another resource server is refused with
// invalid_token, even with the openid scope and a real user. A token
// issued with openid for a requested audience also names the issuer, so
// it keeps working at UserInfo.
func TestUserInfoAudience(t *testing.T) {
	be := newBrowserEnv(t)
	issue := func(scopes, audience []string) string {
		t.Helper()
		ar := fosite.NewAccessRequest(NewSession("alice"))
		ar.Client = &storage.Client{ID: "app"}
		ar.GrantTypes = fosite.Arguments{"authorization_code"}
		for _, s := range scopes {
			ar.GrantScope(s)
		}
		for _, a := range audience {
			ar.GrantAudience(a)
		}
		tok, _, err := be.p.signAccessToken(context.Background(), ar)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()
	otherResource, err := json.Marshal(map[string]any{"iss": be.issuer, "sub": "alice", "aud": []string{"https://api.example"},
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": newJTI(now), "client_id": "app", "scope": "openid email"})
	if err != nil {
		t.Fatal(err)
	}
	forAPI, err := be.p.keys.Load().active.sign(typAccessToken, otherResource)
	if err != nil {
		t.Fatal(err)
	}
	if aud := verifyJWT(t, be.env, issue([]string{"openid"}, []string{"https://api.example"}))["aud"]; fmt.Sprint(aud) != "[https://api.example "+be.issuer+"]" {
		t.Errorf("aud of a token with openid for a requested audience = %v, want it and the issuer", aud)
	}
	for name, tc := range map[string]struct {
		token     string
		want      int
		wantError string
	}{
		"issuer audience":                  {issue([]string{"openid", "email"}, nil), 200, ""},
		"openid and a requested audience":  {issue([]string{"openid"}, []string{"https://api.example"}), 200, ""},
		"another resource, with openid":    {forAPI, 401, "invalid_token"},
		"another resource, without openid": {issue([]string{"email"}, []string{"https://api.example"}), 401, "invalid_token"},
		"issuer audience, without openid":  {issue([]string{"email"}, nil), 403, "insufficient_scope"},
	} {
		t.Run(name, func(t *testing.T) {
			status, challenge, body := userInfo(t, be.issuer, http.MethodGet, "Bearer "+tc.token)
			if status != tc.want {
				t.Fatalf("%d %s, want %d", status, body, tc.want)
			}
			if tc.want != 200 {
				checkBearerError(t, challenge, body, tc.wantError)
			}
		})
	}
}
