package mail

import (
	"context"
	"log/slog"
)

// LogSender writes mails to the log instead of sending them: the embedded
// default's way to show verification links and codes. Each mail is one
// info line with its recipient, subject and text body (the HTML body only
// repeats the text).
type LogSender struct {
	logger *slog.Logger
}

// NewLogSender returns a sender logging to logger, which must not be nil.
func NewLogSender(logger *slog.Logger) *LogSender {
	return &LogSender{logger: logger}
}

// Send logs m. It fails only for a Message that could never be sent.
func (s *LogSender) Send(ctx context.Context, m Message) error {
	if _, err := checkMessage(m); err != nil {
		return err
	}
	s.logger.InfoContext(ctx, "mail not sent (no mail.smtp_url configured); its content follows",
		slog.String("to", m.To), slog.String("subject", m.Subject), slog.String("text", m.Text))
	return nil
}
