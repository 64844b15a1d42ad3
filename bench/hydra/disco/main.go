// Command disco serves Ory Hydra's OpenID discovery document with the
// introspection_endpoint added, so that bench/cmd/loadgen, which finds
// every endpoint through discovery, can put its introspect scenario on
// Hydra: Hydra serves introspection on its admin port and does not list it
// in discovery. Only the set-up reads discovery from here; the load goes
// to Hydra's own endpoints. Loopback only.
//
//	disco -listen 127.0.0.1:4450 -issuer http://127.0.0.1:4444 -introspection http://127.0.0.1:4445/admin/oauth2/introspect
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on (loopback)")
	issuer := flag.String("issuer", "", "Hydra's public URL (its discovery document is fetched from there)")
	introspection := flag.String("introspection", "", "the introspection_endpoint to add (Hydra's admin URL + /admin/oauth2/introspect)")
	flag.Parse()
	if err := run(*listen, *issuer, *introspection); err != nil {
		log.Fatalf("disco: %v", err)
	}
}

func loopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("%q is not a URL", rawURL)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%q is not on loopback", rawURL)
	}
	return nil
}

func run(listen, issuer, introspection string) error {
	for _, u := range []string{issuer, introspection, "http://" + listen} {
		if err := loopback(u); err != nil {
			return err
		}
	}
	doc, err := fetch(strings.TrimRight(issuer, "/") + "/.well-known/openid-configuration")
	if err != nil {
		return err
	}
	doc["introspection_endpoint"] = introspection
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Println("http://" + l.Addr().String()) // the URL to give loadgen's -target
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func fetch(u string) (map[string]any, error) {
	c := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return doc, nil
}
