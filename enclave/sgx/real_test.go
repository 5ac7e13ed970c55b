package sgx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/dcap"
)

// A real SGX quote with the collateral that others publish for it
// (testdata/real/README.md), verified end to end against Intel's real SGX
// Root CA: PCK chain, CRLs, QE report, quote signature, TCB info and QE
// identity signatures over the bytes as served, TCB level selection and
// the QE's convergence — each at a time inside its collateral's window.
func TestRealSGXQuoteWithCollateral(t *testing.T) {
	h, err := os.ReadFile("testdata/real/dcap-qvl/quote.hex")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(h)))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != "f8b81014b6e443609746822194910f5dc1c92c322fa0584298d1e33e505ca3b5" {
		t.Fatalf("the quote is not the published one: %x", sum)
	}
	ev, err := wrapQuote(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir        string
		at         time.Time
		status     string
		advisories []string
		eval       float64
	}{
		// Phala's dcap-qvl ships this collateral with the quote (issued
		// 2025-06-19); its tests expect the same verdict.
		{"dcap-qvl", time.Date(2025, 6, 20, 0, 0, 0, 0, time.UTC), enclave.TCBConfigurationAndSWHardeningNeeded,
			[]string{"INTEL-SA-00289", "INTEL-SA-00615"}, 17},
		// The same quote with Intel's collateral of 2026-09-22, fetched
		// from Intel PCS by SOBEK96/Compute2Data: the platform has fallen
		// out of date since.
		{"compute2data", time.Date(2026, 9, 23, 0, 0, 0, 0, time.UTC), enclave.TCBOutOfDateConfigurationNeeded,
			[]string{"INTEL-SA-00289", "INTEL-SA-00615", "INTEL-SA-01153"}, 20},
	} {
		t.Run(c.dir, func(t *testing.T) {
			ctx := context.Background()
			col := CollateralFS(os.DirFS(filepath.Join("testdata/real", c.dir)), true)
			newV := func(at time.Time, accept ...string) *Verifier {
				v, err := NewVerifier(Config{Collateral: col, Now: func() time.Time { return at }, AcceptStatuses: accept})
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			// Only UpToDate by default: this platform's status is refused,
			// and said.
			if _, err := newV(c.at).Verify(ctx, ev); !errors.Is(err, ErrTCBStatus) || !strings.Contains(err.Error(), c.status) {
				t.Fatalf("by default: %v", err)
			}
			cl, err := newV(c.at, c.status).Verify(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			if cl.TCBStatus != c.status || cl.Platform != enclave.PlatformSGX || cl.Debug ||
				hex.EncodeToString(cl.UniqueID) != "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb" ||
				hex.EncodeToString(cl.SignerID) != "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6" ||
				!strings.HasPrefix(string(cl.ReportData[:]), "Hello, world!") {
				t.Fatalf("claims %+v", cl)
			}
			var got []string
			for k, v := range cl.Extra {
				if a, ok := strings.CutPrefix(k, "x-sgx-advisory-"); ok && v == true {
					got = append(got, a)
				}
			}
			if strings.Join(slices.Sorted(slices.Values(got)), ",") != strings.Join(c.advisories, ",") || cl.Extra["x-sgx-tcb-evaluation-data-number"] != c.eval {
				t.Fatalf("advisories %v, extra %v", got, cl.Extra)
			}
			// After the collateral's next update: expired, reported apart.
			if _, err := newV(c.at.AddDate(0, 2, 0), c.status).Verify(ctx, ev); !errors.Is(err, dcap.ErrExpired) {
				t.Fatalf("two months on: %v", err)
			}
			// A changed report byte (ISV SVN) breaks the quote signature.
			bad := append([]byte(nil), raw...)
			bad[dcap.HeaderLen+0x102] ^= 1
			bev, _ := wrapQuote(bad)
			if _, err := newV(c.at, c.status).Verify(ctx, bev); err == nil {
				t.Fatal("a changed report verified")
			}
		})
	}
}
