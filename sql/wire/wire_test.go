package wire_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"go.uber.org/goleak"

	"github.com/confide/confide/sql/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// logSink is a slog handler that keeps the messages logged.
type logSink struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logSink) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logSink) WithGroup(string) slog.Handler      { return l }
func (l *logSink) has(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if m == msg {
			return true
		}
	}
	return false
}

// serve runs srv on a loopback port until the test ends and returns the
// address.
func serve(t *testing.T, srv *wire.Server) string {
	t.Helper()
	if srv.Engine == nil {
		srv.Engine = &testEngine{unsafe: true}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, wire.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

func connString(addr, user, extra string) string {
	host, port, _ := net.SplitHostPort(addr)
	s := fmt.Sprintf("host=%s port=%s user=%s dbname=db sslmode=disable", host, port, user)
	if extra != "" {
		s += " " + extra
	}
	return s
}

func connect(t *testing.T, cs string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, cs)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// checkAlive connects anew and runs a query: the server still serves.
func checkAlive(t *testing.T, addr string) {
	t.Helper()
	c := connect(t, connString(addr, "alice", ""))
	var n int32
	if err := c.QueryRow(context.Background(), "SELECT 7").Scan(&n); err != nil || n != 7 {
		t.Fatalf("server no longer serves: %v, %d", err, n)
	}
}

func TestTrust(t *testing.T) {
	addr := serve(t, &wire.Server{})
	c := connect(t, connString(addr, "alice", "application_name=wiretest"))
	ctx := context.Background()
	var n int32
	var s string
	if err := c.QueryRow(ctx, "SELECT 42, 'hello'").Scan(&n, &s); err != nil {
		t.Fatal(err)
	}
	if n != 42 || s != "hello" {
		t.Fatalf("got %d %q", n, s)
	}
	pc := c.PgConn()
	for k, want := range map[string]string{
		"server_version":              "16.0 (confide)",
		"server_encoding":             "UTF8",
		"client_encoding":             "UTF8",
		"standard_conforming_strings": "on",
		"integer_datetimes":           "on",
		"TimeZone":                    "UTC",
		"DateStyle":                   "ISO, MDY",
		"application_name":            "wiretest",
	} {
		if got := pc.ParameterStatus(k); got != want {
			t.Errorf("ParameterStatus %s = %q, want %q", k, got, want)
		}
	}
	if pc.PID() == 0 || len(pc.SecretKey()) != 4 {
		t.Errorf("BackendKeyData: pid %d, key %x", pc.PID(), pc.SecretKey())
	}
}

// pipeConn is the server's end of a net.Pipe, with a chosen remote
// address.
type pipeConn struct {
	net.Conn
	remote net.Addr
}

func (p pipeConn) RemoteAddr() net.Addr { return p.remote }

// servePipe serves one connection over a net.Pipe whose client appears to
// come from remote, and returns the client end.
func servePipe(t *testing.T, srv *wire.Server, remote net.Addr) net.Conn {
	t.Helper()
	client, server := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeConn(ctx, pipeConn{server, remote})
	}()
	t.Cleanup(func() {
		cancel()
		client.Close()
		<-done
	})
	return client
}

func TestTrustRefusesRemote(t *testing.T) {
	srv := &wire.Server{Engine: &testEngine{}}
	client := servePipe(t, srv, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5432})
	cfg, err := pgconn.ParseConfig("host=192.0.2.1 user=alice sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DialFunc = func(context.Context, string, string) (net.Conn, error) { return client, nil }
	cfg.LookupFunc = func(context.Context, string) ([]string, error) { return []string{"192.0.2.1"}, nil }
	_, err = pgconn.ConnectConfig(context.Background(), cfg)
	if pgCode(err) != "28000" {
		t.Fatalf("remote connection without users: %v, want 28000", err)
	}
}

func TestSCRAM(t *testing.T) {
	v, err := wire.NewVerifier(nil, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, &wire.Server{Users: map[string]wire.Verifier{"alice": v}})
	connect(t, connString(addr, "alice", "password='correct horse'")).Close(context.Background())
	for _, tc := range []struct{ user, password string }{
		{"alice", "wrong"},
		{"alice", ""},
		{"mallory", "correct horse"},
	} {
		c, err := pgx.Connect(context.Background(), connString(addr, tc.user, "password='"+tc.password+"'"))
		if err == nil {
			c.Close(context.Background())
			t.Fatalf("%s/%q: connected", tc.user, tc.password)
		}
		if !strings.Contains(err.Error(), "28P01") && !strings.Contains(err.Error(), "password") {
			t.Errorf("%s/%q: %v, want 28P01", tc.user, tc.password, err)
		}
	}
	checkAliveWith(t, connString(addr, "alice", "password='correct horse'"))
}

func checkAliveWith(t *testing.T, cs string) {
	t.Helper()
	c := connect(t, cs)
	if _, err := c.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}

func TestVerifierString(t *testing.T) {
	v, err := wire.NewVerifier(nil, "pw")
	if err != nil {
		t.Fatal(err)
	}
	w, err := wire.ParseVerifier(v.String())
	if err != nil || !reflect.DeepEqual(v, w) {
		t.Fatalf("round trip: %v, %+v", err, w)
	}
	s := v.String()
	for _, bad := range []string{
		"", "md5abc", strings.Replace(s, "4096", "04096", 1), strings.Replace(s, "4096", "0", 1),
		strings.Replace(s, "SCRAM-SHA-256$", "SCRAM-SHA-1$", 1), s + "x", s[:len(s)-4], strings.Replace(s, ":", ";", 1),
	} {
		if _, err := wire.ParseVerifier(bad); !errors.Is(err, wire.ErrBadVerifier) {
			t.Errorf("ParseVerifier(%q) = %v", bad, err)
		}
	}
}

func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestTLS(t *testing.T) {
	v, err := wire.NewVerifier(nil, "pw")
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, &wire.Server{TLS: selfSigned(t), Users: map[string]wire.Verifier{"alice": v}})
	for _, extra := range []string{
		"sslmode=require password=pw",
		"sslmode=require password=pw channel_binding=require",
		"sslmode=require password=pw channel_binding=disable",
	} {
		c := connect(t, connString(addr, "alice", extra))
		if _, ok := c.PgConn().Conn().(*tls.Conn); !ok {
			t.Errorf("%s: not a TLS connection", extra)
		}
		var s string
		if err := c.QueryRow(context.Background(), "SELECT 'secure'").Scan(&s); err != nil || s != "secure" {
			t.Errorf("%s: %v %q", extra, err, s)
		}
	}
	// Without TLS configured, SSLRequest is refused and sslmode=require
	// fails; sslmode=prefer falls back to plain.
	plain := serve(t, &wire.Server{})
	if c, err := pgx.Connect(context.Background(), connString(plain, "alice", "sslmode=require")); err == nil {
		c.Close(context.Background())
		t.Fatal("sslmode=require connected to a server without TLS")
	}
	checkAliveWith(t, connString(plain, "alice", "sslmode=prefer"))
	// channel_binding=require without TLS: the client refuses.
	if c, err := pgx.Connect(context.Background(), connString(addr, "alice", "password=pw channel_binding=require")); err == nil {
		c.Close(context.Background())
		t.Fatal("channel binding over plain TCP")
	}
}

