// Package snapshot encodes a ledger node's state at a seqno: the
// key-value state (private maps sealed under the ledger secret), the
// Merkle tree's leaves, the views of all seqnos, the seqnos of the
// signature transactions and raft's configuration, so that a node
// restarts from it instead of replaying every transaction. Format:
// spec/ledger-snapshot.md.
//
// A snapshot is trusted only once the ledger says so: the primary
// records its digest in a snapshot evidence transaction right after it,
// every backup computes the same bytes from its own state and checks the
// digest, and a signature covering the evidence must be committed before
// the snapshot file is marked .committed and used.
package snapshot

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/merkle"
)

const (
	magic   = "CFLS"
	version = 1
)

// ErrFormat reports a malformed snapshot.
var ErrFormat = errors.New("snapshot: malformed")

// Snapshot is a node's state after seqno Seqno.
type Snapshot struct {
	Seqno, View uint64
	Voters      []uint64
	Leaves      []merkle.Hash
	// Views[i] is the view of seqno i+1.
	Views []uint64
	Sigs  []uint64
	State entry.WriteSet
}

// Encode serializes a snapshot; the same state gives the same bytes on
// every node (maps and keys in order, the nonce fixed by seqno and view).
func Encode(s *Snapshot, secret *entry.Secret) ([]byte, error) {
	if uint64(len(s.Leaves)) != s.Seqno || uint64(len(s.Views)) != s.Seqno {
		return nil, fmt.Errorf("snapshot: %d leaves and %d views for seqno %d", len(s.Leaves), len(s.Views), s.Seqno)
	}
	out := append([]byte(magic), version)
	out = binary.BigEndian.AppendUint64(out, s.Seqno)
	out = binary.BigEndian.AppendUint64(out, s.View)
	out = binary.BigEndian.AppendUint32(out, uint32(len(s.Voters)))
	for _, v := range s.Voters {
		out = binary.BigEndian.AppendUint64(out, v)
	}
	for _, l := range s.Leaves {
		out = append(out, l[:]...)
	}
	// Views as runs: (first seqno, view) where the view changes.
	var runs [][2]uint64
	for i, v := range s.Views {
		if i == 0 || v != s.Views[i-1] {
			runs = append(runs, [2]uint64{uint64(i + 1), v})
		}
	}
	out = binary.BigEndian.AppendUint32(out, uint32(len(runs)))
	for _, r := range runs {
		out = binary.BigEndian.AppendUint64(out, r[0])
		out = binary.BigEndian.AppendUint64(out, r[1])
	}
	out = binary.BigEndian.AppendUint32(out, uint32(len(s.Sigs)))
	for _, q := range s.Sigs {
		out = binary.BigEndian.AppendUint64(out, q)
	}
	head := out
	public, sealed := secret.SealState(s.Seqno, s.View, s.State, func(public []byte) []byte {
		aad := binary.BigEndian.AppendUint32(append([]byte(nil), head...), uint32(len(public)))
		return append(aad, public...)
	})
	out = binary.BigEndian.AppendUint32(out, uint32(len(public)))
	out = append(out, public...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(sealed)))
	return append(out, sealed...), nil
}

// Decode parses and decrypts a snapshot.
func Decode(b []byte, secret *entry.Secret) (*Snapshot, error) {
	r := &reader{b: b}
	if string(r.take(4)) != magic || r.u8() != version {
		return nil, fmt.Errorf("%w: no CFLS v1 header", ErrFormat)
	}
	s := &Snapshot{Seqno: r.u64(), View: r.u64()}
	n := r.u32()
	if n > 1<<16 {
		return nil, fmt.Errorf("%w: %d voters", ErrFormat, n)
	}
	for range n {
		s.Voters = append(s.Voters, r.u64())
	}
	if s.Seqno > uint64(len(b))/32 {
		return nil, fmt.Errorf("%w: seqno %d for %d bytes", ErrFormat, s.Seqno, len(b))
	}
	s.Leaves = make([]merkle.Hash, s.Seqno)
	for i := range s.Leaves {
		copy(s.Leaves[i][:], r.take(32))
	}
	runs := r.u32()
	if uint64(runs) > s.Seqno {
		return nil, fmt.Errorf("%w: %d view runs", ErrFormat, runs)
	}
	s.Views = make([]uint64, 0, s.Seqno)
	for i := range runs {
		first, view := r.u64(), r.u64()
		if r.err != nil || first != uint64(len(s.Views))+1 || (i == 0) != (first == 1) || (i > 0 && view <= s.Views[len(s.Views)-1]) {
			return nil, fmt.Errorf("%w: view runs", ErrFormat)
		}
		// The run ends where the next begins (or at the snapshot's seqno).
		end := s.Seqno
		if i+1 < runs {
			end = binary.BigEndian.Uint64(r.peek(8)) - 1
		}
		if end < first || end > s.Seqno {
			return nil, fmt.Errorf("%w: view runs", ErrFormat)
		}
		for range end - first + 1 {
			s.Views = append(s.Views, view)
		}
	}
	if uint64(len(s.Views)) != s.Seqno {
		return nil, fmt.Errorf("%w: views for %d of %d seqnos", ErrFormat, len(s.Views), s.Seqno)
	}
	nsigs := r.u32()
	if uint64(nsigs) > s.Seqno {
		return nil, fmt.Errorf("%w: %d signatures", ErrFormat, nsigs)
	}
	for range nsigs {
		q := r.u64()
		if q == 0 || q > s.Seqno || (len(s.Sigs) > 0 && q <= s.Sigs[len(s.Sigs)-1]) {
			return nil, fmt.Errorf("%w: signature seqnos", ErrFormat)
		}
		s.Sigs = append(s.Sigs, q)
	}
	pubLen := r.u32()
	public := r.take(int(pubLen))
	aadEnd := r.off
	sealed := r.take(int(r.u32()))
	if r.err != nil || r.off != len(b) {
		return nil, fmt.Errorf("%w: lengths", ErrFormat)
	}
	ws, err := secret.OpenState(s.Seqno, s.View, public, sealed, b[:aadEnd])
	if err != nil {
		return nil, err
	}
	s.State = ws
	return s, nil
}

// Digest is what the evidence records: SHA-256 of the encoded snapshot.
func Digest(b []byte) [32]byte { return sha256.Sum256(b) }

// Evidence is the content of a snapshot evidence transaction.
type Evidence struct {
	Seqno  uint64 `json:"seqno"`
	Digest string `json:"digest"` // hex SHA-256 of the snapshot file
}

// MarshalEvidence encodes evidence.
func MarshalEvidence(e Evidence) []byte {
	b, _ := json.Marshal(e)
	return b
}

// ParseEvidence decodes evidence.
func ParseEvidence(b []byte) (*Evidence, error) {
	var e Evidence
	if err := json.Unmarshal(b, &e); err != nil || len(e.Digest) != 64 {
		return nil, fmt.Errorf("%w: evidence", ErrFormat)
	}
	return &e, nil
}

type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b)-r.off < n {
		r.err = ErrFormat
		return make([]byte, max(n, 0))
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *reader) peek(n int) []byte {
	if r.err != nil || len(r.b)-r.off < n {
		return make([]byte, n)
	}
	return r.b[r.off : r.off+n]
}

func (r *reader) u8() byte    { return r.take(1)[0] }
func (r *reader) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *reader) u64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }
