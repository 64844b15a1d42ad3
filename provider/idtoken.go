package provider

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	fjwt "github.com/ory/fosite/token/jwt"
)

// idTokenSigner implements fosite's jwt.Signer over authd's key set, so ID
// tokens (and logout tokens) are signed by the active key and any key still
// published verifies an id_token_hint.
type idTokenSigner struct{ p *Provider }

var _ fjwt.Signer = idTokenSigner{}

// Generate signs claims with the active key; header extras are ignored
// except typ, which must be one we sign.
func (s idTokenSigner) Generate(_ context.Context, claims fjwt.MapClaims, _ fjwt.Mapper) (string, string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", "", err
	}
	tok, err := s.p.keys.Load().active.sign("JWT", payload)
	if err != nil {
		return "", "", err
	}
	return tok, tok[strings.LastIndexByte(tok, '.')+1:], nil
}

// Validate verifies token's signature against the published keys and
// returns its signature part.
func (s idTokenSigner) Validate(ctx context.Context, token string) (string, error) {
	if _, err := s.Decode(ctx, token); err != nil {
		return "", err
	}
	return token[strings.LastIndexByte(token, '.')+1:], nil
}

// Decode verifies the signature with the key named by kid and returns the
// token; expiry is reported as a validation error, as fosite expects.
func (s idTokenSigner) Decode(ctx context.Context, token string) (*fjwt.Token, error) {
	if len(token) > maxTokenLength {
		return nil, errors.New("token too long")
	}
	return fjwt.ParseWithClaims(token, fjwt.MapClaims{}, func(t *fjwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := s.p.lookupKey(ctx, kid)
		if !ok {
			return nil, fmt.Errorf("unknown key %q", kid)
		}
		if alg, _ := t.Header["alg"].(string); alg != k.Algorithm {
			return nil, fmt.Errorf("alg %q does not match key %q", alg, kid)
		}
		return k.Key, nil
	})
}

// GetSignature returns the signature part of token.
func (s idTokenSigner) GetSignature(_ context.Context, token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("not a compact JWS")
	}
	return parts[2], nil
}

// Hash returns SHA-256 of in, the hash at_hash and c_hash use for RS256,
// ES256 and (by this server's choice, documented) EdDSA.
func (s idTokenSigner) Hash(_ context.Context, in []byte) ([]byte, error) {
	sum := sha256.Sum256(in)
	return sum[:], nil
}

// GetSigningMethodLength is the hash length in bytes.
func (s idTokenSigner) GetSigningMethodLength(context.Context) int { return sha256.Size }