func TestRequireTLS(t *testing.T) {
	srv := &wire.Server{Engine: &testEngine{}, TLS: selfSigned(t), RequireTLS: true, Users: map[string]wire.Verifier{}}
	client := servePipe(t, srv, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5432})
	cfg, err := pgconn.ParseConfig("host=192.0.2.1 user=alice sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DialFunc = func(context.Context, string, string) (net.Conn, error) { return client, nil }
	cfg.LookupFunc = func(context.Context, string) ([]string, error) { return []string{"192.0.2.1"}, nil }
	if _, err = pgconn.ConnectConfig(context.Background(), cfg); pgCode(err) != "28000" {
		t.Fatalf("plain remote connection with RequireTLS: %v, want 28000", err)
	}
}

func TestOpenError(t *testing.T) {
	addr := serve(t, &wire.Server{})
	_, err := pgx.Connect(context.Background(), strings.Replace(connString(addr, "alice", ""), "dbname=db", "dbname=nodb", 1))
	if pgCode(err) != "3D000" {
		t.Fatalf("got %v, want 3D000", err)
	}
}

func TestSimpleQuery(t *testing.T) {
	addr := serve(t, &wire.Server{})
	c := connect(t, connString(addr, "alice", ""))
	ctx := context.Background()
	res, err := c.PgConn().Exec(ctx, "SELECT 1, 'a;b'; INSERT INTO t VALUES (1);SELECT * FROM series(3) ; ").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(rowsFirst(res))
	if want := `[SELECT 1 ["1" "a;b"] INSERT 0 1 SELECT 3 ["1"] ["2"] ["3"]]`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	// An empty query: no results, no error.
	res, err = c.PgConn().Exec(ctx, " ; ").ReadAll()
	if err != nil || len(res) != 1 || len(res[0].Rows) != 0 || res[0].CommandTag.String() != "" {
		t.Fatalf("empty query: %v %v", res, err)
	}
	// An error stops the rest of the query.
	res, err = c.PgConn().Exec(ctx, "INSERT x; SELECT 1/0; INSERT y").ReadAll()
	if pgCode(err) != "22012" || len(res) != 2 || res[0].CommandTag.String() != "INSERT 0 1" {
		t.Fatalf("error mid-query: %v, %d results", err, len(res))
	}
	// Parameters have no place in a simple query.
	if _, err := c.PgConn().Exec(ctx, "SELECT $1").ReadAll(); pgCode(err) != "42P02" {
		t.Fatalf("parameter in simple query: %v", err)
	}
	checkAlive(t, addr)
}

