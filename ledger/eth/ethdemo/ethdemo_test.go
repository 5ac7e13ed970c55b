package ethdemo

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confide/confide/ledger/eth/ethload"
)

func TestTableAndChart(t *testing.T) {
	rs := []ethload.Result{
		{Label: LabelConfide, Transfers: 5000, TPS: 1200, P50ms: 50, P99ms: 150, Verified: true},
		{Label: LabelGethInstant, Transfers: 5000, TPS: 900, P50ms: 60, P99ms: 110, Verified: true},
		{Label: LabelGeth12s, Transfers: 192, TPS: 5.3, P50ms: 11000, P99ms: 12100, Verified: true},
	}
	var b bytes.Buffer
	Table(&b, rs)
	for _, want := range []string{"confide (3 nodes)", "1200.0", "0.75x", "geth --dev (12 s blocks)", "12100.0", "commits 1.33× the transfers/s of geth --dev (instant)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	path := filepath.Join(t.TempDir(), "eth.svg")
	if err := Chart(path, rs); err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "Committed ERC-20 transfers per second", "Latency, send to receipt", "geth --dev (instant)", "p99", "12100.0"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("chart lacks %q", want)
		}
	}
}
