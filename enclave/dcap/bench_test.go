package dcap_test

import (
	"testing"

	"github.com/confide/confide/enclave/dcap"
)

// BenchmarkVerify measures SGX quote verifications per second with the
// collateral at hand: "cached" is a Verifier that has seen the platform's
// PCK chain and the collateral before (each quote then costs its QE
// report and quote signatures, and the validity windows); "uncached"
// verifies every chain, CRL and collateral signature every time.
// Command (docs/benchmarks.md):
//
//	go test -run '^$' -bench Verify -benchtime 2s ./enclave/dcap/
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b, dcap.Version4)
	v := dcap.NewVerifier(f.opts())
	for name, verify := range map[string]func() (*dcap.Result, error){
		"cached":   func() (*dcap.Result, error) { return v.Verify(f.raw, f.col) },
		"uncached": func() (*dcap.Result, error) { return dcap.Verify(f.raw, f.col, f.opts()) },
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := verify(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
		})
	}
	b.Run("parse-only", func(b *testing.B) {
		for b.Loop() {
			if _, err := dcap.Parse(f.raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
