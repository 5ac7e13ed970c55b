package ecall

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
)

// Frames on the channel between host and enclave process (spec/ecall.md):
//
//	call:   id(4 BE) | length(4 BE) | input
//	return: status(1: 0 ok, 1 enclave error, 2 no such ECALL) | length(4 BE) | output or message
const (
	// MaxMessage bounds one input or output.
	MaxMessage = 16 << 20
	// EnvFD names the variable telling an enclave process which inherited
	// file descriptor is its channel.
	EnvFD = "CONFIDE_ECALL_FD"
	// hello is what an enclave process sends first: a magic and the
	// channel version, so that a host never exchanges frames with a
	// process that is not an ECALL enclave of this version.
	hello = "CFEC\x01"
)

// Process hosts an enclave in a separate process, measured by the
// platform as whatever the host launched it as (sim.EnvEnclave), and
// talks to it only through the channel: the host relays bytes and never
// touches enclave memory. On hardware the host cannot read that memory;
// in simulation it is a separate process and nothing more.
type Process struct {
	cmd  *exec.Cmd
	conn *net.UnixConn

	mu      sync.Mutex // one call at a time: ECALLs are synchronous
	broken  error
	greeted bool // the enclave's hello was read
	waited  chan struct{}
	werr    error
}

// Start launches cmd as an enclave process and connects to it. The caller
// sets cmd's path, arguments and environment (including the enclave image);
// Start adds the channel as file descriptor 3 and EnvFD.
func Start(cmd *exec.Cmd) (*Process, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	host := os.NewFile(uintptr(fds[0]), "ecall-host")
	child := os.NewFile(uintptr(fds[1]), "ecall-enclave")
	defer child.Close()
	fc, err := net.FileConn(host)
	host.Close()
	if err != nil {
		return nil, err
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, child)
	cmd.Env = append(cmd.Env, EnvFD+"="+strconv.Itoa(2+len(cmd.ExtraFiles)))
	if err := cmd.Start(); err != nil {
		fc.Close()
		return nil, err
	}
	p := &Process{cmd: cmd, conn: fc.(*net.UnixConn), waited: make(chan struct{})}
	go func() {
		p.werr = cmd.Wait()
		close(p.waited)
		p.conn.Close()
	}()
	return p, nil
}

// Call implements Caller. If ctx ends during a call the channel is closed
// and the enclave process killed: a half-finished ECALL leaves no state
// the host could trust.
func (p *Process) Call(ctx context.Context, id uint32, in []byte) ([]byte, error) {
	if len(in) > MaxMessage {
		return nil, fmt.Errorf("ecall: input of %d bytes exceeds %d", len(in), MaxMessage)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken != nil {
		return nil, p.broken
	}
	stop := context.AfterFunc(ctx, func() { p.cmd.Process.Kill() })
	defer stop()
	if !p.greeted {
		var h [len(hello)]byte
		if _, err := io.ReadFull(p.conn, h[:]); err != nil {
			return nil, p.fail(ctx, fmt.Errorf("no hello from the enclave process: %w", err))
		}
		if string(h[:]) != hello {
			return nil, p.fail(ctx, errors.New("the enclave process is not an ECALL enclave of channel version 1"))
		}
		p.greeted = true
	}
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], id)
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(in)))
	if _, err := (&net.Buffers{hdr[:], in}).WriteTo(p.conn); err != nil {
		return nil, p.fail(ctx, err)
	}
	var rh [5]byte
	if _, err := io.ReadFull(p.conn, rh[:]); err != nil {
		return nil, p.fail(ctx, err)
	}
	n := binary.BigEndian.Uint32(rh[1:])
	if n > MaxMessage || rh[0] > 2 {
		return nil, p.fail(ctx, errors.New("malformed return frame"))
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(p.conn, out); err != nil {
		return nil, p.fail(ctx, err)
	}
	switch rh[0] {
	case statusError:
		return nil, &Error{Msg: string(out)}
	case statusNoSuchCall:
		return nil, fmt.Errorf("%w: %d", ErrNoSuchCall, id)
	}
	return out, nil
}

func (p *Process) fail(ctx context.Context, err error) error {
	p.cmd.Process.Kill()
	if ctx.Err() != nil {
		p.broken = fmt.Errorf("%w: call cancelled: %v", ErrEnclaveGone, ctx.Err())
		return ctx.Err()
	}
	p.broken = fmt.Errorf("%w: %v", ErrEnclaveGone, err)
	return p.broken
}

// PID returns the enclave process's ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Close ends the enclave process: it sees its channel close and exits.
func (p *Process) Close() error {
	p.conn.CloseWrite()
	<-p.waited
	p.mu.Lock()
	if p.broken == nil {
		p.broken = fmt.Errorf("%w: closed", ErrEnclaveGone)
	}
	p.mu.Unlock()
	var ee *exec.ExitError
	if errors.As(p.werr, &ee) && !ee.Exited() {
		return nil // killed by us after a failure
	}
	return p.werr
}

const (
	statusOK         = 0
	statusError      = 1
	statusNoSuchCall = 2
)

// ServeInherited serves t on the channel a host passed through Start. It
// returns nil when the host closes the channel.
func ServeInherited(ctx context.Context, t Table) error {
	s := os.Getenv(EnvFD)
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 3 {
		return fmt.Errorf("ecall: %s=%q does not name an inherited channel", EnvFD, s)
	}
	f := os.NewFile(uintptr(fd), "ecall")
	defer f.Close()
	if _, err := io.WriteString(f, hello); err != nil {
		return err
	}
	return Serve(ctx, f, t)
}

// Serve answers ECALLs read from rw until it reaches end of file.
func Serve(ctx context.Context, rw io.ReadWriter, t Table) error {
	e := NewInProcess(t)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(rw, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		n := binary.BigEndian.Uint32(hdr[4:])
		if n > MaxMessage {
			return fmt.Errorf("ecall: input of %d bytes exceeds %d", n, MaxMessage)
		}
		in := make([]byte, n)
		if _, err := io.ReadFull(rw, in); err != nil {
			return err
		}
		id := binary.BigEndian.Uint32(hdr[:4])
		status := byte(statusOK)
		out, err := e.table.call(ctx, id, in)
		var ee *Error
		switch {
		case errors.Is(err, ErrNoSuchCall):
			status, out = statusNoSuchCall, nil
		case errors.As(err, &ee):
			status, out = statusError, []byte(ee.Msg)
		case err != nil:
			status, out = statusError, []byte(err.Error())
		}
		if len(out) > MaxMessage {
			status, out = statusError, []byte("output too large")
		}
		var rh [5]byte
		rh[0] = status
		binary.BigEndian.PutUint32(rh[1:], uint32(len(out)))
		if _, err := (&net.Buffers{rh[:], out}).WriteTo(rw); err != nil {
			return err
		}
	}
}

// call runs one entry without copying: Serve's input is already private.
func (t Table) call(ctx context.Context, id uint32, in []byte) ([]byte, error) {
	if uint64(id) >= uint64(len(t)) || t[id] == nil {
		return nil, ErrNoSuchCall
	}
	out, err := t[id](ctx, in)
	if err != nil {
		return nil, &Error{Msg: err.Error()}
	}
	return out, nil
}