func rowsFirst(res []*pgconn.Result) []string {
	var out []string
	for _, r := range res {
		out = append(out, r.CommandTag.String())
		for _, row := range r.Rows {
			out = append(out, fmt.Sprintf("%q", row))
		}
	}
	return out
}

func TestExtendedParams(t *testing.T) {
	addr := serve(t, &wire.Server{})
	c := connect(t, connString(addr, "alice", ""))
	ctx := context.Background()
	pc := c.PgConn()

	// Text parameters, text results.
	r := pc.ExecParams(ctx, "SELECT $1::int4, $2::text, $3", [][]byte{[]byte("-5"), []byte("x"), nil}, nil, nil, nil).Read()
	if r.Err != nil || fmt.Sprintf("%q", r.Rows) != `[["-5" "x" ""]]` || r.Rows[0][2] != nil {
		t.Fatalf("text: %v %q", r.Err, r.Rows)
	}
	// Binary parameters, binary results.
	p8 := binary.BigEndian.AppendUint64(nil, 1<<40)
	r = pc.ExecParams(ctx, "SELECT $1::int8, $2::int4", [][]byte{p8, {0, 0, 0, 9}}, nil,
		[]int16{1}, []int16{1}).Read()
	if r.Err != nil || !bytes.Equal(r.Rows[0][0], p8) || !bytes.Equal(r.Rows[0][1], []byte{0, 0, 0, 9}) {
		t.Fatalf("binary: %v %x", r.Err, r.Rows)
	}
	// Mixed: per-column formats.
	r = pc.ExecParams(ctx, "SELECT $1::int4, 'a'", [][]byte{{0, 0, 0, 3}}, nil, []int16{1}, []int16{0, 1}).Read()
	if r.Err != nil || string(r.Rows[0][0]) != "3" || string(r.Rows[0][1]) != "a" {
		t.Fatalf("mixed: %v %q", r.Err, r.Rows)
	}
	// pgx's own statement cache (Parse/Describe, then binary Bind).
	var a int64
	var b string
	var n *int32
	if err := c.QueryRow(ctx, "SELECT $1::int8, $2::text, NULL", int64(1)<<33, "z").Scan(&a, &b, &n); err != nil || a != 1<<33 || b != "z" {
		t.Fatalf("pgx: %v %d %q", err, a, b)
	}
	// Errors: wrong parameter count, bad binary value, bad format code.
	if r := pc.ExecParams(ctx, "SELECT $1::int4", nil, nil, nil, nil).Read(); pgCode(r.Err) != "08P01" {
		t.Errorf("missing parameter: %v", r.Err)
	}
	if r := pc.ExecParams(ctx, "SELECT $1::int4", [][]byte{{1}}, nil, []int16{1}, nil).Read(); pgCode(r.Err) != "22P03" {
		t.Errorf("short binary int4: %v", r.Err)
	}
	if r := pc.ExecParams(ctx, "SELECT 1", nil, nil, nil, []int16{7}).Read(); pgCode(r.Err) != "22023" {
		t.Errorf("format code 7: %v", r.Err)
	}
	if r := pc.ExecParams(ctx, "SELECT 1; SELECT 2", nil, nil, nil, nil).Read(); pgCode(r.Err) != "42601" {
		t.Errorf("two statements in Parse: %v", r.Err)
	}
	if r := pc.ExecParams(ctx, "LEAK", nil, nil, nil, nil).Read(); pgCode(r.Err) != "XX000" ||
		strings.Contains(r.Err.Error(), "secret") {
		t.Errorf("internal error: %v", r.Err)
	}
	if r := pc.ExecParams(ctx, "", nil, nil, nil, nil).Read(); r.Err != nil {
		t.Errorf("empty statement: %v", r.Err)
	}
	checkAlive(t, addr)
}

