// Package ledger is confide's confidential consortium ledger, after CCF
// and Azure Confidential Ledger: a replicated, encrypted ledger whose
// transactions are covered by a signed Merkle tree and proven by
// receipts.
//
// The parts, from the bottom:
//
//   - merkle: the SHA-256 Merkle tree (RFC 9162 hashing) with CCF's
//     leaves H(write-set digest ‖ H(commit evidence) ‖ claims digest).
//   - entry: one transaction as the ledger files hold it; private maps
//     sealed with AES-256-GCM under the ledger secret, the nonce built
//     from view and seqno.
//   - files: the chunked ledger files; committed chunks are immutable
//     and byte-identical across nodes.
//   - kv: the state, with undo records for the uncommitted tail.
//   - node: the core that drives etcd raft (RawNode): raft's log is the
//     ledger files, raft's own entries are recorded as ledger entries
//     every node builds alike, the primary executes and signs, backups
//     apply and verify; plus the loop and the node-to-node transport.
//   - receipt, identity: signatures, receipts and the certificates they
//     rest on; verification needs only the service certificate.
//   - snapshot: the state at a seqno, so that a node restarts without
//     replaying everything; trusted once its evidence is signed.
//   - audit: replays files without the secret.
//   - app, acl: the application framework and the Azure Confidential
//     Ledger API, the first app.
//   - network, sandbox: a node as a service, and networks of them.
//
// What is where on disk and on the wire: spec/ledger-entry.md,
// spec/ledger-files.md, spec/ledger-merkle.md, spec/ledger-node.md,
// spec/ledger-receipt.md, spec/ledger-snapshot.md.
package ledger
