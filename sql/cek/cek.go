// Package cek handles Always Encrypted's column encryption keys (CEKs) as
// the database stores them: encrypted by a column master key (CMK) that
// never leaves its key store, in SQL Server's layout (spec/ae-cek.md), so
// that values made here open in SQL Server's drivers and theirs here.
//
//	0x01 ‖ len(path) (2, LE) ‖ len(ciphertext) (2, LE) ‖ path ‖ ciphertext ‖ signature
//
// path is the CMK's key path, lower-cased, in UTF-16LE; ciphertext is the
// CEK under RSA-OAEP (SHA-1, MGF1-SHA-1, no label) with the CMK; the
// signature is RSASSA-PKCS1-v1_5 with SHA-256, by the CMK, of the SHA-256
// of everything before it. Readers verify the signature before they ask
// the key store to unwrap.
//
// Key stores sit behind CMK (one key) and Provider (a kind of key path):
// a local PEM key file (KeyFile) and confide's key broker (KMS), whose
// unwrapkey operation keeps the CMK inside the broker.
package cek

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Algorithm is the only CEK encryption algorithm: RSA-OAEP with SHA-1.
const Algorithm = "RSA_OAEP"

const version = 0x01

// Errors.
var (
	ErrFormat    = errors.New("cek: malformed encrypted column encryption key")
	ErrSignature = errors.New("cek: the encrypted column encryption key's signature does not verify with the column master key (tampered value, or another key path)")
)

// Value is a parsed encrypted CEK.
type Value struct {
	// Path is the key path the value names (lower case).
	Path       string
	Ciphertext []byte
	Signature  []byte
	signed     []byte // the bytes the signature covers
}

// MaxValue bounds an encrypted CEK (a 16384-bit CMK, a long path).
const MaxValue = 8 << 10

// Parse reads an encrypted CEK.
func Parse(b []byte) (*Value, error) {
	if len(b) > MaxValue {
		return nil, fmt.Errorf("%w: %d bytes", ErrFormat, len(b))
	}
	if len(b) < 5 || b[0] != version {
		return nil, fmt.Errorf("%w: no version 1 header", ErrFormat)
	}
	pl := int(binary.LittleEndian.Uint16(b[1:]))
	cl := int(binary.LittleEndian.Uint16(b[3:]))
	rest := b[5:]
	if cl == 0 || len(rest) < pl+cl {
		return nil, fmt.Errorf("%w: lengths %d and %d in %d bytes", ErrFormat, pl, cl, len(b))
	}
	sig := rest[pl+cl:]
	// RSA signatures are as long as the modulus, which is as long as the
	// RSA-OAEP ciphertext.
	if len(sig) != cl {
		return nil, fmt.Errorf("%w: a %d-byte signature for a %d-byte ciphertext", ErrFormat, len(sig), cl)
	}
	return &Value{
		Path:       decodePath(rest[:pl]),
		Ciphertext: bytes.Clone(rest[pl : pl+cl]),
		Signature:  bytes.Clone(sig),
		signed:     bytes.Clone(b[:5+pl+cl]),
	}, nil
}

// Digest is what the signature signs: SHA-256 of the bytes before it.
func (v *Value) Digest() []byte {
	h := sha256.Sum256(v.signed)
	return h[:]
}

// CMK is one column master key in a key store.
type CMK interface {
	// Public returns the CMK's public key.
	Public(ctx context.Context) (*rsa.PublicKey, error)
	// Unwrap decrypts RSA-OAEP (SHA-1) ciphertext with the CMK.
	Unwrap(ctx context.Context, ciphertext []byte) ([]byte, error)
	// Sign signs a SHA-256 digest, RSASSA-PKCS1-v1_5.
	Sign(ctx context.Context, digest []byte) ([]byte, error)
}

// Encrypt makes the encrypted value of a CEK under a CMK at keyPath: a
// value meant for the database, public by design.
//
//confide:declassify
func Encrypt(ctx context.Context, cmk CMK, keyPath string, key []byte, rnd io.Reader) ([]byte, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	pub, err := cmk.Public(ctx)
	if err != nil {
		return nil, err
	}
	ct, err := rsa.EncryptOAEP(sha1.New(), rnd, pub, key, nil)
	if err != nil {
		return nil, fmt.Errorf("cek: wrapping: %w", err)
	}
	path := utf16le(strings.ToLower(keyPath))
	if len(path) > 0xffff || len(ct) > 0xffff {
		return nil, fmt.Errorf("cek: key path or key too long")
	}
	b := []byte{version}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(path)))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(ct)))
	b = append(append(b, path...), ct...)
	d := sha256.Sum256(b)
	sig, err := cmk.Sign(ctx, d[:])
	if err != nil {
		return nil, fmt.Errorf("cek: signing: %w", err)
	}
	if len(sig) != len(ct) {
		return nil, errors.New("cek: the key store's signature is not as long as the key")
	}
	return append(b, sig...), nil
}

// Decrypt verifies an encrypted CEK's signature with the CMK and unwraps
// it. The signature, by the CMK over the whole value, is what ties the
// value to this CMK; the path inside is not compared (SQL Server's
// drivers do not either, and tedious writes it in UTF-8, not UTF-16LE).
func Decrypt(ctx context.Context, cmk CMK, keyPath string, encrypted []byte) ([]byte, error) {
	v, err := Parse(encrypted)
	if err != nil {
		return nil, err
	}
	pub, err := cmk.Public(ctx)
	if err != nil {
		return nil, err
	}
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, v.Digest(), v.Signature) != nil {
		return nil, ErrSignature
	}
	key, err := cmk.Unwrap(ctx, v.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("cek: unwrapping with %q: %w", keyPath, err)
	}
	return key, nil
}

// decodePath reads the key path, for display only: UTF-16LE as SQL
// Server's drivers write it, or UTF-8 as tedious's key vault provider
// does. Paths are ASCII in practice, so UTF-16LE shows as every second
// byte zero.
func decodePath(b []byte) string {
	ascii16 := len(b)%2 == 0
	for i := 1; i < len(b) && ascii16; i += 2 {
		ascii16 = b[i] == 0
	}
	if !ascii16 && utf8.Valid(b) {
		return string(b)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// SignMetadata signs a column master key's metadata, as SQL Server's
// drivers do for keys that allow enclave computations: RSASSA-PKCS1-v1_5
// SHA-256 of SHA-256(UTF-16LE(lower(provider ‖ path ‖ "true"|"false"))).
func SignMetadata(ctx context.Context, cmk CMK, provider, path string, enclave bool) ([]byte, error) {
	d := metadataDigest(provider, path, enclave)
	return cmk.Sign(ctx, d[:])
}

// VerifyMetadata checks a metadata signature with the CMK's public key.
func VerifyMetadata(pub *rsa.PublicKey, provider, path string, enclave bool, sig []byte) bool {
	d := metadataDigest(provider, path, enclave)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig) == nil
}

func metadataDigest(provider, path string, enclave bool) [32]byte {
	return sha256.Sum256(utf16le(strings.ToLower(provider + path + fmt.Sprint(enclave))))
}