func TestDescribe(t *testing.T) {
	addr := serve(t, &wire.Server{})
	c := connect(t, connString(addr, "alice", ""))
	ctx := context.Background()
	sd, err := c.PgConn().Prepare(ctx, "s1", "SELECT $1::int8, 'x', $2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sd.ParamOIDs) != "[20 25]" || len(sd.Fields) != 3 ||
		sd.Fields[0].DataTypeOID != oidInt8 || sd.Fields[0].DataTypeSize != 8 || sd.Fields[1].DataTypeOID != oidText {
		t.Fatalf("describe: %v %+v", sd.ParamOIDs, sd.Fields)
	}
	// The client's parameter types are passed to the engine.
	sd, err = c.PgConn().Prepare(ctx, "s2", "SELECT $1", []uint32{oidInt4})
	if err != nil || fmt.Sprint(sd.ParamOIDs) != "[23]" {
		t.Fatalf("typed parameter: %v %v", err, sd)
	}
	sd, err = c.PgConn().Prepare(ctx, "s3", "INSERT z", nil)
	if err != nil || len(sd.Fields) != 0 {
		t.Fatalf("no rows: %v %v", err, sd)
	}
	if _, err := c.PgConn().Prepare(ctx, "s1", "SELECT 1", nil); pgCode(err) != "42P05" {
		t.Fatalf("duplicate statement: %v", err)
	}
	r := c.PgConn().ExecPrepared(ctx, "s1", [][]byte{[]byte("5"), []byte("y")}, nil, nil).Read()
	if r.Err != nil || fmt.Sprintf("%q", r.Rows) != `[["5" "x" "y"]]` {
		t.Fatalf("exec prepared: %v %q", r.Err, r.Rows)
	}
	if err := c.PgConn().Deallocate(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if r := c.PgConn().ExecPrepared(ctx, "s1", nil, nil, nil).Read(); pgCode(r.Err) != "26000" {
		t.Fatalf("deallocated statement: %v", r.Err)
	}
}

func TestTransactionError(t *testing.T) {
	addr := serve(t, &wire.Server{})
	c := connect(t, connString(addr, "alice", ""))
	ctx := context.Background()
	pc := c.PgConn()
	step := func(sql, code string, tx byte) {
		t.Helper()
		_, err := pc.Exec(ctx, sql).ReadAll()
		if pgCode(err) != code || (code == "" && err != nil) {
			t.Fatalf("%s: %v, want %q", sql, err, code)
		}
		if pc.TxStatus() != tx {
			t.Fatalf("%s: tx status %c, want %c", sql, pc.TxStatus(), tx)
		}
	}
	step("BEGIN", "", 'T')
	step("INSERT a", "", 'T')
	step("SELECT 1/0", "22012", 'E')
	step("SELECT 1", "25P02", 'E')
	step("ROLLBACK", "", 'I')
	step("SELECT 1", "", 'I')
	// The same through the extended protocol and pgx's transactions.
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT $1::int4", "nope"); pgCode(err) != "22P02" {
		t.Fatalf("bad int: %v", err)
	}
	if pc.TxStatus() != 'E' {
		t.Fatalf("tx status %c after error", pc.TxStatus())
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); pgCode(err) != "25P02" {
		t.Fatalf("in failed tx: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	step("BEGIN; INSERT a; COMMIT", "", 'I')
}

// frontend is a raw protocol client.
type frontend struct {
	t  *testing.T
	nc net.Conn
	fe *pgproto3.Frontend
}

func dialRaw(t *testing.T, addr string) *frontend {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { nc.Close() })
	return &frontend{t: t, nc: nc, fe: pgproto3.NewFrontend(nc, nc)}
}

// startup sends a StartupMessage and reads up to ReadyForQuery.
func (f *frontend) startup(version uint32) []string {
	f.fe.Send(&pgproto3.StartupMessage{ProtocolVersion: version, Parameters: map[string]string{"user": "alice"}})
	return f.until('Z')
}

func (f *frontend) send(msgs ...pgproto3.FrontendMessage) {
	for _, m := range msgs {
		f.fe.Send(m)
	}
	if err := f.fe.Flush(); err != nil {
		f.t.Fatal(err)
	}
}

// until reads messages up to one of type stop, or the end of the
// connection, and returns them in a short notation.
func (f *frontend) until(stop byte) []string {
	f.t.Helper()
	if err := f.fe.Flush(); err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for {
		m, err := f.fe.Receive()
		if err != nil {
			return append(out, "EOF")
		}
		out = append(out, describeMsg(m))
		if b, _ := m.Encode(nil); b[0] == stop {
			return out
		}
	}
}

func describeMsg(m pgproto3.BackendMessage) string {
	switch m := m.(type) {
	case *pgproto3.DataRow:
		return fmt.Sprintf("DataRow%q", m.Values)
	case *pgproto3.CommandComplete:
		return "CommandComplete " + string(m.CommandTag)
	case *pgproto3.ErrorResponse:
		return "ErrorResponse " + m.Severity + " " + m.Code
	case *pgproto3.ReadyForQuery:
		return "ReadyForQuery " + string(m.TxStatus)
	case *pgproto3.ParameterStatus:
		return "ParameterStatus " + m.Name
	case *pgproto3.NegotiateProtocolVersion:
		return fmt.Sprintf("NegotiateProtocolVersion %d %q", m.NewestMinorProtocol, m.UnrecognizedOptions)
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", m), "*pgproto3.")
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestPortalSuspended(t *testing.T) {
	addr := serve(t, &wire.Server{})
	f := dialRaw(t, addr)
	f.startup(pgproto3.ProtocolVersion30)
	f.send(
		&pgproto3.Parse{Name: "s", Query: "SELECT * FROM series(5)"},
		&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "s", ResultFormatCodes: []int16{1}},
		&pgproto3.Describe{ObjectType: 'P', Name: "p"},
		&pgproto3.Execute{Portal: "p", MaxRows: 2},
		&pgproto3.Execute{Portal: "p", MaxRows: 2},
		&pgproto3.Flush{},
	)
	expect(t, f.until('s')[:5], "ParseComplete", "BindComplete", "RowDescription",
		`DataRow["\x00\x00\x00\x00\x00\x00\x00\x01"]`, `DataRow["\x00\x00\x00\x00\x00\x00\x00\x02"]`)
	expect(t, f.until('s'), `DataRow["\x00\x00\x00\x00\x00\x00\x00\x03"]`, `DataRow["\x00\x00\x00\x00\x00\x00\x00\x04"]`, "PortalSuspended")
	f.send(&pgproto3.Execute{Portal: "p"}, &pgproto3.Execute{Portal: "p"}, &pgproto3.Sync{})
	expect(t, f.until('Z'), `DataRow["\x00\x00\x00\x00\x00\x00\x00\x05"]`, "CommandComplete SELECT 5",
		"CommandComplete SELECT 5", "ReadyForQuery I")
	// Outside a transaction block the portal ended with Sync; the
	// statement remains.
	f.send(&pgproto3.Execute{Portal: "p"}, &pgproto3.Sync{})
	expect(t, f.until('Z'), "ErrorResponse ERROR 34000", "ReadyForQuery I")
	f.send(&pgproto3.Describe{ObjectType: 'S', Name: "s"}, &pgproto3.Sync{})
	expect(t, f.until('Z'), "ParameterDescription", "RowDescription", "ReadyForQuery I")
	// Inside one, portals live until it ends.
	f.send(&pgproto3.Query{String: "BEGIN"})
	f.until('Z')
	f.send(&pgproto3.Bind{DestinationPortal: "q", PreparedStatement: "s"},
		&pgproto3.Execute{Portal: "q", MaxRows: 4}, &pgproto3.Sync{})
	expect(t, f.until('Z')[5:], "PortalSuspended", "ReadyForQuery T")
	f.send(&pgproto3.Execute{Portal: "q", MaxRows: 4}, &pgproto3.Close{ObjectType: 'P', Name: "q"}, &pgproto3.Sync{})
	expect(t, f.until('Z'), `DataRow["5"]`, "CommandComplete SELECT 5", "CloseComplete", "ReadyForQuery T")
}

func TestExtendedErrorSkipsToSync(t *testing.T) {
	addr := serve(t, &wire.Server{})
	f := dialRaw(t, addr)
	f.startup(pgproto3.ProtocolVersion30)
	f.send(
		&pgproto3.Parse{Query: "SELECT 1/0"},
		&pgproto3.Bind{},
		&pgproto3.Execute{},
		&pgproto3.Parse{Query: "SELECT 2"}, // skipped
		&pgproto3.Bind{},
		&pgproto3.Execute{},
		&pgproto3.Query{String: "SELECT 3"}, // skipped too, as in PostgreSQL
		&pgproto3.Sync{},
		&pgproto3.Parse{Query: "SELECT 4"},
		&pgproto3.Bind{},
		&pgproto3.Execute{},
		&pgproto3.Sync{},
	)
	expect(t, append(f.until('Z'), f.until('Z')...),
		"ParseComplete", "BindComplete", "ErrorResponse ERROR 22012", "ReadyForQuery I",
		"ParseComplete", "BindComplete", `DataRow["4"]`, "CommandComplete SELECT 1", "ReadyForQuery I")
	// Bad Describe and Close subtypes, missing objects, duplicates.
	for _, tc := range []struct {
		msg  pgproto3.FrontendMessage
		code string
	}{
		{&pgproto3.Describe{ObjectType: 'X'}, "08P01"},
		{&pgproto3.Close{ObjectType: 'X'}, "08P01"},
		{&pgproto3.Describe{ObjectType: 'S', Name: "nope"}, "26000"},
		{&pgproto3.Describe{ObjectType: 'P', Name: "nope"}, "34000"},
		{&pgproto3.Bind{PreparedStatement: "nope"}, "26000"},
		{&pgproto3.Bind{ParameterFormatCodes: []int16{0, 0}}, "08P01"},
		{&pgproto3.Parse{Query: "SELECT 'unterminated"}, "42601"},
		{&pgproto3.FunctionCall{Function: 1}, "0A000"},
	} {
		if _, ok := tc.msg.(*pgproto3.FunctionCall); ok {
			f.send(tc.msg) // not extended protocol: no Sync
		} else {
			f.send(tc.msg, &pgproto3.Sync{})
		}
		got := f.until('Z')
		if len(got) == 0 || got[0] != "ErrorResponse ERROR "+tc.code {
			t.Errorf("%T: %q, want %s", tc.msg, got, tc.code)
		}
	}
	// COPY messages outside COPY are ignored.
	f.send(&pgproto3.CopyData{Data: []byte("x")}, &pgproto3.CopyDone{}, &pgproto3.Query{String: "SELECT 5"})
	expect(t, f.until('Z'), "RowDescription", `DataRow["5"]`, "CommandComplete SELECT 1", "ReadyForQuery I")
	f.send(&pgproto3.Terminate{})
	expect(t, f.until('Z'), "EOF")
}

func TestStartupVariants(t *testing.T) {
	addr := serve(t, &wire.Server{})
	// Protocol 3.2 and _pq_ options are negotiated down to 3.0.
	f := dialRaw(t, addr)
	f.fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion32,
		Parameters: map[string]string{"user": "alice", "_pq_.test": "1"}})
	got := f.until('Z')
	if got[0] != `NegotiateProtocolVersion 0 ["_pq_.test"]` || got[1] != "AuthenticationOk" || got[len(got)-1] != "ReadyForQuery I" {
		t.Fatalf("3.2: %q", got)
	}
	for _, tc := range []struct {
		name   string
		packet []byte
		want   []string
	}{
		{"protocol 2.0", startupPacket(2<<16, "user", "alice"), []string{"ErrorResponse FATAL 0A000", "EOF"}},
		{"protocol 4.0", startupPacket(4<<16, "user", "alice"), []string{"ErrorResponse FATAL 0A000", "EOF"}},
		{"no user", startupPacket(3<<16, "database", "db"), []string{"ErrorResponse FATAL 28000", "EOF"}},
		{"replication", startupPacket(3<<16, "user", "alice", "replication", "database"), []string{"ErrorResponse FATAL 0A000", "EOF"}},
		{"latin1", startupPacket(3<<16, "user", "alice", "client_encoding", "LATIN1"), []string{"ErrorResponse FATAL 0A000", "EOF"}},
		{"no terminator", startupPacket(3<<16, "user", "alice")[:16], []string{"ErrorResponse FATAL 08P01", "EOF"}},
		{"short", []byte{0, 0, 0, 5, 0}, []string{"ErrorResponse FATAL 08P01", "EOF"}},
		{"huge", []byte{0, 1, 0, 0}, []string{"ErrorResponse FATAL 08P01", "EOF"}},
		{"cancel unknown", []byte{0, 0, 0, 16, 4, 210, 22, 46, 0, 0, 0, 1, 0, 0, 0, 2}, []string{"EOF"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := dialRaw(t, addr)
			if tc.name == "no terminator" {
				binary.BigEndian.PutUint32(tc.packet, uint32(len(tc.packet)))
			}
			f.nc.Write(tc.packet)
			expect(t, f.until('Z'), tc.want...)
		})
	}
	// SSLRequest and GSSENCRequest without TLS: 'N', then a startup.
	f = dialRaw(t, addr)
	for _, code := range []uint32{80877103, 80877104} {
		f.nc.Write(binary.BigEndian.AppendUint32([]byte{0, 0, 0, 8}, code))
		b := make([]byte, 1)
		if _, err := io.ReadFull(f.nc, b); err != nil || b[0] != 'N' {
			t.Fatalf("request %d: %q %v", code, b, err)
		}
	}
	if got := f.startup(pgproto3.ProtocolVersion30); got[len(got)-1] != "ReadyForQuery I" {
		t.Fatalf("after SSLRequest: %q", got)
	}
	checkAlive(t, addr)
}

func startupPacket(version uint32, kv ...string) []byte {
	b := binary.BigEndian.AppendUint32([]byte{0, 0, 0, 0}, version)
	for _, s := range kv {
		b = append(append(b, s...), 0)
	}
	b = append(b, 0)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

func TestBadInput(t *testing.T) {
	addr := serve(t, &wire.Server{MaxMessage: 1 << 16})
	// A message over MaxMessage.
	c := connect(t, connString(addr, "alice", ""))
	_, err := c.Exec(context.Background(), "SELECT '"+strings.Repeat("x", 1<<17)+"'")
	if pgCode(err) != "08P01" {
		t.Errorf("oversized message: %v", err)
	}
	f := dialRaw(t, addr)
	f.startup(pgproto3.ProtocolVersion30)
	f.nc.Write([]byte{'Q', 0x7f, 0xff, 0xff, 0xff})
	expect(t, f.until('Z'), "ErrorResponse FATAL 08P01", "EOF")
	// An unknown message type.
	f = dialRaw(t, addr)
	f.startup(pgproto3.ProtocolVersion30)
	f.nc.Write([]byte{'z', 0, 0, 0, 4})
	expect(t, f.until('Z'), "ErrorResponse FATAL 08P01", "EOF")
	// A malformed message of a known type.
	f = dialRaw(t, addr)
	f.startup(pgproto3.ProtocolVersion30)
	f.nc.Write([]byte{'E', 0, 0, 0, 5, 'x'})
	expect(t, f.until('Z'), "ErrorResponse FATAL 08P01", "EOF")
	// A negative length.
	f = dialRaw(t, addr)
	f.startup(pgproto3.ProtocolVersion30)
	f.nc.Write([]byte{'Q', 0x80, 0, 0, 0})
	expect(t, f.until('Z'), "ErrorResponse FATAL 08P01", "EOF")
	// A SASL response after authentication.
	f = dialRaw(t, addr)
	f.startup(pgproto3.ProtocolVersion30)
	f.send(&pgproto3.PasswordMessage{Password: "x"})
	expect(t, f.until('Z'), "ErrorResponse FATAL 08P01", "EOF")
	// Garbage from the first byte.
	garbage := make([]byte, 4096)
	rand.Read(garbage)
	for _, g := range [][]byte{garbage, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), {0x16, 3, 1, 0, 200, 1}} {
		f = dialRaw(t, addr)
		f.nc.Write(g)
		if got := f.until('Z'); got[len(got)-1] != "EOF" {
			t.Errorf("garbage: %q", got)
		}
	}
	// Killed mid-message: in the startup packet, in a query, in auth.
	for _, partial := range [][]byte{{0, 0, 0, 100, 0, 3}, nil} {
		f = dialRaw(t, addr)
		if partial == nil {
			f.startup(pgproto3.ProtocolVersion30)
			partial = []byte{'Q', 0, 0, 1, 0, 'S', 'E'}
		}
		f.nc.Write(partial)
		f.nc.Close()
	}
	checkAlive(t, addr)
}

func TestPanicContained(t *testing.T) {
	logs := &logSink{}
	addr := serve(t, &wire.Server{Log: slog.New(logs)})
	c := connect(t, connString(addr, "alice", ""))
	if _, err := c.Exec(context.Background(), "PANIC"); err == nil {
		t.Fatal("PANIC succeeded")
	}
	checkAlive(t, addr)
	if !logs.has("connection panicked") {
		t.Error("panic not logged")
	}
}

func TestCancel(t *testing.T) {
	addr := serve(t, &wire.Server{})
	c := connect(t, connString(addr, "alice", ""))
	pc := c.PgConn()
	stop := make(chan struct{})
	canceled := make(chan struct{})
	go func() {
		defer close(canceled)
		// A cancel that arrives before the query runs cancels nothing,
		// as in PostgreSQL: repeat until it lands.
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				pc.CancelRequest(context.Background())
			}
		}
	}()
	_, err := pc.Exec(context.Background(), "SLEEP").ReadAll()
	close(stop)
	<-canceled
	if pgCode(err) != "57014" {
		t.Fatalf("canceled query: %v", err)
	}
	if _, err := c.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatalf("after cancel: %v", err)
	}
}

