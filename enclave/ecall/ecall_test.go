package ecall_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/enclave/ecall"
	"go.uber.org/goleak"
)

const (
	callEcho = iota
	callSum
	callFail
	callCrash
	callSlow
)

// state is enclave-private: the host can only reach it through the table.
type counter struct{ total uint64 }

func table(c *counter) ecall.Table {
	return ecall.Table{
		callEcho: func(_ context.Context, in []byte) ([]byte, error) { return in, nil },
		callSum: func(_ context.Context, in []byte) ([]byte, error) {
			if len(in) != 8 {
				return nil, errors.New("want 8 bytes")
			}
			c.total += binary.BigEndian.Uint64(in)
			return binary.BigEndian.AppendUint64(nil, c.total), nil
		},
		callFail:  func(context.Context, []byte) ([]byte, error) { return nil, errors.New("refused") },
		callCrash: func(context.Context, []byte) ([]byte, error) { os.Exit(3); return nil, nil },
		callSlow: func(ctx context.Context, _ []byte) ([]byte, error) {
			time.Sleep(time.Minute)
			return nil, nil
		},
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(ecall.EnvFD) != "" {
		if err := ecall.ServeInherited(context.Background(), table(&counter{})); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func startProcess(t testing.TB) *ecall.Process {
	p, err := ecall.Start(exec.Command(os.Args[0], "-test.run=^$"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func conformance(t *testing.T, c ecall.Caller) {
	ctx := context.Background()
	msg := bytes.Repeat([]byte("abc"), 1000)
	out, err := c.Call(ctx, callEcho, msg)
	if err != nil || !bytes.Equal(out, msg) {
		t.Fatalf("echo: %v", err)
	}
	if out, err := c.Call(ctx, callEcho, nil); err != nil || len(out) != 0 {
		t.Fatalf("empty echo: %q %v", out, err)
	}
	for i, want := range []uint64{5, 12} {
		out, err := c.Call(ctx, callSum, binary.BigEndian.AppendUint64(nil, []uint64{5, 7}[i]))
		if err != nil || binary.BigEndian.Uint64(out) != want {
			t.Fatalf("sum %d: %x %v", i, out, err)
		}
	}
	var ee *ecall.Error
	if _, err := c.Call(ctx, callFail, nil); !errors.As(err, &ee) || ee.Msg != "refused" {
		t.Errorf("enclave error: %v", err)
	}
	if _, err := c.Call(ctx, callSum, []byte{1}); !errors.As(err, &ee) {
		t.Errorf("bad input: %v", err)
	}
	for _, id := range []uint32{99, 1 << 31} {
		if _, err := c.Call(ctx, id, nil); !errors.Is(err, ecall.ErrNoSuchCall) {
			t.Errorf("ECALL %d: %v", id, err)
		}
	}
	// The enclave still works after errors.
	if out, err := c.Call(ctx, callEcho, []byte("ok")); err != nil || string(out) != "ok" {
		t.Errorf("after errors: %v", err)
	}
}

func TestInProcess(t *testing.T) {
	conformance(t, ecall.NewInProcess(table(&counter{})))
}

func TestInProcessCopiesInput(t *testing.T) {
	var kept []byte
	e := ecall.NewInProcess(ecall.Table{func(_ context.Context, in []byte) ([]byte, error) { kept = in; return nil, nil }})
	in := []byte("host")
	e.Call(context.Background(), 0, in)
	in[0] = 'X'
	if string(kept) != "host" {
		t.Error("enclave holds a reference to host memory")
	}
}

func TestProcess(t *testing.T) {
	p := startProcess(t)
	conformance(t, p)
	if err := p.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := p.Call(context.Background(), callEcho, nil); !errors.Is(err, ecall.ErrEnclaveGone) {
		t.Errorf("call after close: %v", err)
	}
}

func TestProcessCrash(t *testing.T) {
	p := startProcess(t)
	if _, err := p.Call(context.Background(), callCrash, nil); !errors.Is(err, ecall.ErrEnclaveGone) {
		t.Errorf("crash: %v", err)
	}
	if _, err := p.Call(context.Background(), callEcho, nil); !errors.Is(err, ecall.ErrEnclaveGone) {
		t.Errorf("after crash: %v", err)
	}
	p.Close()
}

func TestProcessKilledFromOutside(t *testing.T) {
	p := startProcess(t)
	if _, err := p.Call(context.Background(), callEcho, []byte("x")); err != nil {
		t.Fatal(err)
	}
	pid := p.PID()
	kill(t, pid)
	if _, err := p.Call(context.Background(), callEcho, []byte("x")); !errors.Is(err, ecall.ErrEnclaveGone) {
		t.Errorf("after kill: %v", err)
	}
	p.Close()
}

func TestProcessCancel(t *testing.T) {
	p := startProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := p.Call(ctx, callSlow, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled call: %v", err)
	}
	if _, err := p.Call(context.Background(), callEcho, nil); !errors.Is(err, ecall.ErrEnclaveGone) {
		t.Errorf("after cancel: %v", err)
	}
	p.Close()
}

type rw struct {
	io.Reader
	io.Writer
}

func TestServeRejectsOversizedInput(t *testing.T) {
	in := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0), ecall.MaxMessage+1)
	var out bytes.Buffer
	if err := ecall.Serve(context.Background(), rw{bytes.NewReader(in), &out}, table(&counter{})); err == nil {
		t.Error("oversized input served")
	}
}

func kill(t *testing.T, pid int) {
	proc, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Kill(); err != nil {
		t.Fatal(err)
	}
}

// FuzzServe feeds arbitrary host bytes to the enclave side: the host is
// untrusted, and no frame may crash the enclave or make it answer out of
// turn.
func FuzzServe(f *testing.F) {
	call := func(id uint32, in []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, id)
		b = binary.BigEndian.AppendUint32(b, uint32(len(in)))
		return append(b, in...)
	}
	f.Add(call(callEcho, []byte("hello")))
	f.Add(append(call(callSum, make([]byte, 8)), call(7, nil)...))
	f.Add(call(callFail, nil)[:6])
	f.Fuzz(func(t *testing.T, b []byte) {
		safe := table(&counter{})[:callCrash] // no crashing or sleeping entries
		var out bytes.Buffer
		ecall.Serve(context.Background(), rw{bytes.NewReader(b), &out}, safe)
		// Every answer is a well-formed return frame.
		r := out.Bytes()
		for len(r) > 0 {
			if len(r) < 5 || r[0] > 2 {
				t.Fatalf("malformed answer %x", out.Bytes())
			}
			n := int(binary.BigEndian.Uint32(r[1:]))
			if len(r) < 5+n {
				t.Fatalf("short answer %x", out.Bytes())
			}
			r = r[5+n:]
		}
	})
}

// A process that is not an ECALL enclave never says hello: the first call
// fails cleanly instead of exchanging frames with it.
func TestProcessWithoutHello(t *testing.T) {
	p, err := ecall.Start(exec.Command("true"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Call(context.Background(), callEcho, []byte("x"))
	if !errors.Is(err, ecall.ErrEnclaveGone) || !strings.Contains(err.Error(), "hello") {
		t.Errorf("got %v", err)
	}
	p.Close()
}
