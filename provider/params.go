package provider

import (
	"net/url"
	"slices"

	"github.com/ory/fosite"
)

// multiValued are the parameters a request may repeat: RFC 8707's
// resource and the audience parameter, each naming one audience.
var multiValued = []string{"resource", "audience"}

// refuseRepeated refuses, as invalid_request, a request that sends a
// parameter more than once (RFC 6749 §3.1: "Request and response
// parameters MUST NOT be included more than once"). Without it the first
// value would silently win, so two components reading the same request
// could act on different values.
func refuseRepeated(form url.Values) error {
	var repeated []string
	for k, v := range form {
		if len(v) > 1 && !slices.Contains(multiValued, k) {
			repeated = append(repeated, k)
		}
	}
	if len(repeated) == 0 {
		return nil
	}
	slices.Sort(repeated)
	return fosite.ErrInvalidRequest.WithHintf("The '%s' parameter is included more than once; send each parameter once (RFC 6749 §3.1).",
		truncate(repeated[0], 64))
}
