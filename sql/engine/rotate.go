package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/confide/confide/sql/wire"
)

// Rotating a column to another column encryption key happens through the
// client (the server holds no key): the client starts the rotation, which
// makes the server describe the column's parameters under the new key and
// its stored values under either; re-encrypts the rows; and finishes it,
// after which only the new key describes the column.
//
//	SELECT * FROM sp_rotate_column_encryption_key($table, $column, $newcek)
//	SELECT * FROM sp_finish_column_encryption_key_rotation($table, $column)
const (
	RotateFunction = "sp_rotate_column_encryption_key"
	FinishFunction = "sp_finish_column_encryption_key_rotation"
)

type rotateStmt struct {
	s      *session
	args   []describeArg
	finish bool
}

func (r *rotateStmt) Params() []uint32 {
	var out []uint32
	for _, a := range r.args {
		if a.param {
			out = append(out, oidText)
		}
	}
	return out
}

func (r *rotateStmt) Columns() []wire.Column {
	return []wire.Column{{Name: "status", TypeOID: oidText, TypeSize: -1, TypeModifier: -1}}
}

func (r *rotateStmt) Close() error { return nil }

func (r *rotateStmt) Execute(ctx context.Context, params []wire.Param, formats []int16) (wire.Result, error) {
	var vals []string
	pi := 0
	for _, a := range r.args {
		if !a.param {
			vals = append(vals, a.literal)
			continue
		}
		if pi >= len(params) || params[pi].Value == nil {
			return nil, r.s.failed(&wire.Error{Code: "22023", Message: "rotation functions take text arguments"})
		}
		vals = append(vals, string(params[pi].Value))
		pi++
	}
	want := 3
	if r.finish {
		want = 2
	}
	if len(vals) != want {
		return nil, r.s.failed(&wire.Error{Code: "42883", Message: fmt.Sprintf("the function takes %d arguments", want)})
	}
	status, err := r.run(ctx, vals)
	if err != nil {
		return nil, r.s.failed(err)
	}
	return &listResult{rows: [][]any{{status}}, formats: append([]int16(nil), formats...), oids: []uint32{oidText}}, nil
}

func (r *rotateStmt) run(ctx context.Context, v []string) (string, error) {
	cols, err := tableColumns(ctx, r.s.conn, v[0])
	if err != nil {
		return "", err
	}
	var c *column
	for i := range cols {
		if strings.EqualFold(cols[i].Name, v[1]) {
			c = &cols[i]
		}
	}
	if c == nil {
		return "", &wire.Error{Code: "42703", Message: fmt.Sprintf("column %s.%s does not exist", v[0], v[1])}
	}
	if !c.encrypted() {
		return "", &wire.Error{Code: "42804", Message: fmt.Sprintf("column %s.%s is not encrypted", c.Table, c.Name)}
	}
	if r.finish {
		if c.Next == "" {
			return "", &wire.Error{Code: "55000", Message: fmt.Sprintf("column %s.%s is not being rotated", c.Table, c.Name)}
		}
		_, err := r.s.conn.ExecContext(ctx, `UPDATE _confide_column SET cek = cek_next, cek_next = NULL WHERE tbl = ? AND col = ?`, c.Table, c.Name)
		return fmt.Sprintf("column %s.%s is encrypted by %s", c.Table, c.Name, c.Next), err
	}
	if ok, err := exists(ctx, r.s.conn, `SELECT count(*) FROM _confide_cek WHERE name = ?`, v[2]); err != nil || !ok {
		return "", errOr(err, errUndefined("column encryption key", v[2]))
	}
	if strings.EqualFold(v[2], c.CEK) {
		return "", &wire.Error{Code: "22023", Message: fmt.Sprintf("column %s.%s is already encrypted by %s", c.Table, c.Name, c.CEK)}
	}
	if c.Next != "" && !strings.EqualFold(c.Next, v[2]) {
		return "", &wire.Error{Code: "55000", Message: fmt.Sprintf("column %s.%s is being rotated to %s; finish that first", c.Table, c.Name, c.Next)}
	}
	_, err = r.s.conn.ExecContext(ctx, `UPDATE _confide_column SET cek_next = ? WHERE tbl = ? AND col = ?`, v[2], c.Table, c.Name)
	return fmt.Sprintf("column %s.%s is rotating from %s to %s", c.Table, c.Name, c.CEK, v[2]), err
}
