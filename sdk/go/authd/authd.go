// Package authd is the Go SDK of authd's admin API: New returns the
// client generated (by ogen, into package authdapi) from the API's
// OpenAPI document, authenticated with an API key.
//
//	c, err := authd.New("https://id.example.com", os.Getenv("AUTHD_API_KEY"))
//	res, err := c.CreateUser(ctx, &authdapi.NewUser{Email: "ada@example.com"})
//	if u, ok := res.(*authdapi.UserHeaders); ok { fmt.Println(u.Response.ID) }
//
// Every operation answers either its result or a typed problem document
// (*authdapi.CreateUserConflict, ...); regenerate with scripts/sdk-gen.
package authd

import (
	"context"
	"net/http"

	"github.com/authd/authd/sdk/go/authdapi"
)

// Key authenticates every call with an API key (or an access token).
type Key string

// Bearer implements authdapi.SecuritySource.
func (k Key) Bearer(context.Context, authdapi.OperationName) (authdapi.Bearer, error) {
	return authdapi.Bearer{Token: string(k)}, nil
}

// New returns a client of the authd at baseURL (its issuer's origin).
func New(baseURL, key string, opts ...authdapi.ClientOption) (*authdapi.Client, error) {
	return authdapi.NewClient(baseURL, Key(key), opts...)
}

// WithHTTPClient sends the calls through c.
func WithHTTPClient(c *http.Client) authdapi.ClientOption { return authdapi.WithClient(c) }
