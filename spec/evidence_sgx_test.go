package spec_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/dcap"
	"github.com/confide/confide/enclave/dcap/dcaptest"
	"github.com/confide/confide/enclave/sgx"
	"github.com/google/go-tdx-guest/testing/testdata"
)

var updateSGX = flag.Bool("update-sgx", false, "regenerate testdata/evidence-sgx.json (a new fake Intel hierarchy)")

type sgxEvidenceFile struct {
	fileHeader
	Root []byte    `json:"root"` // the fake Intel SGX Root CA, DER, base64
	Now  time.Time `json:"now"`
	// Collateral sets, by name: file name (sgx.CollateralFS layout) to
	// bytes, base64.
	Collateral map[string]map[string][]byte `json:"collateral"`
	Vectors    []sgxEvidenceVector          `json:"vectors"`
}

type sgxEvidenceVector struct {
	Name       string          `json:"name"`
	Evidence   []byte          `json:"evidence"` // base64
	Collateral string          `json:"collateral"`
	Now        *time.Time      `json:"now,omitempty"`
	Accept     []string        `json:"accept,omitempty"`
	Claims     json.RawMessage `json:"claims,omitempty"`
	Reject     string          `json:"reject,omitempty"`
	Error      string          `json:"error,omitempty"`
}

// Error classes of evidence-sgx.md.
var sgxErrors = map[string]error{
	"malformed":  enclave.ErrMalformedEvidence,
	"invalid":    dcap.ErrInvalid,
	"collateral": dcap.ErrCollateral,
	"expired":    dcap.ErrExpired,
	"status":     sgx.ErrTCBStatus,
}

// writeSGXEvidence regenerates testdata/evidence-sgx.json.
func writeSGXEvidence(t *testing.T) {
	if err := os.WriteFile("testdata/evidence-sgx.json", generateSGXEvidence(t), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runEvidenceSGX(t *testing.T, b []byte) int {
	var f sgxEvidenceFile
	decodeStrict(t, b, &f)
	f.check(t)
	roots := rootPool(t, f.Root)
	valid, classes := 0, map[string]int{}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			oneOf(t, "claims and reject", v.Claims != nil, v.Reject != "")
			set, ok := f.Collateral[v.Collateral]
			if !ok {
				t.Fatalf("no collateral set %q", v.Collateral)
			}
			fsys := fstest.MapFS{}
			for name, data := range set {
				fsys[name] = &fstest.MapFile{Data: data}
			}
			now := f.Now
			if v.Now != nil {
				now = *v.Now
			}
			sv, err := sgx.NewVerifier(sgx.Config{Collateral: sgx.CollateralFS(fsys, true), Roots: roots,
				Now: func() time.Time { return now }, AcceptStatuses: v.Accept})
			if err != nil {
				t.Fatal(err)
			}
			av := &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSGX: sv}}
			var results []error
			var claims []enclave.Claims
			for _, verify := range []func() (enclave.Claims, error){
				func() (enclave.Claims, error) { return sv.Verify(ctx, v.Evidence) },
				func() (enclave.Claims, error) { return sv.Verify(ctx, v.Evidence) }, // remembered
				func() (enclave.Claims, error) {
					c, err := av.Verify(ctx, v.Evidence, attest.Expect{})
					if err != nil {
						return enclave.Claims{}, err
					}
					return c, nil
				},
			} {
				c, err := verify()
				results = append(results, err)
				claims = append(claims, c)
			}
			if v.Reject != "" {
				classes[v.Error]++
				class, ok := sgxErrors[v.Error]
				if !ok {
					t.Fatalf("unknown error class %q", v.Error)
				}
				for i, err := range results {
					if !errors.Is(err, class) {
						t.Fatalf("entry point %d: %v, want %s (%s)", i, err, v.Error, v.Reject)
					}
				}
				return
			}
			valid++
			var want enclave.Claims
			if err := json.Unmarshal(v.Claims, &want); err != nil {
				t.Fatal(err)
			}
			for i, c := range claims {
				if results[i] != nil {
					t.Fatalf("entry point %d: %v", i, results[i])
				}
				got, _ := json.Marshal(c)
				var compact bytes.Buffer
				if err := json.Compact(&compact, v.Claims); err != nil || !bytes.Equal(got, compact.Bytes()) {
					t.Fatalf("entry point %d: claims\n%s\nwant\n%s", i, got, compact.Bytes())
				}
			}
		})
	}
	if valid < 3 || classes["malformed"] < 6 || classes["invalid"] < 4 || classes["collateral"] < 1 || classes["expired"] < 1 || classes["status"] < 1 {
		t.Errorf("%d valid vectors and rejects %v: the file lost some", valid, classes)
	}
	return len(f.Vectors)
}

