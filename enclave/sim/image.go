package sim

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/confide/confide/enclave"
)

// EnvEnclave names the environment variable through which a host launches
// a process as a given enclave: its value is the path of an enclave image
// file. The platform reads it from the process's initial environment, not
// from anything the process says.
const EnvEnclave = "CONFIDE_ENCLAVE"

// Image is an enclave image file (spec/enclave-image.md): a manifest and,
// when signed, the signer's statement that the executable with UniqueID,
// run with that manifest, is version SVN of product ProductID. It plays the
// part of SGX's SIGSTRUCT and EGo's enclave.json.
type Image struct {
	Manifest  []byte
	UniqueID  []byte // SHA-256 of the executable; nil when unsigned
	ProductID uint16
	SVN       uint16
	Debug     bool
	Signer    ed25519.PublicKey // nil when unsigned
	Signature []byte
}

const imageVersion = 1

type imageJSON struct {
	Version   int    `json:"version"`
	Manifest  []byte `json:"manifest"`
	UniqueID  []byte `json:"unique_id,omitempty"`
	ProductID uint16 `json:"product_id"`
	SVN       uint16 `json:"svn"`
	Debug     bool   `json:"debug"`
	Signer    []byte `json:"signer,omitempty"`
	Signature []byte `json:"signature,omitempty"`
}

// signedBody is what the signer signs: a domain separator, then the
// identity fields in fixed-width big-endian form.
func signedBody(uniqueID []byte, manifest []byte, product, svn uint16, debug bool) []byte {
	cfg := sha256.Sum256(manifest)
	b := make([]byte, 0, 64+32+32+5)
	b = append(b, "confide enclave image v1\x00"...)
	b = append(b, uniqueID...)
	b = append(b, cfg[:]...)
	b = binary.BigEndian.AppendUint16(b, product)
	b = binary.BigEndian.AppendUint16(b, svn)
	if debug {
		return append(b, 1)
	}
	return append(b, 0)
}

// SignImage signs an image for the executable whose SHA-256 is uniqueID.
func SignImage(key ed25519.PrivateKey, uniqueID, manifest []byte, product, svn uint16, debug bool) (*Image, error) {
	if len(uniqueID) != sha256.Size {
		return nil, errors.New("sim: unique ID must be a SHA-256")
	}
	if _, err := enclave.ParseManifest(manifest); err != nil {
		return nil, err
	}
	return &Image{
		Manifest: append([]byte(nil), manifest...), UniqueID: append([]byte(nil), uniqueID...),
		ProductID: product, SVN: svn, Debug: debug,
		Signer:    key.Public().(ed25519.PublicKey),
		Signature: ed25519.Sign(key, signedBody(uniqueID, manifest, product, svn, debug)),
	}, nil
}

// Marshal encodes the image file.
func (im *Image) Marshal() []byte {
	b, _ := json.MarshalIndent(imageJSON{
		Version: imageVersion, Manifest: im.Manifest, UniqueID: im.UniqueID,
		ProductID: im.ProductID, SVN: im.SVN, Debug: im.Debug,
		Signer: im.Signer, Signature: im.Signature,
	}, "", "  ")
	return append(b, '\n')
}

// ParseImage reads an image file and checks its signature, if any. It does
// not check that the signature covers a particular executable: the
// platform does that against what it measured.
func ParseImage(b []byte) (*Image, error) {
	var j imageJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("enclave image: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("enclave image: trailing data")
	}
	if j.Version != imageVersion {
		return nil, fmt.Errorf("enclave image: unsupported version %d", j.Version)
	}
	if _, err := enclave.ParseManifest(j.Manifest); err != nil {
		return nil, fmt.Errorf("enclave image: %w", err)
	}
	im := &Image{Manifest: j.Manifest, UniqueID: j.UniqueID, ProductID: j.ProductID, SVN: j.SVN, Debug: j.Debug,
		Signer: j.Signer, Signature: j.Signature}
	if j.Signer == nil && j.Signature == nil && j.UniqueID == nil {
		// Unsigned: the platform gives it a zero signer, product 0, SVN
		// 0 and debug, whatever the file says, so the file must say so.
		if j.ProductID != 0 || j.SVN != 0 || !j.Debug {
			return nil, errors.New("enclave image: an unsigned image has product 0, SVN 0 and debug set")
		}
		return im, nil
	}
	if len(j.Signer) != ed25519.PublicKeySize || len(j.UniqueID) != sha256.Size || len(j.Signature) != ed25519.SignatureSize {
		return nil, errors.New("enclave image: signed image needs signer, unique_id and signature of the right sizes")
	}
	if !ed25519.Verify(j.Signer, signedBody(j.UniqueID, j.Manifest, j.ProductID, j.SVN, j.Debug), j.Signature) {
		return nil, errors.New("enclave image: bad signature")
	}
	return im, nil
}

// Signed reports whether the image carries a signature.
func (im *Image) Signed() bool { return im.Signer != nil }

// UnsignedImage wraps a manifest without a signature.
func UnsignedImage(manifest []byte) *Image {
	return &Image{Manifest: append([]byte(nil), manifest...), Debug: true}
}

// SignerID is the SHA-256 of the signer's public key, zero when unsigned.
func (im *Image) SignerID() []byte {
	if !im.Signed() {
		return make([]byte, 32)
	}
	h := sha256.Sum256(im.Signer)
	return h[:]
}

// identity returns the identity a platform grants an executable measured
// as exeHash when launched with this image.
func (im *Image) identity(exeHash []byte) (enclave.Identity, error) {
	cfg := sha256.Sum256(im.Manifest)
	id := enclave.Identity{
		Platform: enclave.PlatformSim, UniqueID: exeHash, ConfigID: cfg[:], SignerID: im.SignerID(),
		// Simulated isolation is no isolation: every simulated enclave is
		// debug, whatever its image says, so production policies fail.
		Debug: true, TCBStatus: enclave.TCBUpToDate,
	}
	if im.Signed() {
		if !bytes.Equal(im.UniqueID, exeHash) {
			return enclave.Identity{}, errors.New("sim: enclave image is signed for another executable")
		}
		id.ProductID, id.SVN = im.ProductID, im.SVN
	}
	return id, nil
}
