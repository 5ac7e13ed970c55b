package spec_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/confide/confide/enclave/ecall"
)

type ecallVector struct {
	Name          string   `json:"name"`
	ID            *uint32  `json:"id"`
	Input         hexBytes `json:"input"`
	Call          hexBytes `json:"call"`
	Return        hexBytes `json:"return"`
	Output        hexBytes `json:"output"`
	Error         *string  `json:"error"`
	NoSuchCall    bool     `json:"no_such_call"`
	EnclaveReject string   `json:"enclave_reject"`
	HostReject    string   `json:"host_reject"`
}

func runECallFrames(t *testing.T, b []byte) int {
	var f struct {
		fileHeader
		Vectors []ecallVector `json:"vectors"`
	}
	decodeStrict(t, b, &f)
	f.check(t)
	var calls []ecallVector
	counts := map[string]int{}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			isCall := v.Output != nil || v.Error != nil || v.NoSuchCall
			oneOf(t, "a result, enclave_reject and host_reject", isCall, v.EnclaveReject != "", v.HostReject != "")
			var out bytes.Buffer
			rw := struct {
				io.Reader
				io.Writer
			}{bytes.NewReader(v.Call), &out}
			switch {
			case v.EnclaveReject != "":
				counts["enclave_reject"]++
				if err := ecall.Serve(ctx, rw, vectorTable); err == nil || out.Len() != 0 {
					t.Fatalf("Serve: %v, wrote %x", err, out.Bytes())
				}
			case v.HostReject != "":
				counts["host_reject"]++
				if v.ID == nil || v.Return == nil {
					t.Fatal("a host_reject vector has id, input and return")
				}
				hostReject(t, v)
			default:
				counts["call"]++
				if v.ID == nil {
					t.Fatal("a call vector has an id")
				}
				// From the document alone.
				frame := binary.BigEndian.AppendUint32(nil, *v.ID)
				frame = binary.BigEndian.AppendUint32(frame, uint32(len(v.Input)))
				if frame = append(frame, v.Input...); !bytes.Equal(frame, v.Call) {
					t.Fatalf("call frame %x, vector %x", frame, v.Call)
				}
				var status byte
				data := []byte(v.Output)
				switch {
				case v.Error != nil:
					status, data = 1, []byte(*v.Error)
				case v.NoSuchCall:
					status, data = 2, nil
				}
				ret := binary.BigEndian.AppendUint32([]byte{status}, uint32(len(data)))
				if ret = append(ret, data...); !bytes.Equal(ret, v.Return) {
					t.Fatalf("return frame %x, vector %x", ret, v.Return)
				}
				if err := ecall.Serve(ctx, rw, vectorTable); err != nil || !bytes.Equal(out.Bytes(), v.Return) {
					t.Fatalf("Serve: %v, wrote %x", err, out.Bytes())
				}
				calls = append(calls, v)
			}
		})
	}
	if counts["call"] < 6 || counts["enclave_reject"] < 3 || counts["host_reject"] < 4 {
		t.Errorf("vectors %v: the file lost some", counts)
	}
	// Every call, in order, through one enclave process.
	p, err := ecall.Start(selfCommand("ecall-serve"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range calls {
		out, err := p.Call(ctx, *v.ID, v.Input)
		var ee *ecall.Error
		switch {
		case v.Error != nil:
			if !errors.As(err, &ee) || ee.Msg != *v.Error {
				t.Errorf("%s: Process.Call: %v, want enclave error %q", v.Name, err, *v.Error)
			}
		case v.NoSuchCall:
			if !errors.Is(err, ecall.ErrNoSuchCall) {
				t.Errorf("%s: Process.Call: %v, want ErrNoSuchCall", v.Name, err)
			}
		default:
			if err != nil || !bytes.Equal(out, v.Output) {
				t.Errorf("%s: Process.Call = %x, %v", v.Name, out, err)
			}
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("enclave process: %v", err)
	}
	// An input over MaxMessage is refused before anything is sent.
	if _, err := p.Call(ctx, 0, make([]byte, ecall.MaxMessage+1)); err == nil || errors.Is(err, ecall.ErrEnclaveGone) {
		t.Errorf("input over MaxMessage: %v", err)
	}
	return len(f.Vectors)
}

// hostReject answers a call with the vector's bytes from an enclave process
// and checks that the host gives the process up.
func hostReject(t *testing.T, v ecallVector) {
	t.Helper()
	p, err := ecall.Start(selfCommand("ecall-reply", "SPEC_ECALL_REPLY="+hex.EncodeToString(v.Return)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Call(ctx, *v.ID, v.Input); !errors.Is(err, ecall.ErrEnclaveGone) {
		t.Fatalf("Process.Call: %v, want ErrEnclaveGone", err)
	}
	if _, err := p.Call(ctx, *v.ID, v.Input); !errors.Is(err, ecall.ErrEnclaveGone) {
		t.Fatalf("second Process.Call: %v, want ErrEnclaveGone", err)
	}
}