// generateSGXEvidence mints a fake Intel hierarchy, a platform, its QE and
// evidence, and the vectors.
func generateSGXEvidence(t *testing.T) []byte {
	h := dcaptest.New(t)
	p := h.NewPlatform(t, dcaptest.DefaultTCB())
	qe := p.NewQE(t)
	var rd [64]byte
	copy(rd[:], "spec/evidence-sgx.md vector report data")
	ev := func(q *dcap.Quote) []byte { return wrap(t, 1, q.Marshal()) }
	v3 := qe.Quote(t, h, dcap.Version3, dcaptest.EnclaveReport(rd))
	v4 := qe.Quote(t, h, dcap.Version4, dcaptest.EnclaveReport(rd))
	kssReport := dcaptest.EnclaveReport(rd)
	kssReport.Attributes[0] |= dcap.AttrKSS | dcap.AttrDebug
	copy(kssReport.ConfigID[:], "a KSS CONFIGID")
	kss := qe.Quote(t, h, dcap.Version4, kssReport)

	files := func(c *dcap.Collateral) map[string][]byte {
		return map[string][]byte{
			"tcbinfo-00906ed50000.json": c.TCBInfo, "tcbinfo-00906ed50000.chain.pem": c.TCBInfoChain,
			"qeidentity.json": c.QEIdentity, "qeidentity.chain.pem": c.QEIdentityChain,
			"pckcrl-platform.der": c.PCKCRL, "pckcrl-platform.chain.pem": c.PCKCRLChain, "rootcrl.der": c.RootCRL,
		}
	}
	col := h.Collateral(t, p)
	swh := *col
	swh.TCBInfo = h.TCBInfo(t, 3, p.TCB, dcaptest.Valid, 17, []dcap.TCBLevel{{CompSVN: p.TCB.CompSVN, PCESVN: p.TCB.PCESVN,
		Date: dcaptest.Now.AddDate(0, -1, 0), Status: dcap.SWHardeningNeeded, AdvisoryIDs: []string{"INTEL-SA-00615"}}})
	f := sgxEvidenceFile{
		fileHeader: fileHeader{Kind: "evidence-sgx", Spec: "evidence-sgx.md", Comment: "SGX evidence under a fake Intel hierarchy " +
			"(enclave/dcap/dcaptest: root, PCK Platform CA, TCB signing, a platform of FMSPC 00906ed50000 and its QE), whose keys were " +
			"discarded; collateral sets as sgx.CollateralFS reads them. regenerate with: go test ./spec -run TestVectors -update-sgx"},
		Root: h.Root.Raw,
		Now:  dcaptest.Now,
		Collateral: map[string]map[string][]byte{
			"uptodate": files(col), "swhardening": files(&swh), "empty": {},
		},
	}
	add := func(v sgxEvidenceVector) {
		if v.Collateral == "" {
			v.Collateral = "uptodate"
		}
		f.Vectors = append(f.Vectors, v)
	}
	flip := func(b []byte, off int) []byte {
		b = bytes.Clone(b)
		b[off] ^= 1
		return b
	}
	const quoteOff = 11 // envelope header (10) and payload version
	valid := func(name string, evidence []byte, accept []string, set string) {
		add(sgxEvidenceVector{Name: name, Evidence: evidence, Accept: accept, Collateral: set})
	}
	valid("format 3", ev(v3), nil, "")
	valid("format 4", ev(v4), nil, "")
	valid("format 4, KSS CONFIGID and DEBUG", ev(kss), nil, "")
	valid("SWHardeningNeeded, accepted", ev(v4), []string{"UpToDate", "SWHardeningNeeded"}, "swhardening")
	reject := func(name, class string, evidence []byte) {
		add(sgxEvidenceVector{Name: name, Evidence: evidence, Reject: name, Error: class})
	}
	reject("payload version 2", "malformed", wrap(t, 2, v4.Marshal()))
	reject("empty payload", "malformed", wrap(t, -1, nil))
	reject("truncated quote", "malformed", wrap(t, 1, v4.Marshal()[:1000]))
	reject("a byte after the quote", "malformed", wrap(t, 1, append(v4.Marshal(), 0)))
	crlf := *v4
	crlf.PCKChain = bytes.ReplaceAll(v4.PCKChain, []byte("\n"), []byte("\r\n"))
	reject("PCK chain with CRLF line ends", "malformed", ev(&crlf))
	reject("reserved report byte set", "malformed", flip(ev(v4), quoteOff+dcap.HeaderLen+0x70))
	tdx := testdata.RawQuote
	tdx = tdx[:0x27C+int(binary.LittleEndian.Uint32(tdx[0x278:]))]
	reject("a TDX quote in an sgx payload", "malformed", wrap(t, 1, tdx))
	reject("MRENCLAVE changed", "invalid", flip(ev(v4), quoteOff+dcap.HeaderLen+0x40))
	reject("quote signature changed", "invalid", flip(ev(v4), quoteOff+dcap.HeaderLen+dcap.ReportBodyLen+4+10))
	reject("QE report changed", "invalid", flip(ev(v3), quoteOff+dcap.HeaderLen+dcap.ReportBodyLen+4+128+0x140))
	other := dcaptest.New(t)
	oq := other.NewPlatform(t, dcaptest.DefaultTCB()).NewQE(t).Quote(t, other, dcap.Version4, dcaptest.EnclaveReport(rd))
	reject("another Intel's PCK chain", "invalid", ev(oq))
	reject("PCK chain ending in another root", "invalid", func() []byte {
		q := *v4
		q.PCKChain = dcaptest.PEMChain(p.PCK, h.PlatformCA, other.Root)
		return ev(&q)
	}())
	add(sgxEvidenceVector{Name: "SWHardeningNeeded, not accepted", Evidence: ev(v4), Collateral: "swhardening", Reject: "status not accepted", Error: "status"})
	add(sgxEvidenceVector{Name: "no collateral", Evidence: ev(v4), Collateral: "empty", Reject: "no collateral for the platform", Error: "collateral"})
	at := dcaptest.Valid.Next
	add(sgxEvidenceVector{Name: "at the collateral's next update", Evidence: ev(v4), Now: &at, Reject: "collateral expired", Error: "expired"})

	return fillSGXClaims(t, f)
}

