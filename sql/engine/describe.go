package engine

import (
	"context"
	"io"
	"strconv"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/confide/confide/sql/bind"
	"github.com/confide/confide/sql/catalog"
	"github.com/confide/confide/sql/cell"
	"github.com/confide/confide/sql/wire"
)

// DescribeFunction is the table function drivers call, as SQL Server's
// sp_describe_parameter_encryption, to learn which parameters and result
// columns of a statement are encrypted and with which keys:
//
//	SELECT * FROM sp_describe_parameter_encryption($1)   -- $1: the statement
//
// It returns one row per parameter and per result column — several when
// its column encryption key has two values — with the columns of
// describeColumns.
const DescribeFunction = "sp_describe_parameter_encryption"

var describeColumns = []struct {
	name string
	oid  uint32
}{
	{"kind", oidText}, // "parameter" or "column"
	{"ordinal", oidInt4},
	{"table_name", oidText},
	{"column_name", oidText},
	{"sql_type", oidText},
	{"encryption_type", oidText}, // DETERMINISTIC, RANDOMIZED, or NULL: plaintext
	{"algorithm", oidText},
	{"column_encryption_key", oidText},
	{"column_master_key", oidText},
	{"key_store_provider", oidText},
	{"key_path", oidText},
	{"key_algorithm", oidText},
	{"encrypted_value", oidBytea},
	{"enclave_signature", oidBytea}, // the CMK's, for kind "enclave"
}

// describeArg is an argument of a table function: a literal, or a
// parameter given at Execute.
type describeArg = bind.Arg

// CMKFunction returns a column master key's metadata, for clients that
// make column encryption keys: SELECT * FROM sp_column_master_key($1).
const CMKFunction = "sp_column_master_key"

var cmkColumns = []struct {
	name string
	oid  uint32
}{{"name", oidText}, {"key_store_provider", oidText}, {"key_path", oidText}, {"enclave_signature", oidBytea}}

func describeCall(sel *pg.SelectStmt) (describeArg, bool) {
	return tableFunction(sel, DescribeFunction)
}

// callArgs recognizes SELECT * FROM name(a, b, …) with literal or
// parameter arguments.
func callArgs(sel *pg.SelectStmt, name string) ([]describeArg, bool) {
	return bind.Call(sel, name)
}

// tableFunction recognizes SELECT * FROM name(arg) with one argument,
// a literal or $1.
func tableFunction(sel *pg.SelectStmt, name string) (describeArg, bool) {
	args, ok := callArgs(sel, name)
	if !ok || len(args) != 1 {
		return describeArg{}, false
	}
	return args[0], true
}

type describeStmt struct {
	s   *session
	arg describeArg
}

func (s *session) describe(_ context.Context, a describeArg) (wire.Statement, error) {
	return &describeStmt{s: s, arg: a}, nil
}

func (d *describeStmt) Params() []uint32 {
	if d.arg.Param {
		return []uint32{oidText}
	}
	return nil
}

func (d *describeStmt) Columns() []wire.Column {
	out := make([]wire.Column, len(describeColumns))
	for i, c := range describeColumns {
		out[i] = wire.Column{Name: c.name, TypeOID: c.oid, TypeSize: -1, TypeModifier: -1}
	}
	return out
}

func (d *describeStmt) Close() error { return nil }

func (d *describeStmt) Execute(ctx context.Context, params []wire.Param, formats []int16) (wire.Result, error) {
	q := d.arg.Literal
	if d.arg.Param {
		if len(params) != 1 || params[0].Value == nil || params[0].Format != wire.TextFormat {
			return nil, d.s.failed(&wire.Error{Code: "22023", Message: DescribeFunction + " takes the statement as one text parameter"})
		}
		q = string(params[0].Value)
	}
	//confide:ignore false positive: the checker merges the context with SQLite's connection, whose enclave functions reach the enclave; the path ends in a protobuf reflection panic on malformed trees, which carries no session key
	st, err := d.s.prepare(ctx, q, nil)
	if err != nil {
		return nil, d.s.failed(err)
	}
	var bound *bind.Statement
	switch x := st.(type) {
	case *dmlStmt:
		bound = x.stmt
	case *alterStmt:
		bound = &bind.Statement{EnclaveCEKs: x.ceks}
	}
	var rows [][]any
	if bound != nil {
		entries, err := d.s.catalog().Describe(ctx, bound)
		if err != nil {
			return nil, d.s.failed(err)
		}
		for _, e := range entries {
			var tbl, col, typ any
			if c := e.Column; c != nil {
				tbl, col, typ = c.Table, c.Name, c.Type.String()
			}
			switch {
			case e.Kind == "enclave":
				k := e.Key
				rows = append(rows, []any{e.Kind, int64(e.Ordinal), nil, nil, nil, nil, nil,
					k.CEK, k.CMK, k.Provider, k.Path, k.Alg, k.Value, k.EnclaveSignature})
			case e.Key == nil:
				rows = append(rows, []any{e.Kind, int64(e.Ordinal), tbl, col, typ, nil, nil, nil, nil, nil, nil, nil, nil, nil})
			default:
				k := e.Key
				rows = append(rows, []any{e.Kind, int64(e.Ordinal), tbl, col, typ, e.Column.EncType, cell.Algorithm,
					k.CEK, k.CMK, k.Provider, k.Path, k.Alg, k.Value, nil})
			}
		}
	}
	return &listResult{rows: rows, formats: append([]int16(nil), formats...)}, nil
}

