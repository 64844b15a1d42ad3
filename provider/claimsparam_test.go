package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestClaimsParameter: the OpenID Connect claims parameter (Core §5.5)
// releases the claims it names, in the ID token and from UserInfo, even
// without the scopes that would; acr asked for is in the ID token; an
// essential acr the sign-in cannot meet is unmet_authentication_requirements;
// a malformed parameter is invalid_request.
func TestClaimsParameter(t *testing.T) {
	be := newBrowserEnv(t)
	r := be.newRP(ClientSpec{})
	r.cfg.Scopes = []string{oidc.ScopeOpenID}
	verifier := oauth2.GenerateVerifier()
	code := func(claims string) string {
		t.Helper()
		u := r.cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("claims", claims))
		resp := be.get(u)
		if strings.HasPrefix(resp.Header.Get("Location"), be.issuer+PathLogin) { // the first time: sign in, consent
			login := expectRedirect(t, resp, be.issuer+PathLogin)
			arID := login.Query().Get("ar")
			be.signIn(arID, "alice")
			expectRedirect(t, be.get(be.issuer+PathResume+"?ar="+arID), be.issuer+PathConsent)
			be.consent(arID, true, "openid")
			resp = be.get(be.issuer + PathResume + "?ar=" + arID)
		}
		cb := expectRedirect(t, resp, r.cfg.RedirectURL)
		if e := cb.Query().Get("error"); e != "" {
			return "error:" + e
		}
		return cb.Query().Get("code")
	}

	c := code(`{"id_token":{"email":{"essential":true},"acr":null,"no_such_claim":null},"userinfo":{"name":null,"phone_number":null,"enterprise":null}}`)
	tok, err := r.cfg.Exchange(context.Background(), c, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := r.verifier.Verify(context.Background(), tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var idc map[string]any
	_ = idt.Claims(&idc)
	if idc["email"] != "alice@example.com" || idc["acr"] != "0" || idc["name"] != nil || idc["no_such_claim"] != nil {
		t.Fatalf("ID token claims %v: want email and acr only beyond the defaults", idc)
	}
	req, _ := http.NewRequest(http.MethodGet, be.issuer+PathUserInfo, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ui map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&ui); err != nil || resp.StatusCode != 200 {
		t.Fatalf("userinfo: %d %v", resp.StatusCode, err)
	}
	ent, _ := ui["enterprise"].(map[string]any)
	if ui["sub"] != "alice" || ui["name"] != "Alice" || ent["organization"] != "ACME" || ui["email"] != nil || ui["phone_number"] != nil {
		t.Fatalf("userinfo %v: want sub, name and enterprise (no email: neither scope nor claims asked UserInfo for it; no phone: none)", ui)
	}

	// Signed in and consented: the next requests answer at once.
	for claims, want := range map[string]string{
		`{"id_token":{"acr":{"essential":true,"values":["urn:example:gold"]}}}`: "error:unmet_authentication_requirements",
		`{"id_token":{"acr":{"essential":true,"value":"0"}}}`:                   "",
		`{"id_token":{"acr":{"values":["urn:example:gold"]}}}`:                  "", // voluntary
		`not json`:                     "error:invalid_request",
		`["id_token"]`:                 "error:invalid_request",
		`{"id_token":{"email":"yes"}}`: "error:invalid_request",
		`{"id_token":{"email":{"essential":"yes"}}}`: "error:invalid_request",
	} {
		got := code(claims)
		if want == "" && (got == "" || strings.HasPrefix(got, "error:")) || want != "" && got != want {
			t.Errorf("claims %s: got %q, want %q", claims, got, want)
		}
	}
}
