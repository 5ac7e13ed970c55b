package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/confide/confide/enclave"
)

// Blob layout (spec/sealed-blob.md):
//
//	magic "CFSL" | version(1)=1 | policy(1) | svn(2 BE) | key_id(32) | nonce(12) | ciphertext‖tag(16)
//
// The 52-byte header is authenticated (it is the start of the AES-GCM
// additional data, followed by the caller's additional data).
const (
	magic     = "CFSL"
	version   = 1
	headerLen = 4 + 1 + 1 + 2 + 32 + 12
	tagLen    = 16
	nonceOff  = headerLen - 12
	// rotateAfter bounds how many blobs one key seals: random 96-bit
	// nonces stay far from collision (NIST SP 800-38D allows 2^32).
	rotateAfter = 1 << 24
	maxCached   = 1024
)

var (
	// ErrMalformed is returned for blobs that are not sealed blobs of a
	// version this package reads.
	ErrMalformed = errors.New("seal: malformed sealed blob")
	// ErrOpen is returned when a blob does not open: tampered, sealed by
	// another enclave or platform, or given other additional data. The
	// causes are not told apart, as an attacker could learn from them.
	ErrOpen = errors.New("seal: cannot unseal: tampered, wrong additional data, or sealed by another enclave or platform")
	// ErrNoSealing is returned by New for platforms without sealing keys.
	ErrNoSealing = errors.New("seal: platform derives no sealing keys (seal through the key broker instead)")
)

// Sealer seals data to the calling enclave's identity. Keys come from the
// platform (enclave.SealKeyer) and are cached: a fresh random key ID is
// drawn when a Sealer starts sealing under a policy and after every 2^24
// blobs, so sealing costs one AES-GCM operation, not a platform call.
type Sealer struct {
	keys enclave.SealKeyer
	self enclave.Self
	rand io.Reader

	// current holds the sealing key per policy (indexed by policy); the
	// fast path is one atomic load and one atomic add.
	current [3]atomic.Pointer[sealKey]

	mu     sync.Mutex
	opened map[keyRef]cipher.AEAD //confide:secret
}

type keyRef struct {
	policy enclave.SealPolicy
	svn    uint16
	id     [32]byte
}

type sealKey struct {
	ref  keyRef
	aead cipher.AEAD //confide:secret
	uses atomic.Uint64
}

