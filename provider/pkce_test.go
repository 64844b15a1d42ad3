package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ory/fosite"
	"golang.org/x/oauth2"

	"github.com/authd/authd/internal/testdb"
)

// exchangeErr exchanges code with x/oauth2 and returns the OAuth error
// code ("" on success).
func exchangeErr(t *testing.T, cfg *oauth2.Config, code string, opts ...oauth2.AuthCodeOption) string {
	t.Helper()
	tok, err := cfg.Exchange(context.Background(), code, opts...)
	if err == nil {
		if tok.AccessToken == "" {
			t.Fatal("exchange succeeded without an access token")
		}
		return ""
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("exchange: %v", err)
	}
	if re.Response.StatusCode >= 500 {
		t.Fatalf("exchange: %d %s", re.Response.StatusCode, re.Body)
	}
	return re.ErrorCode
}

// TestPKCEFailedCheckSpendsCode: a code bound to an S256 challenge is
// never redeemed without its verifier, not even after a first attempt with
// a wrong one (fosite deleted the challenge before comparing, so the
// second attempt without a verifier got tokens); and a failed check spends
// the code, so not even the right verifier redeems it afterwards
// (RFC 9700 §2.1.1, RFC 7636 §4.6). Through a real server and x/oauth2.
func TestPKCEFailedCheckSpendsCode(t *testing.T) {
	e := newEnv(t)
	cfg, _ := codeFlow(t, e)
	for _, tc := range []struct {
		name  string
		first []oauth2.AuthCodeOption
	}{
		{"wrong verifier", []oauth2.AuthCodeOption{oauth2.VerifierOption(oauth2.GenerateVerifier())}},
		{"no verifier", nil},
		{"short verifier", []oauth2.AuthCodeOption{oauth2.VerifierOption("abc")}},
		{"verifier with bad characters", []oauth2.AuthCodeOption{oauth2.VerifierOption(strings.Repeat("+", 43))}},
		{"challenge as verifier", nil}, // set below: plain is never accepted
	} {
		t.Run(tc.name, func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			challenge := oauth2.S256ChallengeFromVerifier(verifier)
			code := e.authorize(cfg.ClientID, cfg.RedirectURL, "api", challenge, "erin")
			first := tc.first
			if tc.name == "challenge as verifier" {
				first = []oauth2.AuthCodeOption{oauth2.VerifierOption(challenge)}
			}
			if got := exchangeErr(t, cfg, code, first...); got != "invalid_grant" {
				t.Fatalf("first attempt: %q, want invalid_grant", got)
			}
			if got := exchangeErr(t, cfg, code); got != "invalid_grant" {
				t.Fatalf("then without a verifier: %q, want invalid_grant (PKCE bypass)", got)
			}
			if got := exchangeErr(t, cfg, code, oauth2.VerifierOption(verifier)); got != "invalid_grant" {
				t.Fatalf("then with the right verifier: %q, want invalid_grant (the code is spent)", got)
			}
		})
	}
	t.Run("right verifier", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		code := e.authorize(cfg.ClientID, cfg.RedirectURL, "api", oauth2.S256ChallengeFromVerifier(verifier), "erin")
		if got := exchangeErr(t, cfg, code, oauth2.VerifierOption(verifier)); got != "" {
			t.Fatalf("exchange with the right verifier: %q", got)
		}
	})
}

// TestPKCEVerifierWithoutChallenge: a code_verifier for a code issued
// without a challenge is refused (RFC 9700 §2.1.1: it may be a downgrade
// attack) and spends the code; without one, such a code of a confidential
// client is redeemed as before (PKCE is optional for it unless
// require_pkce is set).
func TestPKCEVerifierWithoutChallenge(t *testing.T) {
	e := newEnv(t)
	cfg, _ := codeFlow(t, e)
	code := e.authorize(cfg.ClientID, cfg.RedirectURL, "api", "", "frank")
	if got := exchangeErr(t, cfg, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); got != "invalid_grant" {
		t.Fatalf("verifier without challenge: %q, want invalid_grant", got)
	}
	if got := exchangeErr(t, cfg, code); got != "invalid_grant" {
		t.Fatalf("then without a verifier: %q, want invalid_grant (the code is spent)", got)
	}
	code = e.authorize(cfg.ClientID, cfg.RedirectURL, "api", "", "frank")
	if got := exchangeErr(t, cfg, code); got != "" {
		t.Fatalf("no challenge, no verifier: %q, want tokens", got)
	}
}

