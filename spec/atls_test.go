package spec_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/atls"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
)

type atlsFile struct {
	fileHeader
	SimRoot []byte          `json:"sim_root"` // DER, base64
	Now     time.Time       `json:"now"`
	Policy  json.RawMessage `json:"policy"`
	Vectors []atlsVector    `json:"vectors"`
}

type atlsVector struct {
	Name         string          `json:"name"`
	Certificates [][]byte        `json:"certificates"` // DER, base64
	Claims       json.RawMessage `json:"claims,omitempty"`
	Reject       string          `json:"reject,omitempty"`
}

var oidEvidence = asn1.ObjectIdentifier{1, 3, 6, 1, 3, 31415, 1, 1}

// refVerifyCertificate checks a chain as atls.md says: steps 1-6 and the
// report data binding here, the evidence's chain and signature by v, and
// the policy.
func refVerifyCertificate(chain [][]byte, now time.Time, v enclave.Verifier, p *attest.Policy) (enclave.Claims, error) {
	if len(chain) != 1 {
		return enclave.Claims{}, errors.New("1: not one certificate")
	}
	cert, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return enclave.Claims{}, errors.New("2: not DER X.509")
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return enclave.Claims{}, errors.New("3: outside validity")
	}
	if cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) != nil {
		return enclave.Claims{}, errors.New("4: not self-signed")
	}
	for _, oid := range cert.UnhandledCriticalExtensions {
		if !oid.Equal(oidEvidence) {
			return enclave.Claims{}, errors.New("5: unknown critical extension")
		}
	}
	ev := evidenceOf(cert)
	if ev == nil {
		return enclave.Claims{}, errors.New("6: no evidence")
	}
	c, err := v.Verify(ctx, ev)
	if err != nil {
		return enclave.Claims{}, err
	}
	binding := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	if !bytes.Equal(c.ReportData[:32], make([]byte, 32)) || !bytes.Equal(c.ReportData[32:], binding[:]) {
		return enclave.Claims{}, errors.New("7: report data does not bind the key with a zero nonce")
	}
	return c, p.EvaluateClaims(c)
}

func evidenceOf(cert *x509.Certificate) []byte {
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(oidEvidence) {
			return ext.Value
		}
	}
	return nil
}

func runATLS(t *testing.T, b []byte) int {
	var f atlsFile
	decodeStrict(t, b, &f)
	f.check(t)
	if f.Spec != "atls.md" {
		t.Errorf("spec %q", f.Spec)
	}
	root, err := x509.ParseCertificate(f.SimRoot)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	pol, err := attest.ParsePolicy(f.Policy)
	if err != nil {
		t.Fatal(err)
	}
	at := func() time.Time { return f.Now }
	sv := &sim.Verifier{Roots: roots, Now: at}
	cfg := &atls.Config{Verifier: &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSim: sv}}, Policy: pol, Now: at}
	valid := 0
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			oneOf(t, "claims and reject", v.Claims != nil, v.Reject != "")
			ref, refErr := refVerifyCertificate(v.Certificates, f.Now, sv, pol)
			for i := range 2 { // cold, then cached
				got, err := cfg.VerifyCertificate(ctx, v.Certificates)
				if v.Reject != "" {
					if err == nil || refErr == nil {
						t.Fatalf("call %d accepted (reference: %v): should fail because %s", i, refErr, v.Reject)
					}
					continue
				}
				if err != nil || refErr != nil {
					t.Fatalf("call %d: %v (reference: %v)", i, err, refErr)
				}
				var want enclave.Claims
				if err := json.Unmarshal(v.Claims, &want); err != nil {
					t.Fatal(err)
				}
				for _, c := range []enclave.Claims{got, ref} {
					if !c.Equal(want.Identity) || c.ReportData != want.ReportData {
						t.Fatalf("claims %+v, want %+v", c, want)
					}
				}
			}
			if v.Claims != nil {
				valid++
			}
		})
	}
	if valid < 3 {
		t.Errorf("%d valid certificates: the file lost some", valid)
	}
	// The OID's DER encoding as atls.md writes it.
	der, _ := asn1.Marshal(atls.OIDEvidence)
	if hex.EncodeToString(der) != "06092b06010381f5370101" || !atls.OIDEvidence.Equal(oidEvidence) {
		t.Errorf("OIDEvidence encodes as %x", der)
	}
	return len(f.Vectors)
}

