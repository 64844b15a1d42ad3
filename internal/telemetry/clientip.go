package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies are the peers whose forwarding headers (X-Forwarded-For,
// Forwarded) are believed: the load balancers and reverse proxies in front
// of authd (http.trusted_proxies). The zero value trusts no one: every
// request's client address is its TCP peer's.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// ParseTrustedProxies parses CIDRs ("10.0.0.0/8", "2001:db8::/32") or
// single addresses ("192.0.2.7"). The error names every bad entry, by its
// index under key.
func ParseTrustedProxies(key string, cidrs []string) (TrustedProxies, error) {
	var tp TrustedProxies
	var errs []error
	for i, s := range cidrs {
		s = strings.TrimSpace(s)
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil && a.Zone() != "" {
				err = errors.New("has a zone")
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: want a CIDR such as 10.0.0.0/8 or an address, got %q", key, i, s))
			continue
		}
		p = p.Masked()
		if p.Addr().Is4In6() && p.Bits() >= 96 { // ::ffff:10.0.0.0/104 is 10.0.0.0/8
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		tp.prefixes = append(tp.prefixes, p)
	}
	return tp, errors.Join(errs...)
}

// trusts reports whether a is a trusted proxy.
func (tp TrustedProxies) trusts(a netip.Addr) bool {
	for _, p := range tp.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr returns the address of the client that sent r, without port.
// From an untrusted peer, that is the peer (forwarding headers are
// ignored). From a trusted one, it is the nearest hop of the forwarding
// header that is not a trusted proxy, walking from the right (the hop
// the peer itself added) to the left; if every hop is trusted, the
// leftmost. A hop that names no address ("unknown", an obfuscated
// "_hidden" identifier, garbage) ends the walk at the proxy that reported
// it. A malformed Forwarded header, or a request carrying both
// X-Forwarded-For and Forwarded (which of them did our proxy write?), is
// not believed: the client address is then the peer's.
// IPv4-mapped IPv6 addresses are reported as IPv4; zones are dropped.
func (tp TrustedProxies) ClientAddr(r *http.Request) string {
	host := remoteHost(r.RemoteAddr)
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if peer.Is4In6() || peer.Zone() != "" {
		peer, _ = normalize(peer)
		host = peer.String()
	}
	if !tp.trusts(peer) {
		return host // net's RemoteAddr is canonical already: no allocation
	}
	xff, fwd := r.Header.Values("X-Forwarded-For"), r.Header.Values("Forwarded")
	var hops []string
	switch {
	case len(xff) > 0 && len(fwd) > 0:
		return peer.String()
	case len(xff) > 0:
		hops = forwardedForList(xff)
	case len(fwd) > 0:
		var ok bool
		if hops, ok = parseForwarded(strings.Join(fwd, ",")); !ok {
			return peer.String()
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = a
		if !tp.trusts(a) {
			break
		}
	}
	return client.String()
}

// forwardedForList splits X-Forwarded-For header lines into hops, left
// (the original client) to right (the last proxy's peer).
func forwardedForList(lines []string) []string {
	var hops []string
	for _, l := range lines {
		for h := range strings.SplitSeq(l, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	return hops
}

// parseHop parses one node: "192.0.2.1", "192.0.2.1:80", "2001:db8::1",
// "[2001:db8::1]", "[2001:db8::1]:80". IPv4-mapped addresses are unmapped
// and zones dropped.
func parseHop(s string) (netip.Addr, bool) {
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr())
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return normalize(a)
}

func normalize(a netip.Addr) (netip.Addr, bool) {
	return a.Unmap().WithZone(""), a.IsValid()
}

// remoteHost is RemoteAddr without its port, as far as it parses.
func remoteHost(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}

// parseForwarded parses a Forwarded header (RFC 7239 §4) and returns the
// "for" node of each element, left to right ("" for an element without
// one). ok is false when the header is malformed: a bad token, an
// unterminated quoted string, a parameter without "=", or a parameter
// given twice in one element.
func parseForwarded(h string) (fors []string, ok bool) {
	const maxElements = 64
	p := forwardedParser{s: h}
	for {
		p.skipSpace()
		if p.done() && len(fors) > 0 {
			return nil, false // a trailing comma
		}
		var node string
		seen := map[string]bool{}
		for {
			p.skipSpace()
			name := strings.ToLower(p.token())
			if name == "" || !p.eat('=') || seen[name] {
				return nil, false
			}
			seen[name] = true
			var value string
			if p.peek() == '"' {
				if value, ok = p.quoted(); !ok {
					return nil, false
				}
			} else if value = p.token(); value == "" {
				return nil, false
			}
			if name == "for" {
				node = value
			}
			p.skipSpace()
			if !p.eat(';') {
				break
			}
		}
		fors = append(fors, node)
		if len(fors) > maxElements {
			return nil, false
		}
		p.skipSpace()
		if p.done() {
			return fors, true
		}
		if !p.eat(',') {
			return nil, false
		}
	}
}

// forwardedParser reads RFC 7230 tokens and quoted strings.
type forwardedParser struct {
	s string
	i int
}

func (p *forwardedParser) done() bool { return p.i >= len(p.s) }

func (p *forwardedParser) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}

func (p *forwardedParser) eat(c byte) bool {
	if p.peek() == c && !p.done() {
		p.i++
		return true
	}
	return false
}

func (p *forwardedParser) skipSpace() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// token reads a tchar run (RFC 7230 §3.2.6).
func (p *forwardedParser) token() string {
	start := p.i
	for !p.done() && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string with its backslash escapes.
func (p *forwardedParser) quoted() (string, bool) {
	p.i++ // the opening quote
	var b strings.Builder
	for !p.done() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return b.String(), true
		case c == '\\':
			if p.done() {
				return "", false
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

type clientIPKey struct{}

// WithClientIP returns ctx carrying the client address ip.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIP is the address of the client that sent r, without the port:
// what audit records, rate limits and session lists name a client by.
// Middleware computes it once per request (TrustedProxies.ClientAddr) and
// stores it in the request's context; a request that did not pass through
// the middleware gets its TCP peer's address.
func ClientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok {
		return ip
	}
	return remoteHost(r.RemoteAddr)
}
