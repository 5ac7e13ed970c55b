package spec_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
)

type imageFile struct {
	fileHeader
	Vectors []imageVector `json:"vectors"`
}

type imageVector struct {
	Name       string   `json:"name"`
	Image      string   `json:"image"`
	SignedBody hexBytes `json:"signed_body,omitempty"`
	Launches   []launch `json:"launches,omitempty"`
	Reject     string   `json:"reject,omitempty"`
}

type launch struct {
	Exe      hexBytes     `json:"exe"`
	Identity *identityHex `json:"identity,omitempty"`
	Refuse   string       `json:"refuse,omitempty"`
}

// refImage is the image file of enclave-image.md, members in its order.
type refImage struct {
	Version   int    `json:"version"`
	Manifest  []byte `json:"manifest"`
	UniqueID  []byte `json:"unique_id,omitempty"`
	ProductID uint16 `json:"product_id"`
	SVN       uint16 `json:"svn"`
	Debug     bool   `json:"debug"`
	Signer    []byte `json:"signer,omitempty"`
	Signature []byte `json:"signature,omitempty"`
}

func (im refImage) signed() bool {
	return im.Signer != nil || im.UniqueID != nil || im.Signature != nil
}

func (im refImage) file() string {
	b, err := json.MarshalIndent(im, "", "  ")
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}

// refSignedBody is the signed body of enclave-image.md.
func refSignedBody(im refImage) []byte {
	cfg := sha256.Sum256(im.Manifest)
	b := append([]byte("confide enclave image v1\x00"), im.UniqueID...)
	b = append(b, cfg[:]...)
	b = binary.BigEndian.AppendUint16(b, im.ProductID)
	b = binary.BigEndian.AppendUint16(b, im.SVN)
	if im.Debug {
		return append(b, 1)
	}
	return append(b, 0)
}

// refParseImage parses an image file as enclave-image.md says.
func refParseImage(text string) (refImage, error) {
	var im refImage
	if err := strictJSON([]byte(text), &im); err != nil {
		return im, err
	}
	if im.Version != 1 {
		return im, errors.New("version")
	}
	if _, err := enclave.ParseManifest(im.Manifest); err != nil {
		return im, err
	}
	if !im.signed() {
		if im.ProductID != 0 || im.SVN != 0 || !im.Debug {
			return im, errors.New("unsigned image with product, svn or no debug")
		}
		return im, nil
	}
	if len(im.Signer) != 32 || len(im.UniqueID) != 32 || len(im.Signature) != 64 {
		return im, errors.New("sizes")
	}
	if !ed25519.Verify(im.Signer, refSignedBody(im), im.Signature) {
		return im, errors.New("signature")
	}
	return im, nil
}

// refIdentity is the identity the simulated platform grants exe launched
// with im; ok is false if it refuses.
func refIdentity(im refImage, exe []byte) (identityHex, bool) {
	cfg := sha256.Sum256(im.Manifest)
	id := identityHex{Platform: enclave.PlatformSim, UniqueID: exe, ConfigID: cfg[:], SignerID: make([]byte, 32),
		Debug: true, TCBStatus: enclave.TCBUpToDate}
	if im.signed() {
		if !bytes.Equal(im.UniqueID, exe) {
			return identityHex{}, false
		}
		h := sha256.Sum256(im.Signer)
		id.SignerID, id.ProductID, id.SVN = h[:], im.ProductID, im.SVN
	}
	return id, true
}

