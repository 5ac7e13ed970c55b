package wire

import (
	"context"
	"crypto/hmac"
	cryptorand "crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Defaults of the Server's limits.
const (
	DefaultMaxMessage  = 1 << 20
	DefaultMaxPrepared = 10_000
	DefaultAuthTimeout = 60 * time.Second
)

// Server serves the PostgreSQL wire protocol v3 on behalf of an Engine.
// Its fields must not change once it serves.
type Server struct {
	// Engine runs the SQL. Required.
	Engine Engine

	// TLS, when set, lets clients upgrade with SSLRequest; nil refuses it
	// ('N'), and clients that require TLS then give up.
	TLS *tls.Config
	// RequireTLS refuses unencrypted connections (FATAL 28000), except
	// from loopback addresses and Unix sockets.
	RequireTLS bool

	// Users maps user names to their SCRAM-SHA-256 verifiers. When it is
	// nil, the server trusts connections from loopback addresses and Unix
	// sockets without a password (PostgreSQL's default for a fresh
	// server) and refuses all others (FATAL 28000). When it is not nil,
	// even empty, every connection authenticates with SCRAM-SHA-256.
	Users map[string]Verifier

	// MaxMessage bounds the body of a client message in bytes (0:
	// DefaultMaxMessage); a larger message is FATAL 08P01.
	MaxMessage int
	// MaxPrepared bounds the prepared statements, and separately the
	// portals, that one connection holds at a time (0: DefaultMaxPrepared):
	// each holds an engine statement, so a client that never closes them
	// would otherwise grow the server without bound. One more is refused
	// with 54000 (program_limit_exceeded); the connection stays usable.
	MaxPrepared int
	// AuthTimeout bounds the time from connection to authentication (0:
	// DefaultAuthTimeout), as PostgreSQL's authentication_timeout.
	AuthTimeout time.Duration

	// Log receives connection-level events; nil discards them. Client
	// data and engine error text are never logged.
	Log *slog.Logger
	// Rand is the source of nonces, cancel keys and salts (nil:
	// crypto/rand).
	Rand io.Reader

	initOnce sync.Once
	mockKey  []byte //confide:secret
	mu       sync.Mutex
	backends map[uint32]*conn // by process ID, for CancelRequest
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		key := make([]byte, 32)
		if _, err := io.ReadFull(s.rand(), key); err != nil {
			// Not the error's text: crypto/rand does not fail, and a test's
			// source has nothing to add.
			panic("wire: the random source failed")
		}
		s.mockKey = key
		s.backends = make(map[uint32]*conn)
	})
}

func (s *Server) rand() io.Reader {
	if s.Rand != nil {
		return s.Rand
	}
	return cryptorand.Reader
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Server) maxPrepared() int {
	if s.MaxPrepared > 0 {
		return s.MaxPrepared
	}
	return DefaultMaxPrepared
}

func (s *Server) maxMessage() int {
	if s.MaxMessage > 0 {
		return s.MaxMessage
	}
	return DefaultMaxMessage
}

// Serve accepts connections on l and serves each on its own goroutine
// until ctx is done, then closes l and every connection and returns
// ErrServerClosed once all have ended. If Accept fails otherwise, Serve
// closes the connections and returns that error.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.init()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		wg.Go(func() { s.ServeConn(ctx, c) })
	}
}

// panicType names a recovered panic value's type: the value itself could
// hold anything the session held, its type nothing.
//
//confide:declassify
func panicType(p any) string { return fmt.Sprintf("%T", p) }

// ServeConn serves one connection until the client terminates, the
// connection fails, a FATAL error occurs or ctx is done, and closes it.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	s.init()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &conn{srv: s, nc: nc, ctx: ctx, log: s.log().With("remote", nc.RemoteAddr().String())}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer func() {
		stop()
		if r := recover(); r != nil {
			c.log.Error("connection panicked", "panic", panicType(r))
		}
		c.close()
	}()
	c.serve()
}

// Startup packet codes (the protocol version for a StartupMessage).
const (
	codeCancel   = 80877102
	codeSSL      = 80877103
	codeGSSENC   = 80877104
	protoMajor3  = 3
	maxStartup   = 10000 // PostgreSQL's MAX_STARTUP_PACKET_LENGTH
	cancelKeyLen = 4
)

// fatal is an error that ends the connection after its ErrorResponse.
type fatal struct{ e *Error }

func (f fatal) Error() string { return f.e.Error() }

