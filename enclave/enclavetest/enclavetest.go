// Package enclavetest is the conformance suite every enclave backend
// passes: the simulation in CI, and each hardware backend with its fake or
// captured evidence. Run it from the backend's tests:
//
//	enclavetest.Run(t, enclavetest.Backend{Platform: p, Verifier: v})
package enclavetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/confide/confide/enclave"
)

// Backend is what the suite exercises.
type Backend struct {
	// Platform produces evidence and reports its identity.
	Platform enclave.Platform
	// Verifier must accept the Platform's evidence.
	Verifier enclave.Verifier
	// FlipStride, when above 1, flips every FlipStride-th byte instead of
	// every byte, for backends whose verification is slow. Each byte of
	// the envelope header and of the first and last 64 bytes is always
	// flipped.
	FlipStride int
}

// Run runs the suite.
func Run(t *testing.T, b Backend) {
	ctx := context.Background()
	var nonce [32]byte
	rand.Read(nonce[:])
	runtime := []byte(`{"pub":"conformance"}`)
	rd, err := enclave.NewReportData(nonce[:], runtime)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := b.Platform.Evidence(ctx, rd)
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	self, err := b.Platform.Identity(ctx)
	if err != nil {
		t.Fatalf("Identity: %v", err)
	}

	t.Run("claims", func(t *testing.T) {
		c, err := b.Verifier.Verify(ctx, ev)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if c.ReportData != rd {
			t.Errorf("report data = %x, want %x", c.ReportData, rd)
		}
		if !c.ReportData.HasNonce(nonce[:]) || !c.ReportData.Binds(runtime) {
			t.Error("report data does not carry the nonce and runtime data hash")
		}
		if !c.Identity.Equal(self) {
			t.Errorf("claims identity %+v differs from platform's own %+v", c.Identity, self)
		}
		platform, _, err := enclave.UnwrapEvidence(ev)
		if err != nil || platform != c.Platform {
			t.Errorf("envelope platform %q, claims %q (%v)", platform, c.Platform, err)
		}
		for name, f := range map[string][]byte{"unique_id": c.UniqueID, "config_id": c.ConfigID, "signer_id": c.SignerID} {
			if len(f) < 32 {
				t.Errorf("%s is %d bytes, want at least 32", name, len(f))
			}
		}
		if c.TCBStatus == "" {
			t.Error("empty tcb_status")
		}
		if c.Platform == enclave.PlatformSim && !c.Debug {
			t.Error("simulated evidence must be marked debug")
		}
	})

	t.Run("fresh", func(t *testing.T) {
		var other enclave.ReportData
		other[0] = 1
		ev2, err := b.Platform.Evidence(ctx, other)
		if err != nil {
			t.Fatal(err)
		}
		c, err := b.Verifier.Verify(ctx, ev2)
		if err != nil {
			t.Fatal(err)
		}
		if c.ReportData != other {
			t.Error("second evidence does not carry its own report data")
		}
	})

	t.Run("tamper", func(t *testing.T) {
		stride := max(b.FlipStride, 1)
		bad := append([]byte(nil), ev...)
		for i := range bad {
			if stride > 1 && i >= 64 && i < len(bad)-64 && i%stride != 0 {
				continue
			}
			for _, mask := range []byte{0x01, 0x80} {
				bad[i] ^= mask
				if _, err := b.Verifier.Verify(ctx, bad); err == nil {
					t.Fatalf("evidence with byte %d xor %#x accepted", i, mask)
				}
				bad[i] ^= mask
			}
		}
		for _, n := range []int{0, 1, len(ev) / 2, len(ev) - 1} {
			if _, err := b.Verifier.Verify(ctx, ev[:n]); err == nil {
				t.Errorf("evidence truncated to %d bytes accepted", n)
			}
		}
		if _, err := b.Verifier.Verify(ctx, append(append([]byte(nil), ev...), 0)); err == nil {
			t.Error("evidence with a trailing byte accepted")
		}
	})

	sk, ok := b.Platform.(enclave.SealKeyer)
	if !ok {
		return
	}
	t.Run("sealkeys", func(t *testing.T) {
		var id1, id2 [32]byte
		rand.Read(id1[:])
		rand.Read(id2[:])
		get := func(p enclave.SealPolicy, svn uint16, id [32]byte) []byte {
			k, err := sk.SealKey(ctx, enclave.KeyRequest{Policy: p, SVN: svn, KeyID: id})
			if err != nil {
				t.Fatalf("SealKey(%v, %d): %v", p, svn, err)
			}
			if len(k) != 32 {
				t.Fatalf("key of %d bytes", len(k))
			}
			return k
		}
		a, a2 := get(enclave.SealUnique, 0, id1), get(enclave.SealUnique, 0, id1)
		if !bytes.Equal(a, a2) {
			t.Error("same request gave two keys")
		}
		if bytes.Equal(a, get(enclave.SealUnique, 0, id2)) {
			t.Error("key ID does not change the key")
		}
		if _, err := sk.SealKey(ctx, enclave.KeyRequest{Policy: 9, KeyID: id1}); err == nil {
			t.Error("unknown seal policy accepted")
		}
		// Backends whose hardware cannot bind the signer (SNP) refuse
		// product keys outright rather than derive weaker ones.
		if _, err := sk.SealKey(ctx, enclave.KeyRequest{Policy: enclave.SealProduct, SVN: self.SVN, KeyID: id1}); errors.Is(err, errors.ErrUnsupported) {
			t.Log("backend offers no product sealing keys")
			return
		}
		if bytes.Equal(a, get(enclave.SealProduct, self.SVN, id1)) {
			t.Error("policy does not change the key")
		}
		if self.SVN > 0 && bytes.Equal(get(enclave.SealProduct, self.SVN, id1), get(enclave.SealProduct, self.SVN-1, id1)) {
			t.Error("SVN does not change the product key")
		}
		if self.SVN < 0xffff {
			_, err := sk.SealKey(ctx, enclave.KeyRequest{Policy: enclave.SealProduct, SVN: self.SVN + 1, KeyID: id1})
			if err == nil {
				t.Error("key for a higher SVN than the enclave's own was derived")
			}
		}
	})
}
