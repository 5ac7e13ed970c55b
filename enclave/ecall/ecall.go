package ecall

import (
	"context"
	"errors"
	"fmt"
)

// Func is one enclave entry point. The input belongs to the function; the
// output must not alias memory the enclave keeps using.
type Func func(ctx context.Context, in []byte) ([]byte, error)

// Table is an enclave's ECALL interface: the index is the ECALL number.
// Nothing outside the table is callable, which is the point of it.
type Table []Func

// Caller is the host's side of an enclave, in process or not.
type Caller interface {
	Call(ctx context.Context, id uint32, in []byte) ([]byte, error)
}

var (
	// ErrNoSuchCall is returned for ECALL numbers outside the table.
	ErrNoSuchCall = errors.New("ecall: no such ECALL")
	// ErrEnclaveGone is returned when an out-of-process enclave exited or
	// its channel broke; its state is lost and it must be restarted.
	ErrEnclaveGone = errors.New("ecall: enclave process is gone")
)

// Error is an error returned by enclave code, carried to the host as text.
// Enclave code must not put secrets in error messages: they leave the
// enclave in the clear.
type Error struct{ Msg string }

func (e *Error) Error() string { return "enclave: " + e.Msg }

// InProcess hosts an enclave in the caller's process: an ECALL is a
// bounds-checked indirect call with the input copied in, so that enclave
// code never holds a reference to host memory. It is the fast path for
// simulation and for whole-program enclaves, where host and enclave share
// the TEE anyway.
type InProcess struct {
	table Table
}

// NewInProcess returns an in-process enclave with the given ECALL table.
func NewInProcess(t Table) *InProcess {
	return &InProcess{table: append(Table(nil), t...)}
}

// Call implements Caller.
func (e *InProcess) Call(ctx context.Context, id uint32, in []byte) ([]byte, error) {
	var buf []byte
	if len(in) > 0 {
		buf = make([]byte, len(in))
		copy(buf, in)
	}
	out, err := e.table.call(ctx, id, buf)
	if errors.Is(err, ErrNoSuchCall) {
		return nil, fmt.Errorf("%w: %d", ErrNoSuchCall, id)
	}
	return out, err
}
