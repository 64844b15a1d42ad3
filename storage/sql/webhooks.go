package sql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/authd/authd/storage"
)

type webhookRow struct {
	ID                string `gorm:"primaryKey"`
	Kind              string
	ClientID          string
	Stream            string
	URL               string `gorm:"column:url"`
	Description       string
	Events            string
	Secret            []byte
	PreviousSecret    []byte
	PreviousExpiresAt int64
	Disabled          bool
	DisabledReason    string
	FailingSince      int64
	CreatedBy         string
	CreatedAt         int64 `gorm:"autoCreateTime:false"`
	UpdatedAt         int64 `gorm:"autoUpdateTime:false"`
}

func (webhookRow) TableName() string { return "webhooks" }

type streamSubjectRow struct {
	StreamID  string `gorm:"primaryKey"`
	UserID    string `gorm:"primaryKey"`
	Included  bool
	UpdatedAt int64 `gorm:"autoUpdateTime:false"`
}

func (streamSubjectRow) TableName() string { return "ssf_subjects" }

type deliveryRow struct {
	ID            string `gorm:"primaryKey"`
	WebhookID     string
	EventID       int64
	EventType     string
	Payload       []byte
	Status        string
	Attempts      int
	NextAttemptAt int64
	LastStatus    int
	CreatedAt     int64 `gorm:"autoCreateTime:false"`
	UpdatedAt     int64 `gorm:"autoUpdateTime:false"`
}

func (deliveryRow) TableName() string { return "webhook_deliveries" }

type deliveryAttemptRow struct {
	DeliveryID string `gorm:"primaryKey"`
	N          int    `gorm:"primaryKey;autoIncrement:false"`
	At         int64
	Status     int
	LatencyMs  int64
	Error      string
	Response   string
}

func (deliveryAttemptRow) TableName() string { return "webhook_attempts" }

type eventCursorRow struct {
	Name     string `gorm:"primaryKey"`
	Position int64
}

func (eventCursorRow) TableName() string { return "event_cursors" }

type alertStateRow struct {
	Kind              string `gorm:"primaryKey"`
	LastSentAt        int64
	Suppressed        int
	FirstSuppressedAt int64
}

func (alertStateRow) TableName() string { return "alert_states" }

var _ storage.Webhooks = (*Store)(nil)

func toWebhookRow(w *storage.Webhook) (webhookRow, error) {
	kind, stream := w.Kind, ""
	if kind == "" {
		kind = storage.KindWebhook
	}
	if w.Stream != nil {
		b, err := json.Marshal(w.Stream)
		if err != nil {
			return webhookRow{}, err
		}
		stream = string(b)
	}
	return webhookRow{ID: w.ID, Kind: kind, ClientID: w.ClientID, Stream: stream, URL: w.URL, Description: w.Description, Events: strings.Join(w.Events, " "),
		Secret: w.Secret, PreviousSecret: w.PreviousSecret, PreviousExpiresAt: optMillis(w.PreviousExpiresAt),
		Disabled: w.Disabled, DisabledReason: w.DisabledReason, FailingSince: optMillis(w.FailingSince),
		CreatedBy: w.CreatedBy, CreatedAt: millis(w.CreatedAt), UpdatedAt: millis(w.UpdatedAt)}, nil
}

func (r *webhookRow) toWebhook() (*storage.Webhook, error) {
	var stream *storage.StreamConfig
	if r.Stream != "" {
		stream = new(storage.StreamConfig)
		if err := json.Unmarshal([]byte(r.Stream), stream); err != nil {
			return nil, fmt.Errorf("sql: stream %s: %w", r.ID, err)
		}
	}
	return &storage.Webhook{ID: r.ID, Kind: r.Kind, ClientID: r.ClientID, Stream: stream, URL: r.URL, Description: r.Description, Events: strings.Fields(r.Events),
		Secret: r.Secret, PreviousSecret: r.PreviousSecret, PreviousExpiresAt: fromOptMillis(r.PreviousExpiresAt),
		Disabled: r.Disabled, DisabledReason: r.DisabledReason, FailingSince: fromOptMillis(r.FailingSince),
		CreatedBy: r.CreatedBy, CreatedAt: fromMillis(r.CreatedAt), UpdatedAt: fromMillis(r.UpdatedAt)}, nil
}

