package tdx

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/google/go-tdx-guest/pcs"
	tdxtesting "github.com/google/go-tdx-guest/testing"
	"github.com/google/go-tdx-guest/testing/testdata"
)

// Test fixtures. The quote is the production quote that go-tdx-guest ships
// (captured on a Sapphire Rapids E4 platform). Its collateral is the
// library's canned Intel PCS responses, valid at fixedNow — except for the
// TCB info: Intel's canned TCB info has no level that this quote's
// platform meets (go-tdx-guest's own TestNegativeRawQuoteVerifyWithCollateral
// shows it), so testdata/collateral holds a copy whose first level is
// lowered to the quote's SVNs and re-signed by a test "Intel SGX Root CA"
// (testdata/testroot.pem). Run with -regen to make a new test root and
// re-sign; with -update to rewrite the golden evidence and claims.

var (
	update = flag.Bool("update", false, "rewrite golden files in testdata")
	regen  = flag.Bool("regen", false, "regenerate the test root and the re-signed TCB info in testdata/collateral")
)

// fixedNow is the clock of go-tdx-guest's own tests: the canned collateral
// is valid then (QE identity until 2023-07-08, TCB info until 2023-07-18).
var fixedNow = time.Date(2023, time.July, 1, 1, 0, 0, 0, time.UTC)

const (
	collateralDir = "testdata/collateral"
	testRootFile  = "testdata/testroot.pem"
	evidenceFile  = "testdata/captured.evidence"
	claimsFile    = "testdata/captured.claims.json"
	capturedFMSPC = "50806f000000"
)

// capturedQuote is the captured quote without the 39 bytes of text that
// go-tdx-guest appends to it to test its own handling of extra bytes.
func capturedQuote(t testing.TB) []byte {
	t.Helper()
	raw := testdata.RawQuote
	end := sigDataOff + int(binary.LittleEndian.Uint32(raw[sigDataLenOff:]))
	if tail := string(raw[end:]); tail != "\nextra bytes(only for testing purpose)\n" {
		t.Fatalf("go-tdx-guest's captured quote changed: tail %q", tail)
	}
	return bytes.Clone(raw[:end])
}

func evidenceOf(t testing.TB, quote []byte) []byte {
	t.Helper()
	ev, err := enclave.WrapEvidence(enclave.PlatformTDX, append([]byte{payloadV1}, quote...))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func capturedEvidence(t testing.TB) []byte { return evidenceOf(t, capturedQuote(t)) }

// testRoots trusts Intel's root, for the quote's PCK chain and the genuine
// QE identity, and the test root, for the re-signed TCB info.
func testRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := IntelRoots()
	pemBytes, err := os.ReadFile(testRootFile)
	if err != nil {
		t.Fatal(err)
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no test root")
	}
	return pool
}

// testConfig verifies the captured quote: test roots, re-signed TCB info,
// fixed clock. Revocation is skipped because go-tdx-guest checks every
// issuer chain against one root CA CRL, which cannot be signed by both
// Intel's root and the test root; TestGenuineCollateral covers the CRLs.
func testConfig(t testing.TB) Config {
	return Config{
		Collateral:     CollateralFS(os.DirFS(collateralDir)),
		Roots:          testRoots(t),
		Now:            func() time.Time { return fixedNow },
		SkipRevocation: true,
	}
}

func newTestVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// cannedFS lays go-tdx-guest's canned PCS responses out as CollateralFS
// files, with Intel's genuine TCB info.
func cannedFS(t testing.TB) fstest.MapFS {
	t.Helper()
	chain := func(h map[string][]string, name string) []byte {
		s, err := url.QueryUnescape(h[name][0])
		if err != nil {
			t.Fatal(err)
		}
		return []byte(s)
	}
	return fstest.MapFS{
		"tcbinfo-" + capturedFMSPC + ".json":      {Data: testdata.TcbInfoBody},
		"tcbinfo-" + capturedFMSPC + ".chain.pem": {Data: chain(tdxtesting.TcbInfoHeader, hdrTCBInfoChain)},
		"qeidentity.json":                         {Data: testdata.QeIdentityBody},
		"qeidentity.chain.pem":                    {Data: chain(tdxtesting.QeIdentityHeader, hdrQEIDChain)},
		"pckcrl-platform.der":                     {Data: testdata.PckCrlBody},
		"pckcrl-platform.chain.pem":               {Data: chain(tdxtesting.PckCrlHeader, hdrPCKCRLChain)},
		"rootcrl.der":                             {Data: testdata.RootCrlBody},
	}
}

// TestRegenerateCollateral writes testdata/collateral and the test root.
// It only runs with -regen.
func TestRegenerateCollateral(t *testing.T) {
	if !*regen {
		t.Skip("run with -regen to regenerate the test collateral")
	}
	if err := os.MkdirAll(collateralDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, f := range cannedFS(t) {
		if err := os.WriteFile(filepath.Join(collateralDir, name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A test root and TCB signer with the names go-tdx-guest requires, and an
	// organisation that says what they are.
	org := []string{"confide test PKI, not Intel"}
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Intel SGX Root CA", Organization: org},
		NotBefore:             time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SignatureAlgorithm:    x509.ECDSAWithSHA256,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	signTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{CommonName: "Intel SGX TCB Signing", Organization: org},
		NotBefore:             time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2033, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SignatureAlgorithm:    x509.ECDSAWithSHA256,
	}
	signDER, err := x509.CreateCertificate(rand.Reader, signTmpl, root, &signKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	rootPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})
	signPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: signDER})

	// Intel's TCB info with its first (UpToDate) level lowered to exactly
	// the SVNs of the captured quote's platform.
	q, _, err := parsePayload(append([]byte{payloadV1}, capturedQuote(t)...))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pckLeaf(q)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := pcs.PckCertificateExtensions(leaf)
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		TcbInfo map[string]any `json:"tcbInfo"`
	}
	if err := json.Unmarshal(testdata.TcbInfoBody, &resp); err != nil {
		t.Fatal(err)
	}
	levels := resp.TcbInfo["tcbLevels"].([]any)
	tcb := levels[0].(map[string]any)["tcb"].(map[string]any)
	lower := func(key string, svns []byte) {
		for i, c := range tcb[key].([]any) {
			c.(map[string]any)["svn"] = svns[i]
		}
	}
	lower("sgxtcbcomponents", ext.TCB.CPUSvnComponents)
	lower("tdxtcbcomponents", q.GetTdQuoteBody().GetTeeTcbSvn())
	tcb["pcesvn"] = ext.TCB.PCESvn
	info, err := json.Marshal(resp.TcbInfo)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(info)
	r, s, err := ecdsa.Sign(rand.Reader, signKey, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	body := []byte(`{"tcbInfo":` + string(info) + `,"signature":"` + hex.EncodeToString(sig) + `"}`)

	files := map[string][]byte{
		filepath.Join(collateralDir, "tcbinfo-"+capturedFMSPC+".json"):      body,
		filepath.Join(collateralDir, "tcbinfo-"+capturedFMSPC+".chain.pem"): append(signPEM, rootPEM...),
		testRootFile: rootPEM,
	}
	for name, data := range files {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