// conn is one connection's state. Everything but cancelQuery is touched
// by the connection's goroutine only.
type conn struct {
	srv *Server
	nc  net.Conn // after TLS upgrade, the *tls.Conn
	ctx context.Context
	log *slog.Logger
	be  *pgproto3.Backend
	in  *errReader // what be reads

	user, database string
	pid            uint32
	cancelKey      []byte
	cert           *tls.Certificate // presented in the TLS handshake
	sess           Session

	qmu         sync.Mutex
	cancelQuery context.CancelCauseFunc // of the query running, or nil

	// protocol state
	tx        byte // 'I', 'T' or 'E'
	skipSync  bool // an extended-protocol error: discard until Sync
	stmts     map[string]*prepared
	portals   map[string]*portal
	sentBytes int // since the last flush
}

func (c *conn) close() {
	if c.pid != 0 {
		c.srv.mu.Lock()
		delete(c.srv.backends, c.pid)
		c.srv.mu.Unlock()
	}
	c.closeAll()
	if c.sess != nil {
		if err := c.sess.Close(); err != nil {
			c.log.Warn("closing session", "error", fmt.Sprintf("%T", err))
		}
	}
	c.nc.Close()
}

func (c *conn) serve() {
	timeout := c.srv.AuthTimeout
	if timeout <= 0 {
		timeout = DefaultAuthTimeout
	}
	c.nc.SetDeadline(time.Now().Add(timeout))
	params, err := c.startup()
	if err != nil {
		c.fail(err)
		return
	}
	if params == nil { // CancelRequest
		return
	}
	if err := c.authenticate(); err != nil {
		c.fail(err)
		return
	}
	c.nc.SetDeadline(time.Time{})
	if err := c.open(params); err != nil {
		c.fail(err)
		return
	}
	if err := c.loop(); err != nil {
		c.fail(err)
	}
}

// fail reports a FATAL error to the client where there is one to report,
// and logs the reason.
func (c *conn) fail(err error) {
	var f fatal
	if errors.As(err, &f) {
		c.log.Info("connection closed with an error", "code", f.e.Code, "reason", f.e.Message)
		if c.be == nil {
			c.be = pgproto3.NewBackend(c.nc, c.nc)
		}
		c.sendError(f.e, "FATAL")
		c.flush()
		return
	}
	if c.ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return
	}
	c.log.Info("connection ended", "error", fmt.Sprintf("%T", err))
}

func protocolViolation(msg string) fatal {
	return fatal{NewError("08P01", msg)}
}

// readStartupPacket reads one length-prefixed startup packet directly from
// the connection, so that nothing past it is buffered (a client may not
// send anything after SSLRequest before the server's answer).
func (c *conn) readStartupPacket() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.nc, hdr[:]); err != nil {
		return nil, err
	}
	n := int64(int32(binary.BigEndian.Uint32(hdr[:])))
	if n < 8 || n > maxStartup {
		return nil, protocolViolation("invalid length of startup packet")
	}
	buf := make([]byte, n-4)
	if _, err := io.ReadFull(c.nc, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// startup runs the startup phase up to the StartupMessage, upgrading to
// TLS on the way if asked. It returns the startup parameters, or nil and
// no error for a CancelRequest.
func (c *conn) startup() (map[string]string, error) {
	sslDone, gssDone := false, false
	for {
		buf, err := c.readStartupPacket()
		if err != nil {
			return nil, err
		}
		code := binary.BigEndian.Uint32(buf)
		switch {
		case code == codeCancel:
			var m pgproto3.CancelRequest
			if err := m.Decode(buf); err == nil {
				c.srv.cancel(m.ProcessID, m.SecretKey)
			}
			return nil, nil
		case code == codeSSL:
			if sslDone || len(buf) != 4 {
				return nil, protocolViolation("unexpected SSLRequest")
			}
			sslDone = true
			if c.srv.TLS == nil {
				if _, err := c.nc.Write([]byte{'N'}); err != nil {
					return nil, err
				}
				continue
			}
			if _, err := c.nc.Write([]byte{'S'}); err != nil {
				return nil, err
			}
			tc := tls.Server(c.nc, tlsConfig(c.srv.TLS, &c.cert))
			if err := tc.HandshakeContext(c.ctx); err != nil {
				return nil, err
			}
			c.nc = tc
		case code == codeGSSENC:
			if gssDone || len(buf) != 4 {
				return nil, protocolViolation("unexpected GSSENCRequest")
			}
			gssDone = true
			if _, err := c.nc.Write([]byte{'N'}); err != nil {
				return nil, err
			}
		case code>>16 == protoMajor3:
			return c.startupMessage(buf)
		default:
			return nil, fatal{&Error{Code: "0A000",
				Message: fmt.Sprintf("unsupported frontend protocol %d.%d: server supports 3.0", code>>16, code&0xffff)}}
		}
	}
}

func (c *conn) startupMessage(buf []byte) (map[string]string, error) {
	c.in = &errReader{r: c.nc}
	c.be = pgproto3.NewBackend(c.in, c.nc)
	c.be.SetMaxBodyLen(c.srv.maxMessage())
	minor := binary.BigEndian.Uint32(buf) & 0xffff
	if minor != 0 {
		// Decode accepts 3.0 and 3.2 only: parse any 3.x as 3.0 and
		// negotiate down below.
		buf = append([]byte(nil), buf...)
		binary.BigEndian.PutUint32(buf, pgproto3.ProtocolVersion30)
	}
	if buf[len(buf)-1] != 0 {
		return nil, protocolViolation("invalid startup packet layout: expected terminator as last byte")
	}
	var m pgproto3.StartupMessage
	if len(buf) == 5 {
		m.Parameters = map[string]string{}
	} else if err := m.Decode(buf); err != nil {
		return nil, protocolViolation("invalid startup packet layout")
	}
	var unknown []string
	params := make(map[string]string)
	for k, v := range m.Parameters {
		if strings.HasPrefix(k, "_pq_.") {
			unknown = append(unknown, k)
			continue
		}
		params[k] = v
	}
	if minor != 0 || len(unknown) > 0 {
		c.be.Send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0, UnrecognizedOptions: unknown})
	}
	c.user = params["user"]
	if c.user == "" {
		return nil, fatal{NewError("28000", "no PostgreSQL user name specified in startup packet")}
	}
	c.database = params["database"]
	if c.database == "" {
		c.database = c.user
	}
	if r, ok := params["replication"]; ok {
		switch strings.ToLower(r) {
		case "false", "off", "no", "0":
		default:
			return nil, fatal{NewError("0A000", "replication connections are not supported")}
		}
	}
	if enc, ok := params["client_encoding"]; ok {
		norm, ok := clientEncoding(enc)
		if !ok {
			return nil, fatal{&Error{Code: "0A000",
				Message: fmt.Sprintf("client_encoding %q is not supported", enc), Hint: "Use UTF8."}}
		}
		params["client_encoding"] = norm
	}
	return params, nil
}

