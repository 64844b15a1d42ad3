package redis

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/authd/authd/storage"
)

// Sessions is storage.Sessions in Redis. Per session:
//
//	<prefix>sess:{<id>}             hash of the session's fields, expiring at ExpiresAt
//	<prefix>sess:{<id>}:clients     set of client ids, expiring with the session
//	<prefix>sess-secret:<hex hash>  the id, by the cookie secret's hash, expiring likewise
//	<prefix>user-sess:{<user id>}   sorted set of the user's session ids, scored by CreatedAt
//
// The braces keep a session's hash and client set in one Cluster hash
// slot. The secret index and the user's set live elsewhere and are written
// after the hash: readers treat an index entry without its hash as absent
// (and List drops such ids from the user's set), so a crash between the
// writes leaves nothing visible. Sessions have no fallback: while Redis is
// unreachable every method returns an error within the timeout.
//
// Safe for concurrent use.
type Sessions struct {
	c *Client
}

var _ storage.Sessions = (*Sessions)(nil)

// NewSessions returns the session store kept in c's Redis.
func NewSessions(c *Client) *Sessions { return &Sessions{c: c} }

func (s *Sessions) hashKey(id string) string    { return s.c.prefix + "sess:{" + id + "}" }
func (s *Sessions) clientsKey(id string) string { return s.c.prefix + "sess:{" + id + "}:clients" }
func (s *Sessions) secretKey(h []byte) string {
	return s.c.prefix + "sess-secret:" + hex.EncodeToString(h)
}
func (s *Sessions) userKey(user string) string { return s.c.prefix + "user-sess:{" + user + "}" }

// Hash fields.
const (
	fUser     = "user"
	fSecret   = "secret"
	fAuthTime = "auth_time"
	fAMR      = "amr"
	fACR      = "acr"
	fIP       = "ip"
	fUA       = "user_agent"
	fCreated  = "created"
	fSeen     = "seen"
	fExpires  = "expires"
)

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// do runs one command under the timeout and records an outage.
func (s *Sessions) do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	cctx, cancel := s.c.cmdContext(ctx)
	defer cancel()
	r := s.c.rc.Do(cctx, cmd)
	s.c.failed(ctx, r.Error())
	return r
}

// doMulti runs commands pipelined (on a Cluster, in parallel per node)
// under the timeout.
func (s *Sessions) doMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	cctx, cancel := s.c.cmdContext(ctx)
	defer cancel()
	res := s.c.rc.DoMulti(cctx, cmds...)
	for _, r := range res {
		if s.c.failed(ctx, r.Error()) {
			break
		}
	}
	return res
}

func (s *Sessions) script(ctx context.Context, sc *script, keys, args []string) rueidis.RedisResult {
	cctx, cancel := s.c.cmdContext(ctx)
	defer cancel()
	r := sc.exec(cctx, s.c.rc, keys, args)
	s.c.failed(ctx, r.Error())
	return r
}

// wrongType reports whether err is Redis's answer to a command on a key
// of another type: a key authd did not write, treated as absent.
func wrongType(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && strings.HasPrefix(re.Error(), "WRONGTYPE")
}

// wrap adds the operation to err, and storage.ErrUnavailable when err
// says Redis cannot serve.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("redis: %s: %w: %w", op, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("redis: %s: %w", op, err)
}

// CreateSession implements storage.Sessions; ErrConflict if the id (or
// the secret) is taken.
func (s *Sessions) CreateSession(ctx context.Context, sess *storage.Session, secretHash []byte) error {
	exp := itoa(millis(sess.ExpiresAt))
	args := []string{exp,
		fUser, sess.UserID, fSecret, hex.EncodeToString(secretHash), fAuthTime, itoa(millis(sess.AuthTime)),
		fAMR, strings.Join(sess.AMR, " "), fACR, sess.ACR, fIP, sess.IP, fUA, sess.UserAgent,
		fCreated, itoa(millis(sess.CreatedAt)), fSeen, itoa(millis(sess.LastSeenAt)), fExpires, exp}
	created, err := s.script(ctx, createSessionScript, []string{s.hashKey(sess.ID)}, args).AsInt64()
	if err != nil {
		return wrap("create session", err)
	}
	if created == 0 {
		return storage.ErrConflict
	}
	b := s.c.rc.B()
	res := s.doMulti(ctx,
		b.Set().Key(s.secretKey(secretHash)).Value(sess.ID).Nx().Pxat(sess.ExpiresAt).Build(),
		b.Zadd().Key(s.userKey(sess.UserID)).ScoreMember().ScoreMember(float64(millis(sess.CreatedAt)), sess.ID).Build())
	if err := res[0].Error(); rueidis.IsRedisNil(err) {
		s.do(ctx, b.Del().Key(s.hashKey(sess.ID)).Build())
		return storage.ErrConflict
	}
	for _, r := range res {
		if err := r.Error(); err != nil {
			return wrap("create session", err)
		}
	}
	return wrap("create session", s.script(ctx, extendExpiryScript, []string{s.userKey(sess.UserID)}, []string{exp}).Error())
}