func toWebhooks(rows []webhookRow) ([]*storage.Webhook, error) {
	out := make([]*storage.Webhook, len(rows))
	for i := range rows {
		w, err := rows[i].toWebhook()
		if err != nil {
			return nil, err
		}
		out[i] = w
	}
	return out, nil
}

func (r *deliveryRow) toDelivery() *storage.WebhookDelivery {
	return &storage.WebhookDelivery{ID: r.ID, WebhookID: r.WebhookID, EventID: r.EventID, EventType: r.EventType,
		Payload: r.Payload, Status: r.Status, Attempts: r.Attempts, NextAttemptAt: fromOptMillis(r.NextAttemptAt),
		LastStatus: r.LastStatus, CreatedAt: fromMillis(r.CreatedAt), UpdatedAt: fromMillis(r.UpdatedAt)}
}

// stamp sets a record's creation time (now when zero) and update time
// (the creation time when zero), truncated to what is stored.
func (s *Store) stamp(created, updated *time.Time) {
	if created.IsZero() {
		*created = s.now()
	}
	*created = created.UTC().Truncate(timeMilli)
	if updated.IsZero() {
		*updated = *created
	}
	*updated = updated.UTC().Truncate(timeMilli)
}

// CreateWebhook implements storage.Webhooks.
func (s *Store) CreateWebhook(ctx context.Context, w *storage.Webhook) error {
	s.stamp(&w.CreatedAt, &w.UpdatedAt)
	row, err := toWebhookRow(w)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx txDB) error {
		if err := mapErr(tx.Create(&row).Error); err != nil {
			return err
		}
		return s.publish(tx, storage.TopicWebhook, w.ID)
	})
}

// GetWebhook implements storage.Webhooks.
func (s *Store) GetWebhook(ctx context.Context, id string) (*storage.Webhook, error) {
	var row webhookRow
	if err := s.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	return row.toWebhook()
}

// GetWebhookForUpdate implements storage.Webhooks.
func (s *Store) GetWebhookForUpdate(ctx context.Context, id string) (*storage.Webhook, error) {
	var row webhookRow
	if err := s.conn(ctx).Clauses(s.forUpdate()...).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	return row.toWebhook()
}

// ListWebhooks implements storage.Webhooks.
func (s *Store) ListWebhooks(ctx context.Context, kind, after string, limit int) ([]*storage.Webhook, error) {
	if limit <= 0 {
		return nil, nil
	}
	q := s.conn(ctx).Where("id > ?", after)
	if kind != "" {
		q = q.Where("kind = ?", kind)
	}
	var rows []webhookRow
	if err := q.Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
	return toWebhooks(rows)
}

// ListClientStreams implements storage.Webhooks.
func (s *Store) ListClientStreams(ctx context.Context, clientID string) ([]*storage.Webhook, error) {
	var rows []webhookRow
	if err := s.conn(ctx).Where("kind = ? AND client_id = ?", storage.KindStream, clientID).Order("id").Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
	return toWebhooks(rows)
}

// SetStreamSubject implements storage.Webhooks.
func (s *Store) SetStreamSubject(ctx context.Context, streamID, userID string, included bool) error {
	row := streamSubjectRow{StreamID: streamID, UserID: userID, Included: included, UpdatedAt: s.nowMilli()}
	return mapErr(s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "stream_id"}, {Name: "user_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"included", "updated_at"}),
	}).Create(&row).Error)
}

