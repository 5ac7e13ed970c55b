package attest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
)

func TestVerifier(t *testing.T) {
	ctx := context.Background()
	p := simtest.Start(t)
	v := &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSim: p.Verifier()}}
	rd, _ := enclave.NewReportData([]byte("nonce"), []byte("pubkey"))
	ev, err := p.Client.Evidence(ctx, rd)
	if err != nil {
		t.Fatal(err)
	}
	simOK, _ := attest.ParsePolicy([]byte(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"}]}`))
	prod, _ := attest.ParsePolicy([]byte(`{"version":"1.0.0","allOf":[{"claim":"debug","equals":false}]}`))
	if _, err := v.Verify(ctx, ev, attest.Expect{Nonce: []byte("nonce"), RuntimeData: []byte("pubkey"), Policy: simOK}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, ev, attest.Expect{Nonce: []byte("nonc3")}); !errors.Is(err, attest.ErrNonce) {
		t.Errorf("wrong nonce: %v", err)
	}
	if _, err := v.Verify(ctx, ev, attest.Expect{Nonce: []byte{}}); !errors.Is(err, attest.ErrNonce) {
		t.Errorf("nonce expected absent: %v", err)
	}
	if _, err := v.Verify(ctx, ev, attest.Expect{RuntimeData: []byte("other")}); err == nil {
		t.Error("wrong runtime data accepted")
	}
	if _, err := v.Verify(ctx, ev, attest.Expect{Policy: prod}); !errors.Is(err, attest.ErrPolicy) {
		t.Errorf("debug evidence under production policy: %v", err)
	}
	none := &attest.Verifier{}
	if _, err := none.Verify(ctx, ev, attest.Expect{}); err == nil {
		t.Error("verifier without backends accepted evidence")
	}
	if _, err := v.Verify(ctx, []byte("garbage"), attest.Expect{}); !errors.Is(err, enclave.ErrMalformedEvidence) {
		t.Errorf("garbage: %v", err)
	}
}