// clientEncoding accepts the encodings that need no conversion from UTF-8.
func clientEncoding(enc string) (string, bool) {
	switch strings.ToUpper(strings.NewReplacer("-", "", "_", "").Replace(enc)) {
	case "UTF8", "UNICODE":
		return "UTF8", true
	case "SQLASCII":
		return "SQL_ASCII", true
	}
	return "", false
}

// isLocal reports whether a peer is on this machine: a loopback address
// or a Unix socket.
func isLocal(a net.Addr) bool {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}

func (c *conn) authenticate() error {
	_, encrypted := c.nc.(*tls.Conn)
	local := isLocal(c.nc.RemoteAddr())
	if c.srv.RequireTLS && !encrypted && !local {
		return fatal{NewError("28000", "connection requires TLS")}
	}
	if c.srv.Users == nil {
		if !local {
			return fatal{&Error{Code: "28000", Message: "no authentication configured: only local connections are accepted",
				Hint: "Configure users to accept connections from other hosts."}}
		}
		return nil
	}
	return c.scram()
}

func (c *conn) scram() error {
	failed := fatal{&Error{Code: "28P01", Message: fmt.Sprintf("password authentication failed for user %q", c.user)}}
	v, ok := c.srv.Users[c.user]
	if !ok || !v.valid() {
		v = mockVerifier(c.srv.mockKey, c.user)
	}
	cb := endpointBinding(c.cert)
	mechs := []string{mechSCRAM}
	if cb != nil {
		mechs = []string{mechSCRAMPlus, mechSCRAM}
	}
	c.be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: mechs})
	if err := c.be.SetAuthType(pgproto3.AuthTypeSASL); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	msg, err := c.receive()
	if err != nil {
		return err
	}
	first, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok {
		return protocolViolation(fmt.Sprintf("expected SASL response, got %T", msg))
	}
	plus := first.AuthMechanism == mechSCRAMPlus
	if first.AuthMechanism != mechSCRAM && !(plus && cb != nil) {
		return protocolViolation("client selected an invalid SASL authentication mechanism")
	}
	x, err := newSCRAM(v, c.nonce, cb, plus)
	if err != nil {
		return err
	}
	out, ok := x.step(first.Data)
	if !ok {
		return failed
	}
	c.be.Send(&pgproto3.AuthenticationSASLContinue{Data: out})
	if err := c.be.SetAuthType(pgproto3.AuthTypeSASLContinue); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	msg, err = c.receive()
	if err != nil {
		return err
	}
	final, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		return protocolViolation(fmt.Sprintf("expected SASL response, got %T", msg))
	}
	out, ok = x.step(final.Data)
	if !ok || !x.valid() {
		return failed
	}
	c.be.Send(&pgproto3.AuthenticationSASLFinal{Data: out})
	return c.be.SetAuthType(pgproto3.AuthTypeOk)
}

