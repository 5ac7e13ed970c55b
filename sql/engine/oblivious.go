package engine

import (
	"context"
	"fmt"
	"io"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/confide/confide/sql/bind"
	"github.com/confide/confide/sql/sqlenclave"
	"github.com/confide/confide/sql/wire"
)

// The oblivious mode, per session: SET confide.oblivious = on. An
// aggregate query over one table then runs in the SQL enclave on every
// row of the table, read in storage order, with package oblivq: the
// host learns the table's size and the number of result groups, not
// which rows matched or how they grouped (spec/ae-enclave.md). Queries of
// other shapes are refused in this mode rather than run otherwise.
//
//	SELECT [g,] agg(v), … FROM t [WHERE v op $1 [AND g op $2 …]] [GROUP BY g]
//
// with agg one of SUM, AVG, MIN, MAX, COUNT(v), COUNT(*); v a numeric
// column under an enclave-enabled key; g an integer, BIT or DATE column,
// encrypted or not.

const obliviousSetting = "confide.oblivious"

var errObliviousShape = &wire.Error{Code: "0A000", Message: "the oblivious mode runs SELECT [g, …,] aggregates FROM one table [WHERE column op $n AND …] [GROUP BY g, …] [ORDER BY g, …]",
	Hint: "aggregates of + − × over numeric columns under an enclave-enabled key; GROUP BY plaintext columns, or one encrypted integer, BIT or DATE column with one aggregated column; SET confide.oblivious = off for other queries"}

// setting handles SET confide.oblivious and confide.enclave_scan for the
// session.
func (s *session) setting(v *pg.VariableSetStmt) (wire.Statement, error) {
	name := strings.ToLower(v.Name)
	if name == padSetting {
		return s.padSetting(v)
	}
	if name != obliviousSetting && name != scanSetting {
		return nil, &wire.Error{Code: "0A000", Message: fmt.Sprintf("SET %s is not supported by confide SQL", v.Name)}
	}
	// Defaults: the oblivious mode off, the enclave scan on.
	on := name == scanSetting
	switch {
	case v.Kind == pg.VariableSetKind_VAR_SET_DEFAULT || v.Kind == pg.VariableSetKind_VAR_RESET:
	case len(v.Args) == 1:
		val := ""
		if c := v.Args[0].GetAConst(); c != nil {
			switch x := c.Val.(type) {
			case *pg.A_Const_Sval:
				val = x.Sval.Sval
			case *pg.A_Const_Boolval:
				val = fmt.Sprint(x.Boolval.Boolval)
			case *pg.A_Const_Ival:
				val = fmt.Sprint(x.Ival.Ival)
			}
		}
		switch strings.ToLower(val) {
		case "on", "true", "1":
			on = true
		case "off", "false", "0":
			on = false
		default:
			return nil, &wire.Error{Code: "22023", Message: name + " is on or off"}
		}
	default:
		return nil, &wire.Error{Code: "22023", Message: name + " is on or off"}
	}
	return &execStmt{s: s, run: func(context.Context) (string, error) {
		if name == scanSetting {
			s.noScan = !on
		} else {
			s.oblivious = on
		}
		return "SET", nil
	}}, nil
}

// padSetting is SET confide.oblivious_pad = n: the oblivious mode pads
// grouped results to n rows (0, the default: no padding).
const padSetting = "confide.oblivious_pad"

// maxPad bounds the padding a session may ask for.
const maxPad = 1_000_000

func (s *session) padSetting(v *pg.VariableSetStmt) (wire.Statement, error) {
	n := int64(0)
	switch {
	case v.Kind == pg.VariableSetKind_VAR_SET_DEFAULT || v.Kind == pg.VariableSetKind_VAR_RESET:
	case len(v.Args) == 1:
		c := v.Args[0].GetAConst()
		iv, ok := c.GetVal().(*pg.A_Const_Ival)
		if c == nil || !ok || iv.Ival.Ival < 0 || iv.Ival.Ival > maxPad {
			return nil, &wire.Error{Code: "22023", Message: fmt.Sprintf("%s is a number of rows from 0 to %d", padSetting, maxPad)}
		}
		n = int64(iv.Ival.Ival)
	default:
		return nil, &wire.Error{Code: "22023", Message: fmt.Sprintf("%s is a number of rows from 0 to %d", padSetting, maxPad)}
	}
	return &execStmt{s: s, run: func(context.Context) (string, error) {
		s.pad = int(n)
		return "SET", nil
	}}, nil
}

