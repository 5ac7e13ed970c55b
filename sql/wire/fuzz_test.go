package wire_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"go.uber.org/goleak"

	"github.com/confide/confide/sql/wire"
)

func encodeMsgs(msgs ...pgproto3.FrontendMessage) []byte {
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = m.Encode(b); err != nil {
			panic(err)
		}
	}
	return b
}

// FuzzServeConn feeds arbitrary bytes to a connection, from the first
// byte or after a valid StartupMessage: the server must neither panic,
// nor hang, nor leave a goroutine behind.
func FuzzServeConn(f *testing.F) {
	f.Add(true, encodeMsgs(&pgproto3.Query{String: "SELECT 1, 'a'; SELECT * FROM series(3); BEGIN; SELECT 1/0; ROLLBACK"}))
	f.Add(true, encodeMsgs(
		&pgproto3.Parse{Name: "s", Query: "SELECT $1::int4, $2::int8, $3"},
		&pgproto3.Describe{ObjectType: 'S', Name: "s"},
		&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "s", ParameterFormatCodes: []int16{1, 1, 0},
			Parameters: [][]byte{{0, 0, 0, 1}, {0, 0, 0, 0, 0, 0, 0, 2}, nil}, ResultFormatCodes: []int16{1}},
		&pgproto3.Describe{ObjectType: 'P', Name: "p"},
		&pgproto3.Execute{Portal: "p", MaxRows: 1},
		&pgproto3.Flush{},
		&pgproto3.Execute{Portal: "p"},
		&pgproto3.Close{ObjectType: 'P', Name: "p"},
		&pgproto3.Close{ObjectType: 'S', Name: "s"},
		&pgproto3.Sync{},
		&pgproto3.Terminate{},
	))
	f.Add(true, encodeMsgs(&pgproto3.Parse{Query: "SELECT 1/0"}, &pgproto3.Bind{}, &pgproto3.Execute{},
		&pgproto3.Query{String: "x"}, &pgproto3.Sync{}, &pgproto3.FunctionCall{Function: 7},
		&pgproto3.CopyData{Data: []byte("x")}, &pgproto3.CopyFail{Message: "no"}))
	f.Add(true, []byte{'Q', 0, 0, 0, 4, 'Q', 0xff, 0xff, 0xff, 0xff})
	f.Add(true, []byte("garbage"))
	f.Add(false, startupPacket(3<<16, "user", "alice", "database", "db", "application_name", "fuzz"))
	f.Add(false, append([]byte{0, 0, 0, 8, 4, 210, 22, 47}, startupPacket(3<<16, "user", "alice")...))
	f.Add(false, append(append([]byte{0, 0, 0, 8, 4, 210, 22, 48}, startupPacket(3<<16|2, "user", "alice", "_pq_.x", "y")...),
		encodeMsgs(&pgproto3.Query{String: ""})...))
	f.Add(false, []byte{0, 0, 0, 16, 4, 210, 22, 46, 0, 0, 0, 1, 0, 0, 0, 2})
	f.Add(false, startupPacket(2<<16, "user", "alice"))
	f.Add(false, []byte("GET / HTTP/1.1\r\n\r\n"))

	f.Fuzz(func(t *testing.T, afterStartup bool, data []byte) {
		before := goleak.IgnoreCurrent()
		logs := &logSink{}
		srv := &wire.Server{Engine: &testEngine{}, Log: slog.New(logs), MaxMessage: 1 << 16, AuthTimeout: 5 * time.Second}
		client, server := net.Pipe()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.ServeConn(ctx, pipeConn{server, &net.TCPAddr{IP: net.IPv6loopback, Port: 1}})
		}()
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			io.Copy(io.Discard, client)
		}()
		if afterStartup {
			client.Write(startupPacket(3<<16, "user", "alice"))
		}
		client.Write(data)
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("ServeConn did not return after the client closed")
		}
		<-drained
		if logs.has("connection panicked") {
			t.Fatal("the connection panicked")
		}
		goleak.VerifyNone(t, before)
	})
}

// The seed corpus must not be lost silently.
func TestFuzzSeedsPresent(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzServeConn", "*"))
	if err != nil || len(files) < 5 {
		t.Fatalf("testdata/fuzz/FuzzServeConn holds %d seeds (%v), want at least 5", len(files), err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil || len(b) < len("go test fuzz v1\n") || string(b[:len("go test fuzz v1\n")]) != "go test fuzz v1\n" {
			t.Errorf("%s: not a fuzz corpus file", name)
		}
	}
}
