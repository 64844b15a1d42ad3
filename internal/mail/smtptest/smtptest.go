// Package smtptest runs a small SMTP server in the test process. It speaks
// real SMTP (RFC 5321) over TCP on 127.0.0.1: EHLO/HELO, optional STARTTLS
// or implicit TLS (a self-signed certificate), AUTH PLAIN (required by
// default), MAIL, RCPT, DATA, RSET, NOOP and QUIT. It records every mail
// it accepts and parses it, so tests can read a verification mail's text
// the way a person would.
//
//	srv := smtptest.Start(t)
//	cfg.Mail.SMTPURL = srv.URL() // smtp://user:pass@127.0.0.1:port
//	...
//	m := srv.WaitFor(t, func(m smtptest.Message) bool { return m.To[0] == "ann@example.com" })
//	link := m.Text // decoded text/plain body
package smtptest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Default credentials Start requires.
const (
	DefaultUsername = "user"
	DefaultPassword = "pass"
)

// Message is one mail the server accepted.
type Message struct {
	// From and To are the envelope: MAIL FROM and every RCPT TO.
	From string
	To   []string
	// Raw is the DATA as received: CRLF line endings, dot-unstuffed.
	Raw []byte
	// Header is the parsed header; Subject is decoded (RFC 2047).
	Header  mail.Header
	Subject string
	// Text and HTML are the decoded text/plain and text/html bodies, with
	// "\n" line endings and without the final line break.
	Text, HTML string
	// ParseErr is why Raw could not be parsed, if it could not.
	ParseErr error
}

// Option changes how Start sets the server up.
type Option func(*config)

type config struct {
	addr                string
	user, pass          string
	noAuth              bool
	startTLS, implicitT bool
}

// WithAddr listens on addr (e.g. to bring a stopped server back on the
// same port). Default "127.0.0.1:0".
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithCredentials requires AUTH PLAIN with user and pass instead of the
// defaults.
func WithCredentials(user, pass string) Option {
	return func(c *config) { c.user, c.pass = user, pass }
}

// WithoutAuth accepts mail without AUTH and offers none.
func WithoutAuth() Option { return func(c *config) { c.noAuth = true } }

// WithStartTLS offers STARTTLS (a certificate for 127.0.0.1 and localhost
// that ClientTLSConfig trusts).
func WithStartTLS() Option { return func(c *config) { c.startTLS = true } }

// WithImplicitTLS speaks TLS from the first byte (smtps); URL says smtps.
func WithImplicitTLS() Option { return func(c *config) { c.implicitT = true } }

type reply struct {
	code int
	text string
}

// Server is a running SMTP server. Its methods are safe for concurrent use.
type Server struct {
	cfg       config
	ln        net.Listener
	serverTLS *tls.Config
	clientTLS *tls.Config

	mu       sync.Mutex
	msgs     []Message
	commands []string
	replies  map[string]reply
	changed  chan struct{} // closed and replaced when msgs grows
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// Start starts a server and stops it when t ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config{addr: "127.0.0.1:0", user: DefaultUsername, pass: DefaultPassword}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{cfg: cfg, replies: map[string]reply{}, changed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	if cfg.startTLS || cfg.implicitT {
		var err error
		if s.serverTLS, s.clientTLS, err = selfSigned(); err != nil {
			t.Fatalf("smtptest: certificate: %v", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		t.Fatalf("smtptest: listen %s: %v", cfg.addr, err)
	}
	if cfg.implicitT {
		ln = tls.NewListener(ln, s.serverTLS)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the mail.smtp_url for this server: smtp://user:pass@127.0.0.1:port
// (smtps:// with WithImplicitTLS; no credentials with WithoutAuth).
func (s *Server) URL() string {
	scheme := "smtp"
	if s.cfg.implicitT {
		scheme = "smtps"
	}
	userinfo := ""
	if !s.cfg.noAuth {
		userinfo = url.UserPassword(s.cfg.user, s.cfg.pass).String() + "@"
	}
	return scheme + "://" + userinfo + s.Addr()
}

// ClientTLSConfig trusts the server's certificate (nil without TLS).
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.clientTLS == nil {
		return nil
	}
	return s.clientTLS.Clone()
}

// Messages returns the mails accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Commands returns the verbs of every command received so far (EHLO,
// STARTTLS, AUTH, MAIL, ...), never their arguments.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// WaitFor returns the first mail match accepts (nil matches any), waiting
// up to 15 seconds for it; then it fails t.
func (s *Server) WaitFor(t testing.TB, match func(Message) bool) Message {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		s.mu.Lock()
		for _, m := range s.msgs {
			if match == nil || match(m) {
				s.mu.Unlock()
				return m
			}
		}
		changed := s.changed
		n := len(s.msgs)
		s.mu.Unlock()
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("smtptest: no matching mail after 15s (%d received)", n)
		}
	}
}

// Reply makes the server answer every later command verb with code and
// text instead of handling it: "MAIL", "RCPT", "DATA", "AUTH", "EHLO", or
// "." for the reply to the end of the message data (the mail is then not
// recorded). Code 0 restores normal handling.
//
//	srv.Reply("RCPT", 550, "5.1.1 No such user")
func (s *Server) Reply(verb string, code int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		delete(s.replies, verb)
		return
	}
	s.replies[verb] = reply{code, text}
}

// Close stops listening and ends open sessions. Later connections are
// refused. It is called when the test ends.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.session(conn)
			s.mu.Lock()
			delete(s.conns, conn)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) canned(verb string) (reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if verb != "." {
		s.commands = append(s.commands, verb)
	}
	r, ok := s.replies[verb]
	return r, ok
}

