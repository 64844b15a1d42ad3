package main

// Helpers for the browser tests (browser_e2e_test.go): a headless Chromium
// driven with chromedp, and a tab per person that finds things on the page
// the way a person does, by their visible labels and button texts.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium; scripts/services.sh installs it.
const chromiumPath = "/usr/bin/chromium"

// stepTimeout bounds one step in the browser: a navigation, or finding an
// element on a page that has loaded.
const stepTimeout = 15 * time.Second

// chromium is one headless Chromium process with a fresh profile.
type chromium struct {
	ctx context.Context // the browser's first tab; tabs are made from it
	out *syncBuffer     // what chromium printed, for failure messages
}

// startChromium starts Chromium for the test; it stops when the test ends.
// A missing chromium fails the test (never skips it).
func startChromium(t *testing.T) *chromium {
	t.Helper()
	if fi, err := os.Stat(chromiumPath); err != nil || fi.IsDir() {
		t.Fatalf("the browser tests need Debian's chromium at %s (%v): run `bash scripts/services.sh`, which installs it with apt-get", chromiumPath, err)
	}
	dir := t.TempDir() // before the cleanup below, so it is removed after chromium stopped
	out := &syncBuffer{}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(out),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		_ = chromedp.Cancel(cctx)
		cancel()
		cancelAlloc() // waits for the process to exit
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v\nits output:\n%s", chromiumPath, err, out)
	}
	return &chromium{ctx: ctx, out: out}
}

// tab is one person's browser: a tab in a browser context of its own, so
// it shares no cookies with any other tab.
type tab struct {
	t    *testing.T
	name string // whose browser, for messages
	ctx  context.Context
	c    *chromium

	mu      sync.Mutex
	console []chromedp.ConsoleMessage // what the pages wrote to the console
}

// newTab opens a tab in a fresh browser context (no cookies, no storage).
func (c *chromium) newTab(t *testing.T, name string) *tab {
	t.Helper()
	return c.openTab(t, c.ctx, name, chromedp.WithNewBrowserContext())
}

// window opens another tab in the same browser context as b (same cookies),
// as a person opens a link from their mail in a new tab.
func (b *tab) window(name string) *tab {
	b.t.Helper()
	return b.c.openTab(b.t, b.ctx, name)
}

// openTab opens a tab from parent, collecting what its pages write to the
// console.
func (c *chromium) openTab(t *testing.T, parent context.Context, name string, opts ...chromedp.ContextOption) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, opts...)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: opening a tab: %v\nchromium's output:\n%s", name, err, c.out)
	}
	b := &tab{t: t, name: name, ctx: ctx, c: c}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	b.setViewport(1280, 800, false)
	return b
}

// consoleErrors returns the errors and exceptions the pages reported on
// the console since the last call (CSP violations are such errors). The
// browser's note that the document at page answered with an error status
// is left out: the tests check that status themselves.
func (b *tab) consoleErrors(page string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		// authd serves no /favicon.ico, and Chromium asks for it on
		// every page: a known gap, not what these tests look for.
		if strings.HasSuffix(m.URL, "/favicon.ico") || m.Source == "network" && m.URL == page {
			continue
		}
		if m.Type == chromedp.ConsoleError || m.IsException() {
			out = append(out, fmt.Sprintf("%s (%s)", m.Text, m.URL))
		}
	}
	b.console = nil
	return out
}

// step returns a context bounding one step.
func (b *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, stepTimeout)
}

// fatalf fails the test, saying where the browser is and what it shows.
func (b *tab) fatalf(format string, args ...any) {
	b.t.Helper()
	b.t.Fatalf("%s: %s\n%s", b.name, fmt.Sprintf(format, args...), b.describe())
}

// errorf reports a failure and goes on, saying where the browser is.
func (b *tab) errorf(format string, args ...any) {
	b.t.Helper()
	b.t.Errorf("%s: %s\n(at %s)", b.name, fmt.Sprintf(format, args...), b.url())
}

// describe says where the browser is and what the page says.
func (b *tab) describe() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return fmt.Sprintf("(the browser does not answer: %v)", err)
	}
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if len(text) > 3000 {
		text = text[:3000] + "…"
	}
	return fmt.Sprintf("the browser is at %s, showing:\n%s", loc, indent(text))
}

func indent(s string) string {
	return "    | " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    | ")
}

// run runs steps within one step's time.
func (b *tab) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page (through DevTools,
// which the page's Content-Security-Policy does not restrict).
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// navigation runs steps that make the browser go to a new page and waits
// until that page (after any redirects) has loaded. It returns the
// response of its document.
func (b *tab) navigation(what string, steps ...chromedp.Action[chromedp.Void]) *network.Response {
	b.t.Helper()
	b.mu.Lock()
	b.console = nil // what the page we leave said is not the next page's
	b.mu.Unlock()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		b.fatalf("%s: no new page loaded: %v", what, err)
	}
	if resp == nil {
		b.fatalf("%s: the page loaded without a response", what)
	}
	return resp
}

