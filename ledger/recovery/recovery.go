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
	"github.com/confide/confide/ledger/files"
	"github.com/confide/confide/ledger/gov"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/kv"
	"github.com/confide/confide/ledger/network"
)

// Session is a recovery in progress.
type Session struct {
	public  *kv.Store
	entries [][]byte // the proven entries, seqno 1 first
	// Threshold is the shares the wrapped secrets need.
	Threshold int
	wrapped   []byte

	mu     sync.Mutex
	seq    uint64            // the public state's last seqno (votes add to it)
	shares map[string][]byte // member ID → share
	seen   map[[32]byte]bool // requests taken (replays)
	// record is the recovery's governance: the signed requests the
	// members sent (proposal and ballots), for the new ledger.
	record [][]byte
}

// ErrNotOpened refuses shares before the members voted to open the
// recovered service.
var ErrNotOpened = errors.New("recovery: the members have not voted to open the recovered service (propose transition_service_to_open)")

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
	// The service is Recovering until the members vote it open.
	seq++
	b, _ := json.Marshal(map[string]string{"status": "Recovering"})
	if err := s.public.Apply(seq, [32]byte{}, entry.WriteSet{gov.MapService: {{Key: []byte("service"), Value: b}}}); err != nil {
		return nil, err
	}
	s.public.Commit(seq)
	s.seq = seq
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

// Sizes are the session's public numbers: the transactions the files
// prove and the shares the secrets need. (The session also holds the
// members' shares; these numbers say nothing of them.)
//
//confide:declassify
func (s *Session) Sizes() (transactions, threshold int) { return len(s.entries), s.Threshold }

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
	if !s.opened() {
		return 0, ErrNotOpened
	}
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

// opened reports whether the members voted the recovered service open.
func (s *Session) opened() bool {
	var svc struct {
		Status string `json:"status"`
	}
	b, _ := s.public.Get(gov.MapService, []byte("service"))
	json.Unmarshal(b, &svc)
	return svc.Status == "Open"
}

// Propose takes a member's signed proposal during the recovery: only
// transition_service_to_open, decided by the recovered constitution among
// the recovered members.
func (s *Session) Propose(raw []byte, now time.Time) (string, gov.ProposalInfo, error) {
	var id string
	var info gov.ProposalInfo
	err := s.govern(raw, gov.TypeProposal, now, func(tx *kv.Tx, r *gov.Request) error {
		var p struct {
			Actions []struct {
				Name string `json:"name"`
			} `json:"actions"`
		}
		if json.Unmarshal(r.Body, &p) != nil || len(p.Actions) != 1 || p.Actions[0].Name != "transition_service_to_open" {
			return fmt.Errorf("%w: during a recovery, members propose transition_service_to_open only", gov.ErrInvalid)
		}
		var err error
		id, info, err = gov.Propose(tx, r, fmt.Sprintf("recovery.%d", s.seq+1), nil)
		return err
	})
	return id, info, err
}

// Vote takes a member's signed ballot during the recovery.
func (s *Session) Vote(raw []byte, now time.Time) (gov.ProposalInfo, error) {
	var info gov.ProposalInfo
	err := s.govern(raw, gov.TypeBallot, now, func(tx *kv.Tx, r *gov.Request) error {
		var err error
		info, err = gov.Vote(tx, r, nil)
		return err
	})
	return info, err
}

// govern runs a governance request as a transaction on the reopened
// state, and records it.
func (s *Session) govern(raw []byte, typ string, now time.Time, fn func(*kv.Tx, *gov.Request) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := s.public.Begin()
	r, err := gov.Verify(tx, raw, typ, now)
	if err != nil {
		return err
	}
	if err := fn(tx, r); err != nil {
		return err
	}
	s.seq++
	if err := s.public.Apply(s.seq, sha256.Sum256(raw), tx.WriteSet()); err != nil {
		return err
	}
	s.public.Commit(s.seq)
	s.record = append(s.record, append([]byte(nil), raw...))
	return nil
}

// Record is the recovery's governance for the new ledger: the members'
// signed requests (proposal and ballots, public; the shares are kept
// apart and never in it), in order.
//
//confide:declassify
func (s *Session) Record() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.record...)
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

// LastSigned is the seqno of the last transaction the files prove.
func (s *Session) LastSigned() uint64 { return uint64(len(s.entries)) }

// Continue prepares the directories of fresh nodes to carry the recovered
// service on: each gets the old node's ledger files, cut to the last
// proven transaction, and its raft term; and its provisioning (as
// `ledger sandbox` writes it for a new service identity) gets the
// recovered secrets and the new service's endorsement of the previous
// one, so that the old nodes' signatures, and their receipts, verify
// against the new service certificate. The nodes then start as a network
// whose history is the old one.
func (s *Session) Continue(epochs []entry.Epoch, oldNodeDir string, previous *x509.Certificate, newNodeDirs []string) error {
	if len(epochs) == 0 {
		return errors.New("recovery: no secrets")
	}
	for _, dir := range newNodeDirs {
		provPath := filepath.Join(dir, network.ProvisionFile)
		b, err := os.ReadFile(provPath)
		if err != nil {
			return fmt.Errorf("recovery: %s: %w (a fresh node's provisioning)", dir, err)
		}
		var p network.Provision
		if err := json.Unmarshal(b, &p); err != nil {
			return err
		}
		svcCert, err := identity.ParseCert([]byte(p.ServiceCert))
		if err != nil {
			return err
		}
		svcKey, err := identity.ParseKey([]byte(p.ServiceKey))
		if err != nil {
			return fmt.Errorf("recovery: the new service's key: %w", err)
		}
		e, err := identity.EndorsePrevious(&identity.Identity{Key: svcKey, Cert: svcCert}, previous)
		if err != nil {
			return err
		}
		p.Secret, p.Epochs = epochs[0].Secret, nil
		if len(epochs) > 1 {
			p.Epochs = epochs
		}
		p.Endorsements = []string{string(identity.EncodeCert(e))}
		out, _ := json.Marshal(p)
		if err := os.WriteFile(provPath, out, 0o600); err != nil {
			return err
		}
		// The recovery's governance, for the new ledger's first record.
		var reqs []string
		for _, r := range s.Record() {
			reqs = append(reqs, base64.StdEncoding.EncodeToString(r))
		}
		rec, _ := json.Marshal(network.RecoveryRecord{PreviousService: string(identity.EncodeCert(previous)), Requests: reqs, Transactions: s.LastSigned()})
		if err := os.WriteFile(filepath.Join(dir, network.RecoveryRecordFile), rec, 0o600); err != nil {
			return err
		}
		if err := copyDir(filepath.Join(oldNodeDir, "ledger"), filepath.Join(dir, "ledger")); err != nil {
			return err
		}
		lf, err := files.Open(filepath.Join(dir, "ledger"))
		if err != nil {
			return err
		}
		err = lf.Truncate(s.LastSigned())
		if cerr := lf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("recovery: cutting the unproven tail: %w", err)
		}
		if rs, err := os.ReadFile(filepath.Join(oldNodeDir, "raft_state")); err == nil {
			if err := os.WriteFile(filepath.Join(dir, "raft_state"), rs, 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyDir copies the regular files of a directory.
func copyDir(from, to string) error {
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
