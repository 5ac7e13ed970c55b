package snp_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/snp"
	"github.com/confide/confide/enclave/snp/snptest"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json and the fuzz seed corpus")

const (
	vectorsPath = "testdata/vectors.json"
	seedsDir    = "testdata/fuzz/FuzzParsePayload"
)

// vectorFile is testdata/vectors.json (spec/evidence-snp.md, "Test
// vectors"): evidence made by a fake AMD whose root is given, to verify at
// Now.
type vectorFile struct {
	Comment string    `json:"comment"`
	Now     time.Time `json:"now"`
	Root    struct {
		ProductLine string `json:"product_line"`
		ARK         []byte `json:"ark"`
		ASK         []byte `json:"ask"`
		ASVK        []byte `json:"asvk"`
	} `json:"root"`
	Vectors []vector `json:"vectors"`
}

// vector is valid evidence with its claims, or evidence to reject and why.
type vector struct {
	Name     string          `json:"name"`
	Evidence []byte          `json:"evidence"`
	Claims   *enclave.Claims `json:"claims,omitempty"`
	Reject   string          `json:"reject,omitempty"`
}

func TestVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("%v (regenerate with go test -run TestVectors -update)", err)
	}
	var f vectorFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	root := snp.Root{ProductLine: f.Root.ProductLine}
	for _, c := range []struct {
		der []byte
		dst **x509.Certificate
	}{{f.Root.ARK, &root.ARK}, {f.Root.ASK, &root.ASK}, {f.Root.ASVK, &root.ASVK}} {
		if *c.dst, err = x509.ParseCertificate(c.der); err != nil {
			t.Fatal(err)
		}
	}
	valid := 0
	for _, vec := range f.Vectors {
		t.Run(vec.Name, func(t *testing.T) {
			if (vec.Claims == nil) == (vec.Reject == "") {
				t.Fatal("a vector needs exactly one of claims and reject")
			}
			// Every entry point: the verifier with a warm and a cold chain
			// cache, and the parser's round trip.
			for _, cache := range []int{0, -1} {
				v := &snp.Verifier{Roots: []snp.Root{root}, Now: func() time.Time { return f.Now }, ChainCacheSize: cache}
				for range 2 {
					got, err := v.Verify(ctx, vec.Evidence)
					switch {
					case vec.Reject != "" && err == nil:
						t.Fatalf("accepted evidence to reject (%s)", vec.Reject)
					case vec.Reject != "":
					case err != nil:
						t.Fatal(err)
					case !got.Identity.Equal(vec.Claims.Identity) || got.ReportData != vec.Claims.ReportData:
						t.Fatalf("claims\n got %+v\nwant %+v", got, *vec.Claims)
					}
				}
			}
			_, payload, err := enclave.UnwrapEvidence(vec.Evidence)
			if err != nil {
				t.Fatal(err)
			}
			again, err := snp.ReencodePayload(payload)
			if vec.Claims != nil && (err != nil || !bytes.Equal(again, payload)) {
				t.Errorf("payload does not round-trip: %v", err)
			}
			if vec.Claims != nil {
				valid++
			}
		})
	}
	if valid < 4 || len(f.Vectors)-valid < 4 {
		t.Errorf("%d valid and %d invalid vectors; the file lost some", valid, len(f.Vectors)-valid)
	}
}

