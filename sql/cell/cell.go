// Package cell is Always Encrypted's cell encryption,
// AEAD_AES_256_CBC_HMAC_SHA_256, byte-compatible with SQL Server and its
// drivers (spec/ae-cell.md).
//
// A column encryption key (CEK, 32 bytes) is never used directly: three
// keys are derived from it with HMAC-SHA-256 over fixed UTF-16LE labels,
// one for AES-256-CBC, one for the MAC and one for deterministic IVs. A
// cell is
//
//	0x01 ‖ MAC (32) ‖ IV (16) ‖ AES-256-CBC(PKCS #7 padded plaintext)
//
// with MAC = HMAC-SHA-256(mac key, 0x01 ‖ IV ‖ ciphertext ‖ 0x01). The IV
// is random for randomized encryption and, for deterministic encryption,
// the first 16 bytes of HMAC-SHA-256(IV key, plaintext): equal plaintexts
// give equal cells, which is what lets a server compare them. Decryption
// checks the MAC in constant time before it decrypts anything.
package cell

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"unicode/utf16"
)

// Algorithm is the algorithm's name in SQL Server's DDL.
const Algorithm = "AEAD_AES_256_CBC_HMAC_SHA_256"

// keyLabelAlgorithm is the algorithm's name as the key derivation labels
// spell it (without the last underscore, as SQL Server does).
const keyLabelAlgorithm = "AEAD_AES_256_CBC_HMAC_SHA256"

const (
	version   = 0x01
	macSize   = 32
	blockSize = aes.BlockSize
	// Overhead is the smallest cell: version, MAC, IV and one block.
	Overhead = 1 + macSize + blockSize + blockSize
	// KeySize is the CEK size.
	KeySize = 32
)

// Errors.
var (
	// ErrMAC reports a cell whose MAC does not verify: tampered with, or
	// encrypted under another key.
	ErrMAC = errors.New("cell: authentication tag does not match (tampered cell, or another column encryption key)")
	// ErrFormat reports a cell that is not a version 1 cell.
	ErrFormat = errors.New("cell: malformed ciphertext")
)

// Key holds the keys derived from one CEK. Its fields are not annotated
// for the leak checker yet: the package runs on clients (the driver,
// the shell), whose wiring the checker merges into one object; the SQL
// enclave issue, which runs it inside an enclave, annotates it there.
type Key struct {
	enc cipher.Block
	mac [32]byte
	iv  [32]byte
	// HMAC states keyed with mac and iv, reused through Reset: a fresh
	// hmac.New hashes the key into its pads again for every cell, which
	// was a third of a cell's cost (docs/benchmarks.md).
	macs, ivs sync.Pool
}

// NewKey derives the cell keys of a 32-byte CEK.
func NewKey(cek []byte) (*Key, error) {
	if len(cek) != KeySize {
		return nil, fmt.Errorf("cell: column encryption keys are %d bytes, not %d", KeySize, len(cek))
	}
	k := new(Key)
	encKey := derive(cek, "encryption")
	blk, err := aes.NewCipher(encKey[:])
	if err != nil {
		return nil, err
	}
	k.enc = blk
	k.mac = derive(cek, "MAC")
	k.iv = derive(cek, "IV")
	k.macs.New = func() any { return hmac.New(sha256.New, k.mac[:]) }
	k.ivs.New = func() any { return hmac.New(sha256.New, k.iv[:]) }
	return k, nil
}

// Equal reports, in constant time, whether two keys come from one CEK.
func (k *Key) Equal(o *Key) bool {
	return subtle.ConstantTimeCompare(k.mac[:], o.mac[:]) == 1
}

// derive is HMAC-SHA-256(cek, UTF-16LE(label)).
func derive(cek []byte, kind string) [32]byte {
	label := "Microsoft SQL Server cell " + kind + " key with encryption algorithm:" + keyLabelAlgorithm + " and key length:256"
	h := hmac.New(sha256.New, cek)
	h.Write(utf16le(label))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return b
}

// Encrypt encrypts a normalized plaintext. Deterministic encryption draws
// no randomness; randomized encryption reads 16 bytes from rnd
// (crypto/rand when nil).
func (k *Key) Encrypt(plaintext []byte, deterministic bool, rnd io.Reader) ([]byte, error) {
	pad := blockSize - len(plaintext)%blockSize
	out := make([]byte, 1+macSize+blockSize+len(plaintext)+pad)
	out[0] = version
	iv := out[1+macSize : 1+macSize+blockSize]
	if deterministic {
		h := k.ivs.Get().(hash.Hash)
		h.Reset()
		h.Write(plaintext)
		var sum [sha256.Size]byte
		copy(iv, h.Sum(sum[:0]))
		k.ivs.Put(h)
	} else {
		if rnd == nil {
			rnd = rand.Reader
		}
		if _, err := io.ReadFull(rnd, iv); err != nil {
			return nil, err
		}
	}
	body := out[1+macSize+blockSize:]
	copy(body, plaintext)
	for i := len(plaintext); i < len(body); i++ {
		body[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(k.enc, iv).CryptBlocks(body, body)
	t := k.tag(iv, body)
	copy(out[1:1+macSize], t[:])
	return out, nil
}

var versionBytes = []byte{version}

func (k *Key) tag(iv, ciphertext []byte) (t [macSize]byte) {
	h := k.macs.Get().(hash.Hash)
	h.Reset()
	h.Write(versionBytes)
	h.Write(iv)
	h.Write(ciphertext)
	h.Write([]byte{1}) // the version's length
	h.Sum(t[:0])
	k.macs.Put(h)
	return t
}

// Decrypt checks a cell's MAC and returns its plaintext.
func (k *Key) Decrypt(c []byte) ([]byte, error) {
	if len(c) < Overhead || (len(c)-1-macSize-blockSize)%blockSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes", ErrFormat, len(c))
	}
	if c[0] != version {
		return nil, fmt.Errorf("%w: version %d", ErrFormat, c[0])
	}
	iv := c[1+macSize : 1+macSize+blockSize]
	body := c[1+macSize+blockSize:]
	if t := k.tag(iv, body); subtle.ConstantTimeCompare(t[:], c[1:1+macSize]) != 1 {
		return nil, ErrMAC
	}
	pt := make([]byte, len(body))
	cipher.NewCBCDecrypter(k.enc, iv).CryptBlocks(pt, body)
	// The MAC verified, so the padding was written by a key holder; a bad
	// one means a broken encryptor, not an oracle to protect.
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > blockSize {
		return nil, fmt.Errorf("%w: bad padding", ErrFormat)
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("%w: bad padding", ErrFormat)
		}
	}
	return pt[:len(pt)-pad], nil
}
