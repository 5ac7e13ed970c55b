package tdx

import (
	"context"
	"testing"

	"github.com/google/go-tdx-guest/verify"
)

// BenchmarkTDXVerify verifies the captured quote against the collateral in
// testdata/collateral, read from disk on every verification. "confide" is
// Verifier.Verify; "go-tdx-guest" is the library's RawTdxQuote with the
// same options, alone: the difference is the cost of the envelope, the
// strict parse and the TCB evaluation.
func BenchmarkTDXVerify(b *testing.B) {
	cfg := testConfig(b)
	ev := capturedEvidence(b)
	quote := capturedQuote(b)
	ctx := context.Background()
	b.Run("confide", func(b *testing.B) {
		v := newTestVerifier(b, cfg)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-tdx-guest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			opts := &verify.Options{
				GetCollateral: true,
				Getter:        &recordingGetter{ctx: ctx, src: cfg.Collateral},
				Now:           fixedNow,
				TrustedRoots:  cfg.Roots,
			}
			if err := verify.RawTdxQuote(quote, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkParsePayload is the strict parse alone.
func BenchmarkParsePayload(b *testing.B) {
	payload := append([]byte{payloadV1}, capturedQuote(b)...)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := parsePayload(payload); err != nil {
			b.Fatal(err)
		}
	}
}
