package dcap_test

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/confide/confide/enclave/dcap"
	"github.com/confide/confide/enclave/dcap/dcaptest"
	"github.com/google/go-tdx-guest/testing/testdata"
)

var update = flag.Bool("update", false, "rewrite the fuzz seeds in testdata/fuzz")

// FuzzParse checks that the quote parser never panics and that whatever
// it accepts marshals back to exactly the input, with readable reports.
// Seeds: testdata/fuzz/FuzzParse (minted quotes of both formats and the
// production TDX quote; `go test -run TestFuzzSeeds -update` rewrites
// them).
func FuzzParse(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := dcap.Parse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(q.Marshal(), b) {
			t.Fatal("accepted bytes that do not marshal back")
		}
		if _, err := q.QE(); err != nil {
			t.Fatalf("accepted a quote whose QE report does not parse: %v", err)
		}
		if q.TEEType == dcap.TEESGX {
			if _, err := q.EnclaveReport(); err != nil {
				t.Fatalf("accepted an SGX quote whose report does not parse: %v", err)
			}
		}
	})
}

// FuzzSGXExtension checks the PCK certificate extension parser. Seeds:
// testdata/fuzz/FuzzSGXExtension.
func FuzzSGXExtension(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := dcap.ParseSGXExtension(b)
		if err != nil {
			return
		}
		if x.SGXType < 0 || x.SGXType > 2 {
			t.Fatalf("SGX type %d accepted", x.SGXType)
		}
	})
}

// TestFuzzSeeds keeps the seed corpora: present, and parsing.
func TestFuzzSeeds(t *testing.T) {
	raw := testdata.RawQuote
	tdx := raw[:0x27C+int(binary.LittleEndian.Uint32(raw[0x278:]))]
	seeds := map[string][][]byte{}
	if *update {
		_, _, v3 := mint(t, dcap.Version3)
		_, _, v4 := mint(t, dcap.Version4)
		seeds["FuzzParse"] = [][]byte{v3, v4, tdx, realQuote(t)}
		seeds["FuzzSGXExtension"] = [][]byte{dcaptest.MarshalSGXExtension(t, dcaptest.DefaultTCB())}
		q, err := dcap.Parse(tdx)
		if err != nil {
			t.Fatal(err)
		}
		leaf := firstCert(t, q.PCKChain)
		for _, e := range leaf.Extensions {
			if e.Id.Equal(dcap.OIDSGXExtensions) {
				seeds["FuzzSGXExtension"] = append(seeds["FuzzSGXExtension"], e.Value)
			}
		}
		for name, list := range seeds {
			dir := filepath.Join("testdata", "fuzz", name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for i, b := range list {
				body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(b)))
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for name, parse := range map[string]func([]byte) error{
		"FuzzParse":        func(b []byte) error { _, err := dcap.Parse(b); return err },
		"FuzzSGXExtension": func(b []byte) error { _, err := dcap.ParseSGXExtension(b); return err },
	} {
		files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", name, "seed*"))
		if len(files) == 0 {
			t.Fatalf("%s: no seeds (go test -run TestFuzzSeeds -update)", name)
		}
		for _, fn := range files {
			b, err := os.ReadFile(fn)
			if err != nil {
				t.Fatal(err)
			}
			lines := bytes.SplitN(b, []byte("\n"), 2)
			s := string(bytes.TrimSpace(lines[1]))
			s = s[len("[]byte(") : len(s)-1]
			v, err := strconv.Unquote(s)
			if err != nil {
				t.Fatalf("%s: %v", fn, err)
			}
			if err := parse([]byte(v)); err != nil {
				t.Errorf("%s: %v", fn, err)
			}
		}
	}
}
