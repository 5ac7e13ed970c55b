package engine

import (
	"context"
	"fmt"

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
		if a.Param {
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
		if !a.Param {
			vals = append(vals, a.Literal)
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
	next := ""
	if !r.finish {
		next = v[2]
	}
	return r.s.catalog().Rotate(ctx, "", v[0], v[1], next, r.finish)
}
