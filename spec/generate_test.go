package spec_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
	"github.com/confide/confide/enclave/sim/simtest"
)

// Seed corpora the generator writes, beside the vectors they come from.
const (
	seedsFuzzVerify      = "../enclave/sim/testdata/fuzz/FuzzVerify"
	seedsFuzzParseImage  = "../enclave/sim/testdata/fuzz/FuzzParseImage"
	seedsFuzzVerifyCert  = "../attest/atls/testdata/fuzz/FuzzVerifyCertificate"
	regenerate           = "regenerate with: go test ./spec -run TestVectors -update"
	vectorExecutableName = "an executable"
)

// The fixed times of the generated vectors: the platform is created at
// initTime and the vectors verify at vectorNow, inside the attestation key
// certificate's 90 days.
var (
	initTime  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	vectorNow = initTime.Add(24 * time.Hour)
)

// vectorExe is the executable hash of the vectors' made-up enclaves.
func vectorExe() []byte {
	h := sha256.Sum256([]byte(vectorExecutableName))
	return h[:]
}

// vectorSigner is the fixed development key that signs the image vectors.
func vectorSigner() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("confide spec vector signer"))
	return ed25519.NewKeyFromSeed(seed[:])
}

func kmsManifest() []byte {
	return enclave.Manifest{Version: 1, Role: "kms", Entry: []string{"kms", "serve"}}.Marshal()
}

// simFixture is a platform made for generating vectors: served, so that
// it makes evidence for the test process, with its keys at hand, so that
// vectors can be encoded and signed as the document says.
type simFixture struct {
	p       *simtest.Platform // P-256 attestation key: report version 2
	ak      *ecdsa.PrivateKey
	rootKey *ecdsa.PrivateKey
	// The same platform as one initialised before report version 2 left
	// it: same root, a P-384 attestation key, report version 1.
	p384  *simtest.Platform
	ak384 *ecdsa.PrivateKey
	// A second platform, not served: its root is not trusted.
	otherAK     *ecdsa.PrivateKey
	otherAKCert []byte
}

func newSimFixture(t *testing.T) *simFixture {
	t.Helper()
	dir, err := os.MkdirTemp("", "cfspec") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	at := func() time.Time { return initTime }
	keys, err := sim.Init(dir, sim.InitOptions{Now: at})
	if err != nil {
		t.Fatal(err)
	}
	// The version 1 platform is a copy whose attestation key was issued
	// on P-384 at the same time.
	dir384, err := os.MkdirTemp("", "cfspec")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir384) })
	for _, name := range []string{sim.RootCertFile, "root.key", "ak.crt", "ak.key", "seal.key", sim.SignerFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir384, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := simtest.ReplaceAK(dir384, elliptic.P384(), initTime); err != nil {
		t.Fatal(err)
	}
	keys384, err := sim.Load(dir384, sim.InitOptions{Now: at})
	if err != nil {
		t.Fatal(err)
	}
	if keys.ReportVersion() != 2 || keys384.ReportVersion() != 1 {
		t.Fatalf("platforms sign report versions %d and %d, want 2 and 1", keys.ReportVersion(), keys384.ReportVersion())
	}
	fx := &simFixture{p: simtest.Serve(t, dir, keys), p384: simtest.Serve(t, dir384, keys384)}
	fx.ak = readECKey(t, filepath.Join(dir, "ak.key"))
	fx.ak384 = readECKey(t, filepath.Join(dir384, "ak.key"))
	fx.rootKey = readECKey(t, filepath.Join(dir, "root.key"))
	other := t.TempDir()
	okeys, err := sim.Init(other, sim.InitOptions{Now: at})
	if err != nil {
		t.Fatal(err)
	}
	fx.otherAK, fx.otherAKCert = readECKey(t, filepath.Join(other, "ak.key")), okeys.AKCert.Raw
	return fx
}

func readECKey(t *testing.T, path string) *ecdsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := sim.ParsePrivateKeyPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*ecdsa.PrivateKey)
}

// simBody is the signed body of evidence-sim.md.
type simBody struct {
	version, flags         byte
	unique, config, signer []byte
	product, svn           uint16
	tcb                    byte
	reportData             enclave.ReportData
}

