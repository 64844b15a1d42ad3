package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/authd/authd/account"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
)

const usersUsage = "usage: authd users create|list|get|update|set-password|disable|enable|delete|import"

// cliActor names the operator in the audit trail.
const cliActor = "cli"

func usersCmd(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.stderr, usersUsage)
		return usageError{errors.New("missing users subcommand")}
	}
	switch args[0] {
	case "create":
		return usersCreate(ctx, env, args[1:])
	case "list":
		return usersList(ctx, env, args[1:])
	case "import":
		return usersImport(ctx, env, args[1:])
	case "update":
		return usersUpdate(ctx, env, args[1:])
	case "set-password":
		return usersSetPassword(ctx, env, args[1:])
	case "get", "disable", "enable", "delete":
		if len(args) != 2 || strings.HasPrefix(args[1], "-") {
			ref := "USER_ID"
			if args[0] == "get" {
				ref = "USER_ID|EMAIL"
			}
			fmt.Fprintf(env.stderr, "usage: authd users %s %s\n", args[0], ref)
			return usageError{errors.New("missing user id")}
		}
		return usersByID(ctx, env, args[0], args[1])
	}
	fmt.Fprintln(env.stderr, usersUsage)
	return usageError{fmt.Errorf("unknown users subcommand %q", args[0])}
}

// accountService builds the account service on the CLI's stores. The CLI
// sends no mail: none of its operations needs to.
func accountService(env *cliEnv, d *deps) (*account.Service, error) {
	hasher, err := password.NewHasher(env.cfg.Password)
	if err != nil {
		return nil, err
	}
	return account.New(env.cfg.Accounts, account.Deps{
		Store: d.store, Attempts: d.attempts, Hasher: hasher, MAC: d.keyring, Mailer: noMail{}, Requests: noMail{},
		Sessions: session.New(env.cfg.Session, session.Options{Store: d.sessions, Logger: d.log}),
		Issuer:   env.cfg.Issuer, Logger: d.log,
	})
}

type noMail struct{}

func (noMail) Enqueue(context.Context, mail.Message) error {
	return errors.New("the CLI sends no mail")
}

func (noMail) EnqueueRequest(context.Context, account.Request) error {
	return errors.New("the CLI queues no mail requests")
}

