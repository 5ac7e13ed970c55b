// Package merkle is the ledger's Merkle tree (spec/ledger-merkle.md): the
// tree hash of RFC 9162 (SHA-256, 0x00-prefixed leaves, 0x01-prefixed
// nodes, split at the largest power of two), an append-only tree that
// keeps its complete subtrees so that the root of any earlier size, an
// inclusion proof and a consistency proof each cost O(log n) hashes, and
// the verifiers of both proofs, which take proofs from untrusted sources
// (receipts, peers) and check every step.
//
// The ledger's leaves are not raw transactions: as in CCF, a leaf is the
// leaf hash of write-set digest ‖ SHA-256(commit evidence) ‖ claims
// digest (Leaf), so that a receipt can be verified only for a
// transaction whose commit evidence was revealed, that is, committed.
package merkle
