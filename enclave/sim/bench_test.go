package sim_test

import (
	"context"
	"testing"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
)

// BenchmarkSimEvidence measures evidence generation through the platform
// process protocol (a Unix socket round trip and a P-256 signature, report
// version 2).
func BenchmarkSimEvidence(b *testing.B) {
	p := simtest.Start(b)
	ctx := context.Background()
	var rd enclave.ReportData
	for b.Loop() {
		if _, err := p.Client.Evidence(ctx, rd); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evidence/s")
}

// BenchmarkSimVerify measures verification with the attestation key's
// chain cached (the steady state of a verifier): one P-256 verification
// (report version 2).
func BenchmarkSimVerify(b *testing.B) {
	p := simtest.Start(b)
	ctx := context.Background()
	ev, err := p.Client.Evidence(ctx, enclave.ReportData{})
	if err != nil {
		b.Fatal(err)
	}
	v := p.Verifier()
	for b.Loop() {
		if _, err := v.Verify(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verify/s")
}
