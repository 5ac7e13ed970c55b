package merkle

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/bits"
)

// Hash is a SHA-256 digest: a leaf hash, a subtree hash or a root.
type Hash [sha256.Size]byte

// LeafHash is RFC 9162's leaf hash, SHA-256(0x00 ‖ data).
func LeafHash(data []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(data)
	var out Hash
	h.Sum(out[:0])
	return out
}

// NodeHash is RFC 9162's interior node hash, SHA-256(0x01 ‖ left ‖ right).
func NodeHash(left, right Hash) Hash {
	var buf [1 + 2*sha256.Size]byte
	buf[0] = 1
	copy(buf[1:], left[:])
	copy(buf[1+sha256.Size:], right[:])
	return sha256.Sum256(buf[:])
}

// EmptyRoot is the root of the empty tree, SHA-256 of nothing.
var EmptyRoot = Hash(sha256.Sum256(nil))

// ErrRange reports a size or index beyond the tree.
var ErrRange = errors.New("merkle: beyond the tree")

// Tree is an append-only Merkle tree of leaf hashes. It keeps every
// complete subtree's hash (levels[k][i] covers leaves i·2^k … (i+1)·2^k −
// 1), so that roots of any earlier size and proofs cost O(log n) hashes.
// It is not safe for concurrent use.
type Tree struct {
	levels [][]Hash
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 {
	if len(t.levels) == 0 {
		return 0
	}
	return uint64(len(t.levels[0]))
}

// Append adds a leaf hash and returns its index.
func (t *Tree) Append(leaf Hash) uint64 {
	if len(t.levels) == 0 {
		t.levels = append(t.levels, nil)
	}
	t.levels[0] = append(t.levels[0], leaf)
	i := uint64(len(t.levels[0]) - 1)
	// Complete every subtree this leaf closes.
	for k := 0; i&1 == 1; k++ {
		i >>= 1
		if len(t.levels) == k+1 {
			t.levels = append(t.levels, nil)
		}
		l := t.levels[k]
		t.levels[k+1] = append(t.levels[k+1], NodeHash(l[len(l)-2], l[len(l)-1]))
	}
	return uint64(len(t.levels[0]) - 1)
}

// Truncate keeps the first size leaves, as when raft rolls back an
// uncommitted tail.
func (t *Tree) Truncate(size uint64) error {
	if size > t.Size() {
		return ErrRange
	}
	for k := range t.levels {
		t.levels[k] = t.levels[k][:size>>k]
	}
	return nil
}

// Leaf returns a leaf hash.
func (t *Tree) Leaf(i uint64) (Hash, error) {
	if i >= t.Size() {
		return Hash{}, ErrRange
	}
	return t.levels[0][i], nil
}

// Root is the root of the whole tree.
func (t *Tree) Root() Hash {
	r, _ := t.RootAt(t.Size())
	return r
}

// RootAt is the root the tree had when it held size leaves.
func (t *Tree) RootAt(size uint64) (Hash, error) {
	if size > t.Size() {
		return Hash{}, ErrRange
	}
	if size == 0 {
		return EmptyRoot, nil
	}
	return t.hash(0, size), nil
}

// hash is the Merkle tree hash of leaves [lo, hi), hi > lo.
func (t *Tree) hash(lo, hi uint64) Hash {
	n := hi - lo
	if n&(n-1) == 0 && lo%n == 0 { // a complete, aligned subtree
		k := bits.TrailingZeros64(n)
		return t.levels[k][lo>>k]
	}
	split := splitPoint(n)
	return NodeHash(t.hash(lo, lo+split), t.hash(lo+split, hi))
}

// splitPoint is the largest power of two smaller than n (n > 1).
func splitPoint(n uint64) uint64 { return 1 << (bits.Len64(n-1) - 1) }

// InclusionProof is the audit path of leaf index in the tree of size
// leaves (RFC 9162 §2.1.3.1).
func (t *Tree) InclusionProof(index, size uint64) ([]Hash, error) {
	if size > t.Size() || index >= size {
		return nil, ErrRange
	}
	return t.path(index, 0, size), nil
}

func (t *Tree) path(m, lo, hi uint64) []Hash {
	n := hi - lo
	if n == 1 {
		return nil
	}
	k := splitPoint(n)
	if m < k {
		return append(t.path(m, lo, lo+k), t.hash(lo+k, hi))
	}
	return append(t.path(m-k, lo+k, hi), t.hash(lo, lo+k))
}

// VerifyInclusion checks an audit path (RFC 9162 §2.1.3.2). A proof from
// anywhere — a receipt, a peer — is checked, never trusted.
func VerifyInclusion(index, size uint64, leaf Hash, proof []Hash, root Hash) bool {
	if index >= size {
		return false
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && subtle.ConstantTimeCompare(r[:], root[:]) == 1
}

// ConsistencyProof proves that the tree of size m is a prefix of the
// tree of size n (RFC 9162 §2.1.4.1).
func (t *Tree) ConsistencyProof(m, n uint64) ([]Hash, error) {
	if m == 0 || m > n || n > t.Size() {
		return nil, fmt.Errorf("%w: consistency of %d in %d", ErrRange, m, n)
	}
	return t.subproof(m, 0, n, true), nil
}

func (t *Tree) subproof(m, lo, hi uint64, complete bool) []Hash {
	n := hi - lo
	if m == n {
		if complete {
			return nil
		}
		return []Hash{t.hash(lo, hi)}
	}
	k := splitPoint(n)
	if m <= k {
		return append(t.subproof(m, lo, lo+k, complete), t.hash(lo+k, hi))
	}
	return append(t.subproof(m-k, lo+k, hi, false), t.hash(lo, lo+k))
}

// VerifyConsistency checks a consistency proof between two roots (RFC
// 9162 §2.1.4.2).
func VerifyConsistency(m, n uint64, proof []Hash, first, second Hash) bool {
	if m == 0 || m > n {
		return false
	}
	if m == n {
		return len(proof) == 0 && first == second
	}
	if len(proof) == 0 {
		return false
	}
	if m&(m-1) == 0 { // a power of two: the first root is the proof's first node
		proof = append([]Hash{first}, proof...)
	}
	fn, sn := m-1, n-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := proof[0], proof[0]
	for _, c := range proof[1:] {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			fr = NodeHash(c, fr)
			sr = NodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = NodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && subtle.ConstantTimeCompare(fr[:], first[:]) == 1 && subtle.ConstantTimeCompare(sr[:], second[:]) == 1
}

// Leaf is a transaction's leaf hash: LeafHash(writeSet ‖ SHA-256(commit
// evidence) ‖ claims), each part a 32-byte digest (claims all zero when
// the app attaches none).
func Leaf(writeSet Hash, commitEvidence []byte, claims Hash) Hash {
	return LeafOfDigests(writeSet, sha256.Sum256(commitEvidence), claims)
}

// LeafOfDigests is Leaf given the commit evidence's digest.
func LeafOfDigests(writeSet, ce, claims Hash) Hash {
	buf := make([]byte, 0, 3*sha256.Size)
	buf = append(append(append(buf, writeSet[:]...), ce[:]...), claims[:]...)
	return LeafHash(buf)
}