func TestPsql(t *testing.T) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql is not installed: the test script installs it with PostgreSQL")
	}
	addr := serve(t, &wire.Server{})
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, psql, "-X", "-At", "-v", "ON_ERROR_STOP=1",
		"-h", host, "-p", port, "-U", "alice", "-d", "db",
		"-c", "SELECT 1, 'one'; SELECT * FROM series(2)", "-c", "BEGIN", "-c", "INSERT x", "-c", "COMMIT")
	cmd.Env = append(cmd.Environ(), "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if got, want := string(out), "1|one\n1\n2\nBEGIN\nINSERT 0 1\nCOMMIT\n"; got != want {
		t.Fatalf("psql output %q, want %q", got, want)
	}

	// SCRAM over TLS, bound to the channel; then a wrong password.
	v, err := wire.NewVerifier(nil, "pw")
	if err != nil {
		t.Fatal(err)
	}
	addr = serve(t, &wire.Server{TLS: selfSigned(t), Users: map[string]wire.Verifier{"alice": v}})
	host, port, _ = net.SplitHostPort(addr)
	for _, pw := range []string{"pw", "wrong"} {
		cmd = exec.CommandContext(ctx, psql, "-X", "-At", "-h", host, "-p", port, "-U", "alice", "-d", "db",
			"-c", "SELECT 'tls'")
		cmd.Env = append(cmd.Environ(), "PGSSLMODE=require", "PGCHANNELBINDING=require", "PGPASSWORD="+pw, "PGCONNECT_TIMEOUT=10")
		out, err = cmd.CombinedOutput()
		if pw == "pw" && (err != nil || string(out) != "tls\n") {
			t.Fatalf("psql with SCRAM-SHA-256-PLUS: %v\n%s", err, out)
		}
		if pw == "wrong" && (err == nil || !strings.Contains(string(out), "password authentication failed")) {
			t.Fatalf("psql with a wrong password: %v\n%s", err, out)
		}
	}
}

