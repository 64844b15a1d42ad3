// Command authd is the authd server and its operator CLI.
//
//	authd serve                      run the server
//	authd migrate up|status          manage the database schema
//	authd clients create|update|list|get|delete|rotate-secret|registration-token
//	authd keys rotate|list
//	authd users create|list|get|update|set-password|disable|enable|delete|import
//	authd audit list|verify
//	authd apikeys create|list|revoke
//	authd webhooks create|list|get|update|delete|rotate-secret|deliveries|retry|replay
//	authd streams list|get|deliveries|enable|pause|disable|delete
//	authd version, authd --version
//
// The command tree is github.com/spf13/cobra's: every command and
// subcommand has --help (and `authd help X Y`), which prints its usage,
// flags and examples and does nothing else. Every command reads the same
// configuration: the YAML file named by --config (or AUTHD_CONFIG), a
// persistent flag accepted before or after the command, then AUTHD_*
// environment variables. The Go flag package's single-dash long flags
// (-config FILE, -name N) are still accepted: they are rewritten to their
// double-dash form before parsing.
//
// Exit codes: 0 success, 1 error (authd: <error>, with what to do where it
// is known), 2 usage (an unknown command or flag, a missing or extra
// argument, a bad flag value: the error, the command's usage line and
// "Run 'authd X --help' for more.").
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"github.com/authd/authd/internal/telemetry"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	// Commands are listed in the order they are declared (most used
	// first), not alphabetically.
	cobra.EnableCommandSorting = false
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(exitCode(err)) // run printed the error
	}
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// hintError is an error with what the operator can do about it, printed
// on the line after the error.
type hintError struct {
	error
	hint string
}

func (h hintError) Unwrap() error { return h.error }

func withHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return hintError{err, hint}
}

// cliEnv is what every command gets; cfg is loaded (by the root's
// PersistentPreRunE) before a command that needs it runs.
type cliEnv struct {
	cfg            Config
	stdout, stderr io.Writer
	// metrics, set by serve, is what the deps it opens record into.
	metrics *telemetry.Metrics
}

// noConfig marks the commands that run without loading the configuration
// (a broken one must not hide them).
var noConfig = map[string]string{"authd/config": "none"}

// run is main without the process: testable. It prints errors on stderr
// and returns them; exitCode says the exit code.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	env := &cliEnv{stdout: stdout, stderr: stderr}
	root := rootCommand(env, environ)
	root.SetArgs(compatArgs(root, args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		reportError(stderr, cmd, err)
	}
	return err
}

