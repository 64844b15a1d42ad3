package provider

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/storage"
)

// Signing algorithms authd can sign with.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// sealPurpose binds sealed private keys to their use.
const sealPurpose = "signing-key"

// keyStore is what the key manager needs from storage.
type keyStore interface {
	CreateKey(ctx context.Context, k *storage.SigningKey) error
	ListKeys(ctx context.Context) ([]*storage.SigningKey, error)
	RetireKeys(ctx context.Context, keep string, t time.Time) error
	DeleteKeysRetiredBefore(ctx context.Context, t time.Time) error
}

// keySet is an immutable snapshot of the signing keys: the active signer,
// the verification keys by kid, and the JWKS document prepared once.
type keySet struct {
	active   *signingKey
	verify   map[string]*jose.JSONWebKey // kid -> public key; guarded by immutability
	jwks     []byte                      // the JWKS JSON, served as is
	jwksETag string
	// activeSince is when the active key was created.
	activeSince time.Time
}

type signingKey struct {
	kid    string
	alg    jose.SignatureAlgorithm
	signer crypto.Signer
	jose   map[string]jose.Signer // typ -> signer with that typ header
}

// GenerateKey creates a new private key for alg.
func GenerateKey(alg string, rsaBits int) (crypto.Signer, error) {
	switch alg {
	case RS256:
		if rsaBits < 2048 {
			return nil, fmt.Errorf("RSA keys must be at least 2048 bits, got %d", rsaBits)
		}
		return rsa.GenerateKey(rand.Reader, rsaBits)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("unsupported signing algorithm %q (want RS256, ES256 or EdDSA)", alg)
}

// CreateSigningKey generates a key for alg, seals it and stores it; when
// activate is set, every other key is retired, so the new one signs.
// It is what `authd keys rotate` and first start call.
func CreateSigningKey(ctx context.Context, store keyStore, kr *secrets.Keyring, alg string, rsaBits int, now time.Time) (*storage.SigningKey, error) {
	priv, err := GenerateKey(alg, rsaBits)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	sealed, err := kr.Seal(sealPurpose, der)
	if err != nil {
		return nil, fmt.Errorf("seal private key: %w", err)
	}
	k := &storage.SigningKey{KID: keyID(priv.Public(), alg), Algorithm: alg, SealedPrivate: sealed, CreatedAt: now.UTC()}
	if err := store.CreateKey(ctx, k); err != nil {
		return nil, fmt.Errorf("store signing key: %w", err)
	}
	if err := store.RetireKeys(ctx, k.KID, now.UTC()); err != nil {
		return nil, fmt.Errorf("retire previous signing keys: %w", err)
	}
	return k, nil
}

// keyID derives a kid from the public key (a short SHA-256 of its DER).
func keyID(pub crypto.PublicKey, alg string) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(append([]byte(alg), der...))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// loadKeySet reads every key, drops the ones whose tokens have all expired
// (retired longer ago than retain), and builds a snapshot. It returns
// errNoActiveKey when no key is active.
func loadKeySet(ctx context.Context, store keyStore, kr *secrets.Keyring, retain time.Duration, now time.Time) (*keySet, error) {
	keys, err := store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	ks := &keySet{verify: map[string]*jose.JSONWebKey{}}
	var public []jose.JSONWebKey
	for _, k := range keys { // newest first
		if k.RetiredAt != nil && now.Sub(*k.RetiredAt) > retain {
			continue
		}
		der, err := kr.Open(sealPurpose, k.SealedPrivate)
		if err != nil {
			return nil, fmt.Errorf("open signing key %s (is secrets.master_key the one it was made with?): %w", k.KID, err)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("parse signing key %s: %w", k.KID, err)
		}
		priv, ok := parsed.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("signing key %s is not a signer", k.KID)
		}
		alg := jose.SignatureAlgorithm(k.Algorithm)
		pub := jose.JSONWebKey{Key: priv.Public(), KeyID: k.KID, Algorithm: k.Algorithm, Use: "sig"}
		ks.verify[k.KID] = &pub
		public = append(public, pub)
		if k.Active() && ks.active == nil {
			sk, err := newSigningKey(k.KID, alg, priv)
			if err != nil {
				return nil, err
			}
			ks.active, ks.activeSince = sk, k.CreatedAt
		}
	}
	if ks.active == nil {
		return nil, errNoActiveKey
	}
	ks.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: public})
	if err != nil {
		return nil, fmt.Errorf("marshal JWKS: %w", err)
	}
	sum := sha256.Sum256(ks.jwks)
	ks.jwksETag = `"` + hex.EncodeToString(sum[:8]) + `"`
	return ks, nil
}

var errNoActiveKey = errors.New("no active signing key")

func newSigningKey(kid string, alg jose.SignatureAlgorithm, priv crypto.Signer) (*signingKey, error) {
	sk := &signingKey{kid: kid, alg: alg, signer: priv, jose: map[string]jose.Signer{}}
	for _, typ := range []string{typAccessToken, "JWT", typLogoutToken, typSecurityEvent} {
		opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader(jose.HeaderKey("kid"), kid)
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: priv}, opts)
		if err != nil {
			return nil, fmt.Errorf("signer for key %s: %w", kid, err)
		}
		sk.jose[typ] = s
	}
	return sk, nil
}

// sign signs payload as a compact JWS with the given typ header.
func (k *signingKey) sign(typ string, payload []byte) (string, error) {
	s, ok := k.jose[typ]
	if !ok {
		return "", fmt.Errorf("no signer for typ %q", typ)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// signingAlgs are the JWS algorithms authd signs with (keys.algorithm).
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// unknownKidReload is how often at most a token naming a key this process
// does not know makes it reload the key set from the store.
const unknownKidReload = 200 * time.Millisecond

// lookupKey returns the public key kid names. A kid this process does not
// know may be a key another replica created or rotated in moments ago,
// before the poller (cache.poll_interval) brought it here: replicas that
// start together on a fresh database each create one, and a rotation is
// used by the process that made it at once. So an unknown kid reloads the
// key set, at most once per unknownKidReload: a flood of made-up kids costs
// a few queries a second, not one each.
func (p *Provider) lookupKey(ctx context.Context, kid string) (*jose.JSONWebKey, bool) {
	if k, ok := p.keys.Load().verify[kid]; ok {
		return k, true
	}
	p.unknownKid.Lock()
	defer p.unknownKid.Unlock()
	if k, ok := p.keys.Load().verify[kid]; ok { // reloaded while we waited
		return k, true
	}
	if time.Since(p.unknownKidAt) < unknownKidReload {
		return nil, false
	}
	p.unknownKidAt = time.Now()
	if err := p.reloadKeys(ctx); err != nil {
		p.log.WarnContext(ctx, "reloading signing keys for an unknown kid", "err", err)
		return nil, false
	}
	k, ok := p.keys.Load().verify[kid]
	return k, ok
}
