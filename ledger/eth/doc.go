// Package eth is the ledger's Ethereum app (issue 23,
// spec/ledger-eth.md): signed Ethereum transactions executed by
// go-ethereum's EVM on the primary, inside one ledger transaction each,
// over state kept in the ledger's private (encrypted) maps.
//
// StateDB is go-ethereum's vm.StateDB over those maps: changes stay in
// memory, journaled for the EVM's snapshots, until Commit writes them to
// the ledger transaction. Apply executes one transaction in the open
// block and records it with its receipt; blocks close when the next
// transaction would pass the gas limit or after an interval, into one
// canonical header per block whose hash go-ethereum's client recomputes.
// A transaction counts as mined once the ledger transaction that closed
// its block is committed.
//
// The state root is not a Merkle-Patricia root: it chains the digests of
// every transaction's state changes (spec/ledger-eth.md says what it
// commits to); the transactions and receipts roots are Ethereum's.
package eth
