package spec_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "regenerate the signed vector files (evidence-sim, atls, enclave-image) and the fuzz seed corpora")

// A kind is one vector file's format: run decodes the file strictly, runs
// every vector through every entry point and returns how many vectors it
// ran.
type kind struct {
	file string
	min  int // fewer vectors than this means the file lost some
	run  func(t *testing.T, b []byte) int
}

var kinds = map[string]kind{
	"reportdata":        {"reportdata.json", 7, runReportData},
	"evidence-envelope": {"evidence-envelope.json", 17, runEnvelope},
	"claims-json":       {"claims-json.json", 18, runClaimsJSON},
	"evidence-sim":      {"evidence-sim.json", 70, runEvidenceSim},
	"manifest":          {"manifest.json", 30, runManifest},
	"enclave-image":     {"enclave-image.json", 20, runEnclaveImage},
	"sim-seal-key":      {"sim-seal-key.json", 12, runSimSealKey},
	"sealed-blob":       {"sealed-blob.json", 27, runSealedBlob},
	"atls-certificate":  {"atls.json", 15, runATLS},
	"policy":            {"policy.json", 80, runPolicy},
	"ecall-frames":      {"ecall-frames.json", 18, runECallFrames},
	"audit-log":         {"audit-log.json", 3, runAuditLog},
	"ae-cell":           {"ae-cell.json", 10, runAECell},
	"ae-cek":            {"ae-cek.json", 2, runAECEK},
	"decimal":           {"decimal.json", 37, runDecimal},
	"ledger-merkle":     {"ledger-merkle.json", 17, runLedgerMerkle},
	"ledger-entry":      {"ledger-entry.json", 1, runLedgerEntry},
	"evidence-sgx":      {"evidence-sgx.json", 18, runEvidenceSGX},
}

// TestVectors runs every file in testdata. A file of unknown kind, a kind
// without a file, an unknown member or too few vectors fail the test.
func TestVectors(t *testing.T) {
	if *update {
		generate(t)
	}
	if *updateSGX {
		writeSGXEvidence(t)
	}
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var h struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(b, &h); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		k, ok := kinds[h.Kind]
		if !ok {
			t.Errorf("%s: unknown vector kind %q", f, h.Kind)
			continue
		}
		if other, dup := seen[h.Kind]; dup {
			t.Errorf("%s: kind %q already in %s", f, h.Kind, other)
			continue
		}
		seen[h.Kind] = f
		if filepath.Base(f) != k.file {
			t.Errorf("%s: kind %q belongs in %s", f, h.Kind, k.file)
		}
		t.Run(h.Kind, func(t *testing.T) {
			if n := k.run(t, b); n < k.min {
				t.Errorf("%s: %d vectors, want at least %d: the file lost some", f, n, k.min)
			}
		})
	}
	var missing []string
	for name, k := range kinds {
		if _, ok := seen[name]; !ok {
			missing = append(missing, k.file)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no vectors loaded from %s", strings.Join(missing, ", "))
	}
}

// fileHeader is the members every vector file has.
type fileHeader struct {
	Kind    string `json:"kind"`
	Spec    string `json:"spec"`
	Comment string `json:"comment"`
}

func (h fileHeader) check(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(h.Spec); err != nil || h.Comment == "" {
		t.Errorf("file names spec %q (%v) and comment %q", h.Spec, err, h.Comment)
	}
}

// decodeStrict decodes one JSON value with unknown members disallowed and
// nothing after it.
func decodeStrict(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := strictJSON(b, v); err != nil {
		t.Fatalf("vector file: %v", err)
	}
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

// hexBytes is a byte string written as lower-case hex; spaces are ignored
// so that frames can be written field by field. Absent stays nil; "" is
// empty, not nil.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	s = strings.ReplaceAll(s, " ", "")
	if s != strings.ToLower(s) {
		return fmt.Errorf("hex %q is not lower case", s)
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = append(hexBytes{}, d...)
	return nil
}

func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

func mustWriteJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeSeeds replaces a fuzz target's seed corpus with inputs, in the
// fuzzing engine's "go test fuzz v1" format.
func writeSeeds(t *testing.T, dir string, seeds map[string][]byte) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		file := strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
				return r
			}
			if r >= 'A' && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return '-'
		}, name)
		seed := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, file), seed, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// oneOf fails unless exactly one of the named conditions holds.
func oneOf(t *testing.T, what string, conds ...bool) {
	t.Helper()
	n := 0
	for _, c := range conds {
		if c {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("a vector needs exactly one of %s", what)
	}
}
