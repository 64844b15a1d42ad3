package webhook

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// secretPrefix marks a Standard Webhooks symmetric secret.
const secretPrefix = "whsec_"

// newSecret is a signing secret: 32 random bytes, whsec_<base64>.
func newSecret() string {
	return secretPrefix + base64.StdEncoding.EncodeToString(randomBytes(32))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// newID is prefix followed by 26 characters that sort by time: 48 bits of
// Unix milliseconds, then 80 random bits. Delivery ids sort by creation,
// which is what lists and their cursors use.
func newID(prefix string, now time.Time) string {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(now.UnixMilli())<<16)
	copy(b[6:], randomBytes(10))
	return prefix + idEncoding.EncodeToString(b)
}

// webhookHeaders sets a webhook delivery's headers (signHeaders) on each
// attempt.
func webhookHeaders(id string, at time.Time, body []byte, secrets []string) func(http.Header) error {
	return func(h http.Header) error {
		h.Set("Content-Type", "application/json")
		return signHeaders(h, id, at, body, secrets)
	}
}

// signHeaders sets the Standard Webhooks headers of a delivery: its id,
// the time, and one v1 signature per secret (the current one, and the
// previous during an overlap), space-separated.
func signHeaders(h http.Header, id string, at time.Time, body []byte, secrets []string) error {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return fmt.Errorf("webhook: signing secret: %w", err)
		}
		sig, err := wh.Sign(id, at, body)
		if err != nil {
			return fmt.Errorf("webhook: sign: %w", err)
		}
		sigs = append(sigs, sig)
	}
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, strings.Join(sigs, " "))
	return nil
}
