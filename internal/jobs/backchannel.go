package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/riverqueue/river"
)

// BackchannelTimeout bounds one delivery attempt of a logout token.
const BackchannelTimeout = 5 * time.Second

// BackchannelLogoutArgs is one logout token for one relying party's
// backchannel_logout_uri (OpenID Connect Back-Channel Logout 1.0 §2.5).
// The provider builds and signs the token; this package only delivers it.
type BackchannelLogoutArgs struct {
	ClientID    string `json:"client_id"`
	URI         string `json:"uri"`
	LogoutToken string `json:"logout_token"`
}

// Kind implements river.JobArgs.
func (BackchannelLogoutArgs) Kind() string { return "backchannel_logout" }

// validate reports what makes a could-never-succeed delivery.
func (a BackchannelLogoutArgs) validate() error {
	if a.LogoutToken == "" {
		return errors.New("no logout token")
	}
	_, err := parseLogoutURI(a.URI)
	return err
}

// EnqueueBackchannelLogout enqueues the delivery of a logout token. It
// refuses arguments that could never be delivered (no token, a URI that is
// not absolute http or https).
func (q *Queue) EnqueueBackchannelLogout(ctx context.Context, args BackchannelLogoutArgs) error {
	if err := args.validate(); err != nil {
		return fmt.Errorf("jobs: back-channel logout for client %q: %w", args.ClientID, err)
	}
	_, err := q.Enqueue(ctx, args, nil)
	return err
}

// parseLogoutURI accepts absolute http and https URIs without a fragment
// (Back-Channel Logout 1.0 §2.2).
func parseLogoutURI(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("backchannel_logout_uri is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("backchannel_logout_uri scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("backchannel_logout_uri must be an absolute URL with a host and no fragment or user info")
	}
	return u, nil
}

// backchannelWorker POSTs logout tokens (Back-Channel Logout 1.0 §2.5).
type backchannelWorker struct {
	river.WorkerDefaults[BackchannelLogoutArgs]
	client *http.Client // never follows redirects
}

func newBackchannelWorker(c *http.Client) *backchannelWorker {
	var cp http.Client
	if c != nil {
		cp = *c
	}
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &backchannelWorker{client: &cp}
}

// Timeout implements river.Worker: the request's own timeout plus a margin.
func (w *backchannelWorker) Timeout(*river.Job[BackchannelLogoutArgs]) time.Duration {
	return BackchannelTimeout + 5*time.Second
}

// Work delivers the token: 200 and 204 are success; anything else,
// redirects included, is tried again with backoff until jobs.max_attempts.
// A job that could never succeed is cancelled at once.
func (w *backchannelWorker) Work(ctx context.Context, job *river.Job[BackchannelLogoutArgs]) error {
	a := job.Args
	if err := a.validate(); err != nil {
		return river.JobCancel(fmt.Errorf("back-channel logout for client %q: %w", a.ClientID, err))
	}
	u, _ := parseLogoutURI(a.URI)
	ctx, cancel := context.WithTimeout(ctx, BackchannelTimeout)
	defer cancel()
	body := url.Values{"logout_token": {a.LogoutToken}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(body))
	if err != nil {
		return river.JobCancel(fmt.Errorf("back-channel logout for client %q: %w", a.ClientID, err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "authd")
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error names the URI, never the token (it is in the body).
		return fmt.Errorf("back-channel logout for client %q: %w", a.ClientID, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNoContent:
		return nil
	}
	return fmt.Errorf("back-channel logout for client %q: %s answered HTTP %d", a.ClientID, u.Redacted(), resp.StatusCode)
}
