package engine

import (
	"context"
	"io"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

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
}

// describeArg is the statement argument of a describe call: a literal, or
// a parameter given at Execute.
type describeArg struct {
	literal string
	param   bool
}

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
	if len(sel.FromClause) != 1 {
		return nil, false
	}
	rf := sel.FromClause[0].GetRangeFunction()
	if rf == nil || len(rf.Functions) != 1 {
		return nil, false
	}
	items := rf.Functions[0].GetList().GetItems()
	if len(items) == 0 {
		return nil, false
	}
	fc := items[0].GetFuncCall()
	if fc == nil || len(fc.Funcname) == 0 || !strings.EqualFold(fc.Funcname[len(fc.Funcname)-1].GetString_().GetSval(), name) {
		return nil, false
	}
	var out []describeArg
	for i, a := range fc.Args {
		switch x := a.Node.(type) {
		case *pg.Node_ParamRef:
			if int(x.ParamRef.Number) != i+1 {
				return nil, false
			}
			out = append(out, describeArg{param: true})
		case *pg.Node_AConst:
			s, ok := x.AConst.Val.(*pg.A_Const_Sval)
			if !ok {
				return nil, false
			}
			out = append(out, describeArg{literal: s.Sval.Sval})
		default:
			return nil, false
		}
	}
	return out, true
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
	if d.arg.param {
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
	q := d.arg.literal
	if d.arg.param {
		if len(params) != 1 || params[0].Value == nil || params[0].Format != wire.TextFormat {
			return nil, d.s.failed(&wire.Error{Code: "22023", Message: DescribeFunction + " takes the statement as one text parameter"})
		}
		q = string(params[0].Value)
	}
	st, err := d.s.prepare(ctx, q, nil)
	if err != nil {
		return nil, d.s.failed(err)
	}
	dm, ok := st.(*dmlStmt)
	var rows [][]any
	if ok {
		add := func(kind string, ord int, c *column) error {
			if c == nil || !c.encrypted() {
				var tbl, col, typ any
				if c != nil {
					tbl, col, typ = c.Table, c.Name, c.Type.String()
				}
				rows = append(rows, []any{kind, int64(ord), tbl, col, typ, nil, nil, nil, nil, nil, nil, nil, nil})
				return nil
			}
			// During a rotation, parameters are encrypted under the new
			// key and stored values may be under either.
			names := []string{c.CEK}
			if c.Next != "" {
				names = []string{c.Next}
				if kind == "column" {
					names = []string{c.CEK, c.Next}
				}
			}
			var keys []keyInfo
			for _, n := range names {
				k, err := cekValues(ctx, d.s.conn, n)
				if err != nil {
					return err
				}
				keys = append(keys, k...)
			}
			for _, k := range keys {
				rows = append(rows, []any{kind, int64(ord), c.Table, c.Name, c.Type.String(), c.EncType, cell.Algorithm,
					k.CEK, k.CMK, k.Provider, k.Path, k.Alg, k.Value})
			}
			return nil
		}
		for i := range dm.params {
			if err := add("parameter", i+1, dm.bound[i+1]); err != nil {
				return nil, d.s.failed(err)
			}
		}
		for i := range dm.cols {
			if err := add("column", i+1, dm.colDefs[i]); err != nil {
				return nil, d.s.failed(err)
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
	if c.arg.param {
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
	name := c.arg.literal
	if c.arg.param {
		if len(params) != 1 || params[0].Value == nil {
			return nil, c.s.failed(&wire.Error{Code: "22023", Message: CMKFunction + " takes the key's name"})
		}
		name = string(params[0].Value)
	}
	var n, prov, path string
	var sig []byte
	err := c.s.conn.QueryRowContext(ctx, `SELECT name, provider, key_path, enclave_signature FROM _confide_cmk WHERE name = ?`, name).Scan(&n, &prov, &path, &sig)
	if err != nil {
		return nil, c.s.failed(errUndefined("column master key", name))
	}
	var sigv any
	if sig != nil {
		sigv = sig
	}
	return &listResult{rows: [][]any{{n, prov, path, sigv}}, formats: append([]int16(nil), formats...), oids: []uint32{oidText, oidText, oidText, oidBytea}}, nil
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
	if c.arg.param {
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
	name := c.arg.literal
	if c.arg.param {
		if len(params) != 1 || params[0].Value == nil {
			return nil, c.s.failed(&wire.Error{Code: "22023", Message: CEKFunction + " takes the key's name"})
		}
		name = string(params[0].Value)
	}
	keys, err := cekValues(ctx, c.s.conn, name)
	if err != nil {
		return nil, c.s.failed(err)
	}
	if len(keys) == 0 {
		return nil, c.s.failed(errUndefined("column encryption key", name))
	}
	var rows [][]any
	for _, k := range keys {
		rows = append(rows, []any{k.CMK, k.Provider, k.Path, k.Alg, k.Value})
	}
	return &listResult{rows: rows, formats: append([]int16(nil), formats...), oids: cekColumns}, nil
}
