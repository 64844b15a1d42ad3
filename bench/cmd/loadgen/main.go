// Command loadgen puts HTTP load on an authd server running on this machine
// and reports throughput, latency percentiles and errors per scenario step.
//
// It only ever targets loopback (127.0.0.0/8, ::1, localhost): the -target
// host, every endpoint taken from discovery and every dialled address are
// checked. Runs are bounded by -d (plus -warmup and, for requests still in
// flight, -timeout).
//
//	loadgen -scenario client_credentials -client-id ID -client-secret SECRET -c 64 -d 10s
//	loadgen -scenario introspect -rate 2000 ...   # fixed arrival rate
//	loadgen -scenario authcode -client-id ID -client-secret S -user-email E -user-password P -rate 20
//	loadgen -list                                 # scenarios
//	loadgen -summary a.json b.json                # one table from -json results
//
// With -rate 0 (the default) each of the -c workers sends its next request as
// soon as the previous one is done (closed loop). With -rate R, iterations
// are due every 1/R s whatever the server does, and latency is measured from
// the time an iteration was due, not from when a worker got round to sending
// it, so a stalled server shows up in the percentiles (no coordinated
// omission). Iterations that no worker was free for until more than -late
// after they were due are counted as late, and iterations still unsent when
// the window closes as unsent. The send lag (due to sent, including the Go
// runtime's timer wake-up delay of up to ~1ms on Linux) is reported too: it
// is part of every fixed-rate latency.
//
// Latencies include failed requests. Error kinds are an HTTP status (e.g.
// "500"), "timeout", "refused", "reset", "conn", or a check failure such as
// "inactive" (introspection said active=false), "active" (a revoked token
// was still active), "badjson", "notoken", or one of the browser flows'
// ("noform", "redirect", "nocode", "state", "reused", ...; see README.md).
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
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	fs.StringVar(&cfg.Target, "target", "http://127.0.0.1:8080", "base URL (issuer) of the server; must be loopback")
	fs.StringVar(&cfg.Scenario, "scenario", "discovery", "scenario to run (see -list)")
	fs.StringVar(&cfg.ClientID, "client-id", "", "OAuth client id (client_credentials and introspect*; an authorization_code client for authcode and refresh)")
	fs.StringVar(&cfg.ClientSecret, "client-secret", "", "OAuth client secret")
	fs.StringVar(&cfg.APIKey, "api-key", "", "authd admin API key (admin_* and scim_* scenarios; users:read and scim)")
	fs.StringVar(&cfg.Scope, "scope", "", "scope to request with client_credentials (optional)")
	fs.StringVar(&cfg.UserEmail, "user-email", "", "a verified user's email (signin, authcode, refresh); with -users N, a pattern with one %d")
	fs.StringVar(&cfg.UserPassword, "user-password", "", "that user's password (every user's, with -users)")
	fs.IntVar(&cfg.Users, "users", 1, "sign in as this many users, -user-email with %d = 1..N: worker w is user w%N+1 (keeps each user's concurrent sign-ins under the lockout threshold)")
	fs.StringVar(&cfg.RedirectURI, "redirect-uri", "http://127.0.0.1:9/cb", "redirect URI registered for the client (authcode, refresh); never fetched")
	fs.StringVar(&cfg.AuthScope, "auth-scope", "openid offline_access", "scope of the authorization request (authcode, refresh; refresh needs offline_access)")
	fs.IntVar(&cfg.Conns, "c", 64, "connections and workers")
	fs.DurationVar(&cfg.Duration, "d", 10*time.Second, "measured duration")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "warm-up before measuring (results discarded)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "fixed arrival rate in iterations/s over all workers (0 = closed loop, as fast as possible)")
	fs.DurationVar(&cfg.LateAfter, "late", time.Millisecond, "fixed rate: count an iteration as late when no worker was free for it until this long after it was due")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "per-request timeout")
	fs.Int64Var(&cfg.MaxRequests, "max-requests", 0, "stop after this many measured iterations (0 = no cap)")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "skip TLS certificate verification (https targets)")
	mark := fs.String("mark", "", "create this file when the measured window starts (after set-up and warm-up), for tools that sample the server over just that window")
	jsonOut := fs.String("json", "", "also write the result as JSON to this file (- for stdout; the table then goes to stderr)")
	failOnError := fs.Bool("fail-on-error", false, "exit 1 if any request errored (or none was measured)")
	list := fs.Bool("list", false, "list the scenarios and exit")
	summary := fs.Bool("summary", false, "print one table from the -json result files given as arguments, and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: loadgen [flags]\n       loadgen -summary result.json...\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}

	if *list {
		for _, n := range scenarioNames() {
			fmt.Fprintf(stdout, "%-20s %s\n", n, scenarios[n].Help)
		}
		return 0
	}
	if *summary {
		return printSummary(fs.Args(), stdout, stderr)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen: unexpected arguments: %q\n", fs.Args())
		return 2
	}

	if _, err := checkTarget(cfg.Target); err != nil {
		fmt.Fprintf(stderr, "loadgen: refusing -target: %v\nloadgen: load may only target this machine (127.0.0.0/8, ::1, localhost)\n", err)
		return 2
	}
	if _, ok := scenarios[cfg.Scenario]; !ok {
		fmt.Fprintf(stderr, "loadgen: unknown -scenario %q; known: %s\n", cfg.Scenario, strings.Join(scenarioNames(), ", "))
		return 2
	}
	switch {
	case cfg.Conns < 1:
		return usageErr(stderr, "-c must be at least 1")
	case cfg.Duration <= 0:
		return usageErr(stderr, "-d must be positive")
	case cfg.Warmup < 0:
		return usageErr(stderr, "-warmup must not be negative")
	case cfg.Rate < 0:
		return usageErr(stderr, "-rate must not be negative")
	case cfg.Timeout <= 0:
		return usageErr(stderr, "-timeout must be positive")
	case cfg.MaxRequests < 0:
		return usageErr(stderr, "-max-requests must not be negative")
	case cfg.LateAfter <= 0:
		return usageErr(stderr, "-late must be positive")
	}
	if err := checkUsers(cfg.UserEmail, cfg.Users); err != nil {
		return usageErr(stderr, err.Error())
	}

	// SIGINT/SIGTERM stop the run early; what was measured is still
	// reported, and the exit status is 128+signal so a calling script stops
	// too. A second signal kills the process outright.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	var interrupted atomic.Value // syscall.Signal
	go func() {
		select {
		case sig := <-sigc:
			signal.Stop(sigc)
			interrupted.Store(sig)
			cancel()
		case <-ctx.Done():
		}
	}()
	if *mark != "" {
		path := *mark
		cfg.OnMeasure = func() {
			if err := os.WriteFile(path, nil, 0o644); err != nil { // #nosec G306 -- benchmark results are meant to be read
				fmt.Fprintf(stderr, "loadgen: -mark: %v\n", err)
			}
		}
	}
	res, err := Run(ctx, cfg)
	cancel()
	exitSig := 0
	if sig, ok := interrupted.Load().(syscall.Signal); ok {
		exitSig = 128 + int(sig)
		if res != nil {
			res.Interrupted = true
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		if errors.Is(err, errNotLoopback) {
			fmt.Fprintf(stderr, "loadgen: load may only target this machine (127.0.0.0/8, ::1, localhost)\n")
			return 2
		}
		if exitSig != 0 {
			return exitSig
		}
		return 1
	}

	table := stdout
	if *jsonOut == "-" {
		table = stderr
	}
	printResult(table, res)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, stdout, res); err != nil {
			fmt.Fprintf(stderr, "loadgen: writing JSON: %v\n", err)
			return 1
		}
	}
	if exitSig != 0 {
		fmt.Fprintf(stderr, "loadgen: interrupted\n")
		return exitSig
	}
	if *failOnError {
		if res.Errors > 0 {
			fmt.Fprintf(stderr, "loadgen: %s: %d of %d requests failed\n", res.Scenario, res.Errors, res.Requests)
			return 1
		}
		if res.Requests == 0 {
			fmt.Fprintf(stderr, "loadgen: %s: no request was measured\n", res.Scenario)
			return 1
		}
	}
	return 0
}

