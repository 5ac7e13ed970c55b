package sgx

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/enclavetest"
)

// fakeEGo answers as EGo's runtime would: Open Enclave remote reports
// around the fake QE's quotes, and fixed seal keys per policy.
type fakeEGo struct {
	qe       *fakeQE
	policies []uintptr
	header   func([]byte) []byte // tampers with the report, if set
}

func (f *fakeEGo) remoteReport(rd []byte) ([]byte, error) {
	if len(rd) != 64 {
		return nil, errors.New("report data of the wrong size")
	}
	q, err := f.qe.Quote(context.Background(), enclave.ReportData(rd))
	if err != nil {
		return nil, err
	}
	rep := MarshalOEReport(q)
	if f.header != nil {
		rep = f.header(rep)
	}
	return rep, nil
}

func (f *fakeEGo) sealKey(policy uintptr) ([]byte, error) {
	f.policies = append(f.policies, policy)
	switch policy {
	case oeSealPolicyUnique:
		return []byte("unique-key-16byt"), nil
	case oeSealPolicyProduct:
		return []byte("product-key-16by"), nil
	}
	return nil, errors.New("OE_INVALID_PARAMETER")
}

func TestEGoConformance(t *testing.T) {
	w := newWorld(t, Config{})
	a := NewAttester(AttesterConfig{Runtime: &EGo{calls: &fakeEGo{qe: w.fake}}, Verifier: w.verifier})
	enclavetest.Run(t, enclavetest.Backend{Platform: a, Verifier: w.verifier, FlipStride: 64})
}

func TestEGo(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, Config{})
	fake := &fakeEGo{qe: w.fake}
	a := NewAttester(AttesterConfig{Runtime: &EGo{calls: fake}})
	var rd enclave.ReportData
	copy(rd[:], "ego report data")
	ev, err := a.Evidence(ctx, rd)
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.verifier.Verify(ctx, ev)
	if err != nil || c.ReportData != rd || c.Platform != enclave.PlatformSGX {
		t.Fatalf("claims %+v, %v", c, err)
	}
	// Unique and product keys come from Open Enclave's policies 1 and 2,
	// and differ.
	ku, err := a.SealKey(ctx, enclave.KeyRequest{Policy: enclave.SealUnique})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := a.SealKey(ctx, enclave.KeyRequest{Policy: enclave.SealProduct})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ku, kp) || len(ku) != 32 || len(fake.policies) != 2 || fake.policies[0] != 1 || fake.policies[1] != 2 {
		t.Fatalf("seal keys: %x %x, policies %v", ku, kp, fake.policies)
	}
	// A report that is not a remote report of version 1 is refused.
	fake.header = func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:8], oeReportTypeSGXLocal); return b }
	if _, err := a.Evidence(ctx, rd); !errors.Is(err, ErrMalformedOEReport) {
		t.Fatalf("a local report: %v", err)
	}
	fake.header = func(b []byte) []byte { return b[:len(b)-1] }
	if _, err := a.Evidence(ctx, rd); !errors.Is(err, ErrMalformedOEReport) {
		t.Fatalf("a truncated report: %v", err)
	}
}

// Outside EGo, its runtime's system calls are unknown to the kernel: a
// clear error, not a crash.
func TestNotEGo(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("EGo's system calls exist on linux/amd64 only")
	}
	e := &EGo{}
	if _, err := e.Quote(context.Background(), enclave.ReportData{}); !errors.Is(err, ErrNotEGo) {
		t.Fatalf("quote outside EGo: %v", err)
	}
	if _, err := e.SealBase(context.Background(), enclave.SealProduct); !errors.Is(err, ErrNotEGo) {
		t.Fatalf("seal key outside EGo: %v", err)
	}
}

func TestParseOEReport(t *testing.T) {
	q := []byte("a quote's bytes")
	rep := MarshalOEReport(q)
	got, err := ParseOEReport(rep)
	if err != nil || !bytes.Equal(got, q) {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	set := func(off int, v uint32) []byte {
		b := bytes.Clone(rep)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	for name, b := range map[string][]byte{
		"empty":      nil,
		"header cut": rep[:15],
		"version 2":  set(0, 2),
		"local":      set(4, oeReportTypeSGXLocal),
		"type 3":     set(4, 3),
		"size +1":    set(8, uint32(len(q)+1)),
		"size -1":    set(8, uint32(len(q)-1)),
		"size high":  set(12, 1),
		"trailing":   append(bytes.Clone(rep), 0),
	} {
		if _, err := ParseOEReport(b); !errors.Is(err, ErrMalformedOEReport) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzOEReport(f *testing.F) {
	f.Add(MarshalOEReport([]byte("quote")))
	f.Add(MarshalOEReport(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseOEReport(b)
		if err != nil {
			return
		}
		if !bytes.Equal(MarshalOEReport(q), b) {
			t.Fatalf("%x parses but does not marshal back", b)
		}
	})
}
