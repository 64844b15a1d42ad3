package webhook

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/storage"
)

// alertKinds are the audit events that alert the administrators, with
// what the alert says. (The risk engine and MFA add theirs under these
// names.)
var alertKinds = map[storage.AuditType]string{
	storage.AuditTokenReuse:       "A spent authorization code or a rotated refresh token was used again; what it issued was revoked",
	storage.AuditUserLocked:       "An account was locked after repeated failed sign-ins",
	storage.AuditAPIKeyNewAddress: "An admin API key was used from an address it had not been used from before",
	storage.AuditWebhookDisabled:  "A webhook endpoint was disabled",
	"mfa.locked":                  "A second factor was locked after repeated wrong codes",
	"risk.detected":               "The risk engine flagged a sign-in",
}

// observe raises the alert of a security event, in the dispatch
// transaction: the first of its kind in a window is mailed at once and
// logged at warn; later ones in the window are counted, for one summary
// when the window ends (flushAlerts).
func (s *Service) observe(ctx context.Context, e *storage.AuditEvent, now time.Time) error {
	title, ok := alertKinds[e.Type]
	if !ok {
		return nil
	}
	kind := string(e.Type)
	st, err := s.alertState(ctx, kind)
	if err != nil {
		return err
	}
	attrs := []any{"alert", kind, "event_id", e.ID, "user", e.SubjectID, "client", e.ClientID, "ip", e.IP}
	if !st.LastSentAt.IsZero() && now.Sub(st.LastSentAt) < s.alertCfg.Window {
		if st.Suppressed == 0 {
			st.FirstSuppressedAt = e.Time
		}
		st.Suppressed++
		s.log.DebugContext(ctx, "security alert (summarised later): "+title, attrs...)
		return s.store.SaveAlertState(ctx, st)
	}
	s.log.WarnContext(ctx, "security alert: "+title, attrs...)
	var b strings.Builder
	fmt.Fprintf(&b, "%s.\n\n", title)
	fmt.Fprintf(&b, "Event:   %s (audit event %d)\nTime:    %s\n", e.Type, e.ID, e.Time.UTC().Format(time.RFC3339))
	for _, kv := range [][2]string{{"User", e.SubjectID}, {"Actor", e.ActorID}, {"Client", e.ClientID}, {"Address", e.IP}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "%-8s %s\n", kv[0]+":", kv[1])
		}
	}
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%-8s %v\n", k+":", e.Details[k])
	}
	fmt.Fprintf(&b, "\nFurther alerts of this kind in the next %s are sent as one summary.\n"+
		"The audit log has every event: authd audit list --type %s\n", s.alertCfg.Window, kind)
	if err := s.mailAdmins(ctx, "authd security alert: "+kind, b.String()); err != nil {
		return err
	}
	st.LastSentAt, st.Suppressed, st.FirstSuppressedAt = now, 0, time.Time{}
	return s.store.SaveAlertState(ctx, st)
}

func (s *Service) alertState(ctx context.Context, kind string) (*storage.AlertState, error) {
	all, err := s.store.AlertStates(ctx)
	if err != nil {
		return nil, err
	}
	for _, st := range all {
		if st.Kind == kind {
			return st, nil
		}
	}
	return &storage.AlertState{Kind: kind}, nil
}

// flushAlerts mails the summary of every kind whose window has ended with
// alerts counted but not yet mailed. It reads without a lock first, so
// the common case (nothing due) costs one small query.
func (s *Service) flushAlerts(ctx context.Context) error {
	now := s.now()
	due := func(st *storage.AlertState) bool {
		return st.Suppressed > 0 && now.Sub(st.LastSentAt) >= s.alertCfg.Window
	}
	all, err := s.store.AlertStates(ctx)
	if err != nil || !slices.ContainsFunc(all, due) {
		return err
	}
	return storage.InTx(ctx, s.store, func(ctx context.Context) error {
		// The dispatcher's lock: one replica sends each summary.
		if _, err := s.store.LockEventCursor(ctx, cursorName); err != nil {
			return err
		}
		all, err := s.store.AlertStates(ctx)
		if err != nil {
			return err
		}
		for _, st := range all {
			if !due(st) {
				continue
			}
			title := alertKinds[storage.AuditType(st.Kind)]
			text := fmt.Sprintf("%s: %d more times between %s and %s.\n\n"+
				"The audit log has every event: authd audit list --type %s\n",
				title, st.Suppressed, st.FirstSuppressedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), st.Kind)
			s.log.WarnContext(ctx, "security alert summary: "+title, "alert", st.Kind, "count", st.Suppressed,
				"since", st.FirstSuppressedAt)
			if err := s.mailAdmins(ctx, fmt.Sprintf("authd security alert: %s (%d more)", st.Kind, st.Suppressed), text); err != nil {
				return err
			}
			st.LastSentAt, st.Suppressed, st.FirstSuppressedAt = now, 0, time.Time{}
			if err := s.store.SaveAlertState(ctx, st); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Service) mailAdmins(ctx context.Context, subject, text string) error {
	if s.mail == nil {
		return nil
	}
	for _, to := range s.alertCfg.Email {
		if err := s.mail.Enqueue(ctx, mail.Message{To: to, Subject: subject, Text: text}); err != nil {
			return err
		}
	}
	return nil
}
