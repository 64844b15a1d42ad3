package secrets_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/authd/authd/internal/secrets"
)

// TestConfigRedacts logs and prints the secrets config every usual way and
// checks that no key appears.
func TestConfigRedacts(t *testing.T) {
	t.Parallel()
	cur, prev := secrets.GenerateMasterKey(), secrets.GenerateMasterKey()
	c := secrets.Config{MasterKey: cur, MasterKeyFile: "/run/secrets/master.key", PreviousMasterKeys: []string{prev}}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "secrets", c, "ptr", &c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "secrets", c, "ptr", &c)
	fmt.Fprintf(&buf, "%v %+v %#v %s", c, c, c, c)
	out := buf.String()
	for _, k := range []string{cur, prev} {
		if strings.Contains(out, k) {
			t.Errorf("output holds a master key:\n%s", out)
		}
	}
	if !strings.Contains(out, "/run/secrets/master.key") || !strings.Contains(out, "master_key_set") {
		t.Errorf("output lacks what is safe to say:\n%s", out)
	}
	if err := (secrets.Config{MasterKey: cur, PreviousMasterKeys: []string{prev}}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	bad := secrets.Config{MasterKey: "short", MasterKeyFile: "/k", PreviousMasterKeys: []string{cur, "x"}}
	err := bad.Validate()
	for _, want := range []string{"not both", "secrets.master_key:", "secrets.previous_master_keys[1]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to report %q", err, want)
		}
	}
}