// writeVectors regenerates the vectors and the fuzz seeds from snptest.
func writeVectors(t *testing.T) {
	o := fullOptions()
	p := newPlatform(t, o)
	rd := mustReportData(t, "vector nonce", "vector runtime data")
	var f vectorFile
	f.Comment = "SNP evidence test vectors, spec/evidence-snp.md. Made by snptest with go-sev-guest's fake AMD keys; " +
		"regenerate with: go test ./enclave/snp -run TestVectors -update"
	f.Now = p.Now()
	f.Root.ProductLine, f.Root.ARK, f.Root.ASK, f.Root.ASVK = "Milan", p.Signer.Ark.Raw, p.Signer.Ask.Raw, p.Signer.Asvk.Raw
	v := p.Verifier()

	valid := func(name string, edit func(*snptest.Options)) {
		saved := p.Options
		edit(&p.Options)
		ev := mustEvidence(t, p.Attester(), rd)
		p.Options = saved
		c, err := v.Verify(ctx, ev)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f.Vectors = append(f.Vectors, vector{Name: name, Evidence: ev, Claims: &c})
		_, payload, _ := enclave.UnwrapEvidence(ev)
		seed := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", payload)
		if err := os.WriteFile(filepath.Join(seedsDir, strings.ReplaceAll(name, " ", "-")), seed, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reject := func(name, why string, ev []byte) {
		if _, err := v.Verify(ctx, ev); err == nil {
			t.Fatalf("%s: accepted", name)
		}
		f.Vectors = append(f.Vectors, vector{Name: name, Evidence: ev, Reject: why})
	}
	if err := os.RemoveAll(seedsDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(seedsDir, 0o755); err != nil {
		t.Fatal(err)
	}

	valid("vcek", func(o *snptest.Options) {})
	valid("vlek", func(o *snptest.Options) { o.VLEK = true })
	valid("debug author key v2", func(o *snptest.Options) { o.Debug, o.AuthorKey, o.Version = true, true, 2 })
	valid("provisional firmware", func(o *snptest.Options) {
		o.Edit = func(r *spb.Report) { r.CurrentTcb += 1 << 48 }
	})

	good := mustEvidence(t, p.Attester(), rd)
	_, payload, _ := enclave.UnwrapEvidence(good)
	report, certs := split(t, payload)
	edited := func(edit func(r []byte)) []byte {
		r := bytes.Clone(report)
		edit(r)
		return wrap(t, join(r, certs))
	}
	reject("trailing byte", "a byte follows the ARK", wrap(t, append(bytes.Clone(payload), 0)))
	reject("payload version 2", "unknown payload version", wrap(t, append([]byte{2}, payload[1:]...)))
	reject("R high byte", "R wider than 48 bytes (not covered by the signature)", edited(func(r []byte) { r[0x2A0+71] = 1 }))
	reject("signature padding", "non-zero byte after S", edited(func(r []byte) { r[0x4A0-1] = 1 }))
	reject("report data changed", "signature does not verify", edited(func(r []byte) { r[0x50] ^= 1 }))
	reject("ASK and ARK swapped", "certificates out of order", wrap(t, join(report, [3][]byte{certs[0], certs[2], certs[1]})))
	p.Options.ChipID[0] ^= 1
	reject("other chip", "the VCEK's HWID is not CHIP_ID", mustEvidence(t, p.Attester(), rd))
	p.Options.ChipID[0] ^= 1
	p.Options.GuestSVN = 1 << 16
	reject("guest svn 65536", "GUEST_SVN does not fit 16 bits", mustEvidence(t, p.Attester(), rd))

	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsPath, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFuzzSeeds checks that the committed seed corpus is there, is in the
// fuzzing engine's format and holds payloads that parse: a corpus that
// silently disappears or rots fuzzes nothing.
func TestFuzzSeeds(t *testing.T) {
	entries, err := os.ReadDir(seedsDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 4 {
		t.Fatalf("%d seeds in %s, want at least 4", len(entries), seedsDir)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(seedsDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		header, body, ok := strings.Cut(string(b), "\n")
		body, hasLiteral := strings.CutPrefix(strings.TrimSpace(body), "[]byte(")
		body, hasClose := strings.CutSuffix(body, ")")
		if !ok || header != "go test fuzz v1" || !hasLiteral || !hasClose {
			t.Fatalf("%s: not a go test fuzz v1 []byte file", e.Name())
		}
		payload, err := strconv.Unquote(body)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if _, err := snp.ReencodePayload([]byte(payload)); err != nil {
			t.Errorf("%s: seed does not parse: %v", e.Name(), err)
		}
	}
}