// open types url into the address bar and waits for the page.
func (b *tab) open(url string) *network.Response {
	b.t.Helper()
	return b.navigation("opening "+url, chromedp.Navigate(url))
}

// url is where the browser is.
func (b *tab) url() string {
	ctx, cancel := b.step()
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return fmt.Sprintf("(unknown: %v)", err)
	}
	return loc
}

// xpathString quotes s for an XPath expression.
func xpathString(s string) string {
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return `'` + s + `'`
}

// one finds the single visible element xpath selects; what names it for
// the failure message.
func (b *tab) one(xpath, what string) *chromedp.Node {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(xpath, chromedp.NodeVisible))
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		b.fatalf("there is no %s on the page (waited %s for %s)", what, stepTimeout, xpath)
	case err != nil:
		b.fatalf("looking for %s: %v", what, err)
	case len(nodes) != 1:
		b.fatalf("%d elements are %s, want one (%s)", len(nodes), what, xpath)
	}
	return nodes[0]
}

// count is how many elements xpath selects now, without waiting.
func (b *tab) count(xpath string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf(`document.evaluate(%q, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null).snapshotLength`, xpath))
}

// button finds the button labelled text.
func (b *tab) button(text string) *chromedp.Node {
	b.t.Helper()
	return b.one(`//button[normalize-space()=`+xpathString(text)+`]`, fmt.Sprintf("button %q", text))
}

// field finds the input labelled label: the label's for attribute names it.
func (b *tab) field(label string) *chromedp.Node {
	b.t.Helper()
	l := b.one(`//label[normalize-space()=`+xpathString(label)+`]`, fmt.Sprintf("label %q", label))
	id := l.AttributeValue("for")
	if id == "" {
		b.fatalf("the label %q is not tied to a field (no for attribute)", label)
	}
	if n := b.count(`//*[@id=` + xpathString(id) + `]`); n != 1 {
		b.fatalf("the label %q is for id %q, which %d elements have", label, id, n)
	}
	return b.one(`//input[@id=`+xpathString(id)+`]`, fmt.Sprintf("field labelled %q", label))
}

// fill types value into the field labelled label, replacing what it held.
func (b *tab) fill(label, value string) {
	b.t.Helper()
	n := b.field(label)
	ids := chromedp.NodeIDs([]cdp.NodeID{n.NodeID})
	b.run(fmt.Sprintf("typing into %q", label), clearField(n), chromedp.SendKeys(ids, value))
}

// clearField empties an input, as selecting its text and deleting it
// would. (chromedp.SetValue(sel, "") reports a failure on success.)
func clearField(n *chromedp.Node) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		r, err := cdp.Call(ctx, t, dom.ResolveNode, dom.ResolveNodeParams{NodeID: n.NodeID})
		if err != nil {
			return err
		}
		defer cdp.Call(ctx, t, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: r.Object.ObjectID})
		res, err := cdp.Call(ctx, t, runtime.CallFunctionOn, runtime.CallFunctionOnParams{
			ObjectID:            r.Object.ObjectID,
			FunctionDeclaration: `function() { this.value = ""; this.dispatchEvent(new Event("input", {bubbles: true})); }`,
		})
		if err == nil && res.ExceptionDetails != nil {
			err = &chromedp.ExceptionError{ExceptionDetails: res.ExceptionDetails}
		}
		return err
	})
}

// value is what the field labelled label holds.
func (b *tab) value(label string) string {
	b.t.Helper()
	n := b.field(label)
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.NodeIDs([]cdp.NodeID{n.NodeID})))
	if err != nil {
		b.fatalf("reading %q: %v", label, err)
	}
	return v
}

// click clicks the node and waits for the page it leads to.
func (b *tab) click(n *chromedp.Node, what string) *network.Response {
	b.t.Helper()
	return b.navigation("clicking "+what, chromedp.Click(chromedp.NodeIDs([]cdp.NodeID{n.NodeID})))
}

// press clicks the button labelled text and waits for the next page.
func (b *tab) press(text string) *network.Response {
	b.t.Helper()
	return b.click(b.button(text), fmt.Sprintf("button %q", text))
}

// follow clicks the link reading text and waits for the next page.
func (b *tab) follow(text string) *network.Response {
	b.t.Helper()
	n := b.one(`//a[normalize-space()=`+xpathString(text)+`]`, fmt.Sprintf("link %q", text))
	return b.click(n, fmt.Sprintf("link %q", text))
}

// heading is the page's h1, or "" when there is none.
func (b *tab) heading() string {
	b.t.Helper()
	return eval[string](b, `(document.querySelector("h1") || {innerText: ""}).innerText.trim()`)
}

// text is the page's visible text.
func (b *tab) text() string {
	b.t.Helper()
	return eval[string](b, `document.body ? document.body.innerText : ""`)
}