// The verifier against a naive reference of RFC 5802's definitions.
func TestVerifierReference(t *testing.T) {
	for _, pw := range []string{"pencil", "", "pässwörd", "\u2168"} {
		v, err := wire.NewVerifier(nil, pw)
		if err != nil {
			t.Fatal(err)
		}
		prepped := pw
		if pw == "\u2168" { // SASLprep: NFKC maps U+2168 ROMAN NUMERAL NINE to "IX"
			prepped = "IX"
		}
		salted, err := pbkdf2.Key(sha256.New, prepped, v.Salt, v.Iterations, sha256.Size)
		if err != nil {
			t.Fatal(err)
		}
		mac := func(key []byte, s string) []byte {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(s))
			return m.Sum(nil)
		}
		stored := sha256.Sum256(mac(salted, "Client Key"))
		if !bytes.Equal(v.StoredKey, stored[:]) || !bytes.Equal(v.ServerKey, mac(salted, "Server Key")) {
			t.Errorf("%q: verifier differs from the reference", pw)
		}
	}
}

func TestShutdownWithOpenConnections(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&wire.Server{Engine: &testEngine{unsafe: true}}).Serve(ctx, l) }()
	c := connect(t, connString(l.Addr().String(), "alice", ""))
	connect(t, connString(l.Addr().String(), "alice", "")) // idle
	queryErr := make(chan error, 1)
	go func() {
		_, err := c.PgConn().Exec(context.Background(), "SLEEP").ReadAll()
		queryErr <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, wire.ErrServerClosed) {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if err := <-queryErr; err == nil {
		t.Fatal("query survived the shutdown")
	}
}

