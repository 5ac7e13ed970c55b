package dcap_test

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"reflect"
	"testing"

	"github.com/confide/confide/enclave/dcap"
	"github.com/confide/confide/enclave/dcap/dcaptest"
	"github.com/google/go-tdx-guest/testing/testdata"
)

func mint(t testing.TB, version uint16) (*dcaptest.Hierarchy, *dcaptest.QE, []byte) {
	h := dcaptest.New(t)
	qe := h.NewPlatform(t, dcaptest.DefaultTCB()).NewQE(t)
	var rd [64]byte
	copy(rd[:], "report data")
	q := qe.Quote(t, h, version, dcaptest.EnclaveReport(rd))
	return h, qe, q.Marshal()
}

// Minted quotes of both formats parse to what was minted and marshal back.
func TestParseMinted(t *testing.T) {
	for _, v := range []uint16{dcap.Version3, dcap.Version4} {
		_, qe, raw := mint(t, v)
		q, err := dcap.Parse(raw)
		if err != nil {
			t.Fatalf("format %d: %v", v, err)
		}
		if q.Version != v || q.TEEType != dcap.TEESGX || q.PCESVN != qe.Platform.TCB.PCESVN || q.QESVN != qe.QESVN {
			t.Fatalf("format %d: header %+v", v, q)
		}
		r, err := q.EnclaveReport()
		if err != nil || string(r.ReportData[:11]) != "report data" || r.ISVProdID != 7 || r.Debug() {
			t.Fatalf("format %d: enclave report %+v, %v", v, r, err)
		}
		qr, err := q.QE()
		if err != nil || qr.MRSigner != dcaptest.QEMRSigner {
			t.Fatalf("format %d: QE report %+v, %v", v, qr, err)
		}
		if !bytes.Equal(q.Marshal(), raw) {
			t.Fatalf("format %d: does not marshal back", v)
		}
		leaf := firstCert(t, q.PCKChain)
		x, err := dcap.ParsePCKExtensions(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*x, qe.Platform.TCB) {
			t.Fatalf("format %d: extensions %+v, minted %+v", v, x, qe.Platform.TCB)
		}
	}
}

