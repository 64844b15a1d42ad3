package password

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func codes(vs []Violation) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.Code)
	}
	return out
}

func TestCheck(t *testing.T) {
	classes3 := DefaultConfig()
	classes3.RequireClasses = 3
	noCommon := DefaultConfig()
	noCommon.RejectCommon = false
	tests := []struct {
		name  string
		cfg   Config
		pw    string
		email string
		want  []string
	}{
		{"good passphrase", DefaultConfig(), "correct horse battery staple", "alice@example.com", []string{}},
		{"too short", DefaultConfig(), "xk3!pQ9z", "", []string{TooShort}},
		{"exactly min length", DefaultConfig(), "xk3!pQ9zv7Lm", "", []string{}},
		{"runes, not bytes: 12 emoji are enough", DefaultConfig(), "🔑🐢🌵🍄🚲🎈🧲🪁🦉🌶️🧊🎻", "", []string{}},
		{"runes, not bytes: 11 accented letters are short", DefaultConfig(), "éàüöçñøåæœß", "", []string{TooShort}},
		{"too long", DefaultConfig(), strings.Repeat("é", 129), "", []string{TooLong}},
		{"max length", DefaultConfig(), strings.Repeat("qz7", 42) + "ab", "", []string{}},
		{"missing classes", classes3, "correct horse battery staple", "", []string{MissingClasses}},
		{"three classes", classes3, "Correct horse battery staple", "", []string{}},
		{"uncased letters count as lowercase", classes3, "密码是一个很长的句子 A1", "", []string{}},
		{"common", DefaultConfig(), "password1234", "", []string{Common}},
		{"common, any case", DefaultConfig(), "PassWord1234", "", []string{Common}},
		{"common with substitutions", DefaultConfig(), "P@ssw0rd1234", "", []string{Common}},
		{"common with substitutions and suffix", DefaultConfig(), "p@$$w0rd123!", "", []string{Common}},
		{"name and year", DefaultConfig(), "Jennifer1987", "", []string{Common}},
		{"word year symbol", DefaultConfig(), "Welcome2024!", "", []string{Common}},
		{"keyboard walk", DefaultConfig(), "1qaz2wsx3edc", "", []string{Common}},
		{"keyboard row", DefaultConfig(), "qwertyuiop[]", "", []string{Common}},
		{"azerty", DefaultConfig(), "azertyuiop123", "", []string{Common}},
		{"digit run", DefaultConfig(), "123456789012", "", []string{Common}},
		{"repeated char", DefaultConfig(), "aaaaaaaaaaaaaa", "", []string{Common}},
		{"repeated pattern", DefaultConfig(), "abcabcabcabc", "", []string{Common}},
		{"repeated leet", DefaultConfig(), "@b@b@b@b@b@b", "", []string{Common}},
		{"common allowed when off", noCommon, "password1234", "", []string{}},
		{"contains local part", DefaultConfig(), "my alice.smith password", "Alice.Smith@example.com", []string{ContainsEmail}},
		{"contains local part, any case", DefaultConfig(), "ALICE.SMITH is great", "alice.smith@example.com", []string{ContainsEmail}},
		{"contains local part before +tag", DefaultConfig(), "bobby rules the world", "bobby+auth@example.com", []string{ContainsEmail}},
		{"short local part ignored", DefaultConfig(), "bo and the sea 2024", "bo@example.com", []string{}},
		{"three-char local part counts", DefaultConfig(), "the bob of all bobs", "bob@example.com", []string{ContainsEmail}},
		{"domain does not count", DefaultConfig(), "example rules the world", "zed@example.com", []string{}},
		{"no email", DefaultConfig(), "example rules the world", "", []string{}},
		{"several at once", classes3, "alice", "alice@example.com", []string{TooShort, MissingClasses, ContainsEmail}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vs := tc.cfg.Check(tc.pw, tc.email)
			if got := codes(vs); !slices.Equal(got, tc.want) {
				t.Errorf("Check(%q, %q) = %v, want %v", tc.pw, tc.email, vs, tc.want)
			}
			for _, v := range vs {
				if v.Message == "" || v.String() != v.Message {
					t.Errorf("violation %+v has no message", v)
				}
			}
		})
	}
}

func TestCheckMessages(t *testing.T) {
	c := DefaultConfig()
	c.RequireClasses = 4
	vs := c.Check("short", "")
	msgs := []string{}
	for _, v := range vs {
		msgs = append(msgs, v.Message)
	}
	want := []string{
		"must be at least 12 characters long (it has 5)",
		"must use at least 4 of these: lowercase letters, uppercase letters, digits, symbols (it uses 1)",
	}
	if !slices.Equal(msgs, want) {
		t.Errorf("Check(short) messages = %q, want %q", msgs, want)
	}
	vs = c.Check(strings.Repeat("x", 200), "")
	if len(vs) != 1 || vs[0].Message != "must be at most 128 characters long (it has 200)" {
		t.Errorf("Check(200 x) = %+v", vs)
	}
}

func TestCommonList(t *testing.T) {
	list := commonSet()
	if n := CommonListSize(); n < 10000 {
		t.Fatalf("the common-password list has %d entries, want at least 10000", n)
	}
	if !slices.IsSorted(strings.Split(strings.TrimSpace(commonList), "\n")) {
		t.Error("common.txt is not sorted: regenerate it with go generate ./password")
	}
	for i, s := range list {
		if s != strings.ToLower(s) || utf8.RuneCountInString(s) < 8 || strings.TrimSpace(s) != s {
			t.Errorf("common.txt line %d %q: want lowercase, trimmed, at least 8 characters", i+1, s)
		}
		if i > 0 && list[i-1] == s {
			t.Errorf("common.txt line %d %q is a duplicate", i+1, s)
		}
	}
	for _, pw := range []string{"password", "12345678", "iloveyou", "qwerty123", "1q2w3e4r", "sunshine1",
		"football2024", "michael1990", "trustno1", "letmein123", "zaq12wsx", "qwertyuiop", "password123!"} {
		if !IsCommon(pw) {
			t.Errorf("IsCommon(%q) = false, want true", pw)
		}
	}
	for _, pw := range []string{"correct horse battery staple", "vq8#Lz2!mW4p", "purple-otter-drinks-tea", "Kx9vQ2mZ7wLb"} {
		if IsCommon(pw) {
			t.Errorf("IsCommon(%q) = true, want false", pw)
		}
	}
}

func TestRepeated(t *testing.T) {
	tests := map[string]bool{
		"aaaaaa": true, "aaa": true, "abababab": true, "abcabcabc": true, "abcabcab": false, "abcdabcdabcd": true,
		"abcdeabcdeabcde": false, "abcdef": false, "aab": false, "": false, "🔑🔑🔑🔑🔑🔑": true,
	}
	for s, want := range tests {
		if got := repeated(s); got != want {
			t.Errorf("repeated(%q) = %v, want %v", s, got, want)
		}
	}
}
