// Package kvstore is the storage seam of confide's services: a few
// buckets of ordered keys, read and written in transactions. The services
// encrypt and authenticate what they store above this seam, so a store
// sees only ciphertext and hash-chained records.
//
// The one implementation here, Bolt, is an embedded database in a single
// file (go.etcd.io/bbolt). What it cannot do: detect a rollback. Whoever
// controls the disk can replace the file with an older copy, and the
// services will find every record authentic, because it was. A replicated
// store with rollback protection (a ledger, or a monotonic counter in the
// TEE) can replace it behind this interface.
package kvstore