// readSession fetches the hash of id; ErrNotFound when it is gone.
func (s *Sessions) readSession(ctx context.Context, id string) (*storage.Session, string, error) {
	m, err := s.do(ctx, s.c.rc.B().Hgetall().Key(s.hashKey(id)).Build()).AsStrMap()
	if wrongType(err) {
		return nil, "", storage.ErrNotFound // not a session authd wrote
	}
	if err != nil {
		return nil, "", wrap("get session", err)
	}
	return parseSession(id, m)
}

// parseSession builds a session from its hash fields; it returns the
// secret hash (hex) too. A hash without its fields is absent.
func parseSession(id string, m map[string]string) (*storage.Session, string, error) {
	if m[fExpires] == "" {
		return nil, "", storage.ErrNotFound
	}
	ms := func(f string) time.Time {
		v, _ := strconv.ParseInt(m[f], 10, 64)
		return fromMillis(v)
	}
	sess := &storage.Session{ID: id, UserID: m[fUser], AuthTime: ms(fAuthTime), ACR: m[fACR], IP: m[fIP], UserAgent: m[fUA],
		CreatedAt: ms(fCreated), LastSeenAt: ms(fSeen), ExpiresAt: ms(fExpires)}
	if m[fAMR] != "" {
		sess.AMR = strings.Split(m[fAMR], " ")
	}
	return sess, m[fSecret], nil
}

// GetSessionBySecret implements storage.Sessions.
func (s *Sessions) GetSessionBySecret(ctx context.Context, secretHash []byte, now time.Time) (*storage.Session, error) {
	id, err := s.do(ctx, s.c.rc.B().Get().Key(s.secretKey(secretHash)).Build()).ToString()
	if rueidis.IsRedisNil(err) || wrongType(err) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, wrap("get session", err)
	}
	sess, secret, err := s.readSession(ctx, id)
	if err != nil {
		return nil, err
	}
	if secret != hex.EncodeToString(secretHash) || !sess.ExpiresAt.After(now) {
		return nil, storage.ErrNotFound
	}
	return sess, nil
}

// GetSession implements storage.Sessions. A session is gone once it
// expires (Redis deletes it).
func (s *Sessions) GetSession(ctx context.Context, id string) (*storage.Session, error) {
	sess, _, err := s.readSession(ctx, id)
	return sess, err
}

// RenewSession implements storage.Sessions: the old secret stops working
// at once (the hash no longer names it), then the new one is indexed.
func (s *Sessions) RenewSession(ctx context.Context, id string, secretHash []byte, authTime time.Time, amr []string, acr string) error {
	auth := itoa(millis(authTime))
	v, err := s.script(ctx, renewSessionScript, []string{s.hashKey(id)},
		[]string{hex.EncodeToString(secretHash), auth, strings.Join(amr, " "), acr}).AsStrSlice()
	if rueidis.IsRedisNil(err) {
		return storage.ErrNotFound
	}
	if err == nil && len(v) != 2 {
		err = fmt.Errorf("unexpected reply %q", v)
	}
	if err != nil {
		return wrap("renew session", err)
	}
	exp, _ := strconv.ParseInt(v[1], 10, 64)
	oldHash, _ := hex.DecodeString(v[0])
	b := s.c.rc.B()
	cmds := rueidis.Commands{b.Set().Key(s.secretKey(secretHash)).Value(id).Pxat(time.UnixMilli(exp)).Build()}
	if v[0] != hex.EncodeToString(secretHash) {
		cmds = append(cmds, b.Del().Key(s.secretKey(oldHash)).Build())
	}
	for _, r := range s.doMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return wrap("renew session", err)
		}
	}
	return nil
}

