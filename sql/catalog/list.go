package catalog

import (
	"context"
	"database/sql"
	"errors"
)

// The listings below are what a DBA may see of the Always Encrypted
// metadata (the confide server's sp_column_master_keys,
// sp_column_encryption_keys and sp_encrypted_columns, and the console):
// names, providers, paths, encrypted values — never a key that opens
// anything.

// ErrSQLiteOnly is returned by listings the stock-PostgreSQL catalog does
// not answer (its clients read the confide schema's tables directly).
var ErrSQLiteOnly = errors.New("catalog: listings are the confide server's")

// ListCMKs returns every column master key, by name.
func (s *Store) ListCMKs(ctx context.Context) ([]CMK, error) {
	if s.Dialect != SQLite {
		return nil, ErrSQLiteOnly
	}
	rows, err := s.Q.Query(ctx, `SELECT name, provider, key_path, enclave_signature FROM _confide_cmk ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CMK
	for rows.Next() {
		var k CMK
		if err := rows.Scan(&k.Name, &k.Provider, &k.Path, &k.EnclaveSignature); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// ListCEKValues returns every column encryption key's values, by key and
// master key.
func (s *Store) ListCEKValues(ctx context.Context) ([]KeyInfo, error) {
	if s.Dialect != SQLite {
		return nil, ErrSQLiteOnly
	}
	return s.cekValues(ctx, "")
}

// ColumnInfo is one column of a user table as the catalog records it.
type ColumnInfo struct {
	Table, Column string
	Ordinal       int
	Type          string
	// CEK and EncType are empty for plaintext columns; RotatingTo names
	// the key a rotation moves the column to; Enclave marks a column the
	// SQL enclave may compute on.
	CEK, EncType, RotatingTo string
	Enclave                  bool
}

// ListColumns returns every column of every user table, by table and
// position.
func (s *Store) ListColumns(ctx context.Context) ([]ColumnInfo, error) {
	if s.Dialect != SQLite {
		return nil, ErrSQLiteOnly
	}
	rows, err := s.Q.Query(ctx, `SELECT tbl, col, ord, sqltype, cek, enc_type, cek_next, enclave FROM _confide_column ORDER BY tbl, ord`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ColumnInfo
	for rows.Next() {
		var c ColumnInfo
		var cek, enc, next sql.NullString
		var encl int
		if err := rows.Scan(&c.Table, &c.Column, &c.Ordinal, &c.Type, &cek, &enc, &next, &encl); err != nil {
			return nil, err
		}
		c.CEK, c.EncType, c.RotatingTo, c.Enclave = cek.String, enc.String, next.String, encl != 0
		out = append(out, c)
	}
	return out, rows.Err()
}
