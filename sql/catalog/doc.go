// Package catalog is Always Encrypted's metadata store: column master
// keys (provider and key path, never the key), column encryption keys as
// values encrypted by a column master key (up to two, so that the master
// key can be rotated), and which column is encrypted with which key and
// encryption type (and, during a rotation, the key it moves to).
//
// One Store serves two databases (spec/ae-catalog.md):
//
//   - SQLite, inside the confide server: tables _confide_* beside the
//     user's, which record every column with its Always Encrypted type;
//   - stock PostgreSQL, kept by the driver itself: tables in the schema
//     confide (version 1 in confide.catalog_version), which record the
//     encrypted columns only; PostgreSQL's information_schema gives the
//     rest, and an encrypted column must be bytea there.
//
// The catalog is the database's, so its administrator can change it. That
// is by design and costs no confidentiality: a client opens a column
// encryption key only through a column master key path it trusts, sends
// a parameter it forces to be encrypted only encrypted, and checks every
// cell's MAC, so a forged row gives the DBA errors, never plaintext.
//
// Statements are written once, in SQLite's spelling (? parameters,
// _confide_ tables), and rewritten for PostgreSQL ($n, confide.*).
package catalog
