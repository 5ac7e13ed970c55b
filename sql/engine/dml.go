package engine

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/confide/confide/sql/bind"
	"github.com/confide/confide/sql/cell"
	"github.com/confide/confide/sql/sqlenclave"
	"github.com/confide/confide/sql/types"
	"github.com/confide/confide/sql/wire"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// dmlStmt is a prepared SELECT, INSERT, UPDATE or DELETE.
type dmlStmt struct {
	s      *session
	sql    string   // SQLite's text, ?N parameters
	more   []string // further statements whose rows follow (ROLLUP)
	kind   string
	params []uint32
	bound  map[int]*column // parameter → the column it meets
	stmt   *bind.Statement // the binding, for describe
	// obl is the statement's oblivious plan, or oblErr why it has none.
	obl    *obliviousStmt
	oblErr error
	scan   *scanStmt // the enclave scan's plan, nil when it does not apply

	cols    []wire.Column
	colDefs []*column // result column → catalog column, nil for expressions
}

func (d *dmlStmt) Params() []uint32       { return d.params }
func (d *dmlStmt) Columns() []wire.Column { return d.cols }
func (d *dmlStmt) Close() error           { return nil }

// dml binds a statement against the catalog (package bind), then
// rewrites it for SQLite.
func (s *session) dml(ctx context.Context, tree *pg.ParseResult, oids []uint32, kind string) (wire.Statement, error) {
	st, err := bind.Analyze(ctx, s.catalog(), tree.Stmts[0].Stmt)
	if err != nil {
		return nil, err
	}
	d := &dmlStmt{s: s, kind: kind, bound: st.Bound, stmt: st}
	for _, r := range st.Results {
		if r.Count {
			d.cols = append(d.cols, wire.Column{Name: r.Name, TypeOID: oidInt8, TypeSize: 8, TypeModifier: -1})
		} else {
			d.cols = append(d.cols, wire.Column{Name: r.Name, TypeOID: oidOf(r.Col), TypeSize: -1, TypeModifier: -1})
		}
		d.colDefs = append(d.colDefs, r.Col)
	}
	for i := 1; i <= st.Params; i++ {
		oid := uint32(oidText)
		if i <= len(oids) && oids[i-1] != 0 {
			oid = oids[i-1]
		}
		if c := st.Bound[i]; c != nil && (i > len(oids) || oids[i-1] == 0 || c.Encrypted()) {
			oid = oidOf(c)
		}
		d.params = append(d.params, oid)
	}
	if sel := tree.Stmts[0].Stmt.GetSelectStmt(); sel != nil {
		// The session's mode can change after Prepare (drivers cache
		// prepared statements), so the oblivious plan is made now, on the
		// tree as written, and chosen at Execute.
		d.obl, d.oblErr = s.obliviousPlan(d, sel)
		d.scan = s.scanPlan(d, sel)
	}
	rewriteLikes(st.Likes)
	rewriteExprs(st.Rewrites)
	if d.scan != nil {
		if err := d.scan.finish(tree.Version); err != nil {
			d.scan = nil // the per-row plan still runs it
		}
	}
	trees := []*pg.ParseResult{tree}
	if sel := tree.Stmts[0].Stmt.GetSelectStmt(); sel != nil {
		if trees, err = rollup(tree, sel); err != nil {
			return nil, err
		}
	}
	for i, t := range trees {
		out, err := pg.Deparse(t)
		if err != nil {
			return nil, syntax(err)
		}
		q, err := sqliteParams(out)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			d.sql = q
		} else {
			d.more = append(d.more, q)
		}
	}
	return d, nil
}

