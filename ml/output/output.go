// Package output encrypts what the trainer hands each recipient — the
// model and the training report — to the recipient's X25519 output key
// with HPKE (RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// AES-256-GCM), the info string binding the manifest's hash and the
// recipient's name, so a file meant for one party in one job opens for no
// other party and in no other job (spec/ml-manifest.md).
package output

import (
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/json"
	"errors"
	"fmt"
)

// Version of the envelope.
const Version = 1

func suite() (hpke.KDF, hpke.AEAD) { return hpke.HKDFSHA256(), hpke.AES256GCM() }

func info(manifest [32]byte, recipient, what string) []byte {
	b := []byte("confide ml output v1\n")
	b = append(b, manifest[:]...)
	b = append(b, '\n')
	b = append(b, recipient...)
	b = append(b, '\n')
	return append(b, what...)
}

// Envelope is one encrypted output.
type Envelope struct {
	Version   int    `json:"version"`
	Recipient string `json:"recipient"`
	What      string `json:"what"` // "model", "report" or "predictions"
	Manifest  string `json:"manifest_sha256"`
	// Ciphertext is HPKE's single-shot output: the encapsulated key
	// followed by the sealed message.
	Ciphertext []byte `json:"ciphertext"`
}

// Seal encrypts plain for a recipient.
func Seal(pub *ecdh.PublicKey, manifest [32]byte, recipient, what string, plain []byte) (*Envelope, error) {
	pk, err := hpke.DHKEM(ecdh.X25519()).NewPublicKey(pub.Bytes())
	if err != nil {
		return nil, err
	}
	kdf, aead := suite()
	ct, err := hpke.Seal(pk, kdf, aead, info(manifest, recipient, what), plain)
	if err != nil {
		return nil, err
	}
	return &Envelope{Version: Version, Recipient: recipient, What: what, Manifest: fmt.Sprintf("%x", manifest), Ciphertext: ct}, nil
}

// ErrOpen: the envelope is not for this key, job or recipient, or was
// tampered with.
var ErrOpen = errors.New("output: the envelope does not open with this party's output key for this job (another party's, another job's, or tampered with)")

// Open decrypts an envelope for recipient in the job whose manifest hash
// is given.
func Open(priv *ecdh.PrivateKey, manifest [32]byte, recipient string, env *Envelope) ([]byte, error) {
	if env.Version != Version {
		return nil, fmt.Errorf("output: envelope version %d", env.Version)
	}
	if env.Recipient != recipient {
		return nil, fmt.Errorf("output: the envelope is for %q, not %q", env.Recipient, recipient)
	}
	if env.Manifest != fmt.Sprintf("%x", manifest) {
		return nil, fmt.Errorf("output: the envelope is for another job (manifest %.12s…)", env.Manifest)
	}
	sk, err := hpke.DHKEM(ecdh.X25519()).NewPrivateKey(priv.Bytes())
	if err != nil {
		return nil, err
	}
	kdf, aead := suite()
	plain, err := hpke.Open(sk, kdf, aead, info(manifest, recipient, env.What), env.Ciphertext)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// Parse reads an envelope strictly.
func Parse(b []byte) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("output: not an envelope: %w", err)
	}
	if e.Version != Version || e.Recipient == "" || (e.What != "model" && e.What != "report" && e.What != "predictions") || len(e.Ciphertext) == 0 {
		return nil, errors.New("output: not a version 1 envelope of a model, a report or predictions")
	}
	return &e, nil
}
