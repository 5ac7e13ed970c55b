package catalog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/confide/confide/sql/bind"
	"github.com/confide/confide/sql/cek"
	"github.com/confide/confide/sql/ddl"
	"github.com/confide/confide/sql/types"
	"github.com/confide/confide/sql/wire"
)

// Rows is a query's result, as both database/sql (through an adapter)
// and pgx give it.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs the catalog's statements on the connection (or
// transaction) whose statements they belong with.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Dialect is the database the catalog lives in.
type Dialect int

const (
	// SQLite is the confide server's storage: tables _confide_*, beside
	// the user's, which record every column.
	SQLite Dialect = iota
	// PostgreSQL is a stock PostgreSQL server: tables in the schema
	// confide, which record encrypted columns only; the server's own
	// catalog (information_schema) gives the rest.
	PostgreSQL
)

// Store reads and changes the catalog through one connection.
type Store struct {
	Q       Querier
	Dialect Dialect
}

// SQLiteSchema creates the catalog in a SQLite database. Names compare
// case-insensitively, as SQL Server's metadata does.
const SQLiteSchema = `
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
	enclave INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (tbl, col));
`

// PostgreSQLSchema creates the catalog in a PostgreSQL database, in the
// schema confide. Key names compare case-insensitively through an ICU
// collation; table and column names are compared as PostgreSQL stores
// them (its parser folds unquoted identifiers to lower case).
const PostgreSQLSchema = `
CREATE SCHEMA IF NOT EXISTS confide;
CREATE TABLE IF NOT EXISTS confide.catalog_version (version int NOT NULL);
INSERT INTO confide.catalog_version SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM confide.catalog_version);
DO $$ BEGIN
	CREATE COLLATION confide.nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE TABLE IF NOT EXISTS confide.cmk (
	name text COLLATE confide.nocase PRIMARY KEY,
	provider text NOT NULL,
	key_path text NOT NULL,
	enclave_signature bytea);
CREATE TABLE IF NOT EXISTS confide.cek (
	name text COLLATE confide.nocase PRIMARY KEY);
CREATE TABLE IF NOT EXISTS confide.cek_value (
	cek text COLLATE confide.nocase NOT NULL REFERENCES confide.cek(name),
	cmk text COLLATE confide.nocase NOT NULL REFERENCES confide.cmk(name),
	algorithm text NOT NULL,
	value bytea NOT NULL,
	PRIMARY KEY (cek, cmk));
CREATE TABLE IF NOT EXISTS confide.encrypted_column (
	schema_name text NOT NULL,
	tbl text NOT NULL,
	col text NOT NULL,
	sqltype text NOT NULL,
	cek text COLLATE confide.nocase NOT NULL REFERENCES confide.cek(name),
	enc_type text NOT NULL,
	cek_next text COLLATE confide.nocase REFERENCES confide.cek(name),
	PRIMARY KEY (schema_name, tbl, col));
`

// pgTables names the catalog's tables on PostgreSQL (where COLUMN is a
// reserved word).
var pgTables = strings.NewReplacer("_confide_cek_value", "confide.cek_value", "_confide_cek", "confide.cek",
	"_confide_cmk", "confide.cmk", "_confide_column", "confide.encrypted_column")

// rewritten caches the PostgreSQL spelling of the catalog's statements.
var rewritten sync.Map

// sql spells a catalog statement, written for SQLite (? parameters,
// _confide_ tables), in the store's dialect.
func (s *Store) sql(q string) string {
	if s.Dialect == SQLite {
		return q
	}
	if v, ok := rewritten.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range pgTables.Replace(q) {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	rewritten.Store(q, b.String())
	return b.String()
}

func (s *Store) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return s.Q.Exec(ctx, s.sql(q), args...)
}