func usageErr(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "loadgen: %s\n", msg)
	return 2
}

func writeJSON(path string, stdout io.Writer, res *Result) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644) // #nosec G306 -- benchmark results are meant to be read
}

// printResult prints a one-line description of the run and its table.
func printResult(w io.Writer, res *Result) {
	mode := "closed loop"
	if res.Rate > 0 {
		mode = fmt.Sprintf("fixed rate %g/s", res.Rate)
	}
	fmt.Fprintf(w, "loadgen: %s -> %s, c=%d, %s, warmup %gs, measured %.2fs\n",
		res.Scenario, res.Target, res.Connections, mode, res.WarmupS, res.ElapsedS)
	if res.Interrupted {
		fmt.Fprintf(w, "loadgen: INTERRUPTED: partial results\n")
	}
	if res.Rate > 0 {
		fmt.Fprintf(w, "loadgen: scheduled %d, unsent %d, late %d (no worker free within %gms of due time)\n",
			res.Scheduled, res.Unsent, res.Late, res.LateAfterMs)
		fmt.Fprintf(w, "loadgen: send lag behind schedule p50 %.2fms p99 %.2fms max %.2fms (included in the latencies)\n",
			res.LagP50Ms, res.LagP99Ms, res.MaxLagMs)
	}
	printTable(w, []*Result{res})
}

