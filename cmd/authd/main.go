// Command authd is the authd server and its operator CLI.
//
//	authd serve                      run the server
//	authd migrate up|status          manage the database schema
//	authd clients create|list|get|delete|registration-token
//	authd keys rotate|list
//	authd users create|list|get|disable|enable|delete|import
//	authd audit list|verify
//	authd version, authd --version
//
// Every command reads the same configuration: the YAML file named by
// -config (or AUTHD_CONFIG), then AUTHD_* environment variables.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/authd/authd/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var u usageError
		if !errors.As(err, &u) {
			fmt.Fprintln(os.Stderr, "authd:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError is a mistake in the command line; the usage was printed.
type usageError struct{ error }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

const usage = `usage: authd [-config FILE] COMMAND [ARGS]
       authd --version

commands:
  serve                      run the authorization server
  version                    what this binary was built from (JSON)
  migrate up|status          apply or list database migrations
  clients create|update|list|get|delete|rotate-secret
  clients registration-token create|list|revoke
                             initial access tokens for dynamic registration
  keys rotate|list           rotate or list the signing keys
  users create|list|get|update|set-password|disable|enable|delete|import
  audit list|verify          read the audit trail, check its hash chain
  apikeys create|list|revoke admin API keys
  webhooks create|list|get|update|delete|rotate-secret|deliveries|retry|replay
  streams list|get|deliveries|enable|pause|disable|delete
                             Shared Signals streams of receivers

Configuration: the YAML file named by -config or AUTHD_CONFIG, then AUTHD_*
environment variables (database.url -> AUTHD_DATABASE_URL). With none, authd
runs on the embedded default: SQLite under ./data, issuer http://127.0.0.1:8080.
`

// run is main without the process: testable.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("authd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	configPath := fs.String("config", lookupEnv(environ, "AUTHD_CONFIG"), "YAML config file")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) { // -h, --help: the usage was asked for
			return nil
		}
		return usageError{err}
	}
	if *version {
		fmt.Fprintln(stdout, readBuildInfo())
		return nil
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageError{errors.New("no command")}
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd { // these need no configuration: a broken one must not hide them
	case "version":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(readBuildInfo())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	cfg, err := loadConfig(*configPath, environ)
	if err != nil {
		return err
	}
	env := &cliEnv{cfg: cfg, stdout: stdout, stderr: stderr}
	switch cmd {
	case "serve":
		return serve(ctx, env, rest)
	case "migrate":
		return migrateCmd(ctx, env, rest)
	case "clients":
		return clientsCmd(ctx, env, rest)
	case "keys":
		return keysCmd(ctx, env, rest)
	case "users":
		return usersCmd(ctx, env, rest)
	case "audit":
		return auditCmd(ctx, env, rest)
	case "apikeys":
		return apikeysCmd(ctx, env, rest)
	case "webhooks":
		return webhooksCmd(ctx, env, rest)
	case "streams":
		return streamsCmd(ctx, env, rest)
	}
	fs.Usage()
	return usageError{fmt.Errorf("unknown command %q", cmd)}
}

// cliEnv is what every command gets.
type cliEnv struct {
	cfg            Config
	stdout, stderr io.Writer
	// metrics, set by serve, is what the deps it opens record into.
	metrics *telemetry.Metrics
}

func lookupEnv(environ []string, name string) string {
	for _, kv := range environ {
		if len(kv) > len(name) && kv[:len(name)] == name && kv[len(name)] == '=' {
			return kv[len(name)+1:]
		}
	}
	return ""
}
