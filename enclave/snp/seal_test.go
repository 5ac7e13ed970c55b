package snp_test

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/snp"
	"github.com/confide/confide/enclave/snp/snptest"
	labi "github.com/google/go-sev-guest/client/linuxabi"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	sevtest "github.com/google/go-sev-guest/testing"
)

// fakeDevice answers exactly one MSG_KEY_REQ: the VCEK root (0), guest
// fields MEASUREMENT and GUEST_POLICY (bits 3 and 0), at vmpl, with no
// SVN or TCB. Any other request fails, so the test pins the request.
func fakeDevice(vmpl uint32, hw []byte) *sevtest.Device {
	req := &labi.SnpDerivedKeyReqABI{RootKeySelect: 0, GuestFieldSelect: 1<<3 | 1<<0, Vmpl: vmpl}
	return &sevtest.Device{Keys: map[string][]byte{sevtest.DerivedKeyRequestToString(req): hw}}
}

// referenceSealKey is spec/evidence-snp.md's derivation, written out.
func referenceSealKey(t *testing.T, hw, hostData []byte, keyID [32]byte) []byte {
	t.Helper()
	info := append([]byte("confide snp seal v1\x00\x01"), hostData...)
	k, err := hkdf.Key(sha256.New, hw, keyID[:], string(info), 32)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealKey(t *testing.T) {
	hw := bytes.Repeat([]byte{0x5A}, 32)
	o := fullOptions()
	p := newPlatform(t, o)
	a := p.Attester()
	a.Device = fakeDevice(0, hw)

	req := enclave.KeyRequest{Policy: enclave.SealUnique, SVN: 3, KeyID: [32]byte{1, 2, 3}}
	k1, err := a.SealKey(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if want := referenceSealKey(t, hw, o.HostData[:], req.KeyID); !bytes.Equal(k1, want) {
		t.Errorf("key %x, reference %x", k1, want)
	}
	// SVN is ignored under SealUnique; KeyID and HOST_DATA change the key.
	req.SVN = 0
	if k, _ := a.SealKey(ctx, req); !bytes.Equal(k, k1) {
		t.Error("SVN changed a SealUnique key")
	}
	req.KeyID[0]++
	if k, _ := a.SealKey(ctx, req); bytes.Equal(k, k1) {
		t.Error("KeyID did not change the key")
	}
	req.KeyID[0]--
	p.Options.HostData[0]++
	if k, _ := a.SealKey(ctx, req); bytes.Equal(k, k1) {
		t.Error("HOST_DATA did not change the key")
	}

	if _, err := a.SealKey(ctx, enclave.KeyRequest{Policy: enclave.SealProduct}); !errors.Is(err, snp.ErrSealProduct) || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SealProduct: %v, want ErrSealProduct", err)
	}
	if _, err := a.SealKey(ctx, enclave.KeyRequest{Policy: 9}); err == nil {
		t.Error("unknown policy accepted")
	}
}

// TestSealKeyVMPL: the request asks for the VMPL the guest runs at, as
// its report says; the device refuses any other.
func TestSealKeyVMPL(t *testing.T) {
	hw := bytes.Repeat([]byte{0xA5}, 32)
	p := newPlatform(t, snptest.Options{Edit: func(r *spb.Report) { r.Vmpl = 2 }})
	a := p.Attester()
	a.Device = fakeDevice(2, hw)
	if _, err := a.SealKey(ctx, enclave.KeyRequest{Policy: enclave.SealUnique}); err != nil {
		t.Fatal(err)
	}
	a.Device = fakeDevice(0, hw)
	if _, err := a.SealKey(ctx, enclave.KeyRequest{Policy: enclave.SealUnique}); err == nil {
		t.Error("derived a key at VMPL 0 for a VMPL 2 guest")
	}
}

// TestSealKeyNoDevice: without an injected device the attester opens
// /dev/sev-guest, which this machine lacks.
func TestSealKeyNoDevice(t *testing.T) {
	p := newPlatform(t, snptest.Options{})
	_, err := p.Attester().SealKey(ctx, enclave.KeyRequest{Policy: enclave.SealUnique})
	if err == nil {
		t.Skip("this machine has /dev/sev-guest")
	}
	t.Logf("as expected: %v", err)
}
