package provider

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/authd/authd/storage"
)

// The FAPI 2.0 Security Profile (final, §5), held per client (clients
// create --profile fapi2). Each requirement on the authorization server,
// where authd enforces it, and the test that shows it
// (TestFAPI2Profile unless named):
//
//   - Confidential clients only, authenticated with private_key_jwt
//     (§5.3.2.1 1, 5): checkProfile at registration.
//   - Client assertions: aud is the issuer, as a string (§5.3.2.1 7):
//     authenticateClient refuses the token endpoint URL or an array.
//   - Sender-constrained access tokens, by DPoP (§5.3.2.1 3, 4): the
//     client's token requests need a proof (requiresDPoP), so every
//     access token is DPoP-bound; resources refuse them as bearer tokens
//     (TestDPoPCodeFlowAndResources).
//   - PAR required, request_uri single use and short-lived (§5.3.2.2 1, 2,
//     10): mustPush; request_uri lives authorize.pushed_ttl (at most 10
//     minutes) and is claimed once (TestPushedAuthorizationRequests).
//   - redirect_uri required in the pushed request (§5.3.2.2 4):
//     checkAuthorizeRequest.
//   - response_type code only, iss in the authorization response (§5.3.2.2
//     3, 5): for every client (TestAuthorizationCodeFlow).
//   - PKCE with S256 (§5.3.2.2 6): checkPKCE and the PKCE handler require
//     it of FAPI 2.0 clients too; plain is never accepted.
//   - Authorization codes live at most 60 seconds and once (§5.3.2.2 7, 8):
//     issueCode caps the lifetime (codeLifespan); a code's
//     replay revokes what it issued, for every client (TestCodeReplay).
//   - No 307 redirects (§5.3.2.2 9): authd redirects with 303.
//   - PS256, ES256 or EdDSA for every signature (§5.4): the client's
//     assertion alg (registration), request objects, DPoP proofs
//     (fapiAlgs), and authd's own keys: a FAPI 2.0 client can be
//     registered only while keys.algorithm is ES256 or EdDSA
//     (ClientService), and is served only while the active key is one
//     (fapiKeys; TestFAPI2Registration).
//
// One requirement authd does not meet: §5.3.2.1 8 asks not to rotate
// refresh tokens; authd always rotates them and revokes the family on
// reuse (RFC 9700 §4.14.2), which a FAPI 2.0 client handles as any other
// (it uses the newest refresh token).

// fapiAlgs are the signature algorithms FAPI 2.0 allows (§5.4).
var fapiAlgs = []string{"PS256", "ES256", "EdDSA"}

// isFAPI2 reports whether c is held to the FAPI 2.0 Security Profile.
func isFAPI2(c fosite.Client) bool {
	sc, ok := c.(*storage.Client)
	return ok && sc.Profile == storage.ProfileFAPI2
}

// checkProfile checks a client against its profile, and sets what the
// profile implies (PAR and DPoP required) so that the stored client says
// so.
func checkProfile(c *storage.Client, bad complaint) {
	switch c.Profile {
	case "":
		return
	case storage.ProfileFAPI2:
	default:
		bad("profile %q is not supported (want fapi2, or none)", c.Profile)
		return
	}
	if c.Public || c.TokenEndpointAuthMethod != storage.AuthMethodPrivateKeyJWT {
		bad("profile fapi2 needs a confidential client authenticating with private_key_jwt (FAPI 2.0 §5.3.2.1)")
	}
	if c.TokenEndpointAuthMethod == storage.AuthMethodPrivateKeyJWT && !slices.Contains(fapiAlgs, c.TokenEndpointAuthSigningAlg) {
		bad("profile fapi2 needs a token endpoint auth signing alg of %s, not %q (FAPI 2.0 §5.4)",
			strings.Join(fapiAlgs, ", "), c.TokenEndpointAuthSigningAlg)
	}
	c.RequirePAR, c.RequireDPoP = true, true
}

// fapiKeys refuses to serve a FAPI 2.0 client while the active signing
// key's algorithm is not one FAPI 2.0 allows (keys.algorithm changed, but
// no `authd keys rotate` since): its tokens would be signed with it.
func (p *Provider) fapiKeys(c fosite.Client) error {
	if alg := string(p.keys.Load().active.alg); isFAPI2(c) && !slices.Contains(fapiAlgs, alg) {
		return fosite.ErrServerError.WithHintf("authd signs with %s, which FAPI 2.0 does not allow: the operator must set keys.algorithm to ES256 or EdDSA and run `authd keys rotate`.", alg)
	}
	return nil
}

// checkServerAlg refuses a FAPI 2.0 client while authd signs with an
// algorithm FAPI 2.0 does not allow (RS256).
func checkServerAlg(c *storage.Client, alg string) error {
	if c.Profile == storage.ProfileFAPI2 && alg != "" && !slices.Contains(fapiAlgs, alg) {
		return &InvalidClientError{Err: fmt.Errorf("profile fapi2 needs authd's signing keys to use ES256 or EdDSA (keys.algorithm), not %s (FAPI 2.0 §5.4)", alg)}
	}
	return nil
}