func firstCert(t *testing.T, chain []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(chain)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The production TDX quote go-tdx-guest ships (a Sapphire Rapids E4
// platform) parses, marshals back, and its PCK certificate's extensions
// read as Intel wrote them.
func TestParseProductionTDX(t *testing.T) {
	raw := testdata.RawQuote
	end := 0x27C + int(binary.LittleEndian.Uint32(raw[0x278:]))
	if _, err := dcap.Parse(raw); !errors.Is(err, dcap.ErrMalformed) {
		t.Fatalf("the quote with go-tdx-guest's trailing text: %v", err)
	}
	raw = raw[:end]
	q, err := dcap.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if q.Version != 4 || q.TEEType != dcap.TEETDX || len(q.Body) != dcap.TDBodyLen || q.QEVendorID != dcap.IntelQEVendorID {
		t.Fatalf("header: version %d, TEE %#x, body %d", q.Version, q.TEEType, len(q.Body))
	}
	if _, err := q.EnclaveReport(); err == nil {
		t.Fatal("a TDX quote gave an SGX report body")
	}
	x, err := dcap.ParsePCKExtensions(firstCert(t, q.PCKChain))
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(x.FMSPC[:]); got != "50806f000000" {
		t.Fatalf("FMSPC %s", got)
	}
	if x.Config == nil || x.PlatformInstanceID == nil {
		t.Fatal("a platform CA's certificate without its platform instance ID and configuration")
	}
	t.Logf("PCESVN %d, components %v, SGX type %d", x.PCESVN, x.CompSVN, x.SGXType)
}

// Every single-byte change to a quote either fails to parse or parses to
// a quote whose bytes are the changed ones (a field that the signatures
// cover, or the PCK chain's certificates): no byte is ignored.
func TestParseEveryByte(t *testing.T) {
	for _, v := range []uint16{dcap.Version3, dcap.Version4} {
		_, _, raw := mint(t, v)
		for i := range raw {
			bad := bytes.Clone(raw)
			bad[i] ^= 0x01
			q, err := dcap.Parse(bad)
			if err != nil {
				if !errors.Is(err, dcap.ErrMalformed) {
					t.Fatalf("format %d byte %d: %v", v, i, err)
				}
				continue
			}
			if !bytes.Equal(q.Marshal(), bad) {
				t.Fatalf("format %d byte %d: parsed, but marshals to other bytes", v, i)
			}
		}
		// Truncations and extensions.
		for _, n := range []int{0, 1, dcap.HeaderLen, dcap.HeaderLen + dcap.ReportBodyLen + 3, len(raw) - 1} {
			if _, err := dcap.Parse(raw[:n]); err == nil {
				t.Fatalf("format %d: %d of %d bytes accepted", v, n, len(raw))
			}
		}
		if _, err := dcap.Parse(append(bytes.Clone(raw), 0)); err == nil {
			t.Fatalf("format %d: a trailing byte after the chain's own accepted", v)
		}
	}
}

// The PCK chain may end in one NUL; nothing else may surround it.
func TestPCKChainEncoding(t *testing.T) {
	_, _, raw := mint(t, dcap.Version3)
	q, err := dcap.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		chain []byte
		ok    bool
	}{
		"as minted":          {q.PCKChain, true},
		"one NUL":            {append(bytes.Clone(q.PCKChain), 0), true},
		"two NULs":           {append(bytes.Clone(q.PCKChain), 0, 0), false},
		"a newline after":    {append(bytes.Clone(q.PCKChain), '\n'), false},
		"text before":        {append([]byte("x"), q.PCKChain...), false},
		"two certificates":   {q.PCKChain[:bytes.Index(q.PCKChain[30:], []byte("-----BEGIN"))+30], false},
		"CRLF line endings":  {bytes.ReplaceAll(q.PCKChain, []byte("\n"), []byte("\r\n")), false},
		"four certificates":  {append(bytes.Clone(q.PCKChain), q.PCKChain[:bytes.Index(q.PCKChain[30:], []byte("-----BEGIN"))+30]...), false},
		"an empty chain":     {nil, false},
		"a header in a cert": {bytes.Replace(q.PCKChain, []byte("-----\n"), []byte("-----\nA: b\n\n"), 1), false},
	} {
		q2 := *q
		q2.PCKChain = tc.chain
		_, err := dcap.Parse(q2.Marshal())
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Each header and layout rule has its own refusal.
func TestParseRules(t *testing.T) {
	_, _, raw := mint(t, dcap.Version4)
	le := binary.LittleEndian
	for name, edit := range map[string]func(b []byte){
		"format 5":           func(b []byte) { le.PutUint16(b, 5) },
		"P-384 key":          func(b []byte) { le.PutUint16(b[2:], 3) },
		"TEE type 1":         func(b []byte) { le.PutUint32(b[4:], 1) },
		"reserved report":    func(b []byte) { b[dcap.HeaderLen+0x70] = 1 },
		"reserved QE report": func(b []byte) { b[dcap.HeaderLen+dcap.ReportBodyLen+4+128+6+0x110] = 1 },
		"cert type 5 at top": func(b []byte) { le.PutUint16(b[dcap.HeaderLen+dcap.ReportBodyLen+4+128:], 5) },
		"long signed data":   func(b []byte) { le.PutUint32(b[dcap.HeaderLen+dcap.ReportBodyLen:], 1<<31) },
	} {
		bad := bytes.Clone(raw)
		edit(bad)
		if _, err := dcap.Parse(bad); !errors.Is(err, dcap.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Extensions with a member missing, twice or unknown, or out of range,
// are refused.
func TestPCKExtensionRules(t *testing.T) {
	good := dcaptest.MarshalSGXExtension(t, dcaptest.DefaultTCB())
	if _, err := dcap.ParseSGXExtension(good); err != nil {
		t.Fatal(err)
	}
	if _, err := dcap.ParseSGXExtension(append(bytes.Clone(good), 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x80
		x, err := dcap.ParseSGXExtension(bad)
		if err == nil && reflect.DeepEqual(*x, dcaptest.DefaultTCB()) {
			t.Errorf("byte %d changed, same extensions", i)
		}
	}
	tcb := dcaptest.DefaultTCB()
	tcb.SGXType = 3
	if _, err := dcap.ParseSGXExtension(dcaptest.MarshalSGXExtension(t, tcb)); err == nil {
		t.Error("SGX type 3 accepted")
	}
}
