package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"golang.org/x/text/language"

	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/storage"
	storesql "github.com/authd/authd/storage/sql"
)

const usersImportLong = `import reads users as JSON lines, one object per line:

  {"email": "ada@example.com", "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$...", "name": "Ada", "verified": true}
  {"email": "bob@example.com", "password": "a clear passphrase"}

fields: email (required); password (hashed with Argon2id, checked against the
password policy) or password_hash (an Argon2id PHC string, stored as is; the
fast way to load many users) or neither (no password: the user sets one by
password reset); name, organization, department, employee_id, locale,
picture, phone (E.164, sealed at rest), phone_verified, verified (or
email_verified), disabled, id (default: a new UUIDv7; for subjects kept from
another system), created_at (RFC 3339).

Duplicates (an email or id on an earlier line or in the database) and
invalid lines are reported on stderr with their line numbers. With
--on-conflict skip (the default) they are skipped and every batch commits on
its own; with fail the first one aborts and nothing is imported. Prints
{"imported": n, "skipped": m, "duplicates": d, "invalid": i, "seconds": s}.
`

// maxImportLine bounds one line of input.
const maxImportLine = 1 << 20

// importWindow is how many lines are read ahead, so that clear passwords
// among them are hashed in parallel (at most password.max_concurrent at a
// time).
const importWindow = 256

// maxListedProblems is how many problems the summary lists and stderr
// shows one by one.
const (
	maxListedProblems = 100
	maxPrintedProblem = 1000
)

// importLine is one line of `authd users import` input.
type importLine struct {
	Email               string     `json:"email"`
	Password            *string    `json:"password"`
	PasswordHash        *string    `json:"password_hash"`
	Name                string     `json:"name"`
	Verified            bool       `json:"verified"`
	EmailVerified       bool       `json:"email_verified"`
	Organization        string     `json:"organization"`
	Department          string     `json:"department"`
	EmployeeID          string     `json:"employee_id"`
	Locale              string     `json:"locale"`
	Picture             string     `json:"picture"`
	Phone               string     `json:"phone"`
	PhoneNumber         string     `json:"phone_number"`
	PhoneVerified       bool       `json:"phone_verified"`
	PhoneNumberVerified bool       `json:"phone_number_verified"`
	Disabled            bool       `json:"disabled"`
	ID                  string     `json:"id"`
	CreatedAt           *time.Time `json:"created_at"`
}

// importSummary is what `authd users import` prints.
type importSummary struct {
	Imported   int64                    `json:"imported"`
	Skipped    int64                    `json:"skipped"`
	Duplicates int64                    `json:"duplicates"`
	Invalid    int64                    `json:"invalid"`
	Seconds    float64                  `json:"seconds"`
	Problems   []storesql.ImportProblem `json:"problems,omitempty"`
}

// importFlags are the flags of `authd users import`.
type importFlags struct {
	file       string
	batch      int
	onConflict string
	quiet      bool
}

func usersImportCommand(env *cliEnv) *cobra.Command {
	var fl importFlags
	cmd := &cobra.Command{
		Use:   "import [--file F|-] [flags] [F|-]",
		Short: "Import users from JSON lines",
		Long:  usersImportLong,
		Example: `  authd users import users.jsonl
  authd users import --file users.jsonl --on-conflict fail
  gunzip -c export.jsonl.gz | authd users import --batch 5000 --quiet -`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && !cmd.Flags().Changed("file"): // authd users import users.jsonl
				fl.file = args[0]
			case len(args) > 0:
				return usageError{fmt.Errorf("unexpected arguments: %v", args)}
			}
			if fl.batch < 1 || fl.batch > storesql.MaxImportBatch {
				return usageError{fmt.Errorf("--batch must be between 1 and %d, got %d", storesql.MaxImportBatch, fl.batch)}
			}
			if fl.onConflict != storesql.ImportSkip && fl.onConflict != storesql.ImportFail {
				return usageError{fmt.Errorf("--on-conflict must be skip or fail, got %q", fl.onConflict)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return usersImport(cmd.Context(), env, fl) },
	}
	fs := cmd.Flags()
	fs.StringVar(&fl.file, "file", "-", "JSON lines to import (- for standard input)")
	fs.IntVar(&fl.batch, "batch", storesql.DefaultImportBatch, fmt.Sprintf("users per batch: one COPY (Postgres) or transaction of multi-row INSERTs (SQLite), 1-%d", storesql.MaxImportBatch))
	fs.StringVar(&fl.onConflict, "on-conflict", storesql.ImportSkip, "skip: report duplicates and invalid lines and go on; fail: abort at the first, importing nothing")
	fs.BoolVar(&fl.quiet, "quiet", false, "do not list problems or progress on stderr (the summary still counts them)")
	return cmd
}

