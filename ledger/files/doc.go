// Package files keeps a ledger node's transactions on disk, in chunks as
// CCF does (spec/ledger-files.md).
//
// Raft may truncate a follower's uncommitted tail, so only committed
// chunks are final: once the entry that ends a chunk is committed, the
// file is renamed ledger_<first>-<last>.committed and never written
// again; those files are byte-identical on every node, which is what
// backup and audit copy. The primary decides where chunks end (a flag in
// the entry), so that all nodes cut the same files.
//
// The package checks framing and seqno order only. Whether the bytes
// are the transactions the service signed is for the Merkle tree and
// the signatures (confide ledger audit, and a restarting node).
package files
