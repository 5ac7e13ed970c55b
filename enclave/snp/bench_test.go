package snp_test

import (
	"testing"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/snp/snptest"
)

// BenchmarkSNPEvidence measures evidence generation against the fake
// platform: a P-384 signature (the AMD secure processor's part, done here
// in software), the report's parse, and finding the chain (two RSA-4096
// verifications).
func BenchmarkSNPEvidence(b *testing.B) {
	p := newPlatform(b, fullOptions())
	a := p.Attester()
	rd := enclave.ReportData{1}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Evidence(ctx, rd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSNPVerify measures verification with the chain cache (the
// steady state: one P-384 verification of the report) and without it
// (also the ASK's and ARK's RSA-4096 signatures and the VCEK's parse and
// checks), side by side.
func BenchmarkSNPVerify(b *testing.B) {
	for _, bc := range []struct {
		name  string
		cache int
		vlek  bool
	}{
		{"cached", 0, false},
		{"uncached", -1, false},
		{"vlek-cached", 0, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := newPlatform(b, snptest.Options{VLEK: bc.vlek})
			ev := mustEvidence(b, p.Attester(), enclave.ReportData{1})
			v := p.Verifier()
			v.ChainCacheSize = bc.cache
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
