package engine

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/confide/confide/sql/cell"
	"github.com/confide/confide/sql/internal/pgast"
	"github.com/confide/confide/sql/wire"
)

// dmlStmt is a prepared SELECT, INSERT, UPDATE or DELETE.
type dmlStmt struct {
	s       *session
	sql     string // SQLite's text, ?N parameters
	kind    string
	params  []uint32
	bound   bindings // parameter → encrypted column
	cols    []wire.Column
	colDefs []*column // result column → catalog column, nil for expressions
}

func (d *dmlStmt) Params() []uint32       { return d.params }
func (d *dmlStmt) Columns() []wire.Column { return d.cols }
func (d *dmlStmt) Close() error           { return nil }

// dml analyses a statement: its tables, the parameters each encrypted
// column meets, what it may not do with encrypted columns, and its result
// columns; then rewrites it for SQLite.
func (s *session) dml(ctx context.Context, tree *pg.ParseResult, oids []uint32, kind string) (wire.Statement, error) {
	node := tree.Stmts[0].Stmt
	sc, err := s.tablesOf(ctx, node)
	if err != nil {
		return nil, err
	}
	b := bindings{}
	if err := sc.checkExprs(node, b); err != nil {
		return nil, err
	}
	d := &dmlStmt{s: s, kind: kind, bound: b}
	switch n := node.Node.(type) {
	case *pg.Node_InsertStmt:
		if err := sc.bindInsert(n.InsertStmt, b); err != nil {
			return nil, err
		}
	case *pg.Node_UpdateStmt:
		if err := sc.bindSet(n.UpdateStmt.TargetList, b); err != nil {
			return nil, err
		}
	case *pg.Node_SelectStmt:
		if err := d.resultColumns(sc, n.SelectStmt); err != nil {
			return nil, err
		}
	}
	// Parameters: $1 … $max.
	max := 0
	pgast.Walk(node.ProtoReflect(), func(m protoreflect.Message) bool {
		if p, ok := m.Interface().(*pg.ParamRef); ok && int(p.Number) > max {
			max = int(p.Number)
		}
		return true
	})
	for i := 1; i <= max; i++ {
		oid := uint32(oidText)
		if i <= len(oids) && oids[i-1] != 0 {
			oid = oids[i-1]
		}
		if c := b[i]; c != nil && (i > len(oids) || oids[i-1] == 0 || c.encrypted()) {
			oid = oidOf(c)
		}
		d.params = append(d.params, oid)
	}
	out, err := pg.Deparse(tree)
	if err != nil {
		return nil, syntax(err)
	}
	if d.sql, err = sqliteParams(out); err != nil {
		return nil, err
	}
	return d, nil
}

// sqliteParams rewrites $N as ?N, which SQLite binds by number.
func sqliteParams(q string) (string, error) {
	sc, err := pg.Scan(q)
	if err != nil {
		return "", syntax(err)
	}
	var b strings.Builder
	last := 0
	for _, t := range sc.Tokens {
		if t.Token == pg.Token_PARAM {
			b.WriteString(q[last:t.Start])
			b.WriteString("?" + q[t.Start+1:t.End])
			last = int(t.End)
		}
	}
	b.WriteString(q[last:])
	return b.String(), nil
}

func (sc *scope) target(table string) *tableRef {
	for i := range sc.tables {
		if strings.EqualFold(sc.tables[i].name, table) {
			return &sc.tables[i]
		}
	}
	return nil
}