// obliviousStmt is a dmlStmt run by the oblivious plan.
type obliviousStmt struct {
	*dmlStmt
	plan    sqlenclave.ObliviousPlan
	scan    string // the host's read: SELECT [g,] v FROM t
	filters []int  // the parameter number of each filter
	value   *bind.Column
	group   *bind.Column
}

// obliviousPlan plans a bound SELECT for the oblivious mode.
func (s *session) obliviousPlan(d *dmlStmt, sel *pg.SelectStmt) (*obliviousStmt, error) {
	if len(sel.FromClause) != 1 || sel.FromClause[0].GetRangeVar() == nil || sel.HavingClause != nil || len(sel.SortClause) > 0 ||
		sel.LimitCount != nil || sel.LimitOffset != nil || len(sel.DistinctClause) > 0 || len(sel.GroupClause) > 1 {
		return nil, errObliviousShape
	}
	table := sel.FromClause[0].GetRangeVar().Relname
	st := d.stmt
	o := &obliviousStmt{dmlStmt: d}
	col := func(n *pg.Node) (*bind.Column, error) {
		cr := n.GetColumnRef()
		if cr == nil || len(cr.Fields) == 0 {
			return nil, errObliviousShape
		}
		return bind.Resolve(context.Background(), s.catalog(), "", table, cr.Fields[len(cr.Fields)-1].GetString_().GetSval())
	}
	var group *bind.Column
	if len(sel.GroupClause) == 1 {
		g, err := col(sel.GroupClause[0])
		if err != nil || !sqlenclave.GroupableObliviously(g.Type) || g.Encrypted() && !g.Enclave {
			return nil, errObliviousShape
		}
		group, o.group = g, g
		o.plan.Grouped, o.plan.Group = true, g.Type
		if g.Encrypted() {
			o.plan.GroupCEK = g.CEK
		}
	}
	setValue := func(c *bind.Column) error {
		if !c.Encrypted() || !c.Enclave || o.value != nil && !strings.EqualFold(o.value.Name, c.Name) {
			return errObliviousShape
		}
		o.value = c
		return nil
	}
	for i, t := range sel.TargetList {
		rt := t.GetResTarget()
		if rt == nil {
			return nil, errObliviousShape
		}
		if cr := rt.Val.GetColumnRef(); cr != nil {
			c, err := col(rt.Val)
			if err != nil || group == nil || !strings.EqualFold(c.Name, group.Name) {
				return nil, errObliviousShape
			}
			o.plan.Outputs = append(o.plan.Outputs, sqlenclave.ObliviousOutput{Kind: "group", Type: c.Type})
			continue
		}
		fc := rt.Val.GetFuncCall()
		if fc == nil || fc.AggDistinct || fc.Over != nil {
			return nil, errObliviousShape
		}
		name := strings.ToLower(fc.Funcname[len(fc.Funcname)-1].GetString_().GetSval())
		if name == "count" && fc.AggStar {
			o.plan.Outputs = append(o.plan.Outputs, sqlenclave.ObliviousOutput{Kind: "count*"})
			continue
		}
		if len(fc.Args) != 1 {
			return nil, errObliviousShape
		}
		c, err := col(fc.Args[0])
		if err != nil {
			return nil, errObliviousShape
		}
		if err := setValue(c); err != nil {
			return nil, err
		}
		out := sqlenclave.ObliviousOutput{Kind: name}
		switch name {
		case "sum", "avg", "min", "max":
			out.Type = st.Results[i].Col.Type
		case "count":
		default:
			return nil, errObliviousShape
		}
		o.plan.Outputs = append(o.plan.Outputs, out)
	}
	// WHERE: a conjunction of v op $n.
	var conj []*pg.Node
	if w := sel.WhereClause; w != nil {
		if b := w.GetBoolExpr(); b != nil && b.Boolop == pg.BoolExprType_AND_EXPR {
			conj = b.Args
		} else {
			conj = []*pg.Node{w}
		}
	}
	for _, c := range conj {
		x := c.GetAExpr()
		if x == nil || x.Kind != pg.A_Expr_Kind_AEXPR_OP || x.Rexpr.GetParamRef() == nil {
			return nil, errObliviousShape
		}
		op := x.Name[len(x.Name)-1].GetString_().GetSval()
		if !strings.Contains("< <= > >= = <> !=", op) {
			return nil, errObliviousShape
		}
		if op == "!=" {
			op = "<>"
		}
		v, err := col(x.Lexpr)
		if err != nil {
			return nil, errObliviousShape
		}
		onGroup := group != nil && strings.EqualFold(v.Name, group.Name)
		if !onGroup {
			if err := setValue(v); err != nil {
				return nil, err
			}
		}
		o.plan.Filters = append(o.plan.Filters, sqlenclave.ObliviousFilter{Op: op, OnGroup: onGroup})
		o.filters = append(o.filters, int(x.Rexpr.GetParamRef().Number))
	}
	if o.value == nil {
		return nil, errObliviousShape
	}
	o.plan.Value, o.plan.CEK = o.value.Type, o.value.CEK
	o.scan = "SELECT " + quoteIdent(o.value.Name) + " FROM " + quoteIdent(table)
	if group != nil {
		o.scan = "SELECT " + quoteIdent(group.Name) + ", " + quoteIdent(o.value.Name) + " FROM " + quoteIdent(table)
	}
	return o, nil
}

