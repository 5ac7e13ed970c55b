package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/confide/confide/sql/cek"
	"github.com/confide/confide/sql/ddl"
	"github.com/confide/confide/sql/types"
	"github.com/confide/confide/sql/wire"
)

// The catalog lives in each database, in tables whose names start with
// _confide_, which user statements may not touch. Names compare
// case-insensitively, as SQL Server's metadata does.
const catalogSchema = `
CREATE TABLE IF NOT EXISTS _confide_cmk (
	name TEXT PRIMARY KEY COLLATE NOCASE,
	provider TEXT NOT NULL,
	key_path TEXT NOT NULL,
	enclave_signature BLOB);
CREATE TABLE IF NOT EXISTS _confide_cek (
	name TEXT PRIMARY KEY COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS _confide_cek_value (
	cek TEXT NOT NULL COLLATE NOCASE REFERENCES _confide_cek(name),
	cmk TEXT NOT NULL COLLATE NOCASE REFERENCES _confide_cmk(name),
	algorithm TEXT NOT NULL,
	value BLOB NOT NULL,
	PRIMARY KEY (cek, cmk));
CREATE TABLE IF NOT EXISTS _confide_column (
	tbl TEXT NOT NULL COLLATE NOCASE,
	col TEXT NOT NULL COLLATE NOCASE,
	ord INTEGER NOT NULL,
	sqltype TEXT NOT NULL,
	cek TEXT COLLATE NOCASE REFERENCES _confide_cek(name),
	enc_type TEXT,
	cek_next TEXT COLLATE NOCASE REFERENCES _confide_cek(name),
	PRIMARY KEY (tbl, col));
`

// column is a table column as the catalog records it.
type column struct {
	Table, Name string
	Ord         int
	Type        types.Type
	// CEK and EncType are set for encrypted columns.
	CEK, EncType string
	// Next is the CEK a rotation is moving the column to: new values are
	// encrypted under it, stored ones may be under either key.
	Next string
}

func (c column) encrypted() bool { return c.CEK != "" }

