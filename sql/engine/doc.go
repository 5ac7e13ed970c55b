// Package engine is confide SQL's engine behind the PostgreSQL wire
// protocol (package wire): one embedded SQLite database per file, a
// catalog of Always Encrypted keys and encrypted columns, and statement
// analysis that binds parameters to the encrypted columns they meet, so
// that a driver can encrypt them, and refuses what the server cannot do
// on ciphertext (a literal compared with an encrypted column, ordering,
// functions of it).
//
// The server never sees a plaintext of an encrypted column, nor a key
// that could produce one: encrypted columns hold cells (package cell) as
// BLOBs, compared byte for byte, which is equality of plaintexts for
// deterministic encryption. Columns under an enclave-enabled key hold
// envelopes (TEXT naming the cell's key and type) under the collation
// confide_ae, which asks the SQL enclave (package sqlenclave) to compare
// plaintexts; arithmetic and aggregates on them are enclave functions
// (enclave.go), and an aggregate query over one table runs as the enclave
// scan (scan.go, spec/ae-enclave.md §5.1) or, with SET confide.oblivious,
// obliviously (oblivious.go).
//
// Plaintext columns take SQLite's storage classes: integers and BIT as
// INTEGER, DECIMAL with NUMERIC affinity (an integer or a double, so
// that it compares and sums as a number; exact to 15 significant
// digits — an encrypted DECIMAL, which the enclave computes on, is exact
// to 38), VARBINARY as BLOB, the rest as TEXT.
//
// Every statement but a read moves the engine's write version before and
// after it runs; the enclave's table images are tagged with it.
package engine
