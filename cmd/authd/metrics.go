package main

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"gorm.io/gorm"

	"github.com/authd/authd/internal/jobs"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/telemetry"
	"github.com/authd/authd/provider"
	"github.com/authd/authd/webhook"
)

// MetricsConfig is the metrics section: /metrics (Prometheus text
// format), on http.ops_addr when set, else on http.addr.
type MetricsConfig struct {
	// Enabled serves /metrics and records the metrics; off, neither.
	Enabled bool `koanf:"enabled"`
}

// newMetrics returns the metrics serve records, or nil when
// metrics.enabled is off (every recorder is then a no-op).
func newMetrics(cfg Config) *telemetry.Metrics {
	if !cfg.Metrics.Enabled {
		return nil
	}
	b := readBuildInfo()
	return telemetry.NewMetrics(telemetry.BuildInfo{Version: b.Version, Revision: b.Revision, GoVersion: b.Go})
}

// registerMetrics adds what the running server exposes beyond the
// recorders: the database pool and statement durations, the job queue
// (its depth read at scrape time; every finished job from River's
// events), the signing key's age, and each dependency's state.
func registerMetrics(ctx context.Context, m *telemetry.Metrics, d *deps, app *browserApp, p *provider.Provider, health *healthChecks) (stop func(), err error) {
	if m == nil {
		return func() {}, nil
	}
	sqlDB, err := d.store.SQLDB()
	if err != nil {
		return nil, err
	}
	if err := m.RegisterDB(sqlDB, "authd"); err != nil {
		return nil, err
	}
	if err := registerGormMetrics(d.store.Gorm(), m); err != nil {
		return nil, err
	}
	if err := m.Register(&scrapeCollector{queue: app.queue, keyCreated: p.ActiveKeyCreated, health: health}); err != nil {
		return nil, err
	}
	m.InitJobKinds(jobKinds...)
	return watchJobs(ctx, m, app.queue), nil
}

// watchJobs records every finished job from River's event stream until
// stop is called.
func watchJobs(ctx context.Context, m *telemetry.Metrics, q *jobs.Queue) (stop func()) {
	events, cancel := q.River().Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-events:
				if !ok {
					return
				}
				if e.Job == nil {
					continue
				}
				failed := e.Kind != river.EventKindJobCompleted
				var wait, run time.Duration
				if e.JobStats != nil {
					wait, run = e.JobStats.QueueWaitDuration, e.JobStats.RunDuration
				}
				m.Job(jobKindLabel(e.Job.Kind), wait, run, failed)
				switch e.Job.Kind {
				case (mail.SendArgs{}).Kind():
					m.Mail(!failed)
				case (webhook.DeliveryArgs{}).Kind():
					m.WebhookDelivery(!failed)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// jobKindLabel is kind when it is one authd defines, else "other" (a job
// table shared with another application cannot mint label values).
func jobKindLabel(kind string) string {
	if slices.Contains(jobKinds, kind) {
		return kind
	}
	return "other"
}

// jobKinds are the kinds of job authd runs.
var jobKinds = []string{(mail.SendArgs{}).Kind(), (webhook.DeliveryArgs{}).Kind(), (jobs.BackchannelLogoutArgs{}).Kind(), (accountRequestArgs{}).Kind()}

// registerGormMetrics times every statement gorm runs
// (authd_db_query_duration_seconds by operation).
func registerGormMetrics(db *gorm.DB, m *telemetry.Metrics) error {
	const startKey = "authd:metrics_start"
	before := func(tx *gorm.DB) { tx.InstanceSet(startKey, time.Now()) }
	after := func(op string) func(*gorm.DB) {
		return func(tx *gorm.DB) {
			if v, ok := tx.InstanceGet(startKey); ok {
				if t, ok := v.(time.Time); ok {
					m.DBQuery(op, time.Since(t))
				}
			}
		}
	}
	cb := db.Callback()
	return errors.Join(
		cb.Create().Before("gorm:create").Register("authd:metrics_before_create", before),
		cb.Create().After("gorm:create").Register("authd:metrics_after_create", after("insert")),
		cb.Query().Before("gorm:query").Register("authd:metrics_before_query", before),
		cb.Query().After("gorm:query").Register("authd:metrics_after_query", after("select")),
		cb.Update().Before("gorm:update").Register("authd:metrics_before_update", before),
		cb.Update().After("gorm:update").Register("authd:metrics_after_update", after("update")),
		cb.Delete().Before("gorm:delete").Register("authd:metrics_before_delete", before),
		cb.Delete().After("gorm:delete").Register("authd:metrics_after_delete", after("delete")),
		cb.Row().Before("gorm:row").Register("authd:metrics_before_row", before),
		cb.Row().After("gorm:row").Register("authd:metrics_after_row", after("select")),
		cb.Raw().Before("gorm:raw").Register("authd:metrics_before_raw", before),
		cb.Raw().After("gorm:raw").Register("authd:metrics_after_raw", after("raw")),
	)
}

// scrapeCollector reads, at each scrape, the job queue's depth, the
// signing key's age and each dependency's state (healthChecks, cached
// briefly so scrapes and probes do not pile onto the database).
type scrapeCollector struct {
	queue      *jobs.Queue
	keyCreated func() time.Time
	health     *healthChecks
}

var (
	queueDepthDesc = prometheus.NewDesc("authd_job_queue_jobs",
		"Unfinished jobs in the queue, by state (available: waiting for a worker; running; retryable; scheduled).", []string{"state"}, nil)
	keyAgeDesc = prometheus.NewDesc("authd_signing_key_age_seconds",
		"Age of the signing key in use; rotation is overdue when it passes keys.rotation_interval.", nil, nil)
	depUpDesc = prometheus.NewDesc("authd_dependency_up",
		"1 when the dependency answered its last check, else 0 (database, redis, job_queue, keys, change_feed).", []string{"dependency"}, nil)
	depLatencyDesc = prometheus.NewDesc("authd_dependency_check_duration_seconds",
		"How long the dependency's last check took.", []string{"dependency"}, nil)
)

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- keyAgeDesc
	ch <- depUpDesc
	ch <- depLatencyDesc
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s, err := c.queue.Stats(ctx); err == nil {
		for state, n := range map[string]int64{"available": s.Available, "running": s.Running, "retryable": s.Retryable, "scheduled": s.Scheduled} {
			ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(n), state)
		}
	}
	if t := c.keyCreated(); !t.IsZero() {
		ch <- prometheus.MustNewConstMetric(keyAgeDesc, prometheus.GaugeValue, time.Since(t).Seconds())
	}
	for _, dep := range c.health.check(ctx).Dependencies {
		if dep.State == stateSkipped {
			continue
		}
		up := 0.0
		if dep.State == stateUp {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(depUpDesc, prometheus.GaugeValue, up, dep.Name)
		ch <- prometheus.MustNewConstMetric(depLatencyDesc, prometheus.GaugeValue, dep.LatencySeconds, dep.Name)
	}
}
