package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/knadh/koanf/v2"
)

// fileSuffix turns a secret key into the key naming a file that holds it.
const fileSuffix = "_file"

// fileSecretKeys are the settings that hold secrets (or URLs with
// passwords in them): each also has a <key>_file form that names a file
// holding the value (a mounted Kubernetes or Docker secret), read at start
// with its trailing newline trimmed. secrets.master_key has had its
// master_key_file from the start (secrets.Config reads it).
var fileSecretKeys = []string{"database.url", "redis.url", "mail.smtp_url", "http.pprof_token"}

// readSecretFiles replaces each key whose _file form is set with the
// file's content. A key set both ways is an error naming both; so is a
// file that cannot be read. The content is never part of an error.
func readSecretFiles(k *koanf.Koanf) []error {
	var errs []error
	for _, key := range fileSecretKeys {
		path := k.String(key + fileSuffix)
		if path == "" {
			continue
		}
		if k.String(key) != "" {
			errs = append(errs, fmt.Errorf("%s and %s%s are both set: set one", key, key, fileSuffix))
			continue
		}
		b, err := os.ReadFile(path) // #nosec G304 -- the operator names the file
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", key, fileSuffix, err))
			continue
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if v == "" {
			errs = append(errs, fmt.Errorf("%s%s: %s is empty", key, fileSuffix, path))
			continue
		}
		if err := k.Set(key, v); err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", key, fileSuffix, err))
		}
	}
	return errs
}

// serviceLink matches the variables Kubernetes injects into every pod for
// a Service named authd (enableServiceLinks, on by default):
// AUTHD_SERVICE_HOST, AUTHD_SERVICE_PORT, AUTHD_SERVICE_PORT_<NAME>,
// AUTHD_PORT=tcp://…, AUTHD_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR}.
var serviceLink = regexp.MustCompile(`^AUTHD_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT|PORT_[0-9]+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)$`)

// kubernetesServiceLink reports whether name is a service-link variable:
// not a config key (none is named port.* or service.*), so it is ignored
// rather than refused, or authd would not start in a cluster with a
// Service named authd.
func kubernetesServiceLink(name string) bool { return serviceLink.MatchString(name) }
