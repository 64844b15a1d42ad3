// Command genusers writes users for `authd users import` as JSON lines,
// fast: a million lines in about a second.
//
//	genusers -n 1000000 > users.jsonl
//	genusers -n 999000 -start 1000 -hash "$(genusers -print-hash)" -o more.jsonl
//
// User i (from -start) is user<i>@<domain>, named "Bench User <i>",
// verified, with the password -password. The password is hashed once
// (Argon2id with authd's default parameters, the ones `authd serve` uses
// unless configured otherwise, so signing in does not rehash) and every
// line carries that same PHC string as password_hash: importing then costs
// no hashing at all. -hash gives a PHC string made elsewhere instead (it
// must be for -password if the users are to sign in).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/authd/authd/internal/password"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "genusers:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("genusers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 1000, "number of users")
	start := fs.Int("start", 0, "index of the first user")
	domain := fs.String("domain", "bench.example.com", "email domain")
	pw := fs.String("password", DefaultPassword, "every user's password")
	phc := fs.String("hash", "", "Argon2id PHC string to use as every user's password_hash (default: -password hashed once)")
	printHash := fs.Bool("print-hash", false, "print the PHC string of -password and exit")
	out := fs.String("o", "-", "output file (- for standard output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *n < 0 || *start < 0 {
		return errors.New("-n and -start must not be negative")
	}
	if *phc == "" {
		h, err := Hash(*pw)
		if err != nil {
			return err
		}
		*phc = h
	} else if _, err := password.ParseParams(*phc); err != nil {
		return fmt.Errorf("-hash: %w", err)
	}
	if *printHash {
		_, err := fmt.Fprintln(stdout, *phc)
		return err
	}
	w := stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	if err := Write(w, *start, *n, *domain, *phc); err != nil {
		return err
	}
	if f, ok := w.(*os.File); ok && *out != "-" {
		return f.Close()
	}
	return nil
}

// DefaultPassword is the password of every generated user unless -password
// says otherwise: long enough for the default policy and not a common one.
const DefaultPassword = "bench-password-8c1f2e"

// Hash returns the PHC string of pw under authd's default parameters.
func Hash(pw string) (string, error) {
	h, err := password.NewHasher(password.DefaultConfig())
	if err != nil {
		return "", err
	}
	return h.Hash(context.Background(), pw)
}

// Email is user i's address.
func Email(i int, domain string) string { return "user" + strconv.Itoa(i) + "@" + domain }

// Write writes users start .. start+n-1 as JSON lines. domain and phc are
// written as they are: they must need no JSON escaping (a PHC string and a
// domain name do not).
func Write(w io.Writer, start, n int, domain, phc string) error {
	for _, s := range []string{domain, phc} {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
				return fmt.Errorf("%q needs escaping in JSON", s)
			}
		}
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	line := make([]byte, 0, 256)
	for i := start; i < start+n; i++ {
		line = append(line[:0], `{"email":"user`...)
		line = strconv.AppendInt(line, int64(i), 10)
		line = append(line, '@')
		line = append(line, domain...)
		line = append(line, `","password_hash":"`...)
		line = append(line, phc...)
		line = append(line, `","name":"Bench User `...)
		line = strconv.AppendInt(line, int64(i), 10)
		line = append(line, `","verified":true}`+"\n"...)
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}