func (s *Store) count(ctx context.Context, q string, args ...any) (int, error) {
	rows, err := s.Q.Query(ctx, s.sql(q), args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int
	if rows.Next() {
		err = rows.Scan(&n)
	}
	if err == nil {
		err = rows.Err()
	}
	return n, err
}

func (s *Store) exists(ctx context.Context, q string, args ...any) (bool, error) {
	n, err := s.count(ctx, q, args...)
	return n > 0, err
}

// ErrUndefined is the error for a missing table or key.
func ErrUndefined(what, name string) error {
	code := map[string]string{"table": "42P01", "column master key": "42704", "column encryption key": "42704"}[what]
	return &wire.Error{Code: code, Message: fmt.Sprintf("%s %q does not exist", what, name)}
}

// ErrDuplicate is the error for a table or key that exists already.
func ErrDuplicate(what, name string) error {
	return &wire.Error{Code: "42710", Message: fmt.Sprintf("%s %q already exists", what, name)}
}

func errOr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// Columns is bind.Catalog's: on SQLite the catalog's record of every
// column; on PostgreSQL the server's columns with the encryption the
// catalog records for some of them. Tables whose names start with
// _confide_ or sqlite_ are the confide server's own and out of bounds.
func (s *Store) Columns(ctx context.Context, schema, table string) ([]bind.Column, error) {
	if s.Dialect == SQLite {
		if l := strings.ToLower(table); strings.HasPrefix(l, "_confide_") || strings.HasPrefix(l, "sqlite_") {
			return nil, &wire.Error{Code: "42501", Message: fmt.Sprintf("table %q is reserved", table)}
		}
		return s.sqliteColumns(ctx, table)
	}
	return s.pgColumns(ctx, schema, table)
}

func (s *Store) sqliteColumns(ctx context.Context, table string) ([]bind.Column, error) {
	return s.columns(ctx, `SELECT tbl, col, ord, '', sqltype, coalesce(cek, ''), coalesce(enc_type, ''), coalesce(cek_next, ''), enclave FROM _confide_column WHERE tbl = ? ORDER BY ord`, table)
}

// columns reads rows of (table, column, ordinal, server type, AE type,
// CEK, encryption type, next CEK, enclave-enabled). On SQLite every column has an AE type
// and ordinals count from 0; on PostgreSQL only encrypted columns have
// one, they must be bytea, and ordinals count from 1.
func (s *Store) columns(ctx context.Context, q string, args ...any) ([]bind.Column, error) {
	rows, err := s.Q.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bind.Column
	for rows.Next() {
		var c bind.Column
		var udt, t string
		if err := rows.Scan(&c.Table, &c.Name, &c.Ord, &udt, &t, &c.CEK, &c.EncType, &c.Next, &c.Enclave); err != nil {
			return nil, err
		}
		if s.Dialect == PostgreSQL {
			c.Ord--
			if c.CEK == "" {
				out = append(out, c)
				continue
			}
			if udt != "bytea" {
				return nil, &wire.Error{Code: "XX000", Message: fmt.Sprintf("catalog: column %s.%s is recorded as encrypted, but its type is %s, not bytea: the catalog and the table disagree", c.Table, c.Name, udt)}
			}
		}
		if c.Type, err = types.Parse(t); err != nil {
			return nil, fmt.Errorf("catalog: column %s.%s: %w", c.Table, c.Name, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// pgSchemaOf is the schema a table name ($2) in a given schema ($1, ”
// for none) means: the first schema on the search path (pg_catalog and
// pg_temp included, as PostgreSQL resolves names) that has it.
const pgSchemaOf = `coalesce(nullif($1, ''), (SELECT u.s FROM unnest(current_schemas(true)) WITH ORDINALITY AS u(s, o)
	WHERE EXISTS (SELECT 1 FROM information_schema.columns x WHERE x.table_schema = u.s AND x.table_name = $2) ORDER BY u.o LIMIT 1))`

func (s *Store) pgColumns(ctx context.Context, schema, table string) ([]bind.Column, error) {
	has, err := s.pgHasCatalog(ctx)
	if err != nil {
		return nil, err
	}
	q := `SELECT c.table_name::text, c.column_name::text, c.ordinal_position::int, c.udt_name::text, '', '', '', '', false
		FROM information_schema.columns c
		WHERE c.table_name = $2 AND c.table_schema = ` + pgSchemaOf + `
		ORDER BY c.ordinal_position`
	if has {
		q = `SELECT c.table_name::text, c.column_name::text, c.ordinal_position::int, c.udt_name::text,
			coalesce(k.sqltype, ''), coalesce(k.cek, ''), coalesce(k.enc_type, ''), coalesce(k.cek_next, ''), false
		FROM information_schema.columns c
		LEFT JOIN confide.encrypted_column k ON k.schema_name = c.table_schema::text AND k.tbl = c.table_name::text AND k.col = c.column_name::text
		WHERE c.table_name = $2 AND c.table_schema = ` + pgSchemaOf + `
		ORDER BY c.ordinal_position`
	}
	return s.columns(ctx, q, schema, table)
}

// pgHasCatalog reports whether the database has the catalog: a database
// that never saw Always Encrypted DDL has none, and all its columns are
// plaintext.
func (s *Store) pgHasCatalog(ctx context.Context) (bool, error) {
	var has bool
	if err := s.scanOne(ctx, &has, `SELECT to_regclass('confide.encrypted_column') IS NOT NULL`); err != nil || !has {
		return false, err
	}
	var v int
	if err := s.scanOne(ctx, &v, `SELECT coalesce(max(version), 0) FROM confide.catalog_version`); err != nil {
		return false, fmt.Errorf("catalog: reading confide.catalog_version: %w", err)
	}
	if v != PostgreSQLVersion {
		return false, &wire.Error{Code: "XX000", Message: fmt.Sprintf("catalog: the schema confide is catalog version %d; this driver reads version %d", v, PostgreSQLVersion)}
	}
	return true, nil
}

// PostgreSQLVersion is the version of the PostgreSQL catalog
// (spec/ae-catalog.md) that this package reads and writes.
const PostgreSQLVersion = 1

func (s *Store) scanOne(ctx context.Context, dest any, q string) error {
	rows, err := s.Q.Query(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		return errOr(rows.Err(), errors.New("catalog: no row"))
	}
	if err := rows.Scan(dest); err != nil {
		return err
	}
	return rows.Err()
}

// Ensure creates the catalog if the database lacks it.
func (s *Store) Ensure(ctx context.Context) error {
	schema := SQLiteSchema
	if s.Dialect == PostgreSQL {
		has, err := s.pgHasCatalog(ctx)
		if err != nil || has {
			return err
		}
		schema = PostgreSQLSchema
	}
	_, err := s.Q.Exec(ctx, schema)
	return err
}

// KeyDDL applies an Always Encrypted key statement (package ddl) to the
// catalog and returns its command tag.
func (s *Store) KeyDDL(ctx context.Context, st any) (string, error) {
	switch d := st.(type) {
	case *ddl.CreateCMK:
		if ok, err := s.exists(ctx, `SELECT count(*) FROM _confide_cmk WHERE name = ?`, d.Name); err != nil || ok {
			return "", errOr(err, ErrDuplicate("column master key", d.Name))
		}
		_, err := s.exec(ctx, `INSERT INTO _confide_cmk (name, provider, key_path, enclave_signature) VALUES (?, ?, ?, ?)`,
			d.Name, d.Provider, d.KeyPath, d.EnclaveSignature)
		return "CREATE COLUMN MASTER KEY", err
	case *ddl.CreateCEK:
		if ok, err := s.exists(ctx, `SELECT count(*) FROM _confide_cek WHERE name = ?`, d.Name); err != nil || ok {
			return "", errOr(err, ErrDuplicate("column encryption key", d.Name))
		}
		if _, err := s.exec(ctx, `INSERT INTO _confide_cek (name) VALUES (?)`, d.Name); err != nil {
			return "", err
		}
		for _, v := range d.Values {
			if err := s.addValue(ctx, d.Name, v); err != nil {
				return "", err
			}
		}
		return "CREATE COLUMN ENCRYPTION KEY", nil
	case *ddl.AlterCEK:
		if ok, err := s.exists(ctx, `SELECT count(*) FROM _confide_cek WHERE name = ?`, d.Name); err != nil || !ok {
			return "", errOr(err, ErrUndefined("column encryption key", d.Name))
		}
		n, err := s.count(ctx, `SELECT count(*) FROM _confide_cek_value WHERE cek = ?`, d.Name)
		if err != nil {
			return "", err
		}
		if d.Add != nil {
			if n >= 2 {
				return "", &wire.Error{Code: "54000", Message: fmt.Sprintf("column encryption key %q already has two values; drop one first", d.Name)}
			}
			return "ALTER COLUMN ENCRYPTION KEY", s.addValue(ctx, d.Name, *d.Add)
		}
		if ok, err := s.exists(ctx, `SELECT count(*) FROM _confide_cek_value WHERE cek = ? AND cmk = ?`, d.Name, d.DropCMK); err != nil || !ok {
			return "", errOr(err, &wire.Error{Code: "42704", Message: fmt.Sprintf("column encryption key %q has no value under column master key %q", d.Name, d.DropCMK)})
		}
		if n == 1 {
			return "", &wire.Error{Code: "2BP01", Message: fmt.Sprintf("cannot drop the last value of column encryption key %q", d.Name)}
		}
		_, err = s.exec(ctx, `DELETE FROM _confide_cek_value WHERE cek = ? AND cmk = ?`, d.Name, d.DropCMK)
		return "ALTER COLUMN ENCRYPTION KEY", err
	case *ddl.Drop:
		if d.What == "COLUMN MASTER KEY" {
			if ok, err := s.exists(ctx, `SELECT count(*) FROM _confide_cek_value WHERE cmk = ?`, d.Name); err != nil || ok {
				return "", errOr(err, &wire.Error{Code: "2BP01", Message: fmt.Sprintf("column master key %q still encrypts column encryption keys", d.Name)})
			}
			n, err := s.exec(ctx, `DELETE FROM _confide_cmk WHERE name = ?`, d.Name)
			if err == nil && n == 0 {
				err = ErrUndefined("column master key", d.Name)
			}
			return "DROP COLUMN MASTER KEY", err
		}
		if ok, err := s.exists(ctx, `SELECT count(*) FROM _confide_column WHERE cek = ? OR cek_next = ?`, d.Name, d.Name); err != nil || ok {
			return "", errOr(err, &wire.Error{Code: "2BP01", Message: fmt.Sprintf("column encryption key %q still encrypts columns", d.Name)})
		}
		if _, err := s.exec(ctx, `DELETE FROM _confide_cek_value WHERE cek = ?`, d.Name); err != nil {
			return "", err
		}
		n, err := s.exec(ctx, `DELETE FROM _confide_cek WHERE name = ?`, d.Name)
		if err == nil && n == 0 {
			err = ErrUndefined("column encryption key", d.Name)
		}
		return "DROP COLUMN ENCRYPTION KEY", err
	}
	return "", errors.New("catalog: unknown key statement")
}

func (s *Store) addValue(ctx context.Context, cekName string, v ddl.CEKValue) error {
	if ok, err := s.exists(ctx, `SELECT count(*) FROM _confide_cmk WHERE name = ?`, v.CMK); err != nil || !ok {
		return errOr(err, ErrUndefined("column master key", v.CMK))
	}
	// The catalog cannot open the value (no CMK is ever here), but it
	// refuses one that is not even shaped like SQL Server's.
	if _, err := cek.Parse(v.Encrypted); err != nil {
		return &wire.Error{Code: "22023", Message: "ENCRYPTED_VALUE is not an encrypted column encryption key", Detail: err.Error()}
	}
	if ok, err := s.exists(ctx, `SELECT count(*) FROM _confide_cek_value WHERE cek = ? AND cmk = ?`, cekName, v.CMK); err != nil || ok {
		return errOr(err, &wire.Error{Code: "42710", Message: fmt.Sprintf("column encryption key %q already has a value under %q", cekName, v.CMK)})
	}
	_, err := s.exec(ctx, `INSERT INTO _confide_cek_value (cek, cmk, algorithm, value) VALUES (?, ?, ?, ?)`,
		cekName, v.CMK, strings.ToUpper(v.Algorithm), v.Encrypted)
	return err
}

// KeyInfo is what a client needs to open a CEK: one of its encrypted
// values and the CMK it is encrypted under.
type KeyInfo struct {
	CEK                      string
	CMK, Provider, Path, Alg string
	Value                    []byte
	// EnclaveSignature is the CMK's signature of its metadata when it
	// allows enclave computations (nil otherwise): the client checks it
	// before it sends the CEK to an enclave.
	EnclaveSignature []byte
}

// CEKValues returns a CEK's values (none if it does not exist).
func (s *Store) CEKValues(ctx context.Context, name string) ([]KeyInfo, error) {
	return s.cekValues(ctx, "WHERE v.cek = ?", name)
}

// cekValues returns the CEK values a WHERE clause selects, by key and
// master key.
func (s *Store) cekValues(ctx context.Context, where string, args ...any) ([]KeyInfo, error) {
	rows, err := s.Q.Query(ctx, s.sql(`SELECT v.cek, v.cmk, m.provider, m.key_path, v.algorithm, v.value, m.enclave_signature
		FROM _confide_cek_value v JOIN _confide_cmk m ON m.name = v.cmk `+where+` ORDER BY v.cek, v.cmk`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []KeyInfo
	for rows.Next() {
		var k KeyInfo
		if err := rows.Scan(&k.CEK, &k.CMK, &k.Provider, &k.Path, &k.Alg, &k.Value, &k.EnclaveSignature); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// CMK is a column master key's metadata.
type CMK struct {
	Name, Provider, Path string
	// EnclaveSignature is nil unless the key allows enclave computations.
	EnclaveSignature []byte
}

// LookupCMK returns a column master key's metadata.
func (s *Store) LookupCMK(ctx context.Context, name string) (CMK, error) {
	rows, err := s.Q.Query(ctx, s.sql(`SELECT name, provider, key_path, enclave_signature FROM _confide_cmk WHERE name = ?`), name)
	if err != nil {
		return CMK{}, err
	}
	defer rows.Close()
	var k CMK
	if !rows.Next() {
		return CMK{}, errOr(rows.Err(), ErrUndefined("column master key", name))
	}
	err = rows.Scan(&k.Name, &k.Provider, &k.Path, &k.EnclaveSignature)
	return k, err
}

// Entry is one row of a describe answer: a parameter's or a result
// column's encryption, one per value of its CEK (two while the CEK's
// master key is rotated), or a single row without keys for plaintext.
type Entry struct {
	Kind    string // "parameter" or "column"
	Ordinal int
	Column  *bind.Column // nil for expressions and unbound parameters
	Key     *KeyInfo     // nil for plaintext
}

// Describe lists the encryption of a bound statement's parameters and
// result columns with the keys that open them. During a column's CEK
// rotation, parameters are encrypted under the new key and stored values
// may be under either.
func (s *Store) Describe(ctx context.Context, st *bind.Statement) ([]Entry, error) {
	var out []Entry
	add := func(kind string, ord int, c *bind.Column) error {
		if !c.Encrypted() {
			out = append(out, Entry{Kind: kind, Ordinal: ord, Column: c})
			return nil
		}
		names := []string{c.CEK}
		if c.Next != "" {
			names = []string{c.Next}
			if kind == "column" {
				names = []string{c.CEK, c.Next}
			}
		}
		for _, n := range names {
			keys, err := s.CEKValues(ctx, n)
			if err != nil {
				return err
			}
			for i := range keys {
				out = append(out, Entry{Kind: kind, Ordinal: ord, Column: c, Key: &keys[i]})
			}
		}
		return nil
	}
	for i := 1; i <= st.Params; i++ {
		if err := add("parameter", i, st.Bound[i]); err != nil {
			return nil, err
		}
	}
	for i, r := range st.Results {
		if err := add("column", i+1, r.Col); err != nil {
			return nil, err
		}
	}
	// The keys the SQL enclave needs for the statement, with the
	// signatures that make their CMKs enclave-enabled.
	for i, name := range st.EnclaveCEKs {
		keys, err := s.CEKValues(ctx, name)
		if err != nil {
			return nil, err
		}
		for j := range keys {
			if keys[j].EnclaveSignature != nil {
				out = append(out, Entry{Kind: "enclave", Ordinal: i + 1, Key: &keys[j]})
			}
		}
	}
	return out, nil
}

// EnclaveEnabled reports whether a CEK has a value under a column master
// key that allows enclave computations: its columns are then stored for
// the SQL enclave (spec/ae-enclave.md).
func (s *Store) EnclaveEnabled(ctx context.Context, cekName string) (bool, error) {
	return s.exists(ctx, `SELECT count(*) FROM _confide_cek_value v JOIN _confide_cmk m ON m.name = v.cmk WHERE v.cek = ? AND m.enclave_signature IS NOT NULL`, cekName)
}

// Rotate starts moving a column to another CEK (finish false, newCEK
// set) or finishes the move (finish true), and returns a status line.
func (s *Store) Rotate(ctx context.Context, schema, table, column, newCEK string, finish bool) (string, error) {
	c, err := bind.Resolve(ctx, s, schema, table, column)
	if err != nil {
		return "", err
	}
	if !c.Encrypted() {
		return "", &wire.Error{Code: "42804", Message: fmt.Sprintf("column %s.%s is not encrypted", c.Table, c.Name)}
	}
	where, args := s.columnKey(schema, c)
	if finish {
		if c.Next == "" {
			return "", &wire.Error{Code: "55000", Message: fmt.Sprintf("column %s.%s is not being rotated", c.Table, c.Name)}
		}
		_, err := s.exec(ctx, `UPDATE _confide_column SET cek = cek_next, cek_next = NULL WHERE `+where, args...)
		return fmt.Sprintf("column %s.%s is encrypted by %s", c.Table, c.Name, c.Next), err
	}
	if ok, err := s.exists(ctx, `SELECT count(*) FROM _confide_cek WHERE name = ?`, newCEK); err != nil || !ok {
		return "", errOr(err, ErrUndefined("column encryption key", newCEK))
	}
	if strings.EqualFold(newCEK, c.CEK) {
		return "", &wire.Error{Code: "22023", Message: fmt.Sprintf("column %s.%s is already encrypted by %s", c.Table, c.Name, c.CEK)}
	}
	if c.Next != "" && !strings.EqualFold(c.Next, newCEK) {
		return "", &wire.Error{Code: "55000", Message: fmt.Sprintf("column %s.%s is being rotated to %s; finish that first", c.Table, c.Name, c.Next)}
	}
	_, err = s.exec(ctx, `UPDATE _confide_column SET cek_next = ? WHERE `+where, append([]any{newCEK}, args...)...)
	return fmt.Sprintf("column %s.%s is rotating from %s to %s", c.Table, c.Name, c.CEK, newCEK), err
}

// columnKey is the WHERE clause (with ? parameters) that picks a
// column's catalog row.
func (s *Store) columnKey(schema string, c *bind.Column) (string, []any) {
	if s.Dialect == SQLite {
		return `tbl = ? AND col = ?`, []any{c.Table, c.Name}
	}
	return `schema_name = coalesce(nullif(?, ''), current_schema()) AND tbl = ? AND col = ?`, []any{schema, c.Table, c.Name}
}

// checkCEK refuses an encrypted column whose CEK does not exist.
func (s *Store) checkCEK(ctx context.Context, c bind.Column) error {
	if !c.Encrypted() {
		return nil
	}
	if ok, err := s.exists(ctx, `SELECT count(*) FROM _confide_cek WHERE name = ?`, c.CEK); err != nil || !ok {
		return errOr(err, ErrUndefined("column encryption key", c.CEK))
	}
	return nil
}

// AddTable records a new table's columns: every one on SQLite, the
// encrypted ones on PostgreSQL. It refuses a table the catalog knows
// already and a CEK that does not exist.
func (s *Store) AddTable(ctx context.Context, schema string, cols []bind.Column) error {
	if len(cols) == 0 {
		return &wire.Error{Code: "42601", Message: "a table needs columns"}
	}
	table := cols[0].Table
	for _, c := range cols {
		if err := s.checkCEK(ctx, c); err != nil {
			return err
		}
	}
	if s.Dialect == SQLite {
		if ok, err := s.exists(ctx, `SELECT count(*) FROM _confide_column WHERE tbl = ?`, table); err != nil || ok {
			return errOr(err, ErrDuplicate("table", table))
		}
		for _, c := range cols {
			var cekName, encType any
			if c.Encrypted() {
				cekName, encType = c.CEK, c.EncType
			}
			if _, err := s.exec(ctx, `INSERT INTO _confide_column (tbl, col, ord, sqltype, cek, enc_type, enclave) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				table, c.Name, c.Ord, c.Type.String(), cekName, encType, c.Enclave); err != nil {
				return err
			}
		}
		return nil
	}
	// Rows left behind by a table dropped outside the driver (psql)
	// would otherwise claim the new table's columns.
	if _, err := s.exec(ctx, `DELETE FROM _confide_column WHERE schema_name = coalesce(nullif(?, ''), current_schema()) AND tbl = ?`, schema, table); err != nil {
		return err
	}
	for _, c := range cols {
		if !c.Encrypted() {
			continue
		}
		if _, err := s.exec(ctx, `INSERT INTO _confide_column (schema_name, tbl, col, sqltype, cek, enc_type) VALUES (coalesce(nullif(?, ''), current_schema()), ?, ?, ?, ?, ?)`,
			schema, table, c.Name, c.Type.String(), c.CEK, c.EncType); err != nil {
			return err
		}
	}
	return nil
}

// DropTable forgets a table's columns and reports whether the catalog
// knew it (on PostgreSQL, whether it had encrypted columns).
func (s *Store) DropTable(ctx context.Context, schema, table string) (bool, error) {
	if s.Dialect == SQLite {
		n, err := s.exec(ctx, `DELETE FROM _confide_column WHERE tbl = ?`, table)
		return n > 0, err
	}
	has, err := s.pgHasCatalog(ctx)
	if err != nil || !has {
		return false, err
	}
	n, err := s.exec(ctx, `DELETE FROM _confide_column WHERE schema_name = coalesce(nullif(?, ''), current_schema()) AND tbl = ?`, schema, table)
	return n > 0, err
}
