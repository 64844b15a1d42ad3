package provider

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"
)

// pkceStorage is what the PKCE check needs: the stored challenge, and the
// code, to spend it when the check fails.
type pkceStorage interface {
	pkce.PKCERequestStorage
	InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error
}

// pkceHandler is fosite's PKCE handler at the authorization endpoint (it
// stores the challenge with the code) and authd's own check at the token
// endpoint. fosite's deletes the stored challenge before comparing the
// verifier, so a code redeemed once with a wrong verifier could then be
// redeemed with none at all (RFC 9700 §2.1.1 forbids both).
//
// The check here (RFC 7636 §4.6, RFC 9700 §2.1.1):
//   - a code issued with a challenge is redeemed only with the verifier
//     that matches it (S256; plain is never accepted);
//   - a code issued without one is redeemed only without a verifier;
//   - a failed check spends the code. Whoever presents a valid code
//     without its verifier is not the party that started the flow (or is
//     guessing), so the code is treated as leaked, as a replayed one is;
//     the legitimate client starts a new authorization request. This also
//     takes away any retry budget for guessing verifiers.
//
// The stored challenge is kept until the code is spent (it is deleted
// when tokens are issued, or expires with the code).
type pkceHandler struct {
	*pkce.Handler
	codes   oauth2.AuthorizeCodeStrategy
	store   pkceStorage
	log     *slog.Logger
	require func(fosite.Client) bool // PKCE required of this client
}

// HandleTokenEndpointRequest checks the code_verifier against the code's
// stored challenge. It runs after the authorization code handler has
// checked the code itself (active, this client's, this redirect_uri).
func (h *pkceHandler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	form := ar.GetRequestForm()
	verifier := form.Get("code_verifier")
	sig := h.codes.AuthorizeCodeSignature(ctx, form.Get("code"))
	stored, err := h.store.GetPKCERequestSession(ctx, sig, NewSession(""))
	switch {
	case errors.Is(err, fosite.ErrNotFound):
		if verifier != "" {
			return h.spend(ctx, sig, "The code_verifier was given but the authorization request had no code_challenge.")
		}
		if h.require(ar.GetClient()) {
			return h.spend(ctx, sig, "The authorization code was issued without PKCE, which this client must use.")
		}
		return nil
	case err != nil:
		return fosite.ErrServerError.WithHint("Reading the code challenge failed.").WithWrap(err)
	}
	challenge := stored.GetRequestForm().Get("code_challenge")
	method := stored.GetRequestForm().Get("code_challenge_method")
	switch {
	case verifier == "":
		return h.spend(ctx, sig, "The code_verifier is missing; the authorization request had a code_challenge.")
	case method != "S256" || challenge == "":
		return h.spend(ctx, sig, "The code challenge of this authorization code is not S256.")
	case !validVerifier(verifier):
		return h.spend(ctx, sig, "The code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~].")
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) != 1 {
		return h.spend(ctx, sig, "The code_verifier does not match the code_challenge.")
	}
	return nil
}

// PopulateTokenEndpointResponse runs once the code is spent and tokens are
// issued: the stored challenge is no longer needed. Failing to delete it is
// harmless (the code is spent; the janitor removes it when it expires).
func (h *pkceHandler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, _ fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	sig := h.codes.AuthorizeCodeSignature(ctx, ar.GetRequestForm().Get("code"))
	if err := h.store.DeletePKCERequestSession(ctx, sig); err != nil && !errors.Is(err, fosite.ErrNotFound) {
		h.log.WarnContext(ctx, "deleting the code challenge of a spent code failed; it expires with the code", "error", err)
	}
	return nil
}

// spend invalidates the code after a failed PKCE check and answers
// invalid_grant (RFC 7636 §4.6).
func (h *pkceHandler) spend(ctx context.Context, sig, hint string) error {
	err := h.store.InvalidateAuthorizeCodeSession(ctx, sig)
	if err != nil && !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) && !errors.Is(err, fosite.ErrNotFound) {
		return fosite.ErrServerError.WithHint("Spending the authorization code failed.").WithWrap(err)
	}
	if err := h.store.DeletePKCERequestSession(ctx, sig); err != nil && !errors.Is(err, fosite.ErrNotFound) {
		h.log.WarnContext(ctx, "deleting the code challenge of a spent code failed; it expires with the code", "error", err)
	}
	return fosite.ErrInvalidGrant.WithHint(hint + " The authorization code is now spent.")
}

// validVerifier: code-verifier = 43*128unreserved (RFC 7636 §4.1).
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}
