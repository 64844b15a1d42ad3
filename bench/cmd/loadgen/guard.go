package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// errNotLoopback is returned (wrapped) whenever a URL or a dialled address is
// not on this machine. Load may only ever target loopback.
var errNotLoopback = errors.New("not a loopback address (only 127.0.0.0/8, ::1 and localhost are allowed)")

// isLoopbackHost reports whether host (a URL hostname, without port or
// brackets) names this machine: "localhost", an address in 127.0.0.0/8 or ::1
// (also in IPv4-mapped form).
func isLoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.WithZone("").Unmap().IsLoopback()
}

// checkURL parses raw and returns it if its scheme is http or https and its
// host is loopback; otherwise the error wraps errNotLoopback (or describes
// the malformed URL).
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: scheme must be http or https", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("URL %q has no host", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("URL %q: credentials in the URL are not supported", raw)
	}
	if !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("URL %q: host %q is %w", raw, u.Hostname(), errNotLoopback)
	}
	return u, nil
}

// checkTarget validates the -target base URL and normalises it (no trailing
// slash, no query or fragment).
func checkTarget(raw string) (*url.URL, error) {
	u, err := checkURL(raw)
	if err != nil {
		return nil, err
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("target %q must not have a query or fragment", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// loopbackControl runs after name resolution, on the actual address about to
// be dialled, so even a "localhost" that resolves elsewhere is refused.
func loopbackControl(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.WithZone("").Unmap().IsLoopback() {
		return fmt.Errorf("dial %s %s: %w", network, address, errNotLoopback)
	}
	return nil
}

// newTransport returns the single transport shared by all workers: keep-alive
// on, up to conns connections (all of which may stay idle between requests),
// no proxy, and a dialer that refuses any non-loopback address.
func newTransport(conns int, insecure bool) *http.Transport {
	d := &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   loopbackControl,
	}
	tr := &http.Transport{
		Proxy: nil, // never go through a proxy: traffic must stay on this machine
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableKeepAlives:     false,
	}
	if insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // #nosec G402 -- loopback benchmarking with a self-signed certificate, opt-in
	}
	return tr
}