// StreamSubject implements storage.Webhooks.
func (s *Store) StreamSubject(ctx context.Context, streamID, userID string) (bool, bool, error) {
	var rows []streamSubjectRow
	if err := s.conn(ctx).Where("stream_id = ? AND user_id = ?", streamID, userID).Limit(1).Find(&rows).Error; err != nil {
		return false, false, mapErr(err)
	}
	if len(rows) == 0 {
		return false, false, nil
	}
	return rows[0].Included, true, nil
}

// UpdateWebhook implements storage.Webhooks.
func (s *Store) UpdateWebhook(ctx context.Context, w *storage.Webhook) error {
	w.UpdatedAt = s.now().UTC().Truncate(timeMilli)
	row, err := toWebhookRow(w)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx txDB) error {
		res := tx.Model(&webhookRow{}).Where("id = ?", w.ID).Select("*").Omit("id", "kind", "client_id", "created_at", "created_by").Updates(&row)
		if res.Error != nil {
			return mapErr(res.Error)
		}
		if res.RowsAffected == 0 {
			return storage.ErrNotFound
		}
		return s.publish(tx, storage.TopicWebhook, w.ID)
	})
}

// DeleteWebhook implements storage.Webhooks. Deliveries and attempts go
// with it (ON DELETE CASCADE).
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx txDB) error {
		res := tx.Where("id = ?", id).Delete(&webhookRow{})
		if res.Error != nil {
			return mapErr(res.Error)
		}
		if res.RowsAffected == 0 {
			return storage.ErrNotFound
		}
		return s.publish(tx, storage.TopicWebhook, id)
	})
}

// CreateWebhookDeliveries implements storage.Webhooks.
func (s *Store) CreateWebhookDeliveries(ctx context.Context, ds []*storage.WebhookDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	rows := make([]deliveryRow, len(ds))
	for i, d := range ds {
		s.stamp(&d.CreatedAt, &d.UpdatedAt)
		rows[i] = deliveryRow{ID: d.ID, WebhookID: d.WebhookID, EventID: d.EventID, EventType: d.EventType, Payload: d.Payload,
			Status: d.Status, Attempts: d.Attempts, NextAttemptAt: optMillis(d.NextAttemptAt), LastStatus: d.LastStatus,
			CreatedAt: millis(d.CreatedAt), UpdatedAt: millis(d.UpdatedAt)}
	}
	return mapErr(s.conn(ctx).CreateInBatches(rows, 200).Error)
}

// GetWebhookDelivery implements storage.Webhooks.
func (s *Store) GetWebhookDelivery(ctx context.Context, id string) (*storage.WebhookDelivery, error) {
	var row deliveryRow
	if err := s.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, mapErr(err)
	}
	return row.toDelivery(), nil
}

// ListWebhookDeliveries implements storage.Webhooks.
func (s *Store) ListWebhookDeliveries(ctx context.Context, f storage.DeliveryFilter) ([]*storage.WebhookDelivery, error) {
	if f.Limit <= 0 {
		return nil, nil
	}
	q := s.conn(ctx).Where("webhook_id = ?", f.WebhookID)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.EventType != "" {
		q = q.Where("event_type = ?", f.EventType)
	}
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", millis(f.Since))
	}
	if !f.Until.IsZero() {
		q = q.Where("created_at < ?", millis(f.Until))
	}
	if f.Before != "" {
		q = q.Where("id < ?", f.Before)
	}
	var rows []deliveryRow
	if err := q.Order("id DESC").Limit(f.Limit).Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
	out := make([]*storage.WebhookDelivery, len(rows))
	for i := range rows {
		out[i] = rows[i].toDelivery()
	}
	return out, nil
}

