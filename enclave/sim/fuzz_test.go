package sim_test

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"testing"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
)

// The fuzz targets and the tests below use the vectors of spec/ (which
// `go test ./spec -run TestVectors -update` regenerates, with the seed
// corpora under testdata/fuzz): simulated evidence of a platform whose
// root is given, enclave images, and sealing key derivations.
const (
	specEvidence = "../../spec/testdata/evidence-sim.json"
	specImages   = "../../spec/testdata/enclave-image.json"
	specSealKeys = "../../spec/testdata/sim-seal-key.json"
)

func readSpec(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// countSeeds fails unless dir holds at least min seeds: a corpus that
// silently disappears fuzzes nothing.
func countSeeds(t testing.TB, dir string, min int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) < min {
		t.Fatalf("%s: %d seeds (%v), want at least %d (regenerate with go test ./spec -run TestVectors -update)", dir, len(entries), err, min)
	}
}

// specSimEvidence returns a verifier for the evidence vectors and the set
// of evidence it must accept: every valid vector, and its twin with the
// signature (r, n−s) (evidence-sim.md: "Evidence is not unique").
func specSimEvidence(t testing.TB) (*sim.Verifier, [][]byte, map[string]bool) {
	var f struct {
		Root    []byte    `json:"root"`
		Now     time.Time `json:"now"`
		Vectors []struct {
			Evidence []byte          `json:"evidence"`
			Claims   json.RawMessage `json:"claims"`
		} `json:"vectors"`
	}
	readSpec(t, specEvidence, &f)
	root, err := x509.ParseCertificate(f.Root)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	var valid [][]byte
	accept := map[string]bool{}
	for _, v := range f.Vectors {
		if v.Claims != nil && !accept[string(v.Evidence)] {
			valid = append(valid, v.Evidence)
			accept[string(v.Evidence)] = true
			accept[string(twin(v.Evidence))] = true
		}
	}
	if len(valid) < 8 {
		t.Fatalf("%s: %d valid vectors", specEvidence, len(valid))
	}
	return &sim.Verifier{Roots: roots, Now: func() time.Time { return f.Now }}, valid, accept
}

// twin replaces s by n − s in simulated evidence of either report version
// (byte 10, after the envelope): n and the width of s are its curve's.
func twin(ev []byte) []byte {
	out := bytes.Clone(ev)
	curve, w := elliptic.P384(), 48
	if len(out) > 10 && out[10] == 2 {
		curve, w = elliptic.P256(), 32
	}
	s := new(big.Int).SetBytes(out[len(out)-w:])
	new(big.Int).Sub(curve.Params().N, s).FillBytes(out[len(out)-w:])
	return out
}

// FuzzVerify feeds arbitrary bytes to the verifier: it must never panic,
// and must accept nothing but the valid evidence of the spec's vectors
// (and their signature twins), since nobody without the platform's
// attestation key can make more.
func FuzzVerify(f *testing.F) {
	countSeeds(f, "testdata/fuzz/FuzzVerify", 20)
	v, _, accept := specSimEvidence(f)
	f.Add([]byte{})
	f.Add([]byte("CFEV\x01\x01\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, ev []byte) {
		c, err := v.Verify(context.Background(), ev)
		if err != nil {
			return
		}
		if !accept[string(ev)] {
			t.Fatalf("accepted evidence that is no valid vector: %x", ev)
		}
		if c.Platform != enclave.PlatformSim || !c.Debug {
			t.Fatalf("simulated claims %+v are not marked sim and debug", c)
		}
	})
}

// Every single-bit change of valid evidence is rejected, wherever it is:
// envelope, body, certificate or signature, in both report versions. (The
// vectors share two certificates, one per version, whose bytes are
// flipped in the first vector carrying each only.)
func TestFlippedEvidenceRejected(t *testing.T) {
	v, valid, _ := specSimEvidence(t)
	ctx := context.Background()
	flippedCerts := map[string]bool{}
	versions := map[byte]int{}
	for _, ev := range valid {
		if _, err := v.Verify(ctx, ev); err != nil {
			t.Fatalf("valid vector rejected: %v", err)
		}
		versions[ev[10]]++
		certAt, certLen := 10+169, int(ev[10+167])<<8|int(ev[10+168])
		cert := string(ev[certAt : certAt+certLen])
		skipCert := flippedCerts[cert]
		flippedCerts[cert] = true
		for i := range ev {
			if skipCert && i >= certAt && i < certAt+certLen {
				continue
			}
			bad := bytes.Clone(ev)
			bad[i] ^= 1 << (i % 8)
			if _, err := v.Verify(ctx, bad); err == nil {
				t.Fatalf("accepted evidence with bit %d of byte %d flipped", i%8, i)
			}
		}
	}
	if versions[1] == 0 || versions[2] == 0 {
		t.Errorf("valid vectors by report version: %v, want both", versions)
	}
}

