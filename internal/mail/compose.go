package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalidMessage is wrapped by every error about a Message that can
// never be sent as it is.
var ErrInvalidMessage = errors.New("invalid mail")

// maxSubject keeps a Subject header within RFC 5322's line limit even
// before folding.
const maxSubject = 900

// checkMessage validates m and returns its recipient. A line break in To or
// Subject is refused, never stripped: it is how header injection starts.
func checkMessage(m Message) (*mail.Address, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, args...))
	}
	if strings.ContainsAny(m.To, "\r\n\x00") {
		return nil, invalid("To contains a line break")
	}
	if strings.ContainsAny(m.Subject, "\r\n\x00") {
		return nil, invalid("Subject contains a line break")
	}
	if !utf8.ValidString(m.Subject) || !utf8.ValidString(m.To) {
		return nil, invalid("To or Subject is not UTF-8")
	}
	if len(m.Subject) > maxSubject {
		return nil, invalid("Subject is longer than %d bytes", maxSubject)
	}
	if m.To == "" {
		return nil, invalid("no To")
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, invalid("To is not an address: %v", err)
	}
	if m.Text == "" {
		return nil, invalid("no Text")
	}
	return to, nil
}

// compose writes m as an RFC 5322 message: CRLF line endings, headers
// encoded per RFC 2047, bodies quoted-printable UTF-8, and
// multipart/alternative (text, then HTML) when m has HTML.
func compose(m Message, from *mail.Address, date time.Time) ([]byte, error) {
	to, err := checkMessage(m)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(fold(name+": "+value) + "\r\n")
	}
	header("Date", date.Format(time.RFC1123Z))
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Message-ID", messageID(from.Address))
	header("MIME-Version", "1.0")
	header("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
	if m.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	mw := multipart.NewWriter(&b)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeQP writes s quoted-printable; line breaks become CRLF.
func writeQP(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(s)); err != nil {
		return err
	}
	if err := qp.Close(); err != nil {
		return err
	}
	_, err := w.Write([]byte("\r\n"))
	return err
}

// fold breaks a header line at spaces so no line passes 78 characters
// where it can help (RFC 5322 §2.2.3), never right after the field name.
// Encoded words are at most 75 characters, so an encoded Subject always
// folds well within the hard limit of 998.
func fold(line string) string {
	const limit = 78
	if len(line) <= limit {
		return line
	}
	var out strings.Builder
	n := 0
	for i, word := range strings.Split(line, " ") {
		if i > 0 {
			if i > 1 && n+1+len(word) > limit {
				out.WriteString("\r\n")
				n = 0
			}
			out.WriteByte(' ')
			n++
		}
		out.WriteString(word)
		n += len(word)
	}
	return out.String()
}

// messageID returns a new Message-ID under the sender's domain.
func messageID(from string) string {
	domain := "authd.invalid"
	if at := strings.LastIndexByte(from, '@'); at >= 0 && at < len(from)-1 {
		domain = from[at+1:]
	}
	b := make([]byte, 16)
	rand.Read(b)
	return "<" + hex.EncodeToString(b) + "@" + domain + ">"
}