// expectPage checks that the page loaded has the status and heading want.
func (b *tab) expectPage(resp *network.Response, status int64, heading string) {
	b.t.Helper()
	if resp.Status != status {
		b.fatalf("%s answered %d, want %d", resp.URL, resp.Status, status)
	}
	if h := b.heading(); h != heading {
		b.fatalf("the page's heading is %q, want %q", h, heading)
	}
}

// expectText checks that the page shows every one of want.
func (b *tab) expectText(want ...string) {
	b.t.Helper()
	text := b.text()
	for _, w := range want {
		if !strings.Contains(text, w) {
			b.fatalf("the page does not say %q", w)
		}
	}
}

// setViewport sets the window size, and whether it is a phone (mobile
// emulation: meta viewport honoured, touch, device scale 2).
func (b *tab) setViewport(w, h int64, phone bool) {
	b.t.Helper()
	if !phone {
		b.run("setting a desktop viewport", chromedp.EmulateViewport(w, h))
		return
	}
	b.run("setting a phone viewport", chromedp.EmulateViewport(w, h, chromedp.EmulateScale(2),
		chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
}

// colorScheme emulates prefers-color-scheme ("light" or "dark").
func (b *tab) colorScheme(scheme string) {
	b.t.Helper()
	b.run("emulating prefers-color-scheme: "+scheme, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}))
}

// screenshot saves a PNG of the whole page into path, or of the viewport
// when the whole page would take more than maxBytes. It returns the size
// written.
func (b *tab) screenshot(path string, maxBytes int) int {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err == nil && len(png) > maxBytes {
		png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	}
	if err != nil {
		b.fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return len(png)
}

// auditJS lists what keeps a person from using the page: it runs on every
// hosted page the tests visit.
const auditJS = `(() => {
  const problems = [];
  const h1 = document.querySelectorAll("h1");
  if (h1.length !== 1) problems.push(h1.length + " h1 headings, want one");
  if (!document.title.trim()) problems.push("no title");
  if (!document.documentElement.lang) problems.push("no lang attribute on html");
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    if (!el.labels || el.labels.length === 0) problems.push("the field " + (el.name || el.id) + " has no label");
  }
  const seen = new Set();
  for (const el of document.querySelectorAll("[id]")) {
    if (seen.has(el.id)) problems.push("the id " + el.id + " is used twice");
    seen.add(el.id);
  }
  for (const el of document.querySelectorAll("[aria-describedby]")) {
    for (const id of el.getAttribute("aria-describedby").split(/\s+/)) {
      if (id && !document.getElementById(id)) problems.push(el.tagName.toLowerCase() + " is described by #" + id + ", which is missing");
    }
  }
  for (const a of document.querySelectorAll("a[href^='#']")) {
    const id = a.getAttribute("href").slice(1);
    if (id && !document.getElementById(id)) problems.push("the link " + JSON.stringify(a.innerText) + " points at #" + id + ", which is missing");
  }
  for (const b of document.querySelectorAll("button, a[href]")) {
    if (!b.innerText.trim() && !b.getAttribute("aria-label")) problems.push(b.tagName.toLowerCase() + " without a name");
  }
  for (const b of document.querySelectorAll("button")) {
    const r = b.getBoundingClientRect();
    if (r.height < 44) problems.push("the button " + JSON.stringify(b.innerText.trim()) + " is " + r.height + "px tall (a touch target needs 44)");
  }
  const w = document.documentElement.scrollWidth;
  if (w > window.innerWidth) problems.push("the page is " + w + "px wide in a " + window.innerWidth + "px window: it scrolls sideways");
  for (const s of document.querySelectorAll("script")) {
    if (!s.src.startsWith(location.origin + "/static/") || s.textContent.trim()) problems.push("the page has a script element not from /static/: " + (s.src || "inline"));
  }
  for (const el of document.querySelectorAll("*")) {
    for (const a of el.attributes) if (a.name.startsWith("on")) problems.push("inline event handler " + a.name + " on " + el.tagName.toLowerCase());
    if (el.hasAttribute("style")) problems.push("inline style attribute on " + el.tagName.toLowerCase());
  }
  if (document.styleSheets.length !== 1) problems.push(document.styleSheets.length + " stylesheets, want the one");
  if (getComputedStyle(document.body).backgroundColor === "rgba(0, 0, 0, 0)") problems.push("the stylesheet is not applied (no body background)");
  return problems;
})()`

// audit checks the page for what keeps a person from using it (see
// auditJS) and for errors on the console, such as CSP violations.
func (b *tab) audit(page string) {
	b.t.Helper()
	for _, p := range eval[[]string](b, auditJS) {
		b.errorf("%s page: %s", page, p)
	}
	for _, e := range b.consoleErrors(b.url()) {
		b.errorf("%s page: console error: %s", page, e)
	}
}