func runEnclaveImage(t *testing.T, b []byte) int {
	var f imageFile
	decodeStrict(t, b, &f)
	f.check(t)
	signed, rejects := 0, 0
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			oneOf(t, "launches and reject", v.Launches != nil, v.Reject != "")
			im, err := sim.ParseImage([]byte(v.Image))
			ref, refErr := refParseImage(v.Image)
			if v.Reject != "" {
				rejects++
				if err == nil || refErr == nil {
					t.Fatalf("accepted (ParseImage: %v, reference: %v)", err, refErr)
				}
				return
			}
			if err != nil || refErr != nil {
				t.Fatalf("ParseImage: %v, reference: %v", err, refErr)
			}
			if got := string(im.Marshal()); got != v.Image || ref.file() != v.Image {
				t.Fatalf("Marshal:\n%s\nreference:\n%s\nwant:\n%s", got, ref.file(), v.Image)
			}
			if ref.signed() {
				signed++
				if body := refSignedBody(ref); !bytes.Equal(body, v.SignedBody) || len(body) != 94 {
					t.Fatalf("signed body %x, want %x", body, v.SignedBody)
				}
			} else if v.SignedBody != nil {
				t.Fatal("an unsigned image has no signed body")
			}
			if im.Signed() != ref.signed() || !bytes.Equal(im.SignerID(), sha256Or0(ref.Signer)) {
				t.Fatalf("Signed() %v, SignerID() %x", im.Signed(), im.SignerID())
			}
			for _, l := range v.Launches {
				oneOf(t, "identity and refuse", l.Identity != nil, l.Refuse != "")
				id, ok := refIdentity(ref, l.Exe)
				if ok != (l.Identity != nil) {
					t.Fatalf("launch of %x: reference grants %v", l.Exe, ok)
				}
				if ok && !toIdentityHexEq(id, *l.Identity) {
					t.Fatalf("launch of %x: reference identity %+v, want %+v", l.Exe, id, *l.Identity)
				}
			}
		})
	}
	if signed < 3 || rejects < 12 {
		t.Errorf("%d signed images and %d rejects: the file lost some", signed, rejects)
	}
	return len(f.Vectors)
}

func sha256Or0(b []byte) []byte {
	if b == nil {
		return make([]byte, 32)
	}
	h := sha256.Sum256(b)
	return h[:]
}

func toIdentityHexEq(a, b identityHex) bool {
	return a.identity(a.Platform).Equal(b.identity(b.Platform))
}