// TouchSession implements storage.Sessions. Touching a session that is
// gone does nothing.
func (s *Sessions) TouchSession(ctx context.Context, id string, at time.Time) error {
	return wrap("touch session", s.script(ctx, touchSessionScript, []string{s.hashKey(id)}, []string{fSeen, itoa(millis(at))}).Error())
}

// ListUserSessions implements storage.Sessions: newest first (ties by
// id). Ids whose session is gone are dropped from the user's set.
func (s *Sessions) ListUserSessions(ctx context.Context, userID string, now time.Time) ([]*storage.Session, error) {
	all, _, err := s.userSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, sess := range all {
		if sess.ExpiresAt.After(now) {
			out = append(out, sess)
		}
	}
	slices.SortFunc(out, func(a, b *storage.Session) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// userSessions returns every session of userID still in Redis, in no
// particular order, with their secret hashes (hex), and prunes the user's
// set.
func (s *Sessions) userSessions(ctx context.Context, userID string) ([]*storage.Session, []string, error) {
	b := s.c.rc.B()
	ids, err := s.do(ctx, b.Zrange().Key(s.userKey(userID)).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return nil, nil, wrap("list sessions", err)
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	cmds := make(rueidis.Commands, len(ids))
	for i, id := range ids {
		cmds[i] = b.Hgetall().Key(s.hashKey(id)).Build()
	}
	var out []*storage.Session
	var secrets, gone []string
	for i, r := range s.doMulti(ctx, cmds...) {
		m, err := r.AsStrMap()
		if err != nil {
			return nil, nil, wrap("list sessions", err)
		}
		sess, secret, err := parseSession(ids[i], m)
		if err != nil || sess.UserID != userID {
			gone = append(gone, ids[i])
			continue
		}
		out, secrets = append(out, sess), append(secrets, secret)
	}
	if len(gone) > 0 {
		s.do(ctx, b.Zrem().Key(s.userKey(userID)).Member(gone...).Build())
	}
	return out, secrets, nil
}

// DeleteSession implements storage.Sessions; of concurrent deletes of one
// session exactly one succeeds.
func (s *Sessions) DeleteSession(ctx context.Context, id string) error {
	sess, secret, err := s.readSession(ctx, id)
	if err != nil {
		return err
	}
	return s.delete(ctx, sess, secret)
}

func (s *Sessions) delete(ctx context.Context, sess *storage.Session, secret string) error {
	b := s.c.rc.B()
	n, err := s.do(ctx, b.Del().Key(s.hashKey(sess.ID), s.clientsKey(sess.ID)).Build()).AsInt64()
	if err != nil {
		return wrap("delete session", err)
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	secretHash, _ := hex.DecodeString(secret)
	for _, r := range s.doMulti(ctx,
		b.Del().Key(s.secretKey(secretHash)).Build(),
		b.Zrem().Key(s.userKey(sess.UserID)).Member(sess.ID).Build()) {
		if err := r.Error(); err != nil {
			// The session is gone; leftovers are ignored by readers.
			return wrap("delete session", err)
		}
	}
	return nil
}

// DeleteUserSessions implements storage.Sessions.
func (s *Sessions) DeleteUserSessions(ctx context.Context, userID, except string) ([]string, error) {
	all, secrets, err := s.userSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for i, sess := range all {
		if sess.ID == except {
			continue
		}
		err := s.delete(ctx, sess, secrets[i])
		if errors.Is(err, storage.ErrNotFound) {
			continue // deleted concurrently
		}
		if err != nil {
			return ids, err
		}
		ids = append(ids, sess.ID)
	}
	return ids, nil
}

// AddSessionClient implements storage.Sessions. Recording a client for a
// session that is gone does nothing.
func (s *Sessions) AddSessionClient(ctx context.Context, sid, clientID string) error {
	return wrap("add session client", s.script(ctx, addSessionClientScript,
		[]string{s.hashKey(sid), s.clientsKey(sid)}, []string{clientID}).Error())
}

// ListSessionClients implements storage.Sessions, ordered by client id.
func (s *Sessions) ListSessionClients(ctx context.Context, sid string) ([]string, error) {
	ids, err := s.do(ctx, s.c.rc.B().Smembers().Key(s.clientsKey(sid)).Build()).AsStrSlice()
	if err != nil {
		return nil, wrap("list session clients", err)
	}
	slices.Sort(ids)
	return ids, nil
}
