package snp_test

import (
	"bytes"
	"testing"

	"github.com/confide/confide/enclave/enclavetest"
)

// The SNP backend passes the conformance suite end to end with fake AMD
// keys: fake VCEK chain, fake signed reports, fake sealing device.
func TestConformance(t *testing.T) {
	p := newPlatform(t, fullOptions())
	a := p.Attester()
	a.Device = fakeDevice(0, bytes.Repeat([]byte{0x5A}, 32))
	enclavetest.Run(t, enclavetest.Backend{Platform: a, Verifier: p.Verifier(), FlipStride: 7})
}