// session speaks SMTP on one connection.
func (s *Server) session(conn net.Conn) {
	defer conn.Close()
	var (
		tp     = textproto.NewConn(conn)
		isTLS  = s.cfg.implicitT
		authed bool
		from   string
		rcpts  []string
		helo   bool
	)
	reset := func() { from, rcpts = "", nil }
	say := func(code int, text string) bool {
		return tp.PrintfLine("%d %s", code, text) == nil
	}
	if !say(220, "smtptest ESMTP ready") {
		return
	}
	for {
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if r, ok := s.canned(verb); ok {
			if !say(r.code, r.text) {
				return
			}
			continue
		}
		switch verb {
		case "EHLO":
			ext := []string{"smtptest", "8BITMIME", "SIZE 10485760"}
			if s.cfg.startTLS && !isTLS {
				ext = append(ext, "STARTTLS")
			}
			if !s.cfg.noAuth {
				ext = append(ext, "AUTH PLAIN")
			}
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				if tp.PrintfLine("250%s%s", sep, e) != nil {
					return
				}
			}
			helo = true
			reset()
		case "HELO":
			helo = true
			reset()
			say(250, "smtptest")
		case "STARTTLS":
			if !s.cfg.startTLS || isTLS {
				say(502, "5.5.1 STARTTLS not offered")
				continue
			}
			if !say(220, "2.0.0 Ready to start TLS") {
				return
			}
			tc := tls.Server(conn, s.serverTLS)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, tp, isTLS = tc, textproto.NewConn(tc), true
			helo, authed = false, false
			reset()
		case "AUTH":
			if s.cfg.noAuth || !helo {
				say(503, "5.5.1 AUTH not available")
				continue
			}
			if authed {
				say(503, "5.5.1 Already authenticated")
				continue
			}
			mech, initial, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				say(504, "5.5.4 Only PLAIN")
				continue
			}
			if initial == "" {
				if !say(334, "") {
					return
				}
				if initial, err = tp.ReadLine(); err != nil {
					return
				}
			}
			if s.checkPlain(initial) {
				authed = true
				say(235, "2.7.0 Authentication successful")
			} else {
				say(535, "5.7.8 Authentication credentials invalid")
			}
		case "MAIL":
			switch {
			case !helo:
				say(503, "5.5.1 EHLO first")
			case !s.cfg.noAuth && !authed:
				say(530, "5.7.0 Authentication required")
			case from != "":
				say(503, "5.5.1 Nested MAIL")
			default:
				addr, ok := path(arg, "FROM:")
				if !ok {
					say(501, "5.5.4 Syntax: MAIL FROM:<address>")
					continue
				}
				from = addr
				say(250, "2.1.0 Ok")
			}
		case "RCPT":
			if from == "" {
				say(503, "5.5.1 MAIL first")
				continue
			}
			addr, ok := path(arg, "TO:")
			if !ok || addr == "" {
				say(501, "5.5.4 Syntax: RCPT TO:<address>")
				continue
			}
			rcpts = append(rcpts, addr)
			say(250, "2.1.5 Ok")
		case "DATA":
			if len(rcpts) == 0 {
				say(503, "5.5.1 RCPT first")
				continue
			}
			if !say(354, "End data with <CR><LF>.<CR><LF>") {
				return
			}
			raw, err := readData(tp.R)
			if err != nil {
				return
			}
			if r, ok := s.canned("."); ok {
				say(r.code, r.text)
			} else {
				s.record(from, rcpts, raw)
				say(250, "2.0.0 Ok: queued")
			}
			reset()
		case "RSET":
			reset()
			say(250, "2.0.0 Ok")
		case "NOOP":
			say(250, "2.0.0 Ok")
		case "QUIT":
			say(221, "2.0.0 Bye")
			return
		default:
			say(502, "5.5.2 Command not recognized")
		}
	}
}

func (s *Server) checkPlain(b64 string) bool {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return false
	}
	parts := strings.Split(string(raw), "\x00")
	return len(parts) == 3 && parts[1] == s.cfg.user && parts[2] == s.cfg.pass
}

// path parses "FROM:<a@b> PARAMS" (prefix "FROM:") into a@b.
func path(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

// readData reads message data up to the line ".", undoing dot-stuffing
// and keeping line endings as sent.
func readData(r *bufio.Reader) ([]byte, error) {
	var b bytes.Buffer
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if line == ".\r\n" || line == ".\n" {
			return b.Bytes(), nil
		}
		line = strings.TrimPrefix(line, ".") // dot-stuffing (RFC 5321 §4.5.2)
		b.WriteString(line)
		if b.Len() > 10<<20 {
			return nil, fmt.Errorf("message too large")
		}
	}
}

func (s *Server) record(from string, to []string, raw []byte) {
	m := parse(raw)
	m.From, m.To = from, append([]string(nil), to...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

// parse reads raw as an RFC 5322 message with MIME bodies.
func parse(raw []byte) Message {
	m := Message{Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		m.ParseErr = err
		return m
	}
	m.Header = msg.Header
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		m.ParseErr = err
	}
	if err := m.readBody(textproto.MIMEHeader(msg.Header), msg.Body); err != nil {
		m.ParseErr = err
	}
	return m
}

func (m *Message) readBody(h textproto.MIMEHeader, body io.Reader) error {
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			// multipart undoes quoted-printable itself.
			if err := m.readBody(p.Header, p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, &stripNewlines{r: body})
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	text := strings.TrimSuffix(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	switch mediaType {
	case "text/plain":
		m.Text = text
	case "text/html":
		m.HTML = text
	}
	return nil
}

type stripNewlines struct{ r io.Reader }

func (s *stripNewlines) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	j := 0
	for _, c := range p[:n] {
		if c != '\r' && c != '\n' {
			p[j] = c
			j++
		}
	}
	return j, err
}

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost, and a
// client config that trusts it.
func selfSigned() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client, nil
}