// New returns a Sealer for the platform p, which must offer sealing keys.
// rnd may be nil for crypto/rand.
func New(p enclave.Self, rnd io.Reader) (*Sealer, error) {
	k, ok := p.(enclave.SealKeyer)
	if !ok {
		return nil, ErrNoSealing
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	return &Sealer{keys: k, self: p, rand: rnd, opened: map[keyRef]cipher.AEAD{}}, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	clear(key)
	return cipher.NewGCM(b)
}

func (s *Sealer) currentKey(ctx context.Context, policy enclave.SealPolicy) (*sealKey, error) {
	if policy != enclave.SealUnique && policy != enclave.SealProduct {
		return nil, fmt.Errorf("seal: unknown policy %d", policy)
	}
	slot := &s.current[policy]
	if k := slot.Load(); k != nil && k.uses.Add(1) <= rotateAfter {
		return k, nil
	}
	ref := keyRef{policy: policy}
	if policy == enclave.SealProduct {
		id, err := s.self.Identity(ctx)
		if err != nil {
			return nil, err
		}
		ref.svn = id.SVN
	}
	if _, err := io.ReadFull(s.rand, ref.id[:]); err != nil {
		return nil, err
	}
	raw, err := s.keys.SealKey(ctx, enclave.KeyRequest{Policy: policy, SVN: ref.svn, KeyID: ref.id})
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(raw)
	if err != nil {
		return nil, err
	}
	k := &sealKey{ref: ref, aead: aead}
	k.uses.Store(1)
	// Concurrent sealers may each draw a key; the last one stored wins
	// and the others' blobs still open (their keys are remembered).
	slot.Store(k)
	s.mu.Lock()
	s.remember(ref, aead)
	s.mu.Unlock()
	return k, nil
}

// remember caches an opened key; s.mu is held.
func (s *Sealer) remember(ref keyRef, aead cipher.AEAD) {
	if len(s.opened) >= maxCached {
		clear(s.opened)
	}
	s.opened[ref] = aead
}

// Seal encrypts plaintext so that only enclaves matching policy on this
// platform can unseal it, binding additional data aad. The blob is
// ciphertext, meant to leave the enclave.
//
//confide:declassify
func (s *Sealer) Seal(ctx context.Context, policy enclave.SealPolicy, plaintext, aad []byte) ([]byte, error) {
	k, err := s.currentKey(ctx, policy)
	if err != nil {
		return nil, err
	}
	out := make([]byte, headerLen, headerLen+len(plaintext)+tagLen)
	putHeader(out, k.ref)
	if _, err := io.ReadFull(s.rand, out[nonceOff:headerLen]); err != nil {
		return nil, err
	}
	return k.aead.Seal(out, out[nonceOff:headerLen], plaintext, additional(out[:headerLen], aad)), nil
}

func putHeader(b []byte, ref keyRef) {
	copy(b, magic)
	b[4] = version
	b[5] = byte(ref.policy)
	binary.BigEndian.PutUint16(b[6:], ref.svn)
	copy(b[8:40], ref.id[:])
}

func additional(header, aad []byte) []byte {
	if len(aad) == 0 {
		return header
	}
	return append(append(make([]byte, 0, len(header)+len(aad)), header...), aad...)
}

// Header is the parsed, unauthenticated header of a sealed blob.
type Header struct {
	Policy enclave.SealPolicy
	SVN    uint16
	KeyID  [32]byte
}

// ParseHeader reads a blob's header. Nothing in it is authenticated until
// Unseal succeeds.
func ParseHeader(blob []byte) (Header, error) {
	if len(blob) < headerLen+tagLen {
		return Header{}, fmt.Errorf("%w: %d bytes is too short", ErrMalformed, len(blob))
	}
	if string(blob[:4]) != magic {
		return Header{}, fmt.Errorf("%w: not a sealed blob", ErrMalformed)
	}
	if blob[4] != version {
		return Header{}, fmt.Errorf("%w: unsupported version %d", ErrMalformed, blob[4])
	}
	h := Header{Policy: enclave.SealPolicy(blob[5]), SVN: binary.BigEndian.Uint16(blob[6:])}
	copy(h.KeyID[:], blob[8:40])
	switch h.Policy {
	case enclave.SealUnique:
		if h.SVN != 0 {
			return Header{}, fmt.Errorf("%w: SVN set under the unique policy", ErrMalformed)
		}
	case enclave.SealProduct:
	default:
		return Header{}, fmt.Errorf("%w: unknown policy %d", ErrMalformed, blob[5])
	}
	return h, nil
}

// Unseal decrypts a blob sealed by Seal with the same additional data.
// The plaintext is secret.
//
//confide:secret
func (s *Sealer) Unseal(ctx context.Context, blob, aad []byte) ([]byte, error) {
	h, err := ParseHeader(blob)
	if err != nil {
		return nil, err
	}
	ref := keyRef{policy: h.Policy, svn: h.SVN, id: h.KeyID}
	s.mu.Lock()
	aead := s.opened[ref]
	s.mu.Unlock()
	cached := aead != nil
	if !cached {
		raw, err := s.keys.SealKey(ctx, enclave.KeyRequest{Policy: h.Policy, SVN: h.SVN, KeyID: h.KeyID})
		if errors.Is(err, enclave.ErrSVNTooHigh) {
			return nil, fmt.Errorf("seal: cannot unseal: the blob was sealed at SVN %d, above this enclave's own (by a newer version, or by another enclave): %w", h.SVN, err)
		}
		if err != nil {
			return nil, err
		}
		if aead, err = newAEAD(raw); err != nil {
			return nil, err
		}
	}
	pt, err := aead.Open(nil, blob[nonceOff:headerLen], blob[headerLen:], additional(blob[:headerLen], aad))
	if err != nil {
		return nil, ErrOpen
	}
	if !cached {
		// Cache only keys that opened something: a flood of forged key
		// IDs must not evict real ones.
		s.mu.Lock()
		s.remember(ref, aead)
		s.mu.Unlock()
	}
	return pt, nil
}
