package main

import (
	"strings"
	"testing"
)

// TestBrowserDeviceFlow: in headless Chromium, a person types the code a
// device shows into the field labelled "Device code", presses Continue,
// signs in and allows; the device, polling, gets its tokens.
func TestBrowserDeviceFlow(t *testing.T) {
	t.Parallel()
	e := startE2E(t, sqliteEnv(t))
	const email, pw = "katherine@example.com", "orbital mechanics 1962"
	e.user(email, pw, "Katherine")
	var tv struct {
		ID string `json:"client_id"`
	}
	mustRun(t, e.srv.env, "clients", "create", "--name", "Living Room TV", "--public",
		"--grant-type", "urn:ietf:params:oauth:grant-type:device_code").decodeJSON(t, &tv)
	dev := &deviceClient{t: t, issuer: e.srv.base, clientID: tv.ID}
	da := dev.start("openid email")
	dev.expectError(da.DeviceCode, "authorization_pending")

	b := e.person("Katherine's browser")
	b.expectPage(b.open(da.VerificationURI), 200, "Connect a device")
	b.fill("Device code", strings.ToLower(strings.ReplaceAll(da.UserCode, "-", " ")))
	b.expectPage(b.press("Continue"), 200, "Sign in")
	b.expectText("to continue to Living Room TV")
	b.expectPage(signIn(b, email, pw), 200, "Living Room TV wants to access your account")
	b.expectText("A device showing the code "+da.UserCode, "Signed in as "+email, "See your email address")
	b.expectPage(b.press("Allow"), 200, "Device connected")
	b.expectText("You may return to your device.")
	b.audit("device")

	code, tok := dev.poll(da.DeviceCode)
	if code != 200 || tok["access_token"] == nil || tok["id_token"] == nil {
		t.Fatalf("tokens after approval in the browser: %d %v", code, tok)
	}
}
