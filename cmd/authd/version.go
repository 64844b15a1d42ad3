package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// releaseVersion, when set at build time (-ldflags "-X
// main.releaseVersion=v1.2.3", as the Dockerfile does), is the version;
// otherwise the module version the Go toolchain recorded.
var releaseVersion string

// buildInfo is what this binary was built from, as the Go toolchain
// recorded it: the module version (a tag for `go install …@v1.2.3`,
// "(devel)" for a build in a checkout), the VCS revision and its time, and
// whether the tree had changes.
type buildInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Go: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if releaseVersion != "" {
		b.Version = releaseVersion
	}
	return b
}

// String is the one line `authd --version` prints.
func (b buildInfo) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "authd %s", b.Version)
	if b.Revision != "" {
		rev := b.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		fmt.Fprintf(&sb, " (%s", rev)
		if b.Modified {
			sb.WriteString(", modified")
		}
		sb.WriteString(")")
	}
	fmt.Fprintf(&sb, " %s", b.Go)
	return sb.String()
}
