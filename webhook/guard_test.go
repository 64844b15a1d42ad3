package webhook

import (
	"net/netip"
	"net/url"
	"testing"
)

func TestGuardAddresses(t *testing.T) {
	g := &guard{allowed: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:4700::1111": true,
		"10.1.2.3": false, "10.9.1.1": true, "172.16.0.1": false, "192.168.1.1": false, "127.0.0.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "::1": false, "fe80::1": false,
		"fd00::1": false, "::ffff:127.0.0.1": false, "::ffff:10.9.0.1": true, "224.0.0.1": false, "198.18.0.1": false,
		"64:ff9b::a00:1": false,
	} {
		if got := g.permits(netip.MustParseAddr(addr)); got != want {
			t.Errorf("permits(%s) = %v, want %v", addr, got, want)
		}
	}
	if err := g.control("tcp", "127.0.0.1:80", nil); err == nil {
		t.Error("dialling loopback was allowed in production")
	}
	dev := &guard{loopback: true}
	if dev.checkURL("http://localhost:9000/hook") != nil || dev.checkURL("http://127.0.0.1:9000/hook") != nil {
		t.Error("development refused a loopback endpoint")
	}
	if (&guard{}).checkURL("http://localhost:9000/hook") == nil || (&guard{}).checkURL("https://localhost/hook") == nil {
		t.Error("production allowed a loopback endpoint")
	}
}

// FuzzCheckURL: no input panics, and whatever is accepted is absolute
// https (or http to loopback, in development) without credentials.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://example.com/x", "http://127.0.0.1:1/", "https://u:p@h/", "https://[::1]/", "https://0x7f000001/",
		"https://example.com#f", "javascript:alert(1)", "https://%31%32%37.0.0.1/", "//example.com", ""} {
		f.Add(s)
	}
	g := &guard{loopback: true}
	f.Fuzz(func(t *testing.T, raw string) {
		if g.checkURL(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.User != nil || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
			t.Fatalf("accepted %q", raw)
		}
	})
}