func (o *obliviousStmt) Execute(ctx context.Context, params []wire.Param, formats []int16) (wire.Result, error) {
	s := o.s
	if err := s.e.needKeys(o.stmt.EnclaveCEKs); err != nil {
		return nil, s.failed(err)
	}
	plan := o.plan
	plan.Filters = append([]sqlenclave.ObliviousFilter(nil), o.plan.Filters...)
	for i, n := range o.filters {
		if n < 1 || n > len(params) || params[n-1].Value == nil {
			return nil, s.failed(&wire.Error{Code: "22004", Message: fmt.Sprintf("parameter $%d of the oblivious mode must not be NULL", n)})
		}
		v, err := decodeParam(params[n-1], o.params[n-1], n)
		if err != nil {
			return nil, s.failed(err)
		}
		target := o.value
		if plan.Filters[i].OnGroup {
			target = o.group
			if !target.Encrypted() {
				iv, ok := v.(int64)
				if !ok {
					return nil, s.failed(&wire.Error{Code: "22P02", Message: fmt.Sprintf("parameter $%d must be an integer", n)})
				}
				plan.Filters[i].ArgInt = iv
				continue
			}
		}
		b, ok := v.([]byte)
		if !ok {
			return nil, s.failed(&wire.Error{Code: "22000", Message: fmt.Sprintf("parameter $%d must be a cell", n)})
		}
		plan.Filters[i].Arg = toEnvelope(target, b)
	}
	rows, err := s.conn.QueryContext(ctx, o.scan)
	if err != nil {
		return nil, s.failed(sqliteError(err))
	}
	var in [][]any
	for rows.Next() {
		vals := make([]any, 1)
		if plan.Grouped {
			vals = make([]any, 2)
		}
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return nil, s.failed(err)
		}
		in = append(in, vals)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.failed(sqliteError(err))
	}
	// Padding applies to grouped results; a single row needs none.
	if plan.Grouped {
		plan.Pad = s.pad
	}
	out, err := s.e.Enclave.RunOblivious(plan, in)
	if err != nil {
		return nil, s.failed(&wire.Error{Code: "22000", Message: err.Error()})
	}
	if plan.Pad > 0 && len(out) > 0 && s.notify != nil {
		// Before the rows: the driver drops the repeated ones.
		s.notify(sqlenclave.PaddedNotice, fmt.Sprintf("%d rows", len(out)))
	}
	return &obliviousResult{o: o, rows: out, formats: append([]int16(nil), formats...)}, nil
}

// obliviousResult serves the enclave's result rows, cells for encrypted
// columns.
type obliviousResult struct {
	o       *obliviousStmt
	rows    [][]any
	formats []int16
	i       int
}

func (r *obliviousResult) Next(context.Context) ([][]byte, error) {
	if r.i >= len(r.rows) {
		return nil, io.EOF
	}
	row := r.rows[r.i]
	r.i++
	out := make([][]byte, len(row))
	for j, v := range row {
		if env, ok := v.(string); ok {
			_, _, c, err := sqlenclave.ParseEnvelope(env)
			if err != nil {
				return nil, err
			}
			v = c
		}
		b, err := encodeValue(v, r.o.cols[j].TypeOID, r.formats[j])
		if err != nil {
			return nil, err
		}
		out[j] = b
	}
	return out, nil
}

func (r *obliviousResult) Tag() string  { return fmt.Sprintf("SELECT %d", len(r.rows)) }
func (r *obliviousResult) Close() error { return nil }