func TestPreparedLimit(t *testing.T) {
	addr := serve(t, &wire.Server{MaxPrepared: 2})
	f := dialRaw(t, addr)
	f.startup(pgproto3.ProtocolVersion30)
	f.send(&pgproto3.Parse{Name: "a", Query: "SELECT 1"}, &pgproto3.Parse{Name: "b", Query: "SELECT 2"},
		&pgproto3.Parse{Name: "c", Query: "SELECT 3"}, &pgproto3.Sync{})
	expect(t, f.until('Z'), "ParseComplete", "ParseComplete", "ErrorResponse ERROR 54000", "ReadyForQuery I")
	// Replacing the unnamed statement never counts twice, and closing one
	// makes room.
	f.send(&pgproto3.Parse{Query: "SELECT 4"}, &pgproto3.Sync{})
	expect(t, f.until('Z'), "ErrorResponse ERROR 54000", "ReadyForQuery I")
	f.send(&pgproto3.Close{ObjectType: 'S', Name: "a"}, &pgproto3.Parse{Name: "c", Query: "SELECT 3"}, &pgproto3.Sync{})
	expect(t, f.until('Z'), "CloseComplete", "ParseComplete", "ReadyForQuery I")
	// Portals: two live in a transaction block, the third is refused.
	f.send(&pgproto3.Query{String: "BEGIN"})
	f.until('Z')
	f.send(&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "b"}, &pgproto3.Bind{DestinationPortal: "q", PreparedStatement: "b"},
		&pgproto3.Bind{DestinationPortal: "r", PreparedStatement: "c"}, &pgproto3.Sync{})
	expect(t, f.until('Z'), "BindComplete", "BindComplete", "ErrorResponse ERROR 54000", "ReadyForQuery E")
	f.send(&pgproto3.Query{String: "ROLLBACK"})
	expect(t, f.until('Z'), "CommandComplete ROLLBACK", "ReadyForQuery I")
	f.send(&pgproto3.Bind{PreparedStatement: "c"}, &pgproto3.Execute{}, &pgproto3.Sync{})
	expect(t, f.until('Z'), "BindComplete", `DataRow["3"]`, "CommandComplete SELECT 1", "ReadyForQuery I")
}