// attestedCert builds a certificate as atls.md says, with evidence from
// evidence(reportData) and the changes edit makes.
func attestedCert(t *testing.T, key crypto.Signer, evidence func(enclave.ReportData) []byte, notBefore, notAfter time.Time,
	edit func(tmpl *x509.Certificate, ev []byte)) []byte {
	t.Helper()
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	rd, _ := enclave.NewReportData(nil, spki)
	ev := evidence(rd)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "confide attested TLS"},
		NotBefore:    notBefore, NotAfter: notAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{{Id: oidEvidence, Value: ev}},
	}
	signer := key
	if edit != nil {
		edit(tmpl, ev)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func generateATLS(t *testing.T, fx *simFixture) {
	cliManifest := enclave.CLIManifest.ConfigID()
	policy := `{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"config_id","equals":"` +
		hex.EncodeToString(cliManifest) + `"}]}`
	f := atlsFile{
		fileHeader: fileHeader{Kind: "atls-certificate", Spec: "atls.md", Comment: "Attested TLS certificates carrying evidence of the platform of " +
			"evidence-sim.json, verified at now against policy. " + regenerate},
		SimRoot: fx.p.Keys.Root.Raw,
		Now:     vectorNow,
		Policy:  json.RawMessage(policy),
	}
	pol, err := attest.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	sv := &sim.Verifier{Roots: fx.p.Roots(), Now: func() time.Time { return vectorNow }}
	seeds := map[string][]byte{}
	add := func(name string, certs [][]byte, why string) {
		c, err := refVerifyCertificate(certs, vectorNow, sv, pol)
		v := atlsVector{Name: name, Certificates: certs, Reject: why}
		switch {
		case why == "" && err != nil:
			t.Fatalf("%s: %v", name, err)
		case why != "" && err == nil:
			t.Fatalf("%s: accepted", name)
		case why == "":
			v.Claims, _ = json.Marshal(c)
		}
		f.Vectors = append(f.Vectors, v)
		if len(certs) == 1 {
			seeds[name] = certs[0]
		}
	}
	platformEvidence := func(rd enclave.ReportData) []byte {
		ev, err := fx.p.Client.Evidence(ctx, rd)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	// Evidence of another enclave, as the platform would make it.
	kmsEvidence := func(rd enclave.ReportData) []byte {
		return signSim(t, fx.ak, fx.p.Keys.AKCert.Raw, defaultBody(rd).encode())
	}
	untrustedEvidence := func(rd enclave.ReportData) []byte {
		b := defaultBody(rd)
		b.config = cliManifest
		return signSim(t, fx.otherAK, fx.otherAKCert, b.encode())
	}
	newKey := func(c elliptic.Curve) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	nb, na := vectorNow.Add(-time.Hour), vectorNow.Add(23*time.Hour)

	made, err := atls.NewCertificate(ctx, fx.p.Client, nil, vectorNow.Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	add("made by NewCertificate", made.Certificate, "")
	add("evidence extension marked critical", [][]byte{attestedCert(t, newKey(elliptic.P256()), platformEvidence, nb, na, func(c *x509.Certificate, _ []byte) {
		c.ExtraExtensions[0].Critical = true
	})}, "")
	add("P-384 key", [][]byte{attestedCert(t, newKey(elliptic.P384()), platformEvidence, nb, na, nil)}, "")
	add("at notAfter", [][]byte{attestedCert(t, newKey(elliptic.P256()), platformEvidence, nb, vectorNow, nil)}, "")

	add("no certificate", [][]byte{}, "exactly one certificate")
	add("two certificates", [][]byte{made.Certificate[0], made.Certificate[0]}, "exactly one certificate")
	add("not DER", [][]byte{[]byte("not a certificate")}, "DER X.509")
	add("expired", [][]byte{attestedCert(t, newKey(elliptic.P256()), platformEvidence, nb, vectorNow.Add(-time.Second), nil)}, "notAfter is before now")
	add("not yet valid", [][]byte{attestedCert(t, newKey(elliptic.P256()), platformEvidence, vectorNow.Add(time.Second), na, nil)}, "notBefore is after now")
	add("not self-signed", [][]byte{func() []byte {
		key, other := newKey(elliptic.P256()), newKey(elliptic.P256())
		spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
		rd, _ := enclave.NewReportData(nil, spki)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "confide attested TLS"},
			NotBefore: nb, NotAfter: na, ExtraExtensions: []pkix.Extension{{Id: oidEvidence, Value: platformEvidence(rd)}}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, other)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}()}, "signed by a key other than its own")
	add("unknown critical extension", [][]byte{attestedCert(t, newKey(elliptic.P256()), platformEvidence, nb, na, func(c *x509.Certificate, _ []byte) {
		c.ExtraExtensions = append(c.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 3, 31415, 9}, Critical: true, Value: []byte{5, 0}})
	})}, "a critical extension the verifier does not process")
	add("two evidence extensions", [][]byte{attestedCert(t, newKey(elliptic.P256()), platformEvidence, nb, na, func(c *x509.Certificate, ev []byte) {
		c.ExtraExtensions = append(c.ExtraExtensions, pkix.Extension{Id: oidEvidence, Value: ev})
	})}, "duplicate extensions do not parse")
	add("no evidence extension", [][]byte{attestedCert(t, newKey(elliptic.P256()), platformEvidence, nb, na, func(c *x509.Certificate, _ []byte) {
		c.ExtraExtensions = nil
	})}, "no evidence")
	add("evidence of another key", [][]byte{attestedCert(t, newKey(elliptic.P256()), platformEvidence, nb, na, func(c *x509.Certificate, _ []byte) {
		c.ExtraExtensions[0].Value = evidenceOf(made.Leaf)
	})}, "the report data binds another certificate's key")
	add("evidence with a nonce", [][]byte{attestedCert(t, newKey(elliptic.P256()), func(rd enclave.ReportData) []byte {
		rd[0] = 1
		return platformEvidence(rd)
	}, nb, na, nil)}, "the nonce half must be zero")
	add("evidence of an enclave the policy rejects", [][]byte{attestedCert(t, newKey(elliptic.P256()), kmsEvidence, nb, na, nil)}, "config_id is the kms manifest's, not the CLI's")
	add("evidence of an untrusted platform", [][]byte{attestedCert(t, newKey(elliptic.P256()), untrustedEvidence, nb, na, nil)}, "its attestation key chains to another root")
	add("malformed evidence", [][]byte{attestedCert(t, newKey(elliptic.P256()), platformEvidence, nb, na, func(c *x509.Certificate, ev []byte) {
		c.ExtraExtensions[0].Value = ev[:len(ev)-1]
	})}, "the envelope's length does not match")
	add("evidence of a platform not configured", [][]byte{attestedCert(t, newKey(elliptic.P256()), platformEvidence, nb, na, func(c *x509.Certificate, ev []byte) {
		c.ExtraExtensions[0].Value = append([]byte("CFEV\x01\x03"), ev[6:]...)
	})}, "no verifier for snp is configured")

	mustWriteJSON(t, "testdata/atls.json", f)
	writeSeeds(t, seedsFuzzVerifyCert, seeds)
}