func usersImport(ctx context.Context, env *cliEnv, fl importFlags) error {
	var in io.Reader = os.Stdin
	source := "stdin"
	if fl.file != "-" {
		f, err := os.Open(fl.file)
		if err != nil {
			return fmt.Errorf("--file: %w", err)
		}
		defer f.Close()
		in, source = f, filepath.Base(fl.file)
	}
	hasher, err := password.NewHasher(env.cfg.Password)
	if err != nil {
		return err
	}
	sum := sha256.New()
	r := &importReader{ctx: ctx, hasher: hasher, sum: sum,
		sc: bufio.NewScanner(io.TeeReader(in, sum))}
	r.sc.Buffer(make([]byte, 64<<10), maxImportLine)

	return withDeps(ctx, env, func(d *deps) error {
		rep := &importReport{env: env, quiet: fl.quiet, start: time.Now()}
		rep.lastProgress = rep.start
		res, err := d.store.ImportUsers(ctx, r.users, storesql.ImportOptions{
			Batch: fl.batch, OnConflict: fl.onConflict, Actor: cliActor,
			Details: func() map[string]any {
				return map[string]any{"source": source, "sha256": hex.EncodeToString(sum.Sum(nil))}
			},
			OnProblem: rep.problem,
			OnBatch:   rep.progress,
		})
		return rep.finish(res, err)
	})
}

// importReport tells the operator how an import goes: problems and
// progress on stderr, the summary on stdout.
type importReport struct {
	env          *cliEnv
	quiet        bool
	start        time.Time
	summary      importSummary
	printed      int
	lastProgress time.Time
}

// problem lists a duplicate or invalid line (up to maxPrintedProblem on
// stderr, maxListedProblems in the summary).
func (rep *importReport) problem(p storesql.ImportProblem) {
	if len(rep.summary.Problems) < maxListedProblems {
		rep.summary.Problems = append(rep.summary.Problems, p)
	}
	if !rep.quiet && rep.printed < maxPrintedProblem {
		fmt.Fprintf(rep.env.stderr, "authd: users import: %s\n", p)
		if rep.printed++; rep.printed == maxPrintedProblem {
			fmt.Fprintf(rep.env.stderr, "authd: users import: not listing further problems (see the counts at the end)\n")
		}
	}
}

// progress says how far the import got, at most every 10 s.
func (rep *importReport) progress(res storesql.ImportResult) {
	if now := time.Now(); !rep.quiet && now.Sub(rep.lastProgress) >= 10*time.Second {
		rep.lastProgress = now
		secs := now.Sub(rep.start).Seconds()
		fmt.Fprintf(rep.env.stderr, "authd: users import: %d imported, %d skipped, %.0fs (%.0f users/s)\n",
			res.Imported, res.Skipped(), secs, float64(res.Imported)/secs)
	}
}

// finish prints the summary and says how to go on after a failure.
func (rep *importReport) finish(res storesql.ImportResult, err error) error {
	summary := &rep.summary
	summary.Imported, summary.Skipped = res.Imported, res.Skipped()
	summary.Duplicates, summary.Invalid = res.Duplicates, res.Invalid
	summary.Seconds = float64(time.Since(rep.start).Milliseconds()) / 1000
	if err != nil {
		var ae *storesql.ImportAbortedError
		if errors.As(err, &ae) {
			summary.Imported = 0
			_ = printJSON(rep.env, summary)
			return fmt.Errorf("users import: --on-conflict fail: %w", err)
		}
		if res.Imported > 0 {
			_ = printJSON(rep.env, summary)
			return fmt.Errorf("users import stopped after importing %d users (run it again with --on-conflict skip to import the rest): %w", res.Imported, err)
		}
		return fmt.Errorf("users import: %w", err)
	}
	return printJSON(rep.env, summary)
}

// importReader turns JSON lines into storesql.ImportUsers.
type importReader struct {
	ctx    context.Context
	hasher *password.Hasher
	sc     *bufio.Scanner
	sum    hash.Hash
	line   int
}

// pendingUser is a line read ahead: its user, and its clear password
// until hashed.
type pendingUser struct {
	iu       storesql.ImportUser
	password string
}

// users yields every non-blank line, in order, as an ImportUser; a line
// that is not a valid user carries the reason in Invalid. Reading errors
// (a line longer than 1 MiB, an I/O error) end it with an error.
func (r *importReader) users(yield func(storesql.ImportUser, error) bool) {
	window := make([]pendingUser, 0, importWindow)
	for {
		window = window[:0]
		for len(window) < importWindow && r.sc.Scan() {
			r.line++
			b := bytes.TrimSpace(r.sc.Bytes())
			if len(b) == 0 {
				continue
			}
			window = append(window, r.parse(b))
		}
		if err := r.sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = fmt.Errorf("line %d is longer than %d bytes", r.line+1, maxImportLine)
			}
			yield(storesql.ImportUser{}, fmt.Errorf("reading the input: %w", err))
			return
		}
		if len(window) == 0 {
			return
		}
		if err := r.hashAll(window); err != nil {
			yield(storesql.ImportUser{}, err)
			return
		}
		for _, p := range window {
			if !yield(p.iu, nil) {
				return
			}
		}
	}
}