// codeRaceStore makes the next code exchange lose the race for its code:
// just before the exchange opens the transaction that spends the code,
// another exchange (simulated) spends it and commits. That is the window a
// real parallel redemption hits now and then; here it is hit every time.
type codeRaceStore struct {
	Store
	mu    sync.Mutex
	last  string // signature of the last code read
	armed bool
}

func (s *codeRaceStore) GetAuthorizeCodeSession(ctx context.Context, sig string, sess fosite.Session) (fosite.Requester, error) {
	s.mu.Lock()
	s.last = sig
	s.mu.Unlock()
	return s.Store.GetAuthorizeCodeSession(ctx, sig, sess)
}

func (s *codeRaceStore) BeginTX(ctx context.Context) (context.Context, error) {
	s.mu.Lock()
	sig, armed := s.last, s.armed
	s.armed = false
	s.mu.Unlock()
	if armed {
		if err := s.Store.InvalidateAuthorizeCodeSession(ctx, sig); err != nil {
			return ctx, err
		}
	}
	return s.Store.BeginTX(ctx)
}

// TestCodeRaceLostIsInvalidGrant: an exchange whose code was spent by
// another between validation and issuing answers invalid_grant, not 500.
func TestCodeRaceLostIsInvalidGrant(t *testing.T) {
	var rs *codeRaceStore
	e := newEnv(t, withStoreWrap(func(s Store) Store { rs = &codeRaceStore{Store: s}; return rs }))
	cfg, _ := codeFlow(t, e)
	verifier := oauth2.GenerateVerifier()
	code := e.authorize(cfg.ClientID, cfg.RedirectURL, "api", oauth2.S256ChallengeFromVerifier(verifier), "gina")
	rs.mu.Lock()
	rs.armed = true
	rs.mu.Unlock()
	if got := exchangeErr(t, cfg, code, oauth2.VerifierOption(verifier)); got != "invalid_grant" {
		t.Fatalf("exchange that lost the race: %q, want invalid_grant", got)
	}
	if rs.armed {
		t.Fatal("the exchange never opened its transaction: the race was not simulated")
	}
}

// TestParallelCodeRedemption: ten parallel exchanges of one code on SQLite
// and Postgres: exactly one gets tokens, every other one invalid_grant,
// none a 5xx (one in ten answered 500 "code has been invalidated").
func TestParallelCodeRedemption(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, withDB(dbURL))
		cfg, _ := codeFlow(t, e)
		for round := range 3 {
			verifier := oauth2.GenerateVerifier()
			code := e.authorize(cfg.ClientID, cfg.RedirectURL, "api", oauth2.S256ChallengeFromVerifier(verifier), "hank")
			body := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cfg.RedirectURL},
				"code_verifier": {verifier}}.Encode()
			const n = 10
			start := make(chan struct{})
			results := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest(http.MethodPost, e.issuer+PathToken, strings.NewReader(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
					<-start
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						results[i] = err.Error()
						return
					}
					m := decodeNoFail(resp)
					results[i] = fmt.Sprintf("%d %v", resp.StatusCode, m["error"])
				}()
			}
			close(start)
			wg.Wait()
			ok := 0
			for _, r := range results {
				switch r {
				case "200 <nil>":
					ok++
				case "400 invalid_grant":
				default:
					t.Errorf("round %d: a response was %q, want 200 or 400 invalid_grant", round, r)
				}
			}
			if ok != 1 {
				t.Errorf("round %d: %d exchanges got tokens, want exactly 1: %v", round, ok, results)
			}
		}
	})
}

// decodeNoFail reads a JSON body into a map (nil if it is not JSON) and
// closes it; safe in any goroutine.
func decodeNoFail(resp *http.Response) map[string]any {
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return m
}
