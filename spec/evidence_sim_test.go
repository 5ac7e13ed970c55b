package spec_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
)

type simEvidenceFile struct {
	fileHeader
	Root    []byte              `json:"root"` // DER, base64
	Now     time.Time           `json:"now"`
	Vectors []simEvidenceVector `json:"vectors"`
}

type simEvidenceVector struct {
	Name        string          `json:"name"`
	Evidence    []byte          `json:"evidence"` // base64
	Now         *time.Time      `json:"now,omitempty"`
	Nonce       hexBytes        `json:"nonce,omitempty"`
	RuntimeData hexBytes        `json:"runtime_data,omitempty"`
	Claims      json.RawMessage `json:"claims,omitempty"`
	Reject      string          `json:"reject,omitempty"`
	Error       string          `json:"error,omitempty"`
}

func (v simEvidenceVector) at(fileNow time.Time) time.Time {
	if v.Now != nil {
		return *v.Now
	}
	return fileNow
}

// Error classes of evidence-sim.md, "Verification".
const (
	errMalformed = "malformed"
	errPlatform  = "platform"
	errChain     = "chain"
	errKey       = "key"
	errSignature = "signature"
)

// simVersion is what a report version of evidence-sim.md fixes.
type simVersion struct {
	curve   elliptic.Curve
	digest  func(b []byte) []byte
	context string
	scalar  int // bytes of r and of s
}

var simVersions = map[byte]simVersion{
	1: {elliptic.P384(), func(b []byte) []byte { d := sha512.Sum384(b); return d[:] }, "confide sim report v1\x00", 48},
	2: {elliptic.P256(), func(b []byte) []byte { d := sha256.Sum256(b); return d[:] }, "confide sim report v2\x00", 32},
}

var simTCB = []string{1: enclave.TCBUpToDate, 2: enclave.TCBSWHardeningNeeded, 3: enclave.TCBConfigurationNeeded, 4: enclave.TCBOutOfDate, 5: enclave.TCBRevoked}

// refVerifySim verifies simulated evidence from evidence-sim.md alone and
// returns the claims or the class of the first step that fails.
func refVerifySim(ev []byte, roots *x509.CertPool, now time.Time) (enclave.Claims, string) {
	var c enclave.Claims
	if len(ev) < 10 || len(ev) > 1<<20 || string(ev[:4]) != "CFEV" || ev[4] != 1 {
		return c, errMalformed
	}
	switch ev[5] {
	case 1:
	case 2, 3, 4:
		if binary.BigEndian.Uint32(ev[6:]) != uint32(len(ev)-10) {
			return c, errMalformed
		}
		return c, errPlatform
	default:
		return c, errMalformed
	}
	if int64(binary.BigEndian.Uint32(ev[6:])) != int64(len(ev)-10) {
		return c, errMalformed
	}
	p := ev[10:]
	if len(p) < 233 {
		return c, errMalformed
	}
	ver, ok := simVersions[p[0]]
	sigLen := 2 * ver.scalar
	if !ok || len(p) < 169+sigLen || p[1] != 0x03 || p[102] < 1 || p[102] > 5 {
		return c, errMalformed
	}
	n := int(binary.BigEndian.Uint16(p[167:]))
	if len(p) != 169+n+sigLen {
		return c, errMalformed
	}
	cert, err := x509.ParseCertificate(p[169 : 169+n])
	if err != nil {
		return c, errMalformed
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return c, errChain
	}
	key, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve != ver.curve {
		return c, errKey
	}
	digest := ver.digest(append([]byte(ver.context), p[:167]...))
	sig := p[169+n:]
	r := new(big.Int).SetBytes(sig[:ver.scalar])
	s := new(big.Int).SetBytes(sig[ver.scalar:])
	if !ecdsa.Verify(key, digest, r, s) {
		return c, errSignature
	}
	c.Platform = enclave.PlatformSim
	c.UniqueID = bytes.Clone(p[2:34])
	c.ConfigID = bytes.Clone(p[34:66])
	c.SignerID = bytes.Clone(p[66:98])
	c.ProductID = binary.BigEndian.Uint16(p[98:])
	c.SVN = binary.BigEndian.Uint16(p[100:])
	c.Debug = true
	c.TCBStatus = simTCB[p[102]]
	copy(c.ReportData[:], p[103:167])
	return c, ""
}

