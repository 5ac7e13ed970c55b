// Package kv is the ledger's key-value store: named maps of byte keys to
// byte values, written by transactions whose write sets the ledger
// records (package entry).
//
// The store holds the latest state, committed or not. Every applied
// write set keeps an undo record until raft commits it, so that the
// uncommitted tail can be rolled back when a new primary overwrites it;
// committed state is final. The primary applies a transaction's writes
// as it executes it, so that the next transaction reads them (as CCF
// does); backups apply the replicated write sets in seqno order.
//
// Maps named public:… are recorded in plaintext; the others are
// encrypted in the ledger files. Inside the enclave both are plain.
package kv