// FuzzParseImage checks that ParseImage never panics and that whatever it
// accepts re-marshals to a file that parses to the same image, and so to
// the same identity.
func FuzzParseImage(f *testing.F) {
	countSeeds(f, "testdata/fuzz/FuzzParseImage", 20)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := sim.ParseImage(b)
		if err != nil {
			return
		}
		out := im.Marshal()
		again, err := sim.ParseImage(out)
		if err != nil {
			t.Fatalf("re-marshalled image does not parse: %v\n%s", err, out)
		}
		if !bytes.Equal(again.Marshal(), out) {
			t.Fatalf("marshalling is not stable:\n%s\n%s", out, again.Marshal())
		}
		if !bytes.Equal(im.Manifest, again.Manifest) || !bytes.Equal(im.UniqueID, again.UniqueID) ||
			im.ProductID != again.ProductID || im.SVN != again.SVN || im.Debug != again.Debug ||
			!bytes.Equal(im.Signer, again.Signer) || !bytes.Equal(im.Signature, again.Signature) ||
			im.Signed() != again.Signed() || !bytes.Equal(im.SignerID(), again.SignerID()) {
			t.Fatalf("round trip changed the image: %+v then %+v", im, again)
		}
		exe := im.UniqueID
		if !im.Signed() {
			h := sha256.Sum256(b)
			exe = h[:]
		}
		id1, err1 := im.IdentityFor(exe)
		id2, err2 := again.IdentityFor(exe)
		if err1 != nil || err2 != nil || !id1.Equal(id2) {
			t.Fatalf("identities differ: %+v (%v), %+v (%v)", id1, err1, id2, err2)
		}
	})
}

type specIdentity struct {
	UniqueID  string `json:"unique_id"`
	ConfigID  string `json:"config_id"`
	SignerID  string `json:"signer_id"`
	ProductID uint16 `json:"product_id"`
	SVN       uint16 `json:"svn"`
	Debug     bool   `json:"debug"`
	TCBStatus string `json:"tcb_status"`
}

func (j specIdentity) identity(t *testing.T) enclave.Identity {
	t.Helper()
	return enclave.Identity{Platform: enclave.PlatformSim, UniqueID: mustHex(t, j.UniqueID), ConfigID: mustHex(t, j.ConfigID),
		SignerID: mustHex(t, j.SignerID), ProductID: j.ProductID, SVN: j.SVN, Debug: j.Debug, TCBStatus: j.TCBStatus}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The platform's identity derivation gives what spec/enclave-image.md's
// vectors say.
func TestSpecImageIdentities(t *testing.T) {
	var f struct {
		Vectors []struct {
			Name     string `json:"name"`
			Image    string `json:"image"`
			Launches []struct {
				Exe      string        `json:"exe"`
				Identity *specIdentity `json:"identity"`
				Refuse   string        `json:"refuse"`
			} `json:"launches"`
			Reject string `json:"reject"`
		} `json:"vectors"`
	}
	readSpec(t, specImages, &f)
	launches := 0
	for _, v := range f.Vectors {
		im, err := sim.ParseImage([]byte(v.Image))
		if (err != nil) != (v.Reject != "") {
			t.Fatalf("%s: ParseImage: %v", v.Name, err)
		}
		for _, l := range v.Launches {
			launches++
			id, err := im.IdentityFor(mustHex(t, l.Exe))
			switch {
			case l.Refuse != "" && err == nil:
				t.Errorf("%s: launch of %s granted %+v", v.Name, l.Exe, id)
			case l.Refuse == "" && err != nil:
				t.Errorf("%s: launch of %s: %v", v.Name, l.Exe, err)
			case l.Refuse == "" && !id.Equal(l.Identity.identity(t)):
				t.Errorf("%s: identity %+v, want %+v", v.Name, id, l.Identity.identity(t))
			}
		}
	}
	if launches < 8 {
		t.Errorf("%d launches in %s", launches, specImages)
	}
}

// The platform's sealing key derivation gives what spec/sim-platform.md's
// vectors say.
func TestSpecSealKeys(t *testing.T) {
	var f struct {
		Vectors []struct {
			Name       string       `json:"name"`
			SealSecret string       `json:"seal_secret"`
			Identity   specIdentity `json:"identity"`
			Policy     uint8        `json:"policy"`
			SVN        uint16       `json:"svn"`
			KeyID      string       `json:"key_id"`
			Key        string       `json:"key"`
			Reject     string       `json:"reject"`
		} `json:"vectors"`
	}
	readSpec(t, specSealKeys, &f)
	if len(f.Vectors) < 12 {
		t.Fatalf("%d vectors in %s", len(f.Vectors), specSealKeys)
	}
	for _, v := range f.Vectors {
		req := enclave.KeyRequest{Policy: enclave.SealPolicy(v.Policy), SVN: v.SVN}
		copy(req.KeyID[:], mustHex(t, v.KeyID))
		key, err := sim.SealKeyFor(mustHex(t, v.SealSecret), v.Identity.identity(t), req)
		switch {
		case v.Reject != "" && err == nil:
			t.Errorf("%s: derived a key", v.Name)
		case v.Reject != "" && v.Policy == 2 && !errors.Is(err, enclave.ErrSVNTooHigh):
			t.Errorf("%s: %v, want ErrSVNTooHigh", v.Name, err)
		case v.Reject == "" && (err != nil || hex.EncodeToString(key) != v.Key):
			t.Errorf("%s: key %x (%v), want %s", v.Name, key, err, v.Key)
		}
	}
}