func loadSimEvidence(t *testing.T, b []byte) (simEvidenceFile, *x509.CertPool) {
	t.Helper()
	var f simEvidenceFile
	decodeStrict(t, b, &f)
	f.check(t)
	return f, rootPool(t, f.Root)
}

// rootPool is a pool of one root certificate (DER).
func rootPool(t *testing.T, der []byte) *x509.CertPool {
	t.Helper()
	root, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	return roots
}

func runEvidenceSim(t *testing.T, b []byte) int {
	f, roots := loadSimEvidence(t, b)
	// One verifier across all vectors, in order, so that its chain cache
	// meets every vector warm, at every vector's time.
	var sharedNow time.Time
	shared := &sim.Verifier{Roots: roots, Now: func() time.Time { return sharedNow }}
	valid, classes := 0, map[string]int{}
	validByVersion, keyByVersion := map[byte]int{}, map[byte]int{}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			oneOf(t, "claims and reject", v.Claims != nil, v.Reject != "")
			now := v.at(f.Now)
			ref, class := refVerifySim(v.Evidence, roots, now)
			cold := &sim.Verifier{Roots: roots, Now: func() time.Time { return now }}
			sharedNow = now
			av := &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSim: cold}}
			var results []error
			var claims []enclave.Claims
			for _, verify := range []func() (enclave.Claims, error){
				func() (enclave.Claims, error) { return cold.Verify(ctx, v.Evidence) },
				func() (enclave.Claims, error) { return cold.Verify(ctx, v.Evidence) }, // warm
				func() (enclave.Claims, error) { return shared.Verify(ctx, v.Evidence) },
				func() (enclave.Claims, error) {
					return av.Verify(ctx, v.Evidence, attest.Expect{Nonce: v.Nonce, RuntimeData: v.RuntimeData})
				},
			} {
				c, err := verify()
				results = append(results, err)
				claims = append(claims, c)
			}
			if v.Reject != "" {
				classes[v.Error]++
				if v.Error == errKey && len(v.Evidence) > 10 {
					keyByVersion[v.Evidence[10]]++
				}
				if class != v.Error {
					t.Errorf("reference verifier: %q, vector says %q", class, v.Error)
				}
				for i, err := range results {
					if err == nil {
						t.Fatalf("entry point %d accepted evidence to reject (%s)", i, v.Reject)
					}
					if errors.Is(err, enclave.ErrMalformedEvidence) != (v.Error == errMalformed) {
						t.Errorf("entry point %d: %v; malformed is %v", i, err, v.Error == errMalformed)
					}
				}
				return
			}
			valid++
			validByVersion[v.Evidence[10]]++
			if v.Error != "" {
				t.Fatal("error belongs to reject vectors")
			}
			var want enclave.Claims
			if err := json.Unmarshal(v.Claims, &want); err != nil {
				t.Fatal(err)
			}
			if class != "" {
				t.Fatalf("reference verifier rejects: %s", class)
			}
			for i, c := range append(claims, ref) {
				if i < len(results) && results[i] != nil {
					t.Fatalf("entry point %d: %v", i, results[i])
				}
				if !c.Equal(want.Identity) || c.ReportData != want.ReportData {
					t.Fatalf("entry point %d: claims %+v, want %+v", i, c, want)
				}
			}
			got, _ := json.Marshal(claims[0])
			var compact bytes.Buffer
			if err := json.Compact(&compact, v.Claims); err != nil || !bytes.Equal(got, compact.Bytes()) {
				t.Errorf("claims JSON\n%s\nwant\n%s", got, compact.Bytes())
			}
		})
	}
	if valid < 16 || classes[errMalformed] < 20 || classes[errChain] < 5 || classes[errSignature] < 15 || classes[errKey] < 4 || classes[errPlatform] < 1 {
		t.Errorf("%d valid vectors and rejects %v: the file lost some", valid, classes)
	}
	// Both report versions verify, and each is refused with the other's
	// key (a version 2 report from a P-384 key, and the reverse).
	if validByVersion[1] < 5 || validByVersion[2] < 8 || keyByVersion[1] < 1 || keyByVersion[2] < 1 {
		t.Errorf("valid vectors by report version %v, key rejects by version %v: the file lost some", validByVersion, keyByVersion)
	}
	return len(f.Vectors)
}
