// Package entry is the ledger's transaction format (spec/ledger-entry.md):
// an entry carries its transaction ID, flags (chunk end, signature,
// snapshot) and write set; maps named public:… are written in clear
// (integrity protected by the Merkle tree), all others sealed with
// AES-256-GCM under a key derived from the ledger secret, the nonce built
// from the seqno and the view (a seqno reused after a rollback is in a
// later view, so no nonce repeats) and the header and public part as
// additional data. A host reading the ledger files learns the public maps
// and the sizes of the private ones, nothing else.
//
// The package also derives each transaction's commit evidence and Merkle
// leaf (package merkle): the evidence is an HMAC of the transaction ID
// under a key derived from the ledger secret, revealed only once the
// transaction is committed.
package entry
