package sql

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
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
}

func (auditRow) TableName() string { return "audit_events" }

type auditHeadRow struct {
	ID   int `gorm:"primaryKey"`
	Seq  int64
	Hash []byte
}

func (auditHeadRow) TableName() string { return "audit_head" }

// genesis is the "previous hash" of the first event.
var genesis = make([]byte, 32)

// AppendAuditEvent implements storage.Audit. It bumps the chain head
// (UPDATE audit_head ... RETURNING: the row lock it takes serialises
// appenders until the transaction ends), hashes the event onto the
// previous hash, inserts it and moves the head's hash.
func (s *Store) AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error {
	if e.Type == "" {
		return fmt.Errorf("sql: audit event without a type")
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = e.Time.UTC().Truncate(timeMilli)
	details, err := storage.MarshalAuditDetails(e.Details)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx txDB) error {
		var head auditHeadRow
		if err := tx.Raw("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING id, seq, hash").Scan(&head).Error; err != nil {
			return mapErr(err)
		}
		if head.ID != 1 {
			return fmt.Errorf("sql: audit_head row is missing")
		}
		prev := head.Hash
		if len(prev) == 0 {
			prev = genesis
		}
		e.ID = head.Seq
		sum, err := storage.AuditChainHash(prev, &e, details)
		if err != nil {
			return err
		}
		row := auditRow{ID: e.ID, Time: millis(e.Time), Type: e.Type, ActorID: e.ActorID, SubjectID: e.SubjectID,
			ClientID: e.ClientID, IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID, Details: string(details), Hash: sum}
		if err := tx.Create(&row).Error; err != nil {
			return mapErr(err)
		}
		return mapErr(tx.Exec("UPDATE audit_head SET hash = ? WHERE id = 1", sum).Error)
	})
}

func (r *auditRow) toEvent() (*storage.AuditEvent, error) {
	e := &storage.AuditEvent{ID: r.ID, Time: fromMillis(r.Time), Type: r.Type, ActorID: r.ActorID, SubjectID: r.SubjectID,
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
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	var rows []auditRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
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

// VerifyAuditChain implements storage.Audit. It reads the log in id order,
// in batches, recomputing each hash from the stored columns, and finally
// checks that the head names the last event.
func (s *Store) VerifyAuditChain(ctx context.Context) error {
	db := s.conn(ctx)
	prev, want := genesis, int64(1)
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
			e := storage.AuditEvent{ID: r.ID, Time: fromMillis(r.Time), Type: r.Type, ActorID: r.ActorID, SubjectID: r.SubjectID,
				ClientID: r.ClientID, IP: r.IP, UserAgent: r.UserAgent, RequestID: r.RequestID}
			sum, err := storage.AuditChainHash(prev, &e, json.RawMessage(r.Details))
			if err != nil || !bytes.Equal(sum, r.Hash) {
				return &storage.AuditTamperedError{ID: r.ID, Reason: "hash does not match the event and the chain before it"}
			}
			prev, want = r.Hash, want+1
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
	if head.Seq != want-1 || !bytes.Equal(headHash, prev) {
		return &storage.AuditTamperedError{ID: want, Reason: fmt.Sprintf(
			"the log ends at event %d but its head names event %d: events were removed from the end", want-1, head.Seq)}
	}
	return nil
}