// ListWebhookAttempts implements storage.Webhooks.
func (s *Store) ListWebhookAttempts(ctx context.Context, deliveryID string) ([]*storage.WebhookAttempt, error) {
	var rows []deliveryAttemptRow
	if err := s.conn(ctx).Where("delivery_id = ?", deliveryID).Order("n").Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
	out := make([]*storage.WebhookAttempt, len(rows))
	for i, r := range rows {
		out[i] = &storage.WebhookAttempt{DeliveryID: r.DeliveryID, N: r.N, At: fromMillis(r.At), Status: r.Status,
			Latency: time.Duration(r.LatencyMs) * time.Millisecond, Error: r.Error, Response: r.Response}
	}
	return out, nil
}

// RecordWebhookAttempt implements storage.Webhooks. The attempt's number
// is the delivery's count of attempts plus one, read under the delivery's
// row lock, so two workers that both tried it (a rescued job) cannot
// collide. The endpoint's row is written only when its health changes
// (conditional updates), so concurrent attempts to one endpoint do not
// queue for its lock.
func (s *Store) RecordWebhookAttempt(ctx context.Context, a *storage.WebhookAttempt, o storage.AttemptOutcome) (bool, error) {
	disabled := false
	err := s.inTx(ctx, func(tx txDB) error {
		if s.dialect == Postgres {
			// The commit need not wait for the disk: the job's completion,
			// which River commits after this (durably), flushes the log
			// past it, and if authd or Postgres dies before that, the job
			// is rescued and the delivery attempted again under the same
			// webhook-id (at least once either way).
			if err := tx.Exec("SET LOCAL synchronous_commit TO OFF").Error; err != nil {
				return mapErr(err)
			}
		}
		var d deliveryRow
		if err := tx.Clauses(s.forUpdate()...).Select("webhook_id", "attempts").Where("id = ?", a.DeliveryID).Take(&d).Error; err != nil {
			return mapErr(err)
		}
		a.N = d.Attempts + 1
		a.At = a.At.UTC().Truncate(timeMilli)
		if err := tx.Create(&deliveryAttemptRow{DeliveryID: a.DeliveryID, N: a.N, At: millis(a.At), Status: a.Status,
			LatencyMs: a.Latency.Milliseconds(), Error: a.Error, Response: a.Response}).Error; err != nil {
			return mapErr(err)
		}
		now := s.nowMilli()
		if err := tx.Model(&deliveryRow{}).Where("id = ?", a.DeliveryID).Updates(map[string]any{
			"attempts": a.N, "status": o.Status, "next_attempt_at": optMillis(o.NextAttemptAt),
			"last_status": a.Status, "updated_at": now}).Error; err != nil {
			return mapErr(err)
		}
		hook := tx.Model(&webhookRow{}).Where("id = ?", d.WebhookID)
		var res *gorm.DB
		if o.Healthy {
			res = hook.Where("failing_since <> 0").Updates(map[string]any{"failing_since": 0, "updated_at": now})
		} else {
			res = hook.Where("failing_since = 0").Updates(map[string]any{"failing_since": millis(a.At), "updated_at": now})
		}
		if res.Error != nil {
			return mapErr(res.Error)
		}
		changed := res.RowsAffected > 0
		if o.Disable != "" {
			res = tx.Model(&webhookRow{}).Where("id = ? AND NOT disabled", d.WebhookID).
				Updates(map[string]any{"disabled": true, "disabled_reason": o.Disable, "updated_at": now})
			if res.Error != nil {
				return mapErr(res.Error)
			}
			disabled = res.RowsAffected > 0
			changed = changed || disabled
		}
		if changed {
			return s.publish(tx, storage.TopicWebhook, d.WebhookID)
		}
		return nil
	})
	return disabled, err
}

// DeleteWebhookDeliveries implements storage.Webhooks (attempts go by ON
// DELETE CASCADE).
func (s *Store) DeleteWebhookDeliveries(ctx context.Context, before time.Time, limit int) (int64, error) {
	res := s.conn(ctx).Exec(`DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries
		WHERE status NOT IN (?, ?) AND updated_at < ? LIMIT ?)`, storage.DeliveryPending, storage.DeliveryHeld, millis(before), limit)
	return res.RowsAffected, mapErr(res.Error)
}

