package admin

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Cursors are opaque to clients: the position (the last id of a page)
// and the list they belong to, MACed so that a changed or forged cursor,
// or one reused on another list or filter, is refused rather than
// walking somewhere unintended. Pages are in id order, and ids (UUIDv7,
// event sequence numbers) are assigned in increasing order, so inserts
// while a client pages never shift what it has not seen yet.
type cursors struct{ key []byte }

func (c cursors) mac(list, pos string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(list))
	m.Write([]byte{0})
	m.Write([]byte(pos))
	return m.Sum(nil)[:16]
}

// encode returns the cursor after pos in list (the list's name and its
// filters).
func (c cursors) encode(list, pos string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(pos)) + "." + enc.EncodeToString(c.mac(list, pos))
}

// decode returns the position of cursor in list; "" for no cursor. A bad
// cursor is a 400.
func (c cursors) decode(list, cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	p, m, ok := strings.Cut(cursor, ".")
	enc := base64.RawURLEncoding
	pos, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if !ok || err1 != nil || err2 != nil || !hmac.Equal(mac, c.mac(list, string(pos))) {
		return "", badRequest("the cursor is not one this list handed out (cursors cannot be edited or reused across filters)")
	}
	return string(pos), nil
}

// Page is one page of a list.
type Page[T any] struct {
	Items []T `json:"items" jsonschema:"required"`
	// NextCursor fetches the next page; absent on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Pagination limits.
const (
	defaultLimit = 50
	maxLimit     = 200
)

// page cuts rows (fetched with limit+1) to limit and sets the cursor.
func page[R, T any](c cursors, list string, rows []R, limit int, pos func(R) string, conv func(R) T) Page[T] {
	out := Page[T]{Items: make([]T, 0, min(len(rows), limit))}
	for i, r := range rows {
		if i == limit {
			out.NextCursor = c.encode(list, pos(rows[i-1]))
			break
		}
		out.Items = append(out.Items, conv(r))
	}
	return out
}
