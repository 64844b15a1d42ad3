package provider

import (
	"context"
	"net/url"
	"slices"
	"testing"

	"github.com/authd/authd/storage"
)

// TestTokenExchange (RFC 8693): a service trades a person's access token
// for one narrowed to its own audience and scope, with an act claim when
// it acts with its own token; the new token is of the person's grant
// (revoking the grant revokes it); every refusal is the RFC 6749 error
// the case calls for, and each exchange is in the audit trail.
func TestTokenExchange(t *testing.T) {
	e := newEnv(t)
	cfg, login := codeFlow(t, e)
	person := login("alice")
	svc, svcSecret := e.createClient(ClientSpec{GrantTypes: []string{GrantTokenExchange, "client_credentials"},
		Scopes: []string{"api"}, Audience: []string{"https://api.example"}})
	plain, plainSecret := e.ccClient()
	actorToken := e.token(svc.ID, svcSecret, "api")
	subject, _ := e.p.verifyAccessToken(context.Background(), person.AccessToken)
	exchange := func(id, secret string, kv ...string) (int, map[string]any) {
		t.Helper()
		f := url.Values{"grant_type": {GrantTokenExchange}, "subject_token": {person.AccessToken}, "subject_token_type": {tokenTypeAccess}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				f.Del(kv[i])
			} else {
				f.Set(kv[i], kv[i+1])
			}
		}
		resp := e.post(PathToken, f, id, secret)
		return resp.StatusCode, decode(t, resp)
	}

	code, m := exchange(svc.ID, svcSecret, "audience", "https://api.example", "scope", "api")
	if code != 200 || m["issued_token_type"] != tokenTypeAccess || m["token_type"] != "bearer" || m["scope"] != "api" {
		t.Fatalf("exchange: %d %v", code, m)
	}
	got, err := e.p.verifyAccessToken(context.Background(), m["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "alice" || got.ClientID != svc.ID || !slices.Equal(got.Audience, []string{"https://api.example"}) ||
		got.Scope != "api" || got.GrantID != subject.GrantID || got.Expiry > subject.Expiry || got.Extra["act"] != nil {
		t.Fatalf("exchanged token %+v (subject %+v)", got, subject)
	}

	// Delegation: the service acts for alice with its own token.
	code, m = exchange(svc.ID, svcSecret, "actor_token", actorToken, "actor_token_type", tokenTypeAccess)
	if code != 200 {
		t.Fatalf("delegation: %d %v", code, m)
	}
	del, _ := e.p.verifyAccessToken(context.Background(), m["access_token"].(string))
	act, _ := del.Extra["act"].(map[string]any)
	if del.Subject != "alice" || act["sub"] != svc.ID || act["client_id"] != svc.ID || del.Scope != "api" {
		t.Fatalf("delegated token %+v", del)
	}

	for name, tc := range map[string]struct {
		id, secret string
		kv         []string
		status     int
		errorCode  string
	}{
		"a client without the grant":   {plain.ID, plainSecret, nil, 400, "unauthorized_client"},
		"no subject_token":             {svc.ID, svcSecret, []string{"subject_token", ""}, 400, "invalid_request"},
		"another subject_token_type":   {svc.ID, svcSecret, []string{"subject_token_type", "urn:ietf:params:oauth:token-type:id_token"}, 400, "invalid_request"},
		"a refresh token asked for":    {svc.ID, svcSecret, []string{"requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"}, 400, "invalid_request"},
		"a forged subject_token":       {svc.ID, svcSecret, []string{"subject_token", person.AccessToken + "x"}, 400, "invalid_grant"},
		"a refresh token as subject":   {svc.ID, svcSecret, []string{"subject_token", person.RefreshToken}, 400, "invalid_grant"},
		"a scope alice does not hold":  {svc.ID, svcSecret, []string{"scope", "read"}, 400, "invalid_scope"},
		"an audience the client lacks": {svc.ID, svcSecret, []string{"audience", "https://other.example"}, 400, "invalid_target"},
		"a resource the client lacks":  {svc.ID, svcSecret, []string{"resource", "https://other.example"}, 400, "invalid_target"},
		"actor_token without its type": {svc.ID, svcSecret, []string{"actor_token", actorToken}, 400, "invalid_request"},
		"a forged actor_token":         {svc.ID, svcSecret, []string{"actor_token", actorToken + "x", "actor_token_type", tokenTypeAccess}, 400, "invalid_grant"},
		"no client authentication":     {"", "", nil, 401, "invalid_client"},
	} {
		t.Run(name, func(t *testing.T) {
			code, m := exchange(tc.id, tc.secret, tc.kv...)
			if code != tc.status || m["access_token"] != nil || tc.errorCode != "" && m["error"] != tc.errorCode {
				t.Fatalf("%d %v, want %d %s", code, m, tc.status, tc.errorCode)
			}
		})
	}

	events, err := e.store.ListAuditEvents(context.Background(), storage.AuditFilter{Type: storage.AuditTokenExchanged})
	if err != nil || len(events) != 2 || events[0].SubjectID != "alice" || events[0].ClientID != svc.ID || events[0].Details["actor"] != svc.ID {
		t.Fatalf("audit: %v %+v", err, events)
	}

	// Revoking alice's grant revokes what was exchanged from it.
	if resp := e.post(PathRevoke, url.Values{"token": {person.RefreshToken}}, cfg.ClientID, cfg.ClientSecret); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	eventually(t, "the exchanged token revoked with its grant", func() bool {
		_, err := e.p.verifyAccessToken(context.Background(), m["access_token"].(string))
		return err != nil
	})
}
