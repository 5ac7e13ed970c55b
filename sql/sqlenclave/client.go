package sqlenclave

import (
	"context"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/confide/confide/sql/cell"
)

// Verify checks evidence for a nonce and the runtime data it must bind
// (an attest.Verifier with a policy, in the driver).
type Verify func(ctx context.Context, evidence, nonce, runtimeData []byte) error

// NewNonce draws an attestation nonce.
func NewNonce() ([]byte, error) {
	n := make([]byte, NonceSize)
	_, err := rand.Read(n)
	return n, err
}

// Session is the client's side of an attested session: it seals key
// packages for the enclave. It is safe for concurrent use.
//
// The session key is not annotated for the leak checker: the client is
// wired into CLI commands whose objects the checker merges (as with the
// driver's cell keys, package sql/cell); the enclave's side is.
type Session struct {
	id        []byte
	clientKey []byte
	aead      cipher.AEAD

	mu      sync.Mutex
	counter uint64
}

// Open verifies an attestation answer for the nonce the client sent and
// derives the session key. Nothing is trusted before verify succeeds.
func Open(ctx context.Context, att Attestation, nonce []byte, verify Verify) (*Session, error) {
	if len(att.SessionID) != SessionIDSize || len(att.EnclaveKey) != PointSize || len(nonce) != NonceSize {
		return nil, errors.New("sqlenclave: malformed attestation answer")
	}
	if err := verify(ctx, att.Evidence, nonce, RuntimeData(att.SessionID, att.EnclaveKey)); err != nil {
		return nil, fmt.Errorf("sqlenclave: the SQL enclave failed attestation: %w", err)
	}
	peer, err := ecdh.P384().NewPublicKey(att.EnclaveKey)
	if err != nil {
		return nil, fmt.Errorf("sqlenclave: the enclave's key: %w", err)
	}
	priv, err := ecdh.P384().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	shared, err := priv.ECDH(peer)
	if err != nil {
		return nil, err
	}
	clientKey := priv.PublicKey().Bytes()
	aead, err := sessionKey(shared, nonce, att.SessionID, att.EnclaveKey, clientKey)
	if err != nil {
		return nil, err
	}
	return &Session{id: append([]byte(nil), att.SessionID...), clientKey: clientKey, aead: aead}, nil
}

// ID is the session ID.
func (s *Session) ID() []byte { return s.id }

// Package seals CEKs (32 bytes each, by catalog name) for one statement,
// as the client sends its text.
func (s *Session) Package(statement string, keys map[string][]byte) ([]byte, error) {
	if len(keys) < 1 || len(keys) > maxKeys {
		return nil, fmt.Errorf("sqlenclave: a package carries 1 to %d keys, not %d", maxKeys, len(keys))
	}
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	sort.Strings(names)
	s.mu.Lock()
	s.counter++
	counter := s.counter
	s.mu.Unlock()

	body := make([]byte, guidSize, guidSize+8+hashSize+2+len(keys)*(2+maxName+cell.KeySize))
	if _, err := rand.Read(body); err != nil {
		return nil, err
	}
	body = binary.BigEndian.AppendUint64(body, counter)
	h := sha256.Sum256([]byte(statement))
	body = append(body, h[:]...)
	body = binary.BigEndian.AppendUint16(body, uint16(len(keys)))
	seen := map[string]bool{}
	for _, n := range names {
		k := keys[n]
		if len(n) < 1 || len(n) > maxName || len(k) != cell.KeySize || seen[strings.ToLower(n)] {
			return nil, fmt.Errorf("sqlenclave: key %q: names are 1–%d distinct bytes and keys %d bytes", n, maxName, cell.KeySize)
		}
		seen[strings.ToLower(n)] = true
		body = binary.BigEndian.AppendUint16(body, uint16(len(n)))
		body = append(append(body, n...), k...)
	}
	iv := make([]byte, ivSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 1+SessionIDSize+PointSize+ivSize+len(body)+s.aead.Overhead())
	out = append(append(append(append(out, packageV1), s.id...), s.clientKey...), iv...)
	return s.aead.Seal(out, iv, body, aad(s.id, s.clientKey)), nil
}
