package sql

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/authd/authd/storage"
)

type auditRow struct {
	ID        int64 `gorm:"primaryKey;autoIncrement:false"`
	Time      int64
	Type      string
	ActorID   string
	SubjectID string
	ClientID  string
	IP        string `gorm:"column:ip"`
	UserAgent string
	RequestID string
	Details   string
	Hash      []byte
	// KeyID is the master key the hash is keyed with; "" for events
	// hashed before the chain was keyed (plain SHA-256).
	KeyID string
}

func (auditRow) TableName() string { return "audit_events" }

type auditHeadRow struct {
	ID    int `gorm:"primaryKey"`
	Seq   int64
	Hash  []byte
	KeyID string
}

func (auditHeadRow) TableName() string { return "audit_head" }

// genesis is the "previous hash" of the first event.
var genesis = make([]byte, 32)

// AppendAuditEvent implements storage.Audit. It bumps the chain head
// (UPDATE audit_head ... RETURNING: the row lock it takes serialises
// appenders until the transaction ends), chains the event onto the
// previous hash — HMAC under the current master key's audit key, after an
// audit.key_changed event when the chain used another key until now — and
// moves the head.
func (s *Store) AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error {
	if e.Type == "" {
		return fmt.Errorf("sql: audit event without a type")
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = e.Time.UTC().Truncate(timeMilli)
	if _, err := storage.MarshalAuditDetails(e.Details); err != nil {
		return err
	}
	keyID := ""
	if s.auditKeys != nil {
		keyID = s.auditKeys.CurrentKeyID()
	}
	return s.inTx(ctx, func(tx txDB) error {
		var head auditHeadRow
		if err := tx.Raw("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING id, seq, hash, key_id").Scan(&head).Error; err != nil {
			return mapErr(err)
		}
		if head.ID != 1 {
			return fmt.Errorf("sql: audit_head row is missing")
		}
		if head.KeyID != "" && keyID == "" {
			return fmt.Errorf("sql: the audit log is keyed; open the store with the master key (Options.AuditKeys)")
		}
		prev, seq := head.Hash, head.Seq
		if len(prev) == 0 {
			prev = genesis
		}
		if keyID != head.KeyID && seq > 1 {
			// The rotation is itself in the chain, keyed with the new key.
			rot := storage.AuditEvent{Time: e.Time, Type: storage.AuditKeyChanged, ActorID: "authd",
				Details: map[string]any{"from": head.KeyID, "to": keyID}}
			var err error
			if prev, err = s.appendAuditRow(tx, seq, prev, keyID, &rot); err != nil {
				return err
			}
			if err := tx.Raw("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq").Scan(&seq).Error; err != nil {
				return mapErr(err)
			}
		}
		e.ID = seq
		sum, err := s.appendAuditRow(tx, seq, prev, keyID, &e)
		if err != nil {
			return err
		}
		return mapErr(tx.Exec("UPDATE audit_head SET hash = ?, key_id = ? WHERE id = 1", sum, keyID).Error)
	})
}

// appendAuditRow inserts e as event id, chained onto prev with the key
// keyID names, and returns its hash.
func (s *Store) appendAuditRow(tx txDB, id int64, prev []byte, keyID string, e *storage.AuditEvent) ([]byte, error) {
	details, err := storage.MarshalAuditDetails(e.Details)
	if err != nil {
		return nil, err
	}
	e.ID = id
	sum, err := s.chainValue(keyID, prev, e, details)
	if err != nil {
		return nil, err
	}
	row := auditRow{ID: id, Time: millis(e.Time), Type: string(e.Type), ActorID: e.ActorID, SubjectID: e.SubjectID,
		ClientID: e.ClientID, IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID, Details: string(details), Hash: sum, KeyID: keyID}
	if err := tx.Create(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	return sum, nil
}

// errAuditKeyUnknown: an event is keyed with a master key this process
// does not have.
var errAuditKeyUnknown = errors.New("sql: audit event keyed with a master key that is not configured")

// chainValue is an event's hash: HMAC-SHA256 under the audit key of
// master key keyID, or SHA-256 for keyID "" (events from before the chain
// was keyed).
func (s *Store) chainValue(keyID string, prev []byte, e *storage.AuditEvent, details json.RawMessage) ([]byte, error) {
	if keyID == "" {
		return storage.AuditChainHash(prev, e, details)
	}
	in, err := storage.AuditChainInput(prev, e, details)
	if err != nil {
		return nil, err
	}
	if s.auditKeys == nil {
		return nil, fmt.Errorf("%w: %s (this store has no master key)", errAuditKeyUnknown, keyID)
	}
	sum, ok := s.auditKeys.MACWith(keyID, storage.AuditKeyPurpose, in)
	if !ok {
		return nil, fmt.Errorf("%w: %s (list it in secrets.previous_master_keys)", errAuditKeyUnknown, keyID)
	}
	return sum, nil
}

func (r *auditRow) toEvent() (*storage.AuditEvent, error) {
	e := &storage.AuditEvent{ID: r.ID, Time: fromMillis(r.Time), Type: storage.AuditType(r.Type), ActorID: r.ActorID, SubjectID: r.SubjectID,
		ClientID: r.ClientID, IP: r.IP, UserAgent: r.UserAgent, RequestID: r.RequestID, Hash: hex.EncodeToString(r.Hash)}
	if r.Details != "" && r.Details != "{}" {
		if err := json.Unmarshal([]byte(r.Details), &e.Details); err != nil {
			return nil, fmt.Errorf("audit event %d details: %w", r.ID, err)
		}
	}
	return e, nil
}

// ListAuditEvents implements storage.Audit.
func (s *Store) ListAuditEvents(ctx context.Context, f storage.AuditFilter) ([]*storage.AuditEvent, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = 100
	case limit > 1000:
		limit = 1000
	}
	q := s.conn(ctx).Order("id DESC").Limit(limit)
	if f.SubjectID != "" {
		q = q.Where("subject_id = ?", f.SubjectID)
	}
	if f.Type != "" {
		q = q.Where("type = ?", string(f.Type))
	}
	if !f.Since.IsZero() {
		q = q.Where("time >= ?", millis(f.Since))
	}
	if !f.Until.IsZero() {
		q = q.Where("time < ?", millis(f.Until))
	}
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	var rows []auditRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
	return auditEvents(rows)
}

func auditEvents(rows []auditRow) ([]*storage.AuditEvent, error) {
	out := make([]*storage.AuditEvent, 0, len(rows))
	for i := range rows {
		e, err := rows[i].toEvent()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// auditVerifyBatch is how many events VerifyAuditChain reads at a time.
const auditVerifyBatch = 1000

// checkAuditKey: once keyed, the chain stays keyed (an unkeyed event after
// a keyed one is a downgrade by someone without the key), and it changes
// key only at an audit.key_changed event.
func checkAuditKey(r *auditRow, prevKey string) error {
	switch {
	case r.KeyID == "" && prevKey != "":
		return &storage.AuditTamperedError{ID: r.ID, Reason: "an unkeyed event after keyed ones"}
	case r.KeyID != prevKey && prevKey != "" && storage.AuditType(r.Type) != storage.AuditKeyChanged:
		return &storage.AuditTamperedError{ID: r.ID, Reason: "the chain's key changes without an audit.key_changed event"}
	}
	return nil
}

// VerifyAuditChain implements storage.Audit. It reads the log in id order,
// in batches, recomputing each hash from the stored columns, and finally
// checks that the head names the last event.
func (s *Store) VerifyAuditChain(ctx context.Context) error {
	db := s.conn(ctx)
	prev, want, prevKey := genesis, int64(1), ""
	for {
		var rows []auditRow
		if err := db.Where("id >= ?", want).Order("id").Limit(auditVerifyBatch).Find(&rows).Error; err != nil {
			return mapErr(err)
		}
		for i := range rows {
			r := &rows[i]
			if r.ID != want {
				return &storage.AuditTamperedError{ID: want, Reason: fmt.Sprintf("event %d is missing (next is %d)", want, r.ID)}
			}
			if err := checkAuditKey(r, prevKey); err != nil {
				return err
			}
			e := storage.AuditEvent{ID: r.ID, Time: fromMillis(r.Time), Type: storage.AuditType(r.Type), ActorID: r.ActorID, SubjectID: r.SubjectID,
				ClientID: r.ClientID, IP: r.IP, UserAgent: r.UserAgent, RequestID: r.RequestID}
			sum, err := s.chainValue(r.KeyID, prev, &e, json.RawMessage(r.Details))
			if errors.Is(err, errAuditKeyUnknown) {
				return fmt.Errorf("audit event %d cannot be verified: %w", r.ID, err)
			}
			if err != nil || !bytes.Equal(sum, r.Hash) {
				return &storage.AuditTamperedError{ID: r.ID, Reason: "hash does not match the event and the chain before it"}
			}
			prev, want, prevKey = r.Hash, want+1, r.KeyID
		}
		if len(rows) < auditVerifyBatch {
			break
		}
	}
	var head auditHeadRow
	if err := db.Where("id = 1").Take(&head).Error; err != nil {
		return fmt.Errorf("read audit_head: %w", mapErr(err))
	}
	headHash := head.Hash
	if len(headHash) == 0 {
		headHash = genesis
	}
	if head.Seq != want-1 || !bytes.Equal(headHash, prev) || head.KeyID != prevKey {
		return &storage.AuditTamperedError{ID: want, Reason: fmt.Sprintf(
			"the log ends at event %d but its head names event %d: events were removed from the end", want-1, head.Seq)}
	}
	return nil
}