// ResetWebhookDelivery implements storage.Webhooks.
func (s *Store) ResetWebhookDelivery(ctx context.Context, id, status string, t time.Time) error {
	res := s.conn(ctx).Model(&deliveryRow{}).Where("id = ?", id).Updates(map[string]any{
		"status": status, "next_attempt_at": millis(t), "updated_at": s.nowMilli()})
	if res.Error != nil {
		return mapErr(res.Error)
	}
	if res.RowsAffected == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// LockEventCursor implements storage.Webhooks: an UPDATE of the cursor's
// row, which holds its lock until the transaction ends (on SQLite the
// write lock, which serialises every writer anyway). A cursor that does
// not exist yet starts at the current end of the audit log: a consumer
// that starts delivering does not deliver the past.
func (s *Store) LockEventCursor(ctx context.Context, name string) (int64, error) {
	if _, ok := txFrom(ctx); !ok {
		return 0, errors.New("sql: LockEventCursor needs a transaction")
	}
	tx := s.conn(ctx)
	var pos []int64
	if err := tx.Raw("UPDATE event_cursors SET position = position WHERE name = ? RETURNING position", name).Scan(&pos).Error; err != nil {
		return 0, mapErr(err)
	}
	if len(pos) == 1 {
		return pos[0], nil
	}
	var head int64
	if err := tx.Raw("SELECT seq FROM audit_head WHERE id = 1").Scan(&head).Error; err != nil {
		return 0, mapErr(err)
	}
	row := eventCursorRow{Name: name, Position: head}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return 0, mapErr(err)
	}
	// Another replica may have created it first: lock what is there.
	if err := tx.Raw("UPDATE event_cursors SET position = position WHERE name = ? RETURNING position", name).Scan(&pos).Error; err != nil {
		return 0, mapErr(err)
	}
	if len(pos) != 1 {
		return 0, errors.New("sql: event cursor vanished")
	}
	return pos[0], nil
}

// SetEventCursor implements storage.Webhooks.
func (s *Store) SetEventCursor(ctx context.Context, name string, pos int64) error {
	return mapErr(s.conn(ctx).Model(&eventCursorRow{}).Where("name = ?", name).Update("position", pos).Error)
}

// AuditHead implements storage.Webhooks.
func (s *Store) AuditHead(ctx context.Context) (int64, error) {
	var head int64
	err := s.conn(ctx).Raw("SELECT seq FROM audit_head WHERE id = 1").Scan(&head).Error
	return head, mapErr(err)
}

// AuditEventsAfter implements storage.Webhooks.
func (s *Store) AuditEventsAfter(ctx context.Context, after int64, limit int) ([]*storage.AuditEvent, error) {
	var rows []auditRow
	if err := s.conn(ctx).Where("id > ?", after).Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
	return auditEvents(rows)
}

// AlertStates implements storage.Webhooks.
func (s *Store) AlertStates(ctx context.Context) ([]*storage.AlertState, error) {
	var rows []alertStateRow
	if err := s.conn(ctx).Order("kind").Find(&rows).Error; err != nil {
		return nil, mapErr(err)
	}
	out := make([]*storage.AlertState, len(rows))
	for i, r := range rows {
		out[i] = &storage.AlertState{Kind: r.Kind, LastSentAt: fromOptMillis(r.LastSentAt), Suppressed: r.Suppressed,
			FirstSuppressedAt: fromOptMillis(r.FirstSuppressedAt)}
	}
	return out, nil
}

// SaveAlertState implements storage.Webhooks.
func (s *Store) SaveAlertState(ctx context.Context, st *storage.AlertState) error {
	row := alertStateRow{Kind: st.Kind, LastSentAt: optMillis(st.LastSentAt), Suppressed: st.Suppressed,
		FirstSuppressedAt: optMillis(st.FirstSuppressedAt)}
	return mapErr(s.conn(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(&row).Error)
}
