package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/authd/authd/account"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
)

// cliActor names the operator in the audit trail.
const cliActor = "cli"

func usersCommand(env *cliEnv) *cobra.Command {
	byID := func(op, arg, short, example string) *cobra.Command {
		return &cobra.Command{
			Use: op + " " + arg, Short: short, Example: example,
			Args: needArgs("user id"),
			RunE: func(cmd *cobra.Command, args []string) error { return usersByID(cmd.Context(), env, op, args[0]) },
		}
	}
	const id = "0190b3c4-1d2e-7000-8000-000000000001"
	return group(&cobra.Command{
		Use:   "users",
		Short: "Create and manage user accounts",
		Long: `users creates and manages the accounts people sign in with, through the same
rules as the hosted pages and the admin API (password policy, audit trail).`,
		Example: `  authd users create --email ada@example.com --password-file pw.txt --verified
  authd users get ada@example.com
  authd users import users.jsonl`,
	},
		usersCreateCommand(env),
		usersListCommand(env),
		byID("get", "USER_ID|EMAIL", "Show one user, by id or email address", "  authd users get ada@example.com\n  authd users get "+id),
		usersUpdateCommand(env),
		usersSetPasswordCommand(env),
		byID("disable", "USER_ID", "Disable a user: no sign-in, sessions and tokens end", "  authd users disable "+id),
		byID("enable", "USER_ID", "Enable a disabled user", "  authd users enable "+id),
		byID("delete", "USER_ID", "Delete a user, their sessions and tokens", "  authd users delete "+id),
		usersImportCommand(env),
	)
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

func usersCreateCommand(env *cliEnv) *cobra.Command {
	var nu account.NewUser
	var passwordFile string
	cmd := &cobra.Command{
		Use:   "create --email E --password P|--password-file F [flags]",
		Short: "Create a user",
		Long: `create makes a user account and prints it (with its "id"). The password must
meet the password policy; --password-file reads it from the file's first
line (a --password is visible to other local users while the command runs).`,
		Example: `  authd users create --email ada@example.com --password-file pw.txt --verified --name "Ada Lovelace"
  authd users create --email bob@example.com --password 'correct horse battery staple' \
      --organization Example --department R&D --employee-id 4711`,
		RunE: func(cmd *cobra.Command, _ []string) error { return usersCreate(cmd.Context(), env, nu, passwordFile) },
	}
	fs := cmd.Flags()
	fs.StringVar(&nu.Email, "email", "", "email address (required)")
	fs.StringVar(&nu.Password, "password", "", "password (or --password-file; visible to other local users while the command runs)")
	fs.StringVar(&passwordFile, "password-file", "", "read the password from this file (its first line)")
	fs.BoolVar(&nu.Verified, "verified", false, "mark the email address verified")
	fs.StringVar(&nu.Name, "name", "", "full name")
	fs.StringVar(&nu.Organization, "organization", "", "organization")
	fs.StringVar(&nu.Department, "department", "", "department")
	fs.StringVar(&nu.EmployeeID, "employee-id", "", "employee id")
	return cmd
}

func usersCreate(ctx context.Context, env *cliEnv, nu account.NewUser, passwordFile string) error {
	if nu.Email == "" {
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

func usersListCommand(env *cliEnv) *cobra.Command {
	var after string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users, by id",
		Long:  "list prints users ordered by id. Page with --after: the last id of the previous page.",
		Example: `  authd users list
  authd users list --limit 50 --after 0190b3c4-1d2e-7000-8000-000000000001`,
		RunE: func(cmd *cobra.Command, _ []string) error { return usersList(cmd.Context(), env, after, limit) },
	}
	cmd.Flags().StringVar(&after, "after", "", "list users whose id sorts after this one (the last id of the previous page)")
	cmd.Flags().IntVar(&limit, "limit", 100, "most users to list (1-1000)")
	return cmd
}

func usersList(ctx context.Context, env *cliEnv, after string, limit int) error {
	if limit < 1 || limit > 1000 {
		return usageError{fmt.Errorf("--limit must be between 1 and 1000, got %d", limit)}
	}
	return withDeps(ctx, env, func(d *deps) error {
		us, err := d.store.ListUsers(ctx, after, limit)
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

func usersUpdateCommand(env *cliEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update USER_ID [flags]",
		Short: "Change the fields named by flags",
		Long: `update changes the fields named by flags (an empty value clears a text field)
and leaves the others alone, through the same rules as the admin API's PATCH.`,
		Example: `  authd users update 0190b3c4-1d2e-7000-8000-000000000001 --name "Ada King" --phone +441234567890
  authd users update 0190b3c4-1d2e-7000-8000-000000000001 --verified=false --department=`,
		Args: needArgs("user id"),
	}
	fs := cmd.Flags()
	text := map[string]*string{}
	for _, name := range []string{"email", "name", "phone", "organization", "department", "employee-id", "locale", "picture"} {
		text[name] = fs.String(name, "", name+" (empty: clear it; not given: unchanged)")
	}
	verified := fs.Bool("verified", false, "mark the email address verified (true) or not (false)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		set := map[string]bool{}
		fs.Visit(func(f *pflag.Flag) { set[f.Name] = true })
		delete(set, "config")
		return usersUpdate(cmd.Context(), env, args[0], set, text, verified)
	}
	return cmd
}

// usersUpdate changes the fields named by flags (an empty value clears a
// text field) through the service the admin API's PATCH uses.
func usersUpdate(ctx context.Context, env *cliEnv, id string, set map[string]bool, text map[string]*string, verified *bool) error {
	var upd account.AdminUpdate
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

func usersSetPasswordCommand(env *cliEnv) *cobra.Command {
	var pw, file string
	var keep bool
	cmd := &cobra.Command{
		Use:   "set-password USER_ID --password P|--password-file F [flags]",
		Short: "Set a user's password without the current one",
		Long: `set-password sets a new password (it must meet the password policy); the
user's sessions and tokens end unless --keep-sessions.`,
		Example: `  authd users set-password 0190b3c4-1d2e-7000-8000-000000000001 --password-file new-pw.txt
  authd users set-password 0190b3c4-1d2e-7000-8000-000000000001 --password-file new-pw.txt --keep-sessions`,
		Args: needArgs("user id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usersSetPassword(cmd.Context(), env, args[0], pw, file, keep)
		},
	}
	cmd.Flags().StringVar(&pw, "password", "", "the new password (or --password-file)")
	cmd.Flags().StringVar(&file, "password-file", "", "read the password from this file (its first line)")
	cmd.Flags().BoolVar(&keep, "keep-sessions", false, "leave the user's sessions and tokens alone")
	return cmd
}

// usersSetPassword sets a password without the current one; the user's
// sessions end unless keep.
func usersSetPassword(ctx context.Context, env *cliEnv, id, pw, file string, keep bool) error {
	p, err := passwordArg(pw, file)

	if err != nil {
		return err
	}
	return withDeps(ctx, env, func(d *deps) error {
		svc, err := accountService(env, d)
		if err != nil {
			return err
		}
		if err := svc.SetPassword(ctx, id, p, keep, cliActor, account.Meta{}); err != nil {
			return userErr(id, err)
		}
		return printJSON(env, map[string]any{"id": id, "password_set": true, "sessions_ended": !keep})
	})
}

// userErr turns the account service's errors into what an operator needs
// to read.
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
		return withHint(fmt.Errorf("user %q not found", ref), "List the users with 'authd users list'; 'authd users get EMAIL' finds one by address.")
	}
	return err
}
