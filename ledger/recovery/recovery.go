// Package recovery is disaster recovery's first part (issue 18,
// spec/ledger-governance.md §8): from a node's ledger files alone — no
// node able to unseal anything — it reopens the public state the files
// prove (every entry up to the last signature that verifies against the
// service certificate), takes the recovery members' shares as signed
// requests checked against the members that state names, and once the
// threshold is met unwraps the ledger's secrets and checks that they open
// every proven entry.
package recovery

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/confide/confide/ledger/audit"
	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/gov"
	"github.com/confide/confide/ledger/kv"
)

// Session is a recovery in progress.
type Session struct {
	public  *kv.Store
	entries [][]byte // the proven entries, seqno 1 first
	// Threshold is the shares the wrapped secrets need.
	Threshold int
	wrapped   []byte

	mu     sync.Mutex
	shares map[string][]byte // member ID → share
	seen   map[[32]byte]bool // requests taken (replays)
}

// Errors.
var (
	ErrNoMaterial = errors.New("recovery: the ledger holds no recovery material")
	ErrNotShare   = errors.New("recovery: not a share of a recovery member")
	ErrReplay     = errors.New("recovery: the request was taken before")
)

// Open audits the ledger files in dir (a node's directory, or its ledger
// directory) and reopens their public state.
func Open(dir string, service *x509.Certificate) (*Session, error) {
	if fi, err := os.Stat(filepath.Join(dir, "ledger")); err == nil && fi.IsDir() {
		dir = filepath.Join(dir, "ledger")
	}
	s := &Session{public: kv.New(), shares: map[string][]byte{}, seen: map[[32]byte]bool{}}
	var applyErr error
	seq := uint64(0)
	rep, err := audit.Walk(dir, service, func(h *entry.Header, enc []byte) {
		seq++
		if applyErr == nil {
			applyErr = s.public.Apply(seq, entry.Digest(enc), h.Public)
			s.public.Commit(seq)
		}
		s.entries = append(s.entries, enc)
	})
	if err != nil {
		return nil, err
	}
	if rep.Corrupt != nil {
		return nil, fmt.Errorf("recovery: the ledger files are damaged: %s", rep.Corrupt)
	}
	if applyErr != nil {
		return nil, applyErr
	}
	w, ok := s.public.Get(gov.MapWrappedSecret, []byte("current"))
	if !ok {
		return nil, ErrNoMaterial
	}
	var ws gov.WrappedSecret
	if err := json.Unmarshal(w, &ws); err != nil {
		return nil, fmt.Errorf("recovery: the wrapped secrets: %w", err)
	}
	s.wrapped, s.Threshold = w, ws.Threshold
	return s, nil
}

// Transactions is how many transactions the files prove.
func (s *Session) Transactions() int { return len(s.entries) }

// Public is the reopened public state (read it, do not write it).
func (s *Session) Public() *kv.Store { return s.public }

// EncryptedShare is a member's encrypted share as the ledger holds it,
// for the member to decrypt (gov.DecryptShare).
func (s *Session) EncryptedShare(member string) (string, bool) {
	v, ok := s.public.Get(gov.MapRecoveryShares, []byte(member))
	return string(v), ok
}

// ShareBody is a share request's payload: the decrypted share, base64.
type ShareBody struct {
	Share string `json:"share"`
}

// Submit takes a member's share: a signed request of type
// recovery_share (gov.Sign), checked against the members of the reopened
// state. It returns how many shares it holds.
func (s *Session) Submit(raw []byte, now time.Time) (int, error) {
	tx := s.public.Begin() // a scratch transaction: nothing is written
	r, err := gov.Verify(tx, raw, gov.TypeShare, now)
	if err != nil {
		return 0, err
	}
	var b ShareBody
	share, err2 := []byte(nil), json.Unmarshal(r.Body, &b)
	if err2 == nil {
		share, err2 = base64.StdEncoding.DecodeString(b.Share)
	}
	if err2 != nil || len(share) < 2 {
		return 0, fmt.Errorf("%w: the payload is {\"share\": base64}", ErrNotShare)
	}
	if _, ok := s.public.Get(gov.MapRecoveryShares, []byte(r.Member)); !ok {
		return 0, ErrNotShare
	}
	digest := sha256.Sum256(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[digest] {
		return len(s.shares), ErrReplay
	}
	s.seen[digest] = true
	s.shares[r.Member] = share // a member's later share replaces its earlier one
	return len(s.shares), nil
}

// Recover unwraps the ledger's secrets with the shares taken so far and
// checks that they open every proven transaction.
func (s *Session) Recover() ([]entry.Epoch, error) {
	s.mu.Lock()
	shares := make([][]byte, 0, len(s.shares))
	for _, sh := range s.shares {
		shares = append(shares, sh)
	}
	s.mu.Unlock()
	plain, err := gov.Recover(s.wrapped, shares)
	if err != nil {
		return nil, err
	}
	var epochs []entry.Epoch
	if err := json.Unmarshal(plain, &epochs); err != nil {
		return nil, fmt.Errorf("recovery: the unwrapped secrets are not a keyring: %w", err)
	}
	ring, err := entry.NewKeyring(epochs)
	if err != nil {
		return nil, err
	}
	for _, enc := range s.entries {
		// Entries are opened in order: a rekey's secret, once opened,
		// opens the entries after it (the keyring holds it already).
		if _, err := ring.Decode(enc); err != nil {
			h, _ := entry.ParseHeader(enc)
			return nil, fmt.Errorf("recovery: the recovered secrets do not open transaction %s: %w", h.TxID, err)
		}
	}
	return epochs, nil
}