// rollup expands GROUP BY ROLLUP(c1, …, cn), which SQLite lacks, into the
// n+1 groupings it means — (c1 … cn), (c1 … cn−1), …, () — each with the
// rolled-up columns NULL in its select list, run one after the other. The
// first is tree itself.
func rollup(tree *pg.ParseResult, sel *pg.SelectStmt) ([]*pg.ParseResult, error) {
	var gs *pg.GroupingSet
	for _, g := range sel.GroupClause {
		if x := g.GetGroupingSet(); x != nil {
			gs = x
		}
	}
	if gs == nil {
		return []*pg.ParseResult{tree}, nil
	}
	if gs.Kind != pg.GroupingSetKind_GROUPING_SET_ROLLUP || len(sel.GroupClause) != 1 {
		return nil, &wire.Error{Code: "0A000", Message: "of the grouping sets, GROUP BY ROLLUP(…) alone is supported"}
	}
	if len(sel.SortClause) > 0 || sel.LimitCount != nil || sel.LimitOffset != nil || sel.HavingClause != nil {
		return nil, &wire.Error{Code: "0A000", Message: "ORDER BY, LIMIT, OFFSET and HAVING are not supported with ROLLUP"}
	}
	var names []string
	for _, c := range gs.Content {
		cr := c.GetColumnRef()
		if cr == nil {
			return nil, &wire.Error{Code: "0A000", Message: "ROLLUP takes columns"}
		}
		names = append(names, cr.Fields[len(cr.Fields)-1].GetString_().GetSval())
	}
	var out []*pg.ParseResult
	for k := len(names); k >= 0; k-- {
		t := proto.Clone(tree).(*pg.ParseResult)
		s := t.Stmts[0].Stmt.GetSelectStmt()
		content := s.GroupClause[0].GetGroupingSet().Content
		s.GroupClause = content[:k]
		for _, target := range s.TargetList {
			rt := target.GetResTarget()
			cr := rt.GetVal().GetColumnRef()
			if cr == nil {
				continue
			}
			name := cr.Fields[len(cr.Fields)-1].GetString_().GetSval()
			for _, rolled := range names[k:] {
				if strings.EqualFold(name, rolled) {
					if rt.Name == "" {
						rt.Name = name
					}
					rt.Val = &pg.Node{Node: &pg.Node_AConst{AConst: &pg.A_Const{Isnull: true}}}
				}
			}
		}
		out = append(out, t)
	}
	return out, nil
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

// Execute binds the parameters (an encrypted column's must be a cell)
// and runs the statement.
func (d *dmlStmt) Execute(ctx context.Context, params []wire.Param, formats []int16) (wire.Result, error) {
	if d.s.oblivious && d.kind == "SELECT" && d.oblErr == nil {
		return d.obl.Execute(ctx, params, formats)
	}
	args := make([]any, len(params))
	for i, p := range params {
		v, err := decodeParam(p, d.params[i], i+1)
		if err != nil {
			return nil, d.s.failed(err)
		}
		if c := d.bound[i+1]; c != nil && c.Encrypted() && v != nil {
			cellBytes, ok := v.([]byte)
			if !ok || len(cellBytes) < cell.Overhead || cellBytes[0] != 1 {
				return nil, d.s.failed(&wire.Error{Code: "22000", Message: fmt.Sprintf("parameter $%d is for encrypted column %s.%s but is not a cell: the client must encrypt it", i+1, c.Table, c.Name)})
			}
			if c.Enclave {
				v = toEnvelope(c, cellBytes)
			}
		}
		args[i] = v
	}
	if err := d.s.e.needKeys(d.stmt.EnclaveCEKs); err != nil {
		return nil, d.s.failed(err)
	}
	if d.s.oblivious && d.kind == "SELECT" {
		if d.scan == nil || !d.scan.whereOK || !sqlenclave.ObliviousScanOK(d.scan.plan) {
			return nil, d.s.failed(d.oblErr)
		}
		return d.scan.executeOblivious(ctx, d, args, formats)
	}
	if d.scan != nil && !d.s.noScan {
		return d.scan.execute(ctx, d, args, formats)
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
	res := &rowsResult{d: d, rows: rows, formats: append([]int16(nil), formats...), args: args, more: d.more}
	return res, nil
}

type rowsResult struct {
	// more are the statements whose rows follow (ROLLUP's groupings),
	// run with args once rows is done.
	more    []string
	args    []any
	d       *dmlStmt
	rows    *sql.Rows
	formats []int16
	n       int
	vals    []any
	out     [][]byte
}

func (r *rowsResult) Next(ctx context.Context) ([][]byte, error) {
	for !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return nil, r.d.s.failed(sqliteError(err))
		}
		if len(r.more) == 0 {
			return nil, io.EOF
		}
		r.rows.Close()
		rows, err := r.d.s.conn.QueryContext(ctx, r.more[0], r.args...)
		if err != nil {
			return nil, r.d.s.failed(sqliteError(err))
		}
		r.rows, r.more = rows, r.more[1:]
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
	if err := r.d.encodeRow(r.vals, r.formats, r.out); err != nil {
		return nil, r.d.s.failed(err)
	}
	r.n++
	return r.out, nil
}

// encodeRow encodes a result row for the wire: enclave-enabled values
// leave as their cells.
func (d *dmlStmt) encodeRow(vals []any, formats []int16, out [][]byte) error {
	for i, v := range vals {
		if c := d.colDefs[i]; c != nil && c.Enclave {
			if env, ok := v.(string); ok {
				_, _, cellBytes, err := sqlenclave.ParseEnvelope(env)
				if err != nil {
					return &wire.Error{Code: "XX001", Message: fmt.Sprintf("column %s.%s holds a value that is not an enclave-enabled cell", c.Table, c.Name)}
				}
				v = cellBytes
			}
		}
		if c := d.colDefs[i]; c != nil && !c.Encrypted() && c.Type.Kind == types.Decimal {
			// NUMERIC storage drops trailing zeros: show the column's scale.
			switch x := v.(type) {
			case float64:
				v = strconv.FormatFloat(x, 'f', c.Type.Scale, 64)
			case int64:
				v = strconv.FormatFloat(float64(x), 'f', c.Type.Scale, 64)
			}
		}
		b, err := encodeValue(v, d.cols[i].TypeOID, formats[i])
		if err != nil {
			return err
		}
		out[i] = b
	}
	return nil
}

func (r *rowsResult) Tag() string  { return fmt.Sprintf("SELECT %d", r.n) }
func (r *rowsResult) Close() error { return r.rows.Close() }
