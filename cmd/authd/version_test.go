package main

import "testing"

func TestBuildInfoString(t *testing.T) {
	for _, tc := range []struct {
		b    buildInfo
		want string
	}{
		{buildInfo{Version: "(devel)", Go: "go1.26.0"}, "authd (devel) go1.26.0"},
		{buildInfo{Version: "v1.2.3", Revision: "187b9b3c66a6bc193205401f3e0b70b57abb3645", Go: "go1.26.0"}, "authd v1.2.3 (187b9b3c66a6) go1.26.0"},
		{buildInfo{Version: "v1.2.3", Revision: "abc", Modified: true, Go: "go1.26.0"}, "authd v1.2.3 (abc, modified) go1.26.0"},
	} {
		if got := tc.b.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.b, got, tc.want)
		}
	}
}