// bindInsert binds INSERT … VALUES parameters to their columns; a
// literal for an encrypted column is an operand type clash.
func (sc *scope) bindInsert(ins *pg.InsertStmt, b bindings) error {
	t := sc.target(ins.Relation.Relname)
	var cols []*column
	if len(ins.Cols) == 0 {
		for i := range t.cols {
			cols = append(cols, &t.cols[i])
		}
	}
	for _, c := range ins.Cols {
		rt := c.GetResTarget()
		found := false
		for i := range t.cols {
			if strings.EqualFold(t.cols[i].Name, rt.Name) {
				cols, found = append(cols, &t.cols[i]), true
			}
		}
		if !found {
			return &wire.Error{Code: "42703", Message: fmt.Sprintf("column %q of table %q does not exist", rt.Name, t.name)}
		}
	}
	sel := ins.SelectStmt.GetSelectStmt()
	if sel == nil {
		return nil // DEFAULT VALUES
	}
	if len(sel.ValuesLists) == 0 {
		for _, c := range cols {
			if c.encrypted() {
				return &wire.Error{Code: "0A000", Message: fmt.Sprintf("INSERT … SELECT into encrypted column %s.%s is not supported", c.Table, c.Name)}
			}
		}
		return nil
	}
	for _, row := range sel.ValuesLists {
		items := row.GetList().GetItems()
		if len(items) != len(cols) {
			return &wire.Error{Code: "42601", Message: fmt.Sprintf("INSERT has %d values for %d columns", len(items), len(cols))}
		}
		for i, it := range items {
			if err := sc.assign(cols[i], it, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// assign checks a value assigned to a column.
func (sc *scope) assign(c *column, v *pg.Node, b bindings) error {
	o, err := sc.operand(v)
	if err != nil {
		return err
	}
	if !c.encrypted() {
		if o.param > 0 {
			if _, ok := b[o.param]; !ok {
				b[o.param] = c
			}
		}
		return nil
	}
	switch {
	case o.param > 0:
		return b.bind(o.param, c)
	case o.col != nil && o.col.CEK == c.CEK && o.col.EncType == c.EncType && o.col.Type == c.Type:
		return nil
	case v.GetAConst() != nil && v.GetAConst().Isnull:
		return nil
	case o.literal:
		return clash(c, "a literal")
	}
	return clash(c, "an expression")
}

func (sc *scope) bindSet(targets []*pg.Node, b bindings) error {
	for _, t := range targets {
		rt := t.GetResTarget()
		if rt == nil {
			continue
		}
		var c *column
		for i := range sc.tables[0].cols {
			if strings.EqualFold(sc.tables[0].cols[i].Name, rt.Name) {
				c = &sc.tables[0].cols[i]
			}
		}
		if c == nil {
			return &wire.Error{Code: "42703", Message: fmt.Sprintf("column %q does not exist", rt.Name)}
		}
		if err := sc.assign(c, rt.Val, b); err != nil {
			return err
		}
	}
	return nil
}

// resultColumns describes a SELECT's result from its target list.
func (d *dmlStmt) resultColumns(sc *scope, sel *pg.SelectStmt) error {
	if len(sel.TargetList) == 0 {
		return &wire.Error{Code: "0A000", Message: "UNION, INTERSECT and EXCEPT are not supported"}
	}
	add := func(name string, c *column) {
		d.cols = append(d.cols, wire.Column{Name: name, TypeOID: oidOf(c), TypeSize: -1, TypeModifier: -1})
		d.colDefs = append(d.colDefs, c)
	}
	for _, t := range sel.TargetList {
		rt := t.GetResTarget()
		if rt == nil {
			continue
		}
		if cr := rt.Val.GetColumnRef(); cr != nil {
			c, star, err := sc.resolve(cr)
			if err != nil {
				return err
			}
			if star {
				qual := ""
				if len(cr.Fields) == 2 {
					qual = cr.Fields[0].GetString_().GetSval()
				}
				for i := range sc.tables {
					tb := &sc.tables[i]
					if qual != "" && !strings.EqualFold(qual, tb.alias) && !strings.EqualFold(qual, tb.name) {
						continue
					}
					for j := range tb.cols {
						add(tb.cols[j].Name, &tb.cols[j])
					}
				}
				continue
			}
			name := rt.Name
			if name == "" {
				name = c.Name
			}
			add(name, c)
			continue
		}
		name := rt.Name
		if name == "" {
			name = "?column?"
			if fc := rt.Val.GetFuncCall(); fc != nil && len(fc.Funcname) > 0 {
				name = fc.Funcname[len(fc.Funcname)-1].GetString_().GetSval()
			}
		}
		if fc := rt.Val.GetFuncCall(); fc != nil && strings.EqualFold(name, "count") {
			d.cols = append(d.cols, wire.Column{Name: name, TypeOID: oidInt8, TypeSize: 8, TypeModifier: -1})
			d.colDefs = append(d.colDefs, nil)
			continue
		}
		add(name, nil)
	}
	return nil
}

// Execute binds the parameters (an encrypted column's must be a cell)
// and runs the statement.
func (d *dmlStmt) Execute(ctx context.Context, params []wire.Param, formats []int16) (wire.Result, error) {
	args := make([]any, len(params))
	for i, p := range params {
		v, err := decodeParam(p, d.params[i], i+1)
		if err != nil {
			return nil, d.s.failed(err)
		}
		if c := d.bound[i+1]; c != nil && c.encrypted() && v != nil {
			cellBytes, ok := v.([]byte)
			if !ok || len(cellBytes) < cell.Overhead || cellBytes[0] != 1 {
				return nil, d.s.failed(&wire.Error{Code: "22000", Message: fmt.Sprintf("parameter $%d is for encrypted column %s.%s but is not a cell: the client must encrypt it", i+1, c.Table, c.Name)})
			}
		}
		args[i] = v
	}
	if d.kind != "SELECT" {
		r, err := d.s.conn.ExecContext(ctx, d.sql, args...)
		if err != nil {
			return nil, d.s.failed(sqliteError(err))
		}
		n, _ := r.RowsAffected()
		tag := fmt.Sprintf("%s %d", d.kind, n)
		if d.kind == "INSERT" {
			tag = fmt.Sprintf("INSERT 0 %d", n)
		}
		return &tagResult{tag: tag}, nil
	}
	rows, err := d.s.conn.QueryContext(ctx, d.sql, args...)
	if err != nil {
		return nil, d.s.failed(sqliteError(err))
	}
	return &rowsResult{d: d, rows: rows, formats: append([]int16(nil), formats...)}, nil
}

type rowsResult struct {
	d       *dmlStmt
	rows    *sql.Rows
	formats []int16
	n       int
	vals    []any
	out     [][]byte
}

func (r *rowsResult) Next(ctx context.Context) ([][]byte, error) {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return nil, r.d.s.failed(sqliteError(err))
		}
		return nil, io.EOF
	}
	if r.vals == nil {
		cols, _ := r.rows.Columns()
		if len(cols) != len(r.d.cols) {
			return nil, fmt.Errorf("engine: %d result columns, %d described", len(cols), len(r.d.cols))
		}
		r.vals = make([]any, len(cols))
		r.out = make([][]byte, len(cols))
	}
	ptrs := make([]any, len(r.vals))
	for i := range r.vals {
		ptrs[i] = &r.vals[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	for i, v := range r.vals {
		b, err := encodeValue(v, r.d.cols[i].TypeOID, r.formats[i])
		if err != nil {
			return nil, r.d.s.failed(err)
		}
		r.out[i] = b
	}
	r.n++
	return r.out, nil
}

func (r *rowsResult) Tag() string  { return fmt.Sprintf("SELECT %d", r.n) }
func (r *rowsResult) Close() error { return r.rows.Close() }