func generateImages(t *testing.T) {
	key := vectorSigner()
	exe := vectorExe()
	otherExe := sha256.Sum256([]byte("another executable"))
	f := imageFile{fileHeader: fileHeader{Kind: "enclave-image", Spec: "enclave-image.md",
		Comment: `Enclave image files, signed with the Ed25519 key whose seed is SHA-256("confide spec vector signer"); ` +
			`"exe" is the measured executable's SHA-256. ` + regenerate}}
	seeds := map[string][]byte{}
	valid := func(name string, im *sim.Image) {
		text := string(im.Marshal())
		ref, err := refParseImage(text)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v := imageVector{Name: name, Image: text}
		if ref.signed() {
			v.SignedBody = refSignedBody(ref)
		}
		for _, e := range [][]byte{exe, otherExe[:]} {
			if id, ok := refIdentity(ref, e); ok {
				v.Launches = append(v.Launches, launch{Exe: e, Identity: &id})
			} else {
				v.Launches = append(v.Launches, launch{Exe: e, Refuse: "the image is signed for another executable"})
			}
		}
		f.Vectors = append(f.Vectors, v)
		seeds[name] = []byte(text)
	}
	reject := func(name, why, text string) {
		f.Vectors = append(f.Vectors, imageVector{Name: name, Image: text, Reject: why})
		seeds[name] = []byte(text)
	}
	sign := func(manifest []byte, product, svn uint16, debug bool) *sim.Image {
		im, err := sim.SignImage(key, exe, manifest, product, svn, debug)
		if err != nil {
			t.Fatal(err)
		}
		return im
	}
	valid("unsigned CLI", sim.UnsignedImage(enclave.CLIManifest.Marshal()))
	valid("unsigned kms", sim.UnsignedImage(kmsManifest()))
	kms := sign(kmsManifest(), 7, 3, false)
	valid("signed kms, product 7, svn 3", kms)
	valid("signed, debug allowed, product and svn 65535", sign(kmsManifest(), 65535, 65535, true))
	settings := enclave.Manifest{Version: 1, Role: "sql", Entry: []string{"sql", "serve"}, Settings: map[string]string{"oblivious": "on"}}.Marshal()
	valid("signed sql with settings, product 0, svn 0", sign(settings, 0, 0, false))

	base := refImage{Version: 1, Manifest: kms.Manifest, UniqueID: kms.UniqueID, ProductID: kms.ProductID, SVN: kms.SVN,
		Debug: kms.Debug, Signer: kms.Signer, Signature: kms.Signature}
	mod := func(name, why string, e func(*refImage)) {
		im := base
		im.Signature = bytes.Clone(base.Signature)
		e(&im)
		reject(name, why, im.file())
	}
	mod("signature changed", "the signature does not verify", func(im *refImage) { im.Signature[0] ^= 1 })
	mod("svn raised after signing", "svn is signed", func(im *refImage) { im.SVN++ })
	mod("product changed after signing", "product_id is signed", func(im *refImage) { im.ProductID++ })
	mod("debug changed after signing", "debug is signed", func(im *refImage) { im.Debug = true })
	mod("manifest changed after signing", "the config ID is signed", func(im *refImage) { im.Manifest = enclave.CLIManifest.Marshal() })
	mod("unique_id changed after signing", "unique_id is signed", func(im *refImage) { im.UniqueID = otherExe[:] })
	_, otherKey, _ := ed25519.GenerateKey(nil)
	mod("another signer's key", "the signature is the vector signer's", func(im *refImage) { im.Signer = otherKey.Public().(ed25519.PublicKey) })
	mod("no signature", "a signed image has all of signer, unique_id and signature", func(im *refImage) { im.Signature = nil })
	mod("no signer", "a signed image has all of signer, unique_id and signature", func(im *refImage) { im.Signer = nil })
	mod("no unique_id", "a signed image has all of signer, unique_id and signature", func(im *refImage) { im.UniqueID = nil })
	mod("31-byte unique_id", "unique_id is 32 bytes", func(im *refImage) { im.UniqueID = im.UniqueID[:31] })
	mod("version 2", "unknown version", func(im *refImage) { im.Version = 2 })
	mod("version 0", "unknown version", func(im *refImage) { im.Version = 0 })
	mod("non-canonical manifest", "the manifest must be canonical", func(im *refImage) {
		im.Manifest = []byte(`{"version": 1, "role": "kms", "entry": ["kms", "serve"]}`)
	})
	unsigned := refImage{Version: 1, Manifest: enclave.CLIManifest.Marshal(), Debug: true}
	umod := func(name, why string, e func(*refImage)) { im := unsigned; e(&im); reject(name, why, im.file()) }
	umod("unsigned, svn 1", "an unsigned image has svn 0", func(im *refImage) { im.SVN = 1 })
	umod("unsigned, product 1", "an unsigned image has product 0", func(im *refImage) { im.ProductID = 1 })
	umod("unsigned, debug false", "an unsigned image has debug set", func(im *refImage) { im.Debug = false })
	text := unsigned.file()
	reject("unsigned, empty unique_id", "an empty string counts as present: then all three are needed",
		text[:len(text)-2]+",\n  \"unique_id\": \"\"\n}\n")
	reject("unknown member", "members are the eight of the table", text[:len(text)-2]+",\n  \"comment\": \"x\"\n}\n")
	reject("trailing data", "one JSON object, then white space only", text+"{}\n")
	reject("product_id 65536", "product_id is 16 bits", `{"version":1,"manifest":"`+base64.StdEncoding.EncodeToString(unsigned.Manifest)+`","product_id":65536,"svn":0,"debug":true}`)
	reject("manifest not base64", "byte strings are base64", `{"version":1,"manifest":"{}","product_id":0,"svn":0,"debug":true}`)
	reject("not an object", "an image is a JSON object", `[]`)

	mustWriteJSON(t, "testdata/enclave-image.json", f)
	writeSeeds(t, seedsFuzzParseImage, seeds)
}