func defaultBody(rd enclave.ReportData) simBody {
	cfg := sha256.Sum256(kmsManifest())
	signer := sha256.Sum256(vectorSigner().Public().(ed25519.PublicKey))
	return simBody{version: 2, flags: 3, unique: vectorExe(), config: cfg[:], signer: signer[:],
		product: 7, svn: 3, tcb: 1, reportData: rd}
}

func (b simBody) encode() []byte {
	out := []byte{b.version, b.flags}
	out = append(append(append(out, b.unique...), b.config...), b.signer...)
	out = binary.BigEndian.AppendUint16(out, b.product)
	out = binary.BigEndian.AppendUint16(out, b.svn)
	out = append(out, b.tcb)
	return append(out, b.reportData[:]...)
}

// signSim encodes and signs a payload as evidence-sim.md says for the
// body's version (version 2's format for versions the document does not
// define), and wraps it in the envelope.
func signSim(t *testing.T, key crypto.Signer, certDER, body []byte) []byte {
	t.Helper()
	ver, ok := simVersions[body[0]]
	if !ok {
		ver = simVersions[2]
	}
	return signSimAs(t, ver, key, certDER, body)
}

// signSimAs signs body with the digest and signature layout of ver,
// whatever the body's version says. An ECDSA key whose scalars fit the
// layout's fields signs as the document says; any other key's signature
// (ASN.1 for ECDSA) is cut or zero-padded to the fields: vectors with
// such keys fail before the signature is looked at.
func signSimAs(t *testing.T, ver simVersion, key crypto.Signer, certDER, body []byte) []byte {
	t.Helper()
	digest := ver.digest(append([]byte(ver.context), body...))
	sig := make([]byte, 2*ver.scalar)
	if k, ok := key.(*ecdsa.PrivateKey); ok && (k.Curve.Params().BitSize+7)/8 <= ver.scalar {
		r, s, err := ecdsa.Sign(rand.Reader, k, digest)
		if err != nil {
			t.Fatal(err)
		}
		r.FillBytes(sig[:ver.scalar])
		s.FillBytes(sig[ver.scalar:])
	} else {
		s, err := key.Sign(rand.Reader, digest, crypto.Hash(0))
		if err != nil {
			t.Fatal(err)
		}
		copy(sig, s)
	}
	payload := binary.BigEndian.AppendUint16(bytes.Clone(body), uint16(len(certDER)))
	payload = append(append(payload, certDER...), sig...)
	ev, err := enclave.WrapEvidence(enclave.PlatformSim, payload)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// simParts splits simulated evidence into body, certificate and signature.
func simParts(ev []byte) (body, cert, sig []byte) {
	p := ev[10:]
	n := int(binary.BigEndian.Uint16(p[167:]))
	return bytes.Clone(p[:167]), bytes.Clone(p[169 : 169+n]), bytes.Clone(p[169+n:])
}

func rewrap(t *testing.T, payload []byte) []byte {
	t.Helper()
	ev, err := enclave.WrapEvidence(enclave.PlatformSim, payload)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func joinSim(body, cert, sig []byte) []byte {
	p := binary.BigEndian.AppendUint16(bytes.Clone(body), uint16(len(cert)))
	return append(append(p, cert...), sig...)
}

// issueAK issues an attestation key certificate from the fixture's root.
func (fx *simFixture) issueAK(t *testing.T, pub any, edit func(*x509.Certificate)) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{Organization: []string{"confide"}, CommonName: "confide SIMULATED platform attestation key"},
		NotBefore:    initTime.Add(-time.Hour), NotAfter: initTime.Add(90 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, fx.p.Keys.Root, pub, fx.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// sigVersion is the version whose signature layout sig has (by length).
func sigVersion(sig []byte) simVersion {
	if len(sig) == 2*simVersions[1].scalar {
		return simVersions[1]
	}
	return simVersions[2]
}

// twinSig returns (r, n − s) for a simulated signature of either version.
func twinSig(sig []byte) []byte {
	ver := sigVersion(sig)
	s := new(big.Int).SetBytes(sig[ver.scalar:])
	out := bytes.Clone(sig)
	new(big.Int).Sub(ver.curve.Params().N, s).FillBytes(out[ver.scalar:])
	return out
}

func generate(t *testing.T) {
	fx := newSimFixture(t)
	generateSimEvidence(t, fx)
	generateATLS(t, fx)
	generateImages(t)
}

func generateSimEvidence(t *testing.T, fx *simFixture) {
	roots := fx.p.Roots()
	f := simEvidenceFile{
		fileHeader: fileHeader{Kind: "evidence-sim", Spec: "evidence-sim.md", Comment: "Simulated evidence of a platform created by sim.Init at " +
			initTime.Format(time.RFC3339) + " (P-256 attestation key, report version 2) and of the same platform with a P-384 attestation key " +
			"issued at the same time, as platforms initialised before version 2 hold (report version 1); its root is given, its keys were " +
			"discarded. Vectors named \"platform\" are evidence those platforms made for the test process; the others are encoded and " +
			"signed as evidence-sim.md says. " + regenerate},
		Root: fx.p.Keys.Root.Raw,
		Now:  vectorNow,
	}
	seeds := map[string][]byte{}
	add := func(v simEvidenceVector) {
		_, class := refVerifySim(v.Evidence, roots, v.at(vectorNow))
		switch {
		case v.Reject == "" && class != "":
			t.Fatalf("%s: reference verifier rejects valid evidence: %s", v.Name, class)
		case v.Reject != "" && class != v.Error:
			t.Fatalf("%s: reference verifier says %q, want %q", v.Name, class, v.Error)
		}
		if v.Reject == "" {
			c, _ := refVerifySim(v.Evidence, roots, v.at(vectorNow))
			v.Claims, _ = json.Marshal(c)
		}
		for _, w := range f.Vectors {
			if w.Name == v.Name {
				t.Fatalf("two vectors named %q", v.Name)
			}
		}
		f.Vectors = append(f.Vectors, v)
		seeds[v.Name] = v.Evidence
	}
	valid := func(name string, ev []byte) { add(simEvidenceVector{Name: name, Evidence: ev}) }
	reject := func(name, class, why string, ev []byte) {
		add(simEvidenceVector{Name: name, Evidence: ev, Reject: why, Error: class})
	}
	at := func(tm time.Time) *time.Time { return &tm }
	evidence := func(p *simtest.Platform, rd enclave.ReportData) []byte {
		ev, err := p.Client.Evidence(ctx, rd)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	v1, v2 := simVersions[1], simVersions[2]

	// Evidence the platforms made.
	cliEv := evidence(fx.p, enclave.ReportData{})
	valid("platform: unsigned CLI, zero report data", cliEv)
	nonce := sha256.Sum256([]byte("evidence-sim vector nonce"))
	runtime := []byte(`{"key":"evidence-sim vector runtime data"}`)
	rd, _ := enclave.NewReportData(nonce[:], runtime)
	add(simEvidenceVector{Name: "platform: unsigned CLI, nonce and runtime data", Evidence: evidence(fx.p, rd), Nonce: nonce[:], RuntimeData: runtime})
	cliEv1 := evidence(fx.p384, enclave.ReportData{})
	valid("platform with a P-384 attestation key, version 1: unsigned CLI, zero report data", cliEv1)
	add(simEvidenceVector{Name: "platform with a P-384 attestation key, version 1: unsigned CLI, nonce and runtime data",
		Evidence: evidence(fx.p384, rd), Nonce: nonce[:], RuntimeData: runtime})

	// Evidence encoded from the document: version 2, then version 1.
	akCert, akCert1 := fx.p.Keys.AKCert, fx.p384.Keys.AKCert
	body := defaultBody(rd)
	body1 := body
	body1.version = 1
	valid("signed kms enclave, product 7, svn 3", signSim(t, fx.ak, akCert.Raw, body.encode()))
	valid("version 1: signed kms enclave, product 7, svn 3", signSim(t, fx.ak384, akCert1.Raw, body1.encode()))
	for code := byte(2); code <= 5; code++ {
		b := body
		b.tcb = code
		valid("TCB status "+simTCB[code], signSim(t, fx.ak, akCert.Raw, b.encode()))
	}
	b := body1
	b.tcb = 5
	valid("version 1: TCB status "+simTCB[5], signSim(t, fx.ak384, akCert1.Raw, b.encode()))
	b = body
	b.product, b.svn = 65535, 65535
	valid("product and svn 65535", signSim(t, fx.ak, akCert.Raw, b.encode()))
	b.version = 1
	valid("version 1: product and svn 65535", signSim(t, fx.ak384, akCert1.Raw, b.encode()))
	gb, gc, gs := simParts(cliEv)
	gb1, gc1, gs1 := simParts(cliEv1)
	valid("signature (r, n-s) of the first vector: evidence is not unique", rewrap(t, joinSim(gb, gc, twinSig(gs))))
	valid("version 1: signature (r, n-s) of a platform vector: evidence is not unique", rewrap(t, joinSim(gb1, gc1, twinSig(gs1))))
	add(simEvidenceVector{Name: "at the attestation key certificate's notAfter", Evidence: cliEv, Now: at(akCert.NotAfter)})
	add(simEvidenceVector{Name: "at the attestation key certificate's notBefore", Evidence: cliEv, Now: at(akCert.NotBefore)})
	add(simEvidenceVector{Name: "version 1: at the attestation key certificate's notAfter", Evidence: cliEv1, Now: at(akCert1.NotAfter)})

	// Rejects, step by step.
	edit := func(e func(b []byte)) []byte { c := bytes.Clone(cliEv); e(c); return c }
	reject("envelope version 2", errMalformed, "unknown envelope version", edit(func(b []byte) { b[4] = 2 }))
	reject("envelope names snp", errPlatform, "the tag names another platform", edit(func(b []byte) { b[5] = 3 }))
	reject("envelope tag 0", errMalformed, "unassigned platform tag", edit(func(b []byte) { b[5] = 0 }))
	reject("envelope length one short", errMalformed, "a byte trails the payload", edit(func(b []byte) { b[9]-- }))
	_, payload, _ := enclave.UnwrapEvidence(cliEv)
	_, payload1, _ := enclave.UnwrapEvidence(cliEv1)
	reject("payload cut by one byte", errMalformed, "length is not 233 + c", rewrap(t, payload[:len(payload)-1]))
	reject("payload with a trailing byte", errMalformed, "length is not 233 + c", rewrap(t, append(bytes.Clone(payload), 0)))
	reject("version 1: payload cut by one byte", errMalformed, "length is not 265 + c", rewrap(t, payload1[:len(payload1)-1]))
	reject("version 1: payload with a trailing byte", errMalformed, "length is not 265 + c", rewrap(t, append(bytes.Clone(payload1), 0)))
	reject("payload of 232 bytes", errMalformed, "shorter than 233 bytes", rewrap(t, payload[:232]))
	reject("version 1: payload of 264 bytes", errMalformed, "version 1 payloads are at least 265 bytes", rewrap(t, payload1[:264]))
	reject("empty payload", errMalformed, "shorter than 233 bytes", rewrap(t, nil))
	resigned := func(name, class, why string, e func(*simBody)) {
		b := body
		e(&b)
		reject(name, class, why, signSim(t, fx.ak, akCert.Raw, b.encode()))
	}
	resigned("report version 3", errMalformed, "unknown report version (signed)", func(b *simBody) { b.version = 3 })
	resigned("report version 0", errMalformed, "unknown report version (signed)", func(b *simBody) { b.version = 0 })
	resigned("report version 0x81", errMalformed, "unknown report version (signed)", func(b *simBody) { b.version = 0x81 })
	b = body1
	b.version = 3
	reject("report version 3 in the version 1 layout", errMalformed, "unknown report version (signed as version 1)", signSimAs(t, v1, fx.ak384, akCert1.Raw, b.encode()))
	// Version byte and layout of different versions.
	b = body1
	b.version = 2
	reject("version 2 byte, version 1 layout and signature", errMalformed, "a version 2 payload is 233 + c bytes, not 265 + c",
		signSimAs(t, v1, fx.ak384, akCert1.Raw, b.encode()))
	b = body
	b.version = 1
	reject("version 1 byte, version 2 layout and signature", errMalformed, "a version 1 payload is 265 + c bytes, not 233 + c",
		signSimAs(t, v2, fx.ak, akCert.Raw, b.encode()))
	resigned("flags 0x02: not debug", errMalformed, "flags must be 0x03 (signed)", func(b *simBody) { b.flags = 2 })
	resigned("flags 0x01: not simulated", errMalformed, "flags must be 0x03 (signed)", func(b *simBody) { b.flags = 1 })
	resigned("flags 0x07", errMalformed, "flags must be 0x03 (signed)", func(b *simBody) { b.flags = 7 })
	resigned("flags 0x00", errMalformed, "flags must be 0x03 (signed)", func(b *simBody) { b.flags = 0 })
	resigned("TCB code 0", errMalformed, "TCB code outside 1-5 (signed)", func(b *simBody) { b.tcb = 0 })
	resigned("TCB code 6", errMalformed, "TCB code outside 1-5 (signed)", func(b *simBody) { b.tcb = 6 })
	b = body1
	b.flags = 2
	reject("version 1: flags 0x02: not debug", errMalformed, "flags must be 0x03 (signed)", signSim(t, fx.ak384, akCert1.Raw, b.encode()))
	reject("certificate length 0", errMalformed, "zero bytes are not a certificate", rewrap(t, joinSim(gb, nil, gs)))
	reject("certificate with a trailing byte", errMalformed, "the certificate field is one DER certificate exactly", rewrap(t, joinSim(gb, append(bytes.Clone(gc), 0), gs)))
	ber := bytes.Clone(gc)
	ber[1] = 0x83 // long form of a length that fits in two bytes: BER, not DER
	ber = append(ber[:2], append([]byte{0}, ber[2:]...)...)
	reject("certificate length in BER", errMalformed, "the certificate is DER", rewrap(t, joinSim(gb, ber, gs)))
	reject("certificate in PEM", errMalformed, "the certificate is DER", rewrap(t, joinSim(gb, pemCert(gc), gs)))
	// Chain.
	reject("attestation key of another platform", errChain, "its certificate chains to another root", signSim(t, fx.otherAK, fx.otherAKCert, body.encode()))
	selfSigned := func() []byte {
		tmpl := *akCert
		der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &fx.ak.PublicKey, fx.ak)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}()
	reject("self-signed attestation key certificate", errChain, "does not chain to the root", signSim(t, fx.ak, selfSigned, body.encode()))
	reject("unknown critical extension", errChain, "path validation fails on an unknown critical extension",
		signSim(t, fx.ak, fx.issueAK(t, &fx.ak.PublicKey, func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 3, 31415, 9}, Critical: true, Value: []byte{5, 0}}}
		}), body.encode()))
	add(simEvidenceVector{Name: "expired attestation key certificate", Evidence: cliEv, Now: at(akCert.NotAfter.Add(time.Second)),
		Reject: "verified one second after notAfter", Error: errChain})
	add(simEvidenceVector{Name: "attestation key certificate not yet valid", Evidence: cliEv, Now: at(akCert.NotBefore.Add(-time.Second)),
		Reject: "verified one second before notBefore", Error: errChain})
	add(simEvidenceVector{Name: "version 1: expired attestation key certificate", Evidence: cliEv1, Now: at(akCert1.NotAfter.Add(time.Second)),
		Reject: "verified one second after notAfter", Error: errChain})
	// Key: each version with its own curve only.
	reject("version 1 with the P-256 attestation key", errKey, "version 1 needs a P-384 attestation key (the signature, over SHA-384 cut to 256 bits, is a valid P-256 signature)",
		signSim(t, fx.ak, akCert.Raw, body1.encode()))
	reject("version 2 with the P-384 attestation key", errKey, "version 2 needs a P-256 attestation key (no P-384 signature fits its fields; the P-384 key's ASN.1 signature, cut)",
		signSim(t, fx.ak384, akCert1.Raw, body.encode()))
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	reject("attestation key on P-521", errKey, "the attestation key is P-256 (version 2) or P-384 (version 1)", signSim(t, p521, fx.issueAK(t, &p521.PublicKey, nil), body.encode()))
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	reject("attestation key Ed25519", errKey, "the attestation key is ECDSA", signSim(t, edKey, fx.issueAK(t, edKey.Public(), nil), body.encode()))
	// Signature.
	flipped := func(body, cert, sig []byte, i int) []byte {
		c := bytes.Clone(body)
		c[i] ^= 1
		return rewrap(t, joinSim(c, cert, sig))
	}
	reject("report data changed", errSignature, "the body is signed", flipped(gb, gc, gs, 103))
	reject("unique_id changed", errSignature, "the body is signed", flipped(gb, gc, gs, 2))
	reject("signer_id changed", errSignature, "the body is signed", flipped(gb, gc, gs, 97))
	reject("svn changed", errSignature, "the body is signed", flipped(gb, gc, gs, 101))
	reject("version 1: report data changed", errSignature, "the body is signed", flipped(gb1, gc1, gs1, 166))
	zeroR := func(sig []byte) []byte {
		out := bytes.Clone(sig)
		clear(out[:sigVersion(sig).scalar])
		return out
	}
	sIsN := func(sig []byte) []byte {
		out := bytes.Clone(sig)
		ver := sigVersion(sig)
		ver.curve.Params().N.FillBytes(out[ver.scalar:])
		return out
	}
	reject("signature r = 0", errSignature, "r must be in [1, n-1]", rewrap(t, joinSim(gb, gc, zeroR(gs))))
	reject("signature s = n", errSignature, "s must be in [1, n-1] (n of P-256)", rewrap(t, joinSim(gb, gc, sIsN(gs))))
	reject("version 1: signature r = 0", errSignature, "r must be in [1, n-1]", rewrap(t, joinSim(gb1, gc1, zeroR(gs1))))
	reject("version 1: signature s = n", errSignature, "s must be in [1, n-1] (n of P-384)", rewrap(t, joinSim(gb1, gc1, sIsN(gs1))))
	reject("signed by the root key", errSignature, "the attestation key certificate's key signs", signSim(t, fx.rootKey, akCert.Raw, body.encode()))
	reject("version 1: signed by the root key", errSignature, "the attestation key certificate's key signs (the root's is P-384 too)",
		signSim(t, fx.rootKey, akCert1.Raw, body1.encode()))
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	reject("signed by another P-256 key", errSignature, "the attestation key certificate's key signs", signSim(t, other, akCert.Raw, body.encode()))
	other384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	reject("version 1: signed by another P-384 key", errSignature, "the attestation key certificate's key signs", signSim(t, other384, akCert1.Raw, body1.encode()))
	noContext := func(ver simVersion) simVersion { ver.context = ""; return ver }
	reject("signed without the context string", errSignature, `the digest starts with "confide sim report v2\0"`,
		signSimAs(t, noContext(v2), fx.ak, akCert.Raw, body.encode()))
	reject("version 1: signed without the context string", errSignature, `the digest starts with "confide sim report v1\0"`,
		signSimAs(t, noContext(v1), fx.ak384, akCert1.Raw, body1.encode()))
	withContext := func(ver simVersion, context string) simVersion { ver.context = context; return ver }
	reject("signed with the version 1 context string", errSignature, `version 2 hashes "confide sim report v2\0"`,
		signSimAs(t, withContext(v2, v1.context), fx.ak, akCert.Raw, body.encode()))
	reject("version 1: signed with the version 2 context string", errSignature, `version 1 hashes "confide sim report v1\0"`,
		signSimAs(t, withContext(v1, v2.context), fx.ak384, akCert1.Raw, body1.encode()))
	withDigest := func(ver simVersion, d func([]byte) []byte) simVersion { ver.digest = d; return ver }
	reject("signed over SHA-384", errSignature, "version 2 hashes with SHA-256 (this is SHA-384, cut to 256 bits by ECDSA)",
		signSimAs(t, withDigest(v2, v1.digest), fx.ak, akCert.Raw, body.encode()))
	reject("version 1: signed over SHA-256", errSignature, "version 1 hashes with SHA-384",
		signSimAs(t, withDigest(v1, v2.digest), fx.ak384, akCert1.Raw, body1.encode()))

	mustWriteJSON(t, "testdata/evidence-sim.json", f)
	writeSeeds(t, seedsFuzzVerify, seeds)
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