func rootCommand(env *cliEnv, environ []string) *cobra.Command {
	root := &cobra.Command{
		Use:   "authd",
		Short: "authd: an OAuth 2.0 and OpenID Connect server, and its operator CLI",
		Long: `authd is an OAuth 2.0 and OpenID Connect server; this binary runs it (authd serve)
and manages what it serves: clients, users, signing keys, the audit trail,
admin API keys, webhooks and Shared Signals streams. Every command prints JSON
on stdout and works while serve runs on the same database.

Configuration: the YAML file named by --config or AUTHD_CONFIG, then AUTHD_*
environment variables (database.url -> AUTHD_DATABASE_URL). With none, authd
runs on the embedded default: SQLite under ./data, issuer http://127.0.0.1:8080.

Exit codes: 0 success, 1 error, 2 usage (unknown command or flag, missing or
extra argument, bad flag value).`,
		Example: `  authd serve --config /etc/authd/authd.yaml
  authd clients create --name demo --grant-type client_credentials
  authd users create --email ada@example.com --password-file pw.txt --verified
  authd help clients create`,
		Annotations:   noConfig,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(cmd *cobra.Command, args []string) error {
			if v, _ := cmd.Flags().GetBool("version"); v {
				return nil
			}
			if len(args) > 0 {
				return unknownCommand(cmd, "command", args[0])
			}
			return usageError{errors.New("no command")}
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(env.stdout, readBuildInfo())
			return err
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if !needsConfig(cmd) {
				return nil
			}
			path, _ := cmd.Flags().GetString("config")
			if !cmd.Flags().Changed("config") {
				path = lookupEnv(environ, "AUTHD_CONFIG")
			}
			cfg, err := loadConfig(path, environ)
			if err != nil {
				return err
			}
			env.cfg = cfg
			return nil
		},
	}
	root.PersistentFlags().String("config", "", "YAML config file (default: $AUTHD_CONFIG; none: defaults and AUTHD_* variables only)")
	root.Flags().Bool("version", false, "print the version in one line and exit")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		// authd has no one-letter flags but -h: -bogus is a misspelt long
		// flag, not a cluster of short ones.
		if m := unknownShorthand.FindStringSubmatch(err.Error()); m != nil {
			err = fmt.Errorf("unknown flag: %s", m[1])
		}
		return usageError{err}
	})
	// A group runs only to refuse a missing or unknown subcommand: its
	// usage is "authd X [command]" alone.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	root.AddCommand(
		serveCommand(env),
		versionCommand(env),
		migrateCommand(env),
		clientsCommand(env),
		keysCommand(env),
		usersCommand(env),
		auditCommand(env),
		apikeysCommand(env),
		webhooksCommand(env),
		streamsCommand(env),
	)
	root.SetHelpCommand(helpCommand())
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Annotations = noConfig
			c.Example = "  authd completion bash > /etc/bash_completion.d/authd\n  authd completion zsh > \"${fpath[1]}/_authd\""
			for _, sh := range c.Commands() {
				sh.Example = "  authd completion " + sh.Name() + " --help"
			}
		}
	}
	walk(root, func(c *cobra.Command) {
		c.SuggestionsMinimumDistance = 2
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() == "stringArray" { // repeatable: the usage says so
				f.Value, f.DefValue = typeName{f.Value, "string"}, ""
			}
		})
		// Argument mistakes are usage errors (exit 2); a command that
		// names no rule takes no arguments.
		switch orig := c.Args; {
		case orig == nil:
			c.Args = noArgs
		default:
			c.Args = func(cmd *cobra.Command, args []string) error {
				if err := orig(cmd, args); err != nil && !errors.As(err, new(usageError)) {
					return usageError{err}
				} else if err != nil {
					return err
				}
				return nil
			}
		}
	})
	return root
}

// needsConfig: everything but the root, help, version and completion.
func needsConfig(cmd *cobra.Command) bool {
	if !cmd.HasParent() || strings.HasPrefix(cmd.Name(), "__complete") {
		return false
	}
	for c := cmd; c.HasParent(); c = c.Parent() {
		if c.Annotations["authd/config"] == "none" {
			return false
		}
	}
	return true
}

func helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND [SUBCOMMAND]]",
		Short: "Help about any command",
		Long: `Help prints the usage, flags and examples of a command, as
'authd COMMAND [SUBCOMMAND] --help' does. It needs no configuration.`,
		Example:     "  authd help\n  authd help clients create",
		Annotations: noConfig,
		Args:        cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return usageError{fmt.Errorf("unknown help topic %q", strings.Join(args, " "))}
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
	}
}

// group is a command that only holds subcommands: without one, or with an
// unknown one, it is a usage error.
func group(c *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usageError{fmt.Errorf("missing %s subcommand", cmd.Name())}
		}
		return unknownCommand(cmd, cmd.Name()+" subcommand", args[0])
	}
	c.RunE = func(*cobra.Command, []string) error { return nil } // never reached: Args refuses
	c.AddCommand(subs...)
	return c
}

func unknownCommand(cmd *cobra.Command, what, name string) error {
	err := fmt.Errorf("unknown %s %q", what, name)
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		err = fmt.Errorf("%w; did you mean %s?", err, strings.Join(s, " or "))
	}
	return usageError{err}
}

// noArgs refuses positional arguments.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", args)}
	}
	return nil
}

// needArgs wants exactly the named positional arguments.
func needArgs(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return usageError{fmt.Errorf("missing %s", names[len(args)])}
		}
		if len(args) > len(names) {
			return usageError{fmt.Errorf("unexpected arguments: %v (want only the %s)", args[len(names):], strings.Join(names, " and "))}
		}
		return nil
	}
}

// typeName shows a flag's value as name in the help.
type typeName struct {
	pflag.Value
	name string
}

