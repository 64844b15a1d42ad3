package main

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestBrowserShowPassword: with JavaScript, every password field (login,
// registration, reset, the account's password change) has a Show button
// that shows what was typed and, as Hide, hides it again; each button
// controls its own field. Without JavaScript the field stays hidden and
// there is no toggle.
func TestBrowserShowPassword(t *testing.T) {
	t.Parallel()
	e := startE2E(t, sqliteEnv(t))
	b := e.person("a browser")
	typeOf := func(id string) string { return eval[string](b, `document.getElementById("`+id+`").type`) }
	toggle := func(name string) {
		t.Helper()
		n := b.button(name)
		b.run("clicking "+name, chromedp.Click(chromedp.NodeIDs([]cdp.NodeID{n.NodeID})))
	}

	b.expectPage(b.open(e.srv.base+"/login"), 200, "Sign in")
	b.audit("login")
	b.fill("Email", "nobody@example.com")
	b.fill("Password", "not my password")
	if got := typeOf("password"); got != "password" {
		t.Fatalf("before Show: the password field is type %q, want password", got)
	}
	toggle("Show password")
	if got := typeOf("password"); got != "text" {
		t.Errorf("after Show: the password field is type %q, want text", got)
	}
	if got := b.value("Password"); got != "not my password" {
		t.Errorf("after Show: the field holds %q, want what was typed", got)
	}
	if c := eval[string](b, `document.querySelector("button.password-toggle").getAttribute("aria-controls")`); c != "password" {
		t.Errorf("the toggle's aria-controls = %q, want password", c)
	}
	toggle("Hide password")
	if got := typeOf("password"); got != "password" {
		t.Errorf("after Hide: the password field is type %q, want password", got)
	}
	// Shown and sent: the form hides the field as it goes (the sending
	// is cancelled here, after the page's own submit listener ran).
	toggle("Show password")
	if got := eval[string](b, `(() => {
		const f = document.getElementById("password").form;
		f.addEventListener("submit", e => e.preventDefault(), {once: true});
		f.requestSubmit();
		return document.getElementById("password").type;
	})()`); got != "password" {
		t.Errorf("a form sent with its password shown: the field is type %q as it goes, want password", got)
	}
	b.button("Show password")
	b.expectPage(b.press("Sign in"), 401, "Sign in")
	b.consoleErrors("")

	b.expectPage(b.follow("Create account"), 200, "Create account")
	b.audit("register")
	toggle("Show password")
	if got := typeOf("password"); got != "text" {
		t.Errorf("register: after Show the password field is type %q, want text", got)
	}

	e.user("ada@example.com", "correct horse battery staple", "Ada")
	b.open(e.srv.base + "/login")
	b.expectPage(signIn(b, "ada@example.com", "correct horse battery staple"), 200, "Your account")
	b.audit("account")
	toggle("Show new password")
	if cur, next := typeOf("current_password"), typeOf("new_password"); cur != "password" || next != "text" {
		t.Errorf("account: after Show new password, current is %q and new %q; want password and text", cur, next)
	}
	b.button("Show current password")

	// Without JavaScript: no toggle, and the field stays hidden.
	nojs := e.person("a browser without JavaScript")
	nojs.run("disabling JavaScript", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	for _, path := range []string{"/login", "/register"} {
		nojs.open(e.srv.base + path)
		if n := nojs.count(`//button[contains(@class, "password-toggle")]`); n != 0 {
			t.Errorf("%s without JavaScript: %d show-password toggles, want none", path, n)
		}
		if got := nojs.field("Password").AttributeValue("type"); got != "password" {
			t.Errorf("%s without JavaScript: the password field is type %q, want password", path, got)
		}
	}
}

// TestBrowserResetPasswordContinues: someone who forgets their password
// while an application is signing them in asks for a reset link, opens it
// from their mail in another tab of the same browser, chooses a new
// password, and lands on the same sign-in, which goes on to the
// application.
func TestBrowserResetPasswordContinues(t *testing.T) {
	t.Parallel()
	e := startE2E(t, sqliteEnv(t))
	const email, newPassword = "mary@example.com", "a new passphrase for the reset"
	e.user(email, "the password she forgot 1234", "Mary")
	b := e.person("Mary's browser")

	b.expectPage(b.open(e.rp.base+"/login"), 200, "Sign in")
	b.expectText("to continue to Demo App")
	b.expectPage(b.follow("Forgot password?"), 200, "Reset your password")
	b.fill("Email", email)
	b.expectPage(b.press("Send link"), 200, "Check your email")

	mailTab := b.window("Mary's mail tab")
	mailTab.expectPage(mailTab.open(e.link(email, "/reset-password")), 200, "Choose a new password")
	mailTab.fill("New password", newPassword)
	mailTab.expectPage(mailTab.press("Set new password"), 200, "Sign in")
	mailTab.expectText("Your password has been changed.", "to continue to Demo App")
	resp := signIn(mailTab, email, newPassword)
	if mailTab.heading() == consentHeading {
		resp = mailTab.press("Allow")
	}
	e.rp.expectSignedIn(mailTab, resp, email)
}
