// Package sealer mirrors confide's seal package: a Sealer caching AEADs
// made from secret keys, in fields annotated secret, next to public state.
package sealer

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// KeyDeriver derives sealing keys.
type KeyDeriver interface {
	//confide:secret
	SealKey(ctx context.Context, id [32]byte) ([]byte, error)
}

// Identifier reports the enclave's version.
type Identifier interface {
	Identity(ctx context.Context) (uint16, error)
}

type Sealer struct {
	keys KeyDeriver
	self Identifier
	rand io.Reader

	current [3]atomic.Pointer[sealKey]

	mu     sync.Mutex
	opened map[[32]byte]cipher.AEAD //confide:secret
}

type keyRef struct {
	svn uint16
	id  [32]byte
}

type sealKey struct {
	ref  keyRef
	aead cipher.AEAD //confide:secret
	uses atomic.Uint64
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	clear(key)
	return cipher.NewGCM(b)
}

func (s *Sealer) currentKey(ctx context.Context, policy int, debug bool) (*sealKey, error) {
	if policy < 0 || policy > 2 {
		return nil, fmt.Errorf("seal: unknown policy %d", policy)
	}
	slot := &s.current[policy]
	if k := slot.Load(); k != nil && k.uses.Add(1) <= 1<<24 {
		return k, nil
	}
	var ref keyRef
	svn, err := s.self.Identity(ctx)
	if err != nil {
		return nil, err
	}
	ref.svn = svn
	if _, err := io.ReadFull(s.rand, ref.id[:]); err != nil {
		return nil, err
	}
	raw, err := s.keys.SealKey(ctx, ref.id)
	if err != nil {
		return nil, err
	}
	if debug {
		fmt.Printf("derived %x\n", raw[:4]) // want `direct leak: secret result of sealer.KeyDeriver.SealKey reaches standard output`
	}
	aead, err := newAEAD(raw)
	if err != nil {
		return nil, err
	}
	k := &sealKey{ref: ref, aead: aead}
	k.uses.Store(1)
	slot.Store(k)
	s.mu.Lock()
	s.remember(ref, aead)
	s.mu.Unlock()
	return k, nil
}

func (s *Sealer) remember(ref keyRef, aead cipher.AEAD) {
	if len(s.opened) >= 1024 {
		clear(s.opened)
	}
	s.opened[ref.id] = aead
}

// Seal encrypts plaintext.
//
//confide:declassify
func (s *Sealer) Seal(ctx context.Context, policy int, plaintext []byte) ([]byte, error) {
	k, err := s.currentKey(ctx, policy, false)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 48, 48+len(plaintext)+16)
	copy(out, k.ref.id[:])
	if _, err := io.ReadFull(s.rand, out[36:48]); err != nil {
		return nil, err
	}
	fmt.Println("sealed under key", k.ref.svn) // the key's version is public
	return k.aead.Seal(out, out[36:48], plaintext, out[:48]), nil
}

// Unseal decrypts a blob.
//
//confide:secret
func (s *Sealer) Unseal(ctx context.Context, blob []byte) ([]byte, error) {
	if len(blob) < 64 {
		return nil, fmt.Errorf("seal: %d bytes is too short", len(blob))
	}
	var id [32]byte
	copy(id[:], blob)
	s.mu.Lock()
	aead := s.opened[id]
	s.mu.Unlock()
	if aead == nil {
		return nil, fmt.Errorf("seal: unknown key %x", id[:4])
	}
	pt, err := aead.Open(nil, blob[36:48], blob[48:], blob[:48])
	if err != nil {
		return nil, fmt.Errorf("seal: cannot unseal")
	}
	return pt, nil
}

// Use seals and unseals.
func Use(ctx context.Context, s *Sealer, secret []byte) {
	blob, _ := s.Seal(ctx, 0, secret)
	fmt.Printf("%x\n", blob) // sealed: public
	pt, err := s.Unseal(ctx, blob)
	if err != nil {
		fmt.Println(err) // errors carry no secret
	}
	fmt.Println(len(pt)) // lengths are public
	fmt.Println(pt)      // want `direct leak: secret result of sealer.\(\*Sealer\).Unseal`
}