// fillSGXClaims verifies each valid vector of a freshly generated file,
// records its claims (the verifier's, reviewed in the file's diff) and
// encodes the file.
func fillSGXClaims(t *testing.T, f sgxEvidenceFile) []byte {
	roots := rootPool(t, f.Root)
	for i, v := range f.Vectors {
		if v.Reject != "" {
			continue
		}
		fsys := fstest.MapFS{}
		for name, data := range f.Collateral[v.Collateral] {
			fsys[name] = &fstest.MapFile{Data: data}
		}
		sv, err := sgx.NewVerifier(sgx.Config{Collateral: sgx.CollateralFS(fsys, true), Roots: roots,
			Now: func() time.Time { return f.Now }, AcceptStatuses: v.Accept})
		if err != nil {
			t.Fatal(err)
		}
		c, err := sv.Verify(ctx, v.Evidence)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		f.Vectors[i].Claims, _ = json.Marshal(c)
	}
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// wrap makes an sgx envelope of a payload version (-1: no version byte)
// and a quote.
func wrap(t *testing.T, version int, quote []byte) []byte {
	var payload []byte
	if version >= 0 {
		payload = append(payload, byte(version))
	}
	ev, err := enclave.WrapEvidence(enclave.PlatformSGX, append(payload, quote...))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
