// Package audit is confide's append-only, hash-chained audit log
// (spec/audit-log.md). Each record names the previous record's SHA-256,
// so removing, reordering or editing a record breaks every link after it;
// the head (last sequence number and hash) is kept under an HMAC whose key
// only the service's enclave holds, so a rewrite of the whole chain by
// someone with the disk is caught too. What the chain cannot show is a
// rollback of the whole store to an older, consistent copy (see
// kvstore).
//
// Records are appended inside the transaction that makes the change they
// describe, so an audited change and its record commit together or not at
// all.
package audit