func usersCreate(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("users create", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var nu account.NewUser
	var passwordFile string
	fs.StringVar(&nu.Email, "email", "", "email address (required)")
	fs.StringVar(&nu.Password, "password", "", "password (or --password-file; visible to other local users while the command runs)")
	fs.StringVar(&passwordFile, "password-file", "", "read the password from this file (its first line)")
	fs.BoolVar(&nu.Verified, "verified", false, "mark the email address verified")
	fs.StringVar(&nu.Name, "name", "", "full name")
	fs.StringVar(&nu.Organization, "organization", "", "organization")
	fs.StringVar(&nu.Department, "department", "", "department")
	fs.StringVar(&nu.EmployeeID, "employee-id", "", "employee id")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	if nu.Email == "" {
		fmt.Fprintln(env.stderr, "usage: authd users create --email E --password P [--verified] [--name N] [--organization O --department D --employee-id X]")
		return usageError{errors.New("--email is required")}
	}
	var err error
	if nu.Password, err = passwordArg(nu.Password, passwordFile); err != nil {
		return err
	}
	return withDeps(ctx, env, func(d *deps) error {
		svc, err := accountService(env, d)
		if err != nil {
			return err
		}
		u, err := svc.CreateUser(ctx, nu, cliActor, account.Meta{})
		if err != nil {
			return userErr(nu.Email, err)
		}
		return printJSON(env, u)
	})
}

func usersList(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("users list", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	after := fs.String("after", "", "list users whose id sorts after this one (the last id of the previous page)")
	limit := fs.Int("limit", 100, "most users to list (1-1000)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	if *limit < 1 || *limit > 1000 {
		return usageError{fmt.Errorf("--limit must be between 1 and 1000, got %d", *limit)}
	}
	return withDeps(ctx, env, func(d *deps) error {
		us, err := d.store.ListUsers(ctx, *after, *limit)
		if err != nil {
			return err
		}
		if us == nil {
			us = []*storage.User{}
		}
		return printJSON(env, us)
	})
}

func usersByID(ctx context.Context, env *cliEnv, op, ref string) error {
	return withDeps(ctx, env, func(d *deps) error {
		if op == "get" {
			var u *storage.User
			var err error
			if strings.Contains(ref, "@") {
				u, err = d.store.GetUserByEmail(ctx, ref)
			} else {
				u, err = d.store.GetUser(ctx, ref)
			}
			if err != nil {
				return userErr(ref, err)
			}
			return printJSON(env, u)
		}
		svc, err := accountService(env, d)
		if err != nil {
			return err
		}
		switch op {
		case "disable":
			err = svc.DisableUser(ctx, ref, cliActor, account.Meta{})
		case "enable":
			err = svc.EnableUser(ctx, ref, cliActor, account.Meta{})
		case "delete":
			err = svc.DeleteUser(ctx, ref, cliActor, account.Meta{})
		}
		if err != nil {
			return userErr(ref, err)
		}
		if op == "delete" {
			return printJSON(env, map[string]any{"id": ref, "deleted": true})
		}
		u, err := d.store.GetUser(ctx, ref)
		if err != nil {
			return userErr(ref, err)
		}
		return printJSON(env, u)
	})
}

// userErr turns the account service's errors into what an operator needs
// to read.
// passwordArg is the password given by --password or --password-file
// (its first line); exactly one is required.
func passwordArg(pw, file string) (string, error) {
	switch {
	case pw != "" && file != "":
		return "", usageError{errors.New("give --password or --password-file, not both")}
	case file != "":
		b, err := os.ReadFile(file) // #nosec G304 -- the operator names the file
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		pw, _, _ = strings.Cut(string(b), "\n")
		return strings.TrimSuffix(pw, "\r"), nil
	case pw == "":
		return "", usageError{errors.New("--password or --password-file is required")}
	}
	return pw, nil
}

// usersUpdate changes the fields named by flags (an empty value clears a
// text field) through the service the admin API's PATCH uses.
func usersUpdate(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(env.stderr, "usage: authd users update USER_ID [--email E] [--verified=true|false] [--name N] [--phone P] [--organization O] [--department D] [--employee-id X]")
		return usageError{errors.New("missing user id")}
	}
	id := args[0]
	fs := flag.NewFlagSet("users update", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	text := map[string]*string{}
	for _, name := range []string{"email", "name", "phone", "organization", "department", "employee-id", "locale", "picture"} {
		text[name] = fs.String(name, "", name+" (empty: clear it; not given: unchanged)")
	}
	verified := fs.Bool("verified", false, "mark the email address verified (true) or not (false)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	var upd account.AdminUpdate
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if len(set) == 0 {
		return usageError{errors.New("nothing to update: name a field")}
	}
	pick := func(name string) *string {
		if set[name] {
			return text[name]
		}
		return nil
	}
	upd.Email, upd.Name, upd.Phone, upd.Organization = pick("email"), pick("name"), pick("phone"), pick("organization")
	upd.Department, upd.EmployeeID, upd.Locale, upd.Picture = pick("department"), pick("employee-id"), pick("locale"), pick("picture")
	if set["verified"] {
		upd.EmailVerified = verified
	}
	return withDeps(ctx, env, func(d *deps) error {
		svc, err := accountService(env, d)
		if err != nil {
			return err
		}
		u, err := svc.AdminUpdateUser(ctx, id, upd, cliActor, account.Meta{})
		if err != nil {
			return userErr(id, err)
		}
		return printJSON(env, u)
	})
}

// usersSetPassword sets a password without the current one; the user's
// sessions end unless --keep-sessions.
func usersSetPassword(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(env.stderr, "usage: authd users set-password USER_ID --password P|--password-file F [--keep-sessions]")
		return usageError{errors.New("missing user id")}
	}
	id := args[0]
	fs := flag.NewFlagSet("users set-password", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	pw := fs.String("password", "", "the new password (or --password-file)")
	file := fs.String("password-file", "", "read the password from this file (its first line)")
	keep := fs.Bool("keep-sessions", false, "leave the user's sessions and tokens alone")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	p, err := passwordArg(*pw, *file)
	if err != nil {
		return err
	}
	return withDeps(ctx, env, func(d *deps) error {
		svc, err := accountService(env, d)
		if err != nil {
			return err
		}
		if err := svc.SetPassword(ctx, id, p, *keep, cliActor, account.Meta{}); err != nil {
			return userErr(id, err)
		}
		return printJSON(env, map[string]any{"id": id, "password_set": true, "sessions_ended": !*keep})
	})
}

func userErr(ref string, err error) error {
	var pe *account.PolicyError
	var ie *account.InputError
	switch {
	case errors.As(err, &pe):
		return fmt.Errorf("the password does not meet the policy:\n  - %s", strings.Join(pe.Messages(), "\n  - "))
	case errors.As(err, &ie):
		return fmt.Errorf("--%s: %s", strings.ReplaceAll(ie.Field, "_", "-"), ie.Message)
	case errors.Is(err, account.ErrEmailTaken):
		return fmt.Errorf("a user with email %q already exists", ref)
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("user %q not found", ref)
	}
	return err
}