// hashAll hashes the clear passwords of window in parallel; the hasher
// bounds how many run at once.
func (r *importReader) hashAll(window []pendingUser) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range window {
		p := &window[i]
		if p.password == "" {
			continue
		}
		wg.Go(func() {
			h, err := r.hasher.Hash(r.ctx, p.password)
			p.password = ""
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			p.iu.User.PasswordHash = h
		})
	}
	wg.Wait()
	return firstErr
}

// parse reads one line; what is wrong with it goes in Invalid.
func (r *importReader) parse(b []byte) pendingUser {
	p := pendingUser{iu: storesql.ImportUser{Line: r.line}}
	var in importLine
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		p.iu.Invalid = "not a JSON object of a user: " + strings.TrimPrefix(err.Error(), "json: ")
		return p
	}
	if dec.More() {
		p.iu.Invalid = "more than one JSON value on the line"
		return p
	}
	u := &p.iu.User
	u.Email = in.Email
	switch {
	case in.Email == "":
		p.iu.Invalid = "email is missing"
	case in.Password != nil && in.PasswordHash != nil:
		p.iu.Invalid = "give password or password_hash, not both"
	default:
		p.iu.Invalid = importProfile(in, u)
	}
	if p.iu.Invalid == "" {
		p.password, p.iu.Invalid = r.importPassword(in, u)
	}
	return p
}

// importProfile copies the profile fields of in to u, or says what is
// wrong with them.
func importProfile(in importLine, u *storage.User) (invalid string) {
	for _, f := range []struct{ name, v string }{
		{"name", in.Name}, {"organization", in.Organization}, {"department", in.Department}, {"employee_id", in.EmployeeID},
	} {
		if msg := checkImportText(f.v, 256); msg != "" {
			return f.name + " " + msg
		}
	}
	u.Name, u.Organization, u.Department, u.EmployeeID = in.Name, in.Organization, in.Department, in.EmployeeID
	u.EmailVerified = in.Verified || in.EmailVerified
	u.Disabled, u.ID = in.Disabled, in.ID
	if in.CreatedAt != nil {
		u.CreatedAt = *in.CreatedAt
	}
	if in.Locale != "" {
		tag, err := language.Parse(in.Locale)
		if err != nil || len(in.Locale) > 35 {
			return "locale is not a language tag such as en or pt-BR"
		}
		u.Locale = tag.String()
	}
	if in.Picture != "" {
		pu, err := url.Parse(in.Picture)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || pu.User != nil ||
			len(in.Picture) > 2048 || checkImportText(in.Picture, 2048) != "" {
			return "picture is not a web address (https://...)"
		}
		u.Picture = in.Picture
	}
	phone := in.Phone
	if phone == "" {
		phone = in.PhoneNumber
	} else if in.PhoneNumber != "" && in.PhoneNumber != phone {
		return "give phone or phone_number, not both"
	}
	if phone != "" {
		e164, ok := importPhone(phone)
		if !ok {
			return "phone is not a phone number in international form such as +15551234567"
		}
		u.Phone = e164
		u.PhoneVerified = in.PhoneVerified || in.PhoneNumberVerified
	}
	return ""
}

// importPassword takes the line's password hash into u, or checks its
// clear password against the policy and returns it for hashing; invalid
// says what is wrong.
func (r *importReader) importPassword(in importLine, u *storage.User) (clear, invalid string) {
	switch {
	case in.PasswordHash != nil:
		// Checked by the store (password.ParseParams).
		u.PasswordHash = *in.PasswordHash
		if u.PasswordHash == "" {
			return "", "password_hash is empty (leave it out for a user without a password)"
		}
	case in.Password != nil:
		norm, err := storage.NormalizeEmail(in.Email)
		if err != nil {
			norm = in.Email // the store reports the address
		}
		if vs := r.hasher.Check(*in.Password, norm); len(vs) > 0 {
			msgs := make([]string, len(vs))
			for i, v := range vs {
				msgs[i] = v.Message
			}
			return "", "the password does not meet the policy: " + strings.Join(msgs, "; ")
		}
		return *in.Password, ""
	}
	return "", ""
}

// checkImportText accepts text of at most maxLen characters without
// control characters or bidirectional overrides (what the account pages
// accept).
func checkImportText(v string, maxLen int) string {
	n := 0
	for _, r := range v {
		n++
		if r == '\uFFFD' || unicode.IsControl(r) || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') || r == '\u200e' || r == '\u200f' {
			return "must not contain control characters"
		}
	}
	if n > maxLen {
		return fmt.Sprintf("must be at most %d characters long", maxLen)
	}
	return ""
}

// importPhone returns the E.164 form of s ("+", a country code not
// starting with 0, 7 to 15 digits), allowing spaces, dashes, dots and
// parentheses between the digits.
func importPhone(s string) (string, bool) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r == '+' && i == 0, r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", false
		}
	}
	p := b.String()
	if len(p) < 8 || len(p) > 16 || p[0] != '+' || p[1] == '0' {
		return "", false
	}
	return p, true
}