type cmkStmt struct {
	s   *session
	arg describeArg
}

func (c *cmkStmt) Params() []uint32 {
	if c.arg.Param {
		return []uint32{oidText}
	}
	return nil
}

func (c *cmkStmt) Columns() []wire.Column {
	out := make([]wire.Column, len(cmkColumns))
	for i, col := range cmkColumns {
		out[i] = wire.Column{Name: col.name, TypeOID: col.oid, TypeSize: -1, TypeModifier: -1}
	}
	return out
}

func (c *cmkStmt) Close() error { return nil }

func (c *cmkStmt) Execute(ctx context.Context, params []wire.Param, formats []int16) (wire.Result, error) {
	name := c.arg.Literal
	if c.arg.Param {
		if len(params) != 1 || params[0].Value == nil {
			return nil, c.s.failed(&wire.Error{Code: "22023", Message: CMKFunction + " takes the key's name"})
		}
		name = string(params[0].Value)
	}
	k, err := c.s.catalog().LookupCMK(ctx, name)
	if err != nil {
		return nil, c.s.failed(err)
	}
	var sigv any
	if k.EnclaveSignature != nil {
		sigv = k.EnclaveSignature
	}
	return &listResult{rows: [][]any{{k.Name, k.Provider, k.Path, sigv}}, formats: append([]int16(nil), formats...), oids: []uint32{oidText, oidText, oidText, oidBytea}}, nil
}

// listResult serves rows computed in advance.
type listResult struct {
	rows    [][]any
	formats []int16
	oids    []uint32 // nil: describeColumns'
	i       int
}

func (l *listResult) Next(context.Context) ([][]byte, error) {
	if l.i >= len(l.rows) {
		return nil, io.EOF
	}
	row := l.rows[l.i]
	l.i++
	out := make([][]byte, len(row))
	for j, v := range row {
		oid := uint32(0)
		if l.oids != nil {
			oid = l.oids[j]
		} else {
			oid = describeColumns[j].oid
		}
		b, err := encodeValue(v, oid, l.formats[j])
		if err != nil {
			return nil, err
		}
		out[j] = b
	}
	return out, nil
}

func (l *listResult) Tag() string  { return "SELECT " + strconv.Itoa(len(l.rows)) }
func (l *listResult) Close() error { return nil }

// CEKFunction returns a column encryption key's values, for key tooling
// (rotating its column master key): SELECT * FROM
// sp_column_encryption_key($1), one row (column_master_key,
// key_store_provider, key_path, key_algorithm, encrypted_value) per value.
const CEKFunction = "sp_column_encryption_key"

type cekStmt struct {
	s   *session
	arg describeArg
}

var cekColumns = []uint32{oidText, oidText, oidText, oidText, oidBytea}

func (c *cekStmt) Params() []uint32 {
	if c.arg.Param {
		return []uint32{oidText}
	}
	return nil
}

func (c *cekStmt) Columns() []wire.Column {
	names := []string{"column_master_key", "key_store_provider", "key_path", "key_algorithm", "encrypted_value"}
	out := make([]wire.Column, len(names))
	for i, n := range names {
		out[i] = wire.Column{Name: n, TypeOID: cekColumns[i], TypeSize: -1, TypeModifier: -1}
	}
	return out
}

func (c *cekStmt) Close() error { return nil }

func (c *cekStmt) Execute(ctx context.Context, params []wire.Param, formats []int16) (wire.Result, error) {
	name := c.arg.Literal
	if c.arg.Param {
		if len(params) != 1 || params[0].Value == nil {
			return nil, c.s.failed(&wire.Error{Code: "22023", Message: CEKFunction + " takes the key's name"})
		}
		name = string(params[0].Value)
	}
	keys, err := c.s.catalog().CEKValues(ctx, name)
	if err != nil {
		return nil, c.s.failed(err)
	}
	if len(keys) == 0 {
		return nil, c.s.failed(catalog.ErrUndefined("column encryption key", name))
	}
	var rows [][]any
	for _, k := range keys {
		rows = append(rows, []any{k.CMK, k.Provider, k.Path, k.Alg, k.Value})
	}
	return &listResult{rows: rows, formats: append([]int16(nil), formats...), oids: cekColumns}, nil
}