// nonce returns the server's part of a SCRAM nonce: 18 random bytes,
// base64.
func (c *conn) nonce() string {
	b := make([]byte, 18)
	if _, err := io.ReadFull(c.srv.rand(), b); err != nil {
		panic("wire: reading random bytes: " + err.Error())
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

// open starts the engine session and reports the connection ready.
func (c *conn) open(params map[string]string) error {
	c.be.Send(&pgproto3.AuthenticationOk{})
	opts := make(map[string]string)
	for k, v := range params {
		switch k {
		case "user", "database", "client_encoding", "replication":
		default:
			opts[k] = v
		}
	}
	_, encrypted := c.nc.(*tls.Conn)
	sess, err := c.srv.Engine.Open(c.ctx, Startup{User: c.user, Database: c.database, Options: opts,
		RemoteAddr: c.nc.RemoteAddr(), TLS: encrypted, Notify: notifier{c.be}.notify})
	if err != nil {
		return fatal{c.clientError(err)}
	}
	c.sess = sess
	enc := params["client_encoding"]
	if enc == "" {
		enc = "UTF8"
	}
	for _, p := range [][2]string{
		{"server_version", "16.0 (confide)"},
		{"server_encoding", "UTF8"},
		{"client_encoding", enc},
		{"DateStyle", "ISO, MDY"},
		{"IntervalStyle", "postgres"},
		{"integer_datetimes", "on"},
		{"standard_conforming_strings", "on"},
		{"TimeZone", "UTC"},
		{"application_name", params["application_name"]},
		{"is_superuser", "off"},
		{"session_authorization", c.user},
		{"default_transaction_read_only", "off"},
		{"in_hot_standby", "off"},
	} {
		c.be.Send(&pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
	}
	c.register()
	c.be.Send(&pgproto3.BackendKeyData{ProcessID: c.pid, SecretKey: c.cancelKey})
	c.tx = 'I'
	c.be.Send(&pgproto3.ReadyForQuery{TxStatus: c.tx})
	return c.flush()
}

// register gives the connection a process ID and cancel key.
func (c *conn) register() {
	c.cancelKey = make([]byte, cancelKeyLen)
	var b [4]byte
	s := c.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if _, err := io.ReadFull(s.rand(), b[:]); err != nil {
			panic("wire: reading random bytes: " + err.Error())
		}
		pid := binary.BigEndian.Uint32(b[:]) & 0x7fffffff
		if pid != 0 && s.backends[pid] == nil {
			c.pid = pid
			break
		}
	}
	if _, err := io.ReadFull(s.rand(), c.cancelKey); err != nil {
		panic("wire: reading random bytes: " + err.Error())
	}
	s.backends[c.pid] = c
}

// cancel cancels the query running on the connection with this process ID
// and key, if any; like PostgreSQL, it tells the requester nothing.
func (s *Server) cancel(pid uint32, key []byte) {
	s.mu.Lock()
	c := s.backends[pid]
	s.mu.Unlock()
	if c == nil || !hmac.Equal(key, c.cancelKey) {
		return
	}
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.cancelQuery != nil {
		c.cancelQuery(errCanceled)
	}
}

var errCanceled = errors.New("wire: canceled by the client")

// receive reads the next client message, mapping framing errors to FATAL
// protocol violations.
func (c *conn) receive() (pgproto3.FrontendMessage, error) {
	msg, err := c.be.Receive()
	if err == nil {
		return msg, nil
	}
	var tooBig *pgproto3.ExceededMaxBodyLenErr
	switch {
	case errors.As(err, &tooBig):
		return nil, fatal{&Error{Code: "08P01", Message: "message too large",
			Detail: fmt.Sprintf("A message body of %d bytes exceeds the limit of %d bytes.", tooBig.ActualBodyLen, tooBig.MaxExpectedBodyLen)}}
	case c.in.err != nil:
		return nil, ioError{c.in.err}
	default:
		return nil, protocolViolation("invalid frontend message")
	}
}

// errReader remembers its reader's error, to tell a connection's failure
// from a malformed message.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

// clientError turns an error into what the client may see.
func (c *conn) clientError(err error) *Error {
	var e *Error
	if errors.As(err, &e) && len(e.Code) == 5 {
		return e
	}
	if errors.Is(err, errCanceled) {
		return NewError("57014", "canceling statement due to user request")
	}
	if c.ctx.Err() != nil {
		return NewError("57P01", "terminating connection due to administrator command")
	}
	c.log.Warn("internal error", "error", fmt.Sprintf("%T", err))
	return NewError("XX000", "internal error")
}

func (c *conn) sendError(e *Error, severity string) {
	c.be.Send(&pgproto3.ErrorResponse{
		Severity:            severity,
		SeverityUnlocalized: severity,
		Code:                e.Code,
		Message:             e.Message,
		Detail:              e.Detail,
		Hint:                e.Hint,
		Position:            e.Position,
	})
}