func printTable(w io.Writer, results []*Result) {
	rows := [][]string{{"SCENARIO", "LOAD", "STEP", "REQUESTS", "REQ/S", "P50 ms", "P90 ms", "P99 ms", "MAX ms", "ERRORS", "BY KIND"}}
	for _, res := range results {
		load := loadLabel(res)
		if len(res.Steps) == 0 {
			rows = append(rows, []string{res.Scenario, load, "-", "0", "0.0", "-", "-", "-", "-", "0", "-"})
			continue
		}
		for _, s := range res.Steps {
			rows = append(rows, []string{
				res.Scenario, load, s.Step,
				fmt.Sprint(s.Requests), fmt.Sprintf("%.1f", s.RPS),
				fmt.Sprintf("%.2f", s.P50Ms), fmt.Sprintf("%.2f", s.P90Ms),
				fmt.Sprintf("%.2f", s.P99Ms), fmt.Sprintf("%.2f", s.MaxMs),
				fmt.Sprint(s.Errors), kinds(s.ErrorsByKind),
			})
		}
	}
	// Text columns left-aligned, numbers right-aligned, the last column as is.
	left := []bool{true, true, true, false, false, false, false, false, false, false, true}
	width := make([]int, len(left))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		b.Reset()
		for i, c := range r {
			switch {
			case i == len(r)-1:
				b.WriteString(c)
			case left[i]:
				fmt.Fprintf(&b, "%-*s  ", width[i], c)
			default:
				fmt.Fprintf(&b, "%*s  ", width[i], c)
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

// loadLabel says how a result was loaded: "c=64" (closed loop with 64
// workers) or "40/s c=4" (fixed arrival rate, at most 4 at once).
func loadLabel(res *Result) string {
	if res.Rate > 0 {
		return fmt.Sprintf("%g/s c=%d", res.Rate, res.Connections)
	}
	return fmt.Sprintf("c=%d", res.Connections)
}

// kinds formats errors by kind as "500:3 inactive:2 timeout:1" (sorted), or "-".
func kinds(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func printSummary(files []string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		return usageErr(stderr, "-summary needs one or more JSON result files")
	}
	var results []*Result
	for _, f := range files {
		b, err := os.ReadFile(f) // #nosec G304 -- result files named on the command line
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 1
		}
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			fmt.Fprintf(stderr, "loadgen: %s: %v\n", f, err)
			return 1
		}
		results = append(results, &r)
	}
	printTable(stdout, results)
	return 0
}
