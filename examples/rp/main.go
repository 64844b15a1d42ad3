// Command rp is a small relying party for authd: a Go web application that
// signs people in with OpenID Connect (authorization code flow with PKCE
// S256, state and nonce), shows the claims of the verified ID token,
// refreshes its tokens with offline_access and signs out through authd's
// end_session_endpoint (RP-Initiated Logout 1.0).
//
// Routes:
//
//	GET  /          the signed-in user's claims, or a sign-in link
//	GET  /login     redirects to authd's authorization endpoint
//	GET  /callback  exchanges the code, verifies the ID token
//	POST /refresh   refreshes the tokens with the refresh token
//	POST /logout    ends the local session, redirects to end_session_endpoint
//
// Tokens stay on the server, in memory; the browser holds only a random
// session id in an HttpOnly cookie. See README.md for the client to
// register and how to run it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rp:", err)
		os.Exit(1)
	}
}

// run parses the configuration, discovers the issuer and serves until
// SIGINT or SIGTERM.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	log := slog.New(slog.NewTextHandler(stderr, nil))
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown) // #nosec G104 -- the process is exiting; Serve reports the outcome
	}()
	log.InfoContext(ctx, "rp is serving", "url", cfg.BaseURL, "issuer", cfg.Issuer, "client_id", cfg.ClientID)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// config is what the relying party needs to know; every field can come
// from a flag or an RP_* environment variable (the flag wins).
type config struct {
	Issuer       string // authd's issuer URL
	ClientID     string
	ClientSecret string // never logged
	Listen       string // address to listen on
	BaseURL      string // the URL people open; /callback and / under it are the registered redirect URIs
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var c config
	fs := flag.NewFlagSet("rp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Issuer, "issuer", env("RP_ISSUER", "http://127.0.0.1:8080"), "authd's issuer URL (RP_ISSUER)")
	fs.StringVar(&c.ClientID, "client-id", getenv("RP_CLIENT_ID"), "client id from `authd clients create` (RP_CLIENT_ID)")
	fs.StringVar(&c.ClientSecret, "client-secret", getenv("RP_CLIENT_SECRET"), "client secret (RP_CLIENT_SECRET; prefer the variable: flags are visible to other local users)")
	fs.StringVar(&c.Listen, "listen", env("RP_LISTEN", "127.0.0.1:3000"), "address to listen on (RP_LISTEN)")
	fs.StringVar(&c.BaseURL, "base-url", env("RP_BASE_URL", "http://127.0.0.1:3000"), "URL of this application as the browser sees it (RP_BASE_URL)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.ClientID == "" || c.ClientSecret == "" {
		return config{}, errors.New("set --client-id and RP_CLIENT_SECRET (from `authd clients create`, see examples/rp/README.md)")
	}
	return c, nil
}
