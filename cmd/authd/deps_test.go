package main

import (
	"bufio"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"golang.org/x/mod/semver"
)

// TestNoKnownVulnerableModule checks, without the network, that the binary
// links no module older than the first fixed version of an advisory in
// testdata/known_vulnerable.txt. The test binary links what authd links
// (this package imports the whole server), so its build info is the list.
func TestNoKnownVulnerableModule(t *testing.T) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info in the test binary")
	}
	linked := map[string]string{}
	for _, m := range info.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		linked[m.Path] = m.Version
	}
	bad := knownVulnerable(t)
	if len(bad) == 0 {
		t.Fatal("testdata/known_vulnerable.txt lists nothing")
	}
	for _, b := range bad {
		v, ok := linked[b.module]
		if !ok {
			continue
		}
		if semver.Compare(v, b.fixed) < 0 {
			t.Errorf("%s %s is older than %s, which fixes %s", b.module, v, b.fixed, b.advisory)
		}
	}
	if _, ok := linked["github.com/go-jose/go-jose/v3"]; !ok {
		t.Error("go-jose/v3 is not linked: the build info read here is not the server's")
	}
}

type advisory struct{ module, fixed, advisory string }

func knownVulnerable(t *testing.T) []advisory {
	t.Helper()
	f, err := os.Open("testdata/known_vulnerable.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []advisory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 || !semver.IsValid(fields[1]) {
			t.Fatalf("testdata/known_vulnerable.txt: malformed line %q", line)
		}
		out = append(out, advisory{fields[0], fields[1], strings.Join(fields[2:], " ")})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
