// Package party holds a data owner's keys for multi-party training: an
// Ed25519 key that signs manifests and requests, an X25519 key to which
// the trainer encrypts the model and the report, and the symmetric key
// that encrypts the party's data set (spec/ml-data.md), which reaches
// the trainer only through the key broker, after attestation.
package party

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/confide/confide/ml/encfile"
)

// Keys are one party's.
type Keys struct {
	Name string
	Sign ed25519.PrivateKey
	Out  *ecdh.PrivateKey
	Data []byte // encfile.KeySize bytes
}

// Generate makes fresh keys.
func Generate(name string) (*Keys, error) {
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	ok, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Keys{Name: name, Sign: sk, Out: ok, Data: encfile.NewKey()}, nil
}

// Public is what the manifest lists of a party.
type Public struct {
	Name       string `json:"name"`
	SigningKey string `json:"signing_key"`
	OutputKey  string `json:"output_key"`
}

// Public returns the public half.
func (k *Keys) Public() Public {
	return Public{Name: k.Name,
		SigningKey: base64.StdEncoding.EncodeToString(k.Sign.Public().(ed25519.PublicKey)),
		OutputKey:  base64.StdEncoding.EncodeToString(k.Out.PublicKey().Bytes())}
}

// Files a party's keys live in, in its directory.
func files(dir, name string) (keys, pub string) {
	return filepath.Join(dir, name+".keys.pem"), filepath.Join(dir, name+".pub.json")
}

// Save writes NAME.keys.pem (mode 0600: the three private keys) and
// NAME.pub.json (the public half, for the manifest) into dir.
func (k *Keys) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	keysPath, pubPath := files(dir, k.Name)
	sb, err := x509.MarshalPKCS8PrivateKey(k.Sign)
	if err != nil {
		return err
	}
	ob, err := x509.MarshalPKCS8PrivateKey(k.Out)
	if err != nil {
		return err
	}
	var out []byte
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CONFIDE ML SIGNING KEY", Bytes: sb})...)
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CONFIDE ML OUTPUT KEY", Bytes: ob})...)
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CONFIDE ML DATA KEY", Bytes: k.Data})...)
	if _, err := os.Stat(keysPath); err == nil {
		return fmt.Errorf("%s exists: keys are not overwritten", keysPath)
	}
	if err := os.WriteFile(keysPath, out, 0o600); err != nil {
		return err
	}
	pb, _ := json.MarshalIndent(k.Public(), "", "  ")
	return os.WriteFile(pubPath, append(pb, '\n'), 0o644)
}

// Load reads NAME.keys.pem from dir.
func Load(dir, name string) (*Keys, error) {
	keysPath, _ := files(dir, name)
	b, err := os.ReadFile(keysPath)
	if err != nil {
		return nil, err
	}
	return parseKeys(b, keysPath, name)
}

// parseKeys reads a keys file's PEM blocks.
func parseKeys(b []byte, keysPath, name string) (*Keys, error) {
	k := &Keys{Name: name}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "CONFIDE ML SIGNING KEY":
			key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			sk, ok := key.(ed25519.PrivateKey)
			if err != nil || !ok {
				return nil, fmt.Errorf("%s: the signing key is not Ed25519", keysPath)
			}
			k.Sign = sk
		case "CONFIDE ML OUTPUT KEY":
			key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			ok, isX := key.(*ecdh.PrivateKey)
			if err != nil || !isX || ok.Curve() != ecdh.X25519() {
				return nil, fmt.Errorf("%s: the output key is not X25519", keysPath)
			}
			k.Out = ok
		case "CONFIDE ML DATA KEY":
			if len(blk.Bytes) != encfile.KeySize {
				return nil, fmt.Errorf("%s: the data key is not %d bytes", keysPath, encfile.KeySize)
			}
			k.Data = blk.Bytes
		}
	}
	if k.Sign == nil || k.Out == nil || k.Data == nil {
		return nil, fmt.Errorf("%s: a signing, output and data key are needed", keysPath)
	}
	return k, nil
}

// ReadPublic reads a NAME.pub.json.
func ReadPublic(path string) (Public, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Public{}, err
	}
	return parsePublic(b, path)
}

func parsePublic(b []byte, path string) (Public, error) {
	var p Public
	if err := json.Unmarshal(b, &p); err != nil || p.Name == "" || p.SigningKey == "" || p.OutputKey == "" {
		return Public{}, fmt.Errorf("%s: not a party's public keys", path)
	}
	return p, nil
}

// DataKeyID is the key broker's name for a party's data key in a job.
func DataKeyID(job, party string) string {
	return "ml-" + strings.ToLower(job) + "-" + strings.ToLower(party)
}

// Fingerprint is a short hex name of a key, for messages.
func Fingerprint(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	return hex.EncodeToString(b[:4])
}
