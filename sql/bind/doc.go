// Package bind is Always Encrypted's statement binder, shared by the
// confide SQL server (package engine) and the driver on stock PostgreSQL
// (package driver), so that both describe a statement alike.
//
// A statement parsed by PostgreSQL's own parser (pg_query_go) is bound
// against a Catalog, which gives each table's columns and, for encrypted
// ones, their column encryption key, encryption type and Always Encrypted
// type. Binding finds:
//
//   - the column each parameter meets: in a comparison (=, <>, IN), an
//     INSERT … VALUES position or an UPDATE … SET; a parameter meeting an
//     encrypted column must be sent as a cell under that column's key;
//   - the result columns of a SELECT and the catalog column each comes
//     from unchanged (an encrypted one is decrypted by the client);
//   - what ciphertext cannot support, refused before anything runs: a
//     literal or expression compared with or assigned to an encrypted
//     column (SQL Server's "operand type clash", 42804), a comparison
//     other than equality, ORDER BY or a function of an encrypted column
//     (0A000), equality on a randomized column, and columns compared with
//     each other that are not encrypted alike.
//
// Names resolve case-insensitively, as SQL Server's do; unqualified
// columns must be unambiguous across the statement's tables (JOIN …
// USING and NATURAL JOIN, which merge columns, need qualified names; a
// WITH query's name is not a table). Sub-selects
// are bound with the tables of the whole statement in scope, which is
// stricter than SQL's scoping but never looser.
package bind