// querier is what catalog functions need: a connection or a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func tableColumns(ctx context.Context, q querier, table string) ([]column, error) {
	rows, err := q.QueryContext(ctx, `SELECT tbl, col, ord, sqltype, coalesce(cek, ''), coalesce(enc_type, ''), coalesce(cek_next, '') FROM _confide_column WHERE tbl = ? ORDER BY ord`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		var t string
		if err := rows.Scan(&c.Table, &c.Name, &c.Ord, &t, &c.CEK, &c.EncType, &c.Next); err != nil {
			return nil, err
		}
		if c.Type, err = types.Parse(t); err != nil {
			return nil, fmt.Errorf("catalog: column %s.%s: %w", c.Table, c.Name, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func errUndefined(what, name string) error {
	code := map[string]string{"table": "42P01", "column master key": "42704", "column encryption key": "42704"}[what]
	return &wire.Error{Code: code, Message: fmt.Sprintf("%s %q does not exist", what, name)}
}

func errDuplicate(what, name string) error {
	return &wire.Error{Code: "42710", Message: fmt.Sprintf("%s %q already exists", what, name)}
}

func exists(ctx context.Context, q querier, query string, args ...any) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, query, args...).Scan(&n)
	return n > 0, err
}

// keyDDL applies an Always Encrypted key statement to the catalog.
func keyDDL(ctx context.Context, q querier, st any) (string, error) {
	switch s := st.(type) {
	case *ddl.CreateCMK:
		if ok, err := exists(ctx, q, `SELECT count(*) FROM _confide_cmk WHERE name = ?`, s.Name); err != nil || ok {
			return "", errOr(err, errDuplicate("column master key", s.Name))
		}
		_, err := q.ExecContext(ctx, `INSERT INTO _confide_cmk (name, provider, key_path, enclave_signature) VALUES (?, ?, ?, ?)`,
			s.Name, s.Provider, s.KeyPath, s.EnclaveSignature)
		return "CREATE COLUMN MASTER KEY", err
	case *ddl.CreateCEK:
		if ok, err := exists(ctx, q, `SELECT count(*) FROM _confide_cek WHERE name = ?`, s.Name); err != nil || ok {
			return "", errOr(err, errDuplicate("column encryption key", s.Name))
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO _confide_cek (name) VALUES (?)`, s.Name); err != nil {
			return "", err
		}
		for _, v := range s.Values {
			if err := addValue(ctx, q, s.Name, v); err != nil {
				return "", err
			}
		}
		return "CREATE COLUMN ENCRYPTION KEY", nil
	case *ddl.AlterCEK:
		if ok, err := exists(ctx, q, `SELECT count(*) FROM _confide_cek WHERE name = ?`, s.Name); err != nil || !ok {
			return "", errOr(err, errUndefined("column encryption key", s.Name))
		}
		if s.Add != nil {
			var n int
			if err := q.QueryRowContext(ctx, `SELECT count(*) FROM _confide_cek_value WHERE cek = ?`, s.Name).Scan(&n); err != nil {
				return "", err
			}
			if n >= 2 {
				return "", &wire.Error{Code: "54000", Message: fmt.Sprintf("column encryption key %q already has two values; drop one first", s.Name)}
			}
			return "ALTER COLUMN ENCRYPTION KEY", addValue(ctx, q, s.Name, *s.Add)
		}
		var n int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM _confide_cek_value WHERE cek = ?`, s.Name).Scan(&n); err != nil {
			return "", err
		}
		r, err := q.ExecContext(ctx, `DELETE FROM _confide_cek_value WHERE cek = ? AND cmk = ?`, s.Name, s.DropCMK)
		if err != nil {
			return "", err
		}
		if k, _ := r.RowsAffected(); k == 0 {
			return "", &wire.Error{Code: "42704", Message: fmt.Sprintf("column encryption key %q has no value under column master key %q", s.Name, s.DropCMK)}
		}
		if n == 1 {
			return "", &wire.Error{Code: "2BP01", Message: fmt.Sprintf("cannot drop the last value of column encryption key %q", s.Name)}
		}
		return "ALTER COLUMN ENCRYPTION KEY", nil
	case *ddl.Drop:
		if s.What == "COLUMN MASTER KEY" {
			if ok, err := exists(ctx, q, `SELECT count(*) FROM _confide_cek_value WHERE cmk = ?`, s.Name); err != nil || ok {
				return "", errOr(err, &wire.Error{Code: "2BP01", Message: fmt.Sprintf("column master key %q still encrypts column encryption keys", s.Name)})
			}
			r, err := q.ExecContext(ctx, `DELETE FROM _confide_cmk WHERE name = ?`, s.Name)
			if err != nil {
				return "", err
			}
			if k, _ := r.RowsAffected(); k == 0 {
				return "", errUndefined("column master key", s.Name)
			}
			return "DROP COLUMN MASTER KEY", nil
		}
		if ok, err := exists(ctx, q, `SELECT count(*) FROM _confide_column WHERE cek = ? OR cek_next = ?`, s.Name, s.Name); err != nil || ok {
			return "", errOr(err, &wire.Error{Code: "2BP01", Message: fmt.Sprintf("column encryption key %q still encrypts columns", s.Name)})
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM _confide_cek_value WHERE cek = ?`, s.Name); err != nil {
			return "", err
		}
		r, err := q.ExecContext(ctx, `DELETE FROM _confide_cek WHERE name = ?`, s.Name)
		if err != nil {
			return "", err
		}
		if k, _ := r.RowsAffected(); k == 0 {
			return "", errUndefined("column encryption key", s.Name)
		}
		return "DROP COLUMN ENCRYPTION KEY", nil
	}
	return "", errors.New("engine: unknown key statement")
}

func errOr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

func addValue(ctx context.Context, q querier, cekName string, v ddl.CEKValue) error {
	if ok, err := exists(ctx, q, `SELECT count(*) FROM _confide_cmk WHERE name = ?`, v.CMK); err != nil || !ok {
		return errOr(err, errUndefined("column master key", v.CMK))
	}
	// The server cannot open the value (it never holds a CMK), but it
	// refuses one that is not even shaped like SQL Server's.
	if _, err := cek.Parse(v.Encrypted); err != nil {
		return &wire.Error{Code: "22023", Message: "ENCRYPTED_VALUE is not an encrypted column encryption key", Detail: err.Error()}
	}
	if ok, err := exists(ctx, q, `SELECT count(*) FROM _confide_cek_value WHERE cek = ? AND cmk = ?`, cekName, v.CMK); err != nil || ok {
		return errOr(err, &wire.Error{Code: "42710", Message: fmt.Sprintf("column encryption key %q already has a value under %q", cekName, v.CMK)})
	}
	_, err := q.ExecContext(ctx, `INSERT INTO _confide_cek_value (cek, cmk, algorithm, value) VALUES (?, ?, ?, ?)`,
		cekName, v.CMK, strings.ToUpper(v.Algorithm), v.Encrypted)
	return err
}

// keyInfo is what a client needs to open a CEK: each encrypted value and
// the CMK it is encrypted under.
type keyInfo struct {
	CEK                      string
	CMK, Provider, Path, Alg string
	Value                    []byte
}

func cekValues(ctx context.Context, q querier, name string) ([]keyInfo, error) {
	rows, err := q.QueryContext(ctx, `SELECT v.cek, v.cmk, m.provider, m.key_path, v.algorithm, v.value
		FROM _confide_cek_value v JOIN _confide_cmk m ON m.name = v.cmk WHERE v.cek = ? ORDER BY v.cmk`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []keyInfo
	for rows.Next() {
		var k keyInfo
		if err := rows.Scan(&k.CEK, &k.CMK, &k.Provider, &k.Path, &k.Alg, &k.Value); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
