package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// guard decides where deliveries may go. It checks URLs when endpoints
// are registered and, again, every address a delivery connects to (after
// DNS resolution, so a name that later resolves to a private address, DNS
// rebinding, is refused too).
type guard struct {
	allowed []netip.Prefix
	// loopback allows loopback addresses, and http:// to them: the issuer
	// is itself on loopback (development).
	loopback bool
}

// maxURL bounds an endpoint URL.
const maxURL = 2048

// ErrForbiddenAddress: a delivery would reach an address that is not
// public (SSRF protection).
var ErrForbiddenAddress = errors.New("webhook: the address is private, loopback or link-local (webhooks.allowed_networks)")

// checkURL validates an endpoint URL: absolute https (http only to
// loopback in development), no credentials, no fragment, and a host that
// is not a forbidden literal address.
func (g *guard) checkURL(raw string) error {
	if len(raw) > maxURL {
		return fmt.Errorf("is longer than %d bytes", maxURL)
	}
	if strings.ContainsAny(raw, " \t\r\n\x00") {
		return errors.New("contains white space or control characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("must be an https:// URL")
	case u.User != nil:
		return errors.New("must not contain credentials")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not contain a fragment")
	case u.Hostname() == "" || u.Opaque != "":
		return errors.New("must name a host")
	}
	host := u.Hostname()
	isLoopbackName := host == "localhost" || strings.HasSuffix(host, ".localhost")
	addr, perr := netip.ParseAddr(host)
	literal := perr == nil
	if u.Scheme == "http" && !(g.loopback && (isLoopbackName || (literal && addr.Unmap().IsLoopback()))) {
		return errors.New("must be an https:// URL (http:// only to loopback, in development)")
	}
	if isLoopbackName && !g.loopback && !g.permits(netip.MustParseAddr("127.0.0.1")) {
		return ErrForbiddenAddress
	}
	if literal && !g.permits(addr) {
		return ErrForbiddenAddress
	}
	return nil
}

// permits reports whether a delivery may connect to addr.
func (g *guard) permits(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range g.allowed {
		if p.Contains(addr) {
			return true
		}
	}
	if addr.IsLoopback() {
		return g.loopback
	}
	return public(addr)
}

// nonPublic are ranges that are not on the public Internet beyond what
// netip's predicates cover: shared address space (RFC 6598), benchmarking
// (RFC 2544), IETF protocol assignments, documentation, 6to4 relay,
// NAT64 and discard-only prefixes.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.88.99.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
}

func public(a netip.Addr) bool {
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// control is the dialer's check of each address it connects to.
func (g *guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: dial %s: %w", address, err)
	}
	if !g.permits(ap.Addr()) {
		return ErrForbiddenAddress
	}
	return nil
}

// dialContext dials with the guard in place.
func (g *guard) dialContext() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Control: g.control}
	return d.DialContext
}