func (t typeName) Type() string { return t.name }

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// usageLine is the one line a usage error shows: a group's subcommands,
// a leaf's arguments.
func usageLine(cmd *cobra.Command) string {
	if !cmd.HasAvailableSubCommands() {
		return cmd.UseLine()
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() && c.Name() != "help" && c.Name() != "completion" {
			names = append(names, c.Name())
		}
	}
	if !cmd.HasParent() {
		return "authd [--config FILE] COMMAND [ARGS]   (commands: " + strings.Join(names, ", ") + ")"
	}
	return cmd.CommandPath() + " " + strings.Join(names, "|")
}

var unknownShorthand = regexp.MustCompile(`^unknown shorthand flag: '.' in (-[^-=]{2,}\S*)$`)

// configKey is an error that starts with the configuration key it is about.
var configKey = regexp.MustCompile(`^([a-z_]+(?:\.[a-z_]+)+): `)

// reportError prints err for an operator: a usage error with the
// command's usage line and where its help is, any other with what to do
// when that is known.
func reportError(w io.Writer, cmd *cobra.Command, err error) {
	if cmd == nil {
		fmt.Fprintln(w, "authd:", err)
		return
	}
	if errors.As(err, new(usageError)) {
		fmt.Fprintf(w, "authd: %v\nusage: %s\nRun '%s --help' for more.\n", err, usageLine(cmd), cmd.CommandPath())
		return
	}
	fmt.Fprintln(w, "authd:", err)
	var h hintError
	switch {
	case errors.As(err, &h):
		fmt.Fprintln(w, h.hint)
	default:
		// One setting at fault (a list of problems names each itself).
		if m := configKey.FindStringSubmatch(err.Error()); m != nil && !strings.Contains(err.Error(), "\n") {
			fmt.Fprintf(w, "The setting is %s in the config file (--config), or %s in the environment.\n",
				m[1], envPrefix+strings.ToUpper(strings.ReplaceAll(m[1], ".", "_")))
		}
	}
}

// compatArgs rewrites the Go flag package's single-dash long flags
// (-config FILE, -name=N) to their double-dash form, for the flags the
// command being run knows; authd defines no one-letter flag but -h, so
// such a word cannot mean anything else. Values (the word after a flag
// that takes one) and everything after "--" are left alone.
func compatArgs(root *cobra.Command, args []string) []string {
	out := make([]string, 0, len(args))
	cur := root
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			f := lookupFlag(cur, name)
			if f != nil && !strings.HasPrefix(a, "--") && len(name) > 1 {
				a = "-" + a
			}
			out = append(out, a)
			if f != nil && f.NoOptDefVal == "" && !hasValue && strings.HasPrefix(a, "--") && i+1 < len(args) {
				i++
				out = append(out, args[i]) // the flag's value
			}
		default:
			for _, sub := range cur.Commands() {
				if sub.Name() == a || sub.HasAlias(a) {
					cur = sub
					break
				}
			}
			out = append(out, a)
		}
	}
	return out
}

// lookupFlag finds a flag cmd accepts: its own, its ancestors' persistent
// ones, or help.
func lookupFlag(cmd *cobra.Command, name string) *pflag.Flag {
	if name == "help" {
		return &pflag.Flag{Name: "help", NoOptDefVal: "true"}
	}
	if f := cmd.Flags().Lookup(name); f != nil {
		return f
	}
	for c := cmd; c != nil; c = c.Parent() {
		if f := c.PersistentFlags().Lookup(name); f != nil {
			return f
		}
	}
	return nil
}

func versionCommand(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "What this binary was built from, as JSON",
		Long: `version prints what this binary was built from, as JSON: the module version
(or the release version set at build time), the VCS revision and its time,
whether the tree was modified, and the Go version. 'authd --version' prints
the same in one line. Neither needs a valid configuration.`,
		Example:     "  authd version\n  authd --version",
		Annotations: noConfig,
		RunE: func(*cobra.Command, []string) error {
			return printJSON(env, readBuildInfo())
		},
	}
}

func lookupEnv(environ []string, name string) string {
	for _, kv := range environ {
		if len(kv) > len(name) && kv[:len(name)] == name && kv[len(name)] == '=' {
			return kv[len(name)+1:]
		}
	}
	return ""
}
