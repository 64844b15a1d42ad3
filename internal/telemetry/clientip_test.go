package telemetry

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func mustProxies(t testing.TB, cidrs ...string) TrustedProxies {
	t.Helper()
	tp, err := ParseTrustedProxies("http.trusted_proxies", cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	trusted := mustProxies(t, "10.0.0.0/8", "2001:db8:1::/48", "192.0.2.7")
	tests := []struct {
		name    string
		proxies TrustedProxies
		remote  string
		xff     []string
		fwd     []string
		want    string
	}{
		{name: "no proxies trusted: headers ignored", proxies: TrustedProxies{}, remote: "10.1.2.3:5000",
			xff: []string{"203.0.113.9"}, want: "10.1.2.3"},
		{name: "untrusted peer: X-Forwarded-For ignored", proxies: trusted, remote: "198.51.100.1:5000",
			xff: []string{"203.0.113.9"}, want: "198.51.100.1"},
		{name: "untrusted peer: Forwarded ignored", proxies: trusted, remote: "198.51.100.1:5000",
			fwd: []string{"for=203.0.113.9"}, want: "198.51.100.1"},
		{name: "trusted peer without headers", proxies: trusted, remote: "10.1.2.3:5000", want: "10.1.2.3"},
		{name: "trusted peer, one hop", proxies: trusted, remote: "10.1.2.3:5000",
			xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "spoofed left entries skipped: nearest untrusted hop wins", proxies: trusted, remote: "10.1.2.3:5000",
			xff: []string{"1.1.1.1, 203.0.113.9, 10.9.9.9"}, want: "203.0.113.9"},
		{name: "several header lines read as one list", proxies: trusted, remote: "10.1.2.3:5000",
			xff: []string{"1.1.1.1, 203.0.113.9", "10.9.9.9"}, want: "203.0.113.9"},
		{name: "every hop trusted: the leftmost", proxies: trusted, remote: "10.1.2.3:5000",
			xff: []string{"10.0.0.5, 192.0.2.7"}, want: "10.0.0.5"},
		{name: "single trusted address", proxies: trusted, remote: "192.0.2.7:443",
			xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "neighbour of the single trusted address is not trusted", proxies: trusted, remote: "192.0.2.8:443",
			xff: []string{"203.0.113.9"}, want: "192.0.2.8"},
		{name: "hop with a port", proxies: trusted, remote: "10.1.2.3:5000",
			xff: []string{"203.0.113.9:4711"}, want: "203.0.113.9"},
		{name: "IPv6 hop", proxies: trusted, remote: "10.1.2.3:5000",
			xff: []string{"2001:db8:2::17"}, want: "2001:db8:2::17"},
		{name: "bracketed IPv6 hop with a port", proxies: trusted, remote: "10.1.2.3:5000",
			xff: []string{"[2001:db8:2::17]:4711"}, want: "2001:db8:2::17"},
		{name: "IPv6 trusted peer", proxies: trusted, remote: "[2001:db8:1::5]:443",
			xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "IPv4-mapped peer matches the IPv4 CIDR", proxies: trusted, remote: "[::ffff:10.1.2.3]:5000",
			xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "IPv4-mapped hop reported as IPv4", proxies: trusted, remote: "10.1.2.3:5000",
			xff: []string{"::ffff:203.0.113.9"}, want: "203.0.113.9"},
		{name: "IPv4-mapped untrusted peer reported as IPv4", proxies: trusted, remote: "[::ffff:198.51.100.1]:5000",
			want: "198.51.100.1"},
		{name: "unknown hop: the proxy that reported it", proxies: trusted, remote: "10.1.2.3:5000",
			xff: []string{"203.0.113.9, unknown"}, want: "10.1.2.3"},
		{name: "garbage hop: the proxy that reported it", proxies: trusted, remote: "10.1.2.3:5000",
			xff: []string{"203.0.113.9, <script>, 10.9.9.9"}, want: "10.9.9.9"},
		{name: "empty X-Forwarded-For", proxies: trusted, remote: "10.1.2.3:5000", xff: []string{""}, want: "10.1.2.3"},
		{name: "Forwarded, one element", proxies: trusted, remote: "10.1.2.3:5000",
			fwd: []string{"for=203.0.113.9;proto=https;by=10.1.2.3"}, want: "203.0.113.9"},
		{name: "Forwarded, quoted IPv6 with port, case-insensitive name", proxies: trusted, remote: "10.1.2.3:5000",
			fwd: []string{`For="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::17"},
		{name: "Forwarded, right to left over trusted hops", proxies: trusted, remote: "10.1.2.3:5000",
			fwd: []string{"for=1.1.1.1, for=203.0.113.9", "for=10.2.2.2;proto=http"}, want: "203.0.113.9"},
		{name: "Forwarded, obfuscated identifier", proxies: trusted, remote: "10.1.2.3:5000",
			fwd: []string{"for=203.0.113.9, for=_hidden"}, want: "10.1.2.3"},
		{name: "Forwarded, unknown", proxies: trusted, remote: "10.1.2.3:5000",
			fwd: []string{`for="unknown"`}, want: "10.1.2.3"},
		{name: "Forwarded, element without for", proxies: trusted, remote: "10.1.2.3:5000",
			fwd: []string{"for=203.0.113.9, proto=https"}, want: "10.1.2.3"},
		{name: "Forwarded, quoted string with separators", proxies: trusted, remote: "10.1.2.3:5000",
			fwd: []string{`by="a,b;c";for=203.0.113.9`}, want: "203.0.113.9"},
		{name: "Forwarded malformed: not believed", proxies: trusted, remote: "10.1.2.3:5000",
			fwd: []string{"for=1.1.1.1, for"}, want: "10.1.2.3"},
		{name: "Forwarded unterminated quote: not believed", proxies: trusted, remote: "10.1.2.3:5000",
			fwd: []string{`for="203.0.113.9`}, want: "10.1.2.3"},
		{name: "Forwarded trailing comma: not believed", proxies: trusted, remote: "10.1.2.3:5000",
			fwd: []string{"for=203.0.113.9,"}, want: "10.1.2.3"},
		{name: "Forwarded parameter twice: not believed", proxies: trusted, remote: "10.1.2.3:5000",
			fwd: []string{"for=1.1.1.1;for=203.0.113.9"}, want: "10.1.2.3"},
		{name: "both headers: neither believed", proxies: trusted, remote: "10.1.2.3:5000",
			xff: []string{"203.0.113.9"}, fwd: []string{"for=1.1.1.1"}, want: "10.1.2.3"},
		{name: "peer that is not an address", proxies: trusted, remote: "pipe", xff: []string{"203.0.113.9"}, want: "pipe"},
		{name: "peer with a zone", proxies: trusted, remote: "[fe80::1%eth0]:80", want: "fe80::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.fwd {
				r.Header.Add("Forwarded", v)
			}
			if got := tt.proxies.ClientAddr(r); got != tt.want {
				t.Errorf("remote %q X-Forwarded-For %q Forwarded %q: got %q, want %q", tt.remote, tt.xff, tt.fwd, got, tt.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	tp, err := ParseTrustedProxies("k", []string{" 10.0.0.1/8 ", "::ffff:172.16.0.0/108", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{"10.255.0.1": true, "11.0.0.1": false, "172.16.5.5": true, "172.32.0.1": false,
		"2001:db8::1": true, "2001:db8::2": false} {
		if got := tp.trusts(netip.MustParseAddr(addr)); got != want {
			t.Errorf("trusts(%s) = %v, want %v", addr, got, want)
		}
	}
	_, err = ParseTrustedProxies("http.trusted_proxies", []string{"10.0.0.0/8", "", "nope", "1.2.3.4/40", "fe80::1%lo"})
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	for _, want := range []string{"http.trusted_proxies[1]", "http.trusted_proxies[2]", "http.trusted_proxies[3]", "http.trusted_proxies[4]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %s", msg, want)
		}
	}
	if strings.Contains(msg, "[0]") {
		t.Errorf("error %q names the good entry [0]", msg)
	}
}

// The middleware computes the address once and every reader gets it from
// the request's context.
func TestMiddlewareClientIP(t *testing.T) {
	t.Parallel()
	var got []string
	h := Middleware(slog.New(slog.DiscardHandler), mustProxies(t, "10.0.0.0/8"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, ClientIP(r))
	}))
	for _, c := range []struct{ remote, xff string }{{"10.0.0.1:1", "203.0.113.9"}, {"198.51.100.1:1", "203.0.113.9"}} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.remote
		r.Header.Set("X-Forwarded-For", c.xff)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if want := []string{"203.0.113.9", "198.51.100.1"}; !slices.Equal(got, want) {
		t.Errorf("ClientIP in the handler: %q, want %q", got, want)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "[2001:db8::1]:443"
	if ip := ClientIP(r); ip != "2001:db8::1" {
		t.Errorf("ClientIP without the middleware = %q, want the peer", ip)
	}
}

func TestParseForwarded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string // nil: malformed
	}{
		{"for=192.0.2.60;proto=http;by=203.0.113.43", []string{"192.0.2.60"}},
		{`for="_gazonk"`, []string{"_gazonk"}},
		{`For="[2001:db8:cafe::17]:4711"`, []string{"[2001:db8:cafe::17]:4711"}},
		{"for=192.0.2.43, for=198.51.100.17", []string{"192.0.2.43", "198.51.100.17"}},
		{"proto=https", []string{""}},
		{`for="a\"b"`, []string{`a"b`}},
		{" for=1.2.3.4 ; proto=https , for=5.6.7.8 ", []string{"1.2.3.4", "5.6.7.8"}},
		{"", nil},
		{"for", nil},
		{"for=", nil},
		{"=x", nil},
		{"for=1.2.3.4,", nil},
		{",for=1.2.3.4", nil},
		{"for=1.2.3.4 for=5.6.7.8", nil},
		{`for="unterminated`, nil},
		{`for="bad` + "\x01" + `"`, nil},
		{"for=[::1]", nil}, // brackets are not token characters: must be quoted
	}
	for _, tt := range tests {
		got, ok := parseForwarded(tt.in)
		if ok != (tt.want != nil) || !slices.Equal(got, tt.want) {
			t.Errorf("parseForwarded(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

// FuzzForwardedHeaders checks that no header, however malformed, panics
// the parsers, and that what comes out is always one canonical address.
func FuzzForwardedHeaders(f *testing.F) {
	for _, s := range []string{"for=192.0.2.60;proto=http", `for="[2001:db8::17]:4711", for=unknown`, "for=_x,,",
		`by="a,b";for=1.2.3.4`, "1.2.3.4, ::ffff:10.0.0.1, [::1]:80", "unknown", `for="\`, ""} {
		f.Add(s, s)
	}
	tp := mustProxies(f, "10.0.0.0/8", "::1/128")
	f.Fuzz(func(t *testing.T, fwd, xff string) {
		if fors, ok := parseForwarded(fwd); ok && len(fors) == 0 {
			t.Fatalf("parseForwarded(%q) ok with no elements", fwd)
		}
		for _, h := range []http.Header{{"Forwarded": {fwd}}, {"X-Forwarded-For": {xff}}} {
			r := &http.Request{RemoteAddr: "10.0.0.1:1234", Header: h}
			got := tp.ClientAddr(r)
			a, err := netip.ParseAddr(got)
			if err != nil || a.String() != got || a.Is4In6() || a.Zone() != "" {
				t.Fatalf("ClientAddr with %v = %q: not a canonical address", h, got)
			}
		}
	})
}
