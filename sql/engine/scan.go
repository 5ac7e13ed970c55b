package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/confide/confide/sql/bind"
	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/sqlenclave"
	"github.com/confide/confide/sql/types"
	"github.com/confide/confide/sql/wire"
)

// The enclave scan (sqlenclave.Scan): in the normal mode, an aggregate
// query over one table whose aggregates compute on encrypted columns,
//
//	SELECT [g, …,] agg(expr), … FROM t [WHERE …] [GROUP BY g, …] [ORDER BY result columns] [LIMIT n]
//
// runs as SQLite's filtered read of the columns it needs — WHERE stays the
// host's, with the enclave's collation and functions, so the host learns
// which rows match as with any other normal-mode query — streamed in
// batches through the enclave, which evaluates, groups, aggregates and
// orders. The per-row enclave functions it replaces do the same work, but
// cross into the enclave once per operator and row and encrypt every
// intermediate value. Other shapes (HAVING, ROLLUP, DISTINCT, windows,
// CASE, aggregates of plaintext columns) run as before.
//
// SET confide.enclave_scan = off turns it off for a session, which the
// differential tests and the benchmark use to compare both plans.

const scanSetting = "confide.enclave_scan"

// scanBatch is how many rows cross into the enclave at a time.
const scanBatch = 512

// scanStmt is a dmlStmt's enclave-scan plan.
type scanStmt struct {
	plan sqlenclave.ScanPlan
	// params maps a "param" expression to its parameter number.
	params map[int]int
	// read is the host's read, SELECT inputs FROM t WHERE …, and
	// readParams the parameter numbers its ?1 … ?n stand for.
	read       string
	readParams []int
	limit      int64 // -1: none
	// where is the WHERE clause as enclave filters, when whereOK: the
	// query can run on a table image.
	where     []whereConj
	whereOK   bool
	splitRead string // the host's read then: the plaintext conjuncts only
	allRead   string // the oblivious mode's: every row
	tableKey  string // the table's name, lower-cased
	sel       *pg.SelectStmt
	table     *pg.RangeVar
	inputs    []string // column names, in input order
}

// scanPlan plans a bound SELECT for the enclave scan, or returns nil.
// It runs before the tree is rewritten for SQLite; finishScan, after.
func (s *session) scanPlan(d *dmlStmt, sel *pg.SelectStmt) *scanStmt {
	if len(sel.FromClause) != 1 || sel.FromClause[0].GetRangeVar() == nil || sel.HavingClause != nil ||
		sel.LimitOffset != nil || len(sel.DistinctClause) > 0 || sel.WithClause != nil || len(sel.WindowClause) > 0 ||
		sel.Op != pg.SetOperation_SETOP_NONE {
		return nil
	}
	rv := sel.FromClause[0].GetRangeVar()
	p := &scanStmt{params: map[int]int{}, limit: -1, sel: sel, table: rv}
	inputs := map[string]int{}
	col := func(n *pg.Node) *bind.Column {
		cr := n.GetColumnRef()
		if cr == nil || len(cr.Fields) == 0 || cr.Fields[len(cr.Fields)-1].GetString_() == nil {
			return nil
		}
		c, err := bind.Resolve(context.Background(), s.catalog(), "", rv.Relname, cr.Fields[len(cr.Fields)-1].GetString_().GetSval())
		if err != nil {
			return nil
		}
		return c
	}
	input := func(c *bind.Column) int {
		key := strings.ToLower(c.Name)
		if i, ok := inputs[key]; ok {
			return i
		}
		in := sqlenclave.ScanInput{Name: c.Name, Type: c.Type}
		if c.Encrypted() && c.Enclave {
			in.CEK = c.CEK
		}
		inputs[key] = len(p.plan.Inputs)
		p.plan.Inputs = append(p.plan.Inputs, in)
		p.inputs = append(p.inputs, c.Name)
		return inputs[key]
	}
	rewrites := map[*pg.Node]bind.Rewrite{}
	for _, r := range d.stmt.Rewrites {
		rewrites[r.Node] = r
	}
	// expr compiles an aggregate's operand; ok is false for what the
	// scan does not evaluate.
	var expr func(n *pg.Node) (int, bool)
	expr = func(n *pg.Node) (int, bool) {
		add := func(x sqlenclave.ScanExpr) (int, bool) {
			p.plan.Exprs = append(p.plan.Exprs, x)
			return len(p.plan.Exprs) - 1, true
		}
		if c := col(n); c != nil {
			if !c.Encrypted() || !c.Enclave || !decimal.Numeric(c.Type) {
				return 0, false
			}
			return add(sqlenclave.ScanExpr{Op: "input", Input: input(c), Type: c.Type})
		}
		if pr := n.GetParamRef(); pr != nil {
			c := d.bound[int(pr.Number)]
			if c == nil || !c.Encrypted() || !c.Enclave {
				return 0, false
			}
			i, ok := add(sqlenclave.ScanExpr{Op: "param", Type: c.Type})
			p.params[i] = int(pr.Number)
			return i, ok
		}
		r, ok := rewrites[n]
		if !ok || r.Table != "" {
			return 0, false
		}
		switch r.Op {
		case "+", "-", "*", "/":
			l, ok1 := expr(r.Args[0])
			rr, ok2 := expr(r.Args[1])
			if !ok1 || !ok2 {
				return 0, false
			}
			return add(sqlenclave.ScanExpr{Op: r.Op, L: l, R: rr, Type: r.Type})
		case "round", "cast":
			l, ok := expr(r.Args[0])
			if !ok {
				return 0, false
			}
			return add(sqlenclave.ScanExpr{Op: r.Op, L: l, N: r.N, Truncate: r.Truncate, Type: r.Type})
		}
		return 0, false
	}
	// GROUP BY columns.
	groupOf := map[string]int{}
	for _, g := range sel.GroupClause {
		c := col(g)
		if c == nil {
			return nil
		}
		groupOf[strings.ToLower(c.Name)] = len(p.plan.Groups)
		p.plan.Groups = append(p.plan.Groups, input(c))
	}
	// The select list: group columns and aggregates.
	encrypted := false
	names := make([]string, len(sel.TargetList))
	for i, t := range sel.TargetList {
		rt := t.GetResTarget()
		if rt == nil || i >= len(d.stmt.Results) {
			return nil
		}
		names[i] = strings.ToLower(rt.Name)
		if c := col(rt.Val); c != nil {
			g, ok := groupOf[strings.ToLower(c.Name)]
			if !ok {
				return nil
			}
			if names[i] == "" {
				names[i] = strings.ToLower(c.Name)
			}
			p.plan.Outputs = append(p.plan.Outputs, sqlenclave.ScanOutput{Group: g, Agg: -1})
			continue
		}
		fc := rt.Val.GetFuncCall()
		if fc == nil || fc.AggDistinct || fc.Over != nil || fc.AggFilter != nil || len(fc.AggOrder) > 0 || len(fc.Funcname) == 0 {
			return nil
		}
		name := strings.ToLower(fc.Funcname[len(fc.Funcname)-1].GetString_().GetSval())
		agg := sqlenclave.ScanAgg{Fn: name}
		switch {
		case name == "count" && fc.AggStar:
			agg.Fn = "count*"
		case len(fc.Args) != 1:
			return nil
		case name == "sum" || name == "avg" || name == "min" || name == "max" || name == "count":
			x, ok := expr(fc.Args[0])
			if !ok {
				return nil
			}
			agg.Expr, encrypted = x, true
			if name != "count" {
				res := d.stmt.Results[i].Col
				if res == nil || !res.Encrypted() {
					return nil
				}
				agg.Type = res.Type
			}
		default:
			return nil
		}
		p.plan.Outputs = append(p.plan.Outputs, sqlenclave.ScanOutput{Group: -1, Agg: len(p.plan.Aggs)})
		p.plan.Aggs = append(p.plan.Aggs, agg)
	}
	if !encrypted {
		return nil
	}
	// ORDER BY result columns, by name or position.
	for _, o := range sel.SortClause {
		sb := o.GetSortBy()
		if sb == nil || sb.SortbyNulls != pg.SortByNulls_SORTBY_NULLS_DEFAULT || sb.SortbyDir == pg.SortByDir_SORTBY_USING {
			return nil
		}
		k := -1
		if pos, ok := intLiteral(sb.Node); ok && pos >= 1 && int(pos) <= len(names) {
			k = int(pos) - 1
		} else if cr := sb.Node.GetColumnRef(); cr != nil && len(cr.Fields) > 0 && cr.Fields[len(cr.Fields)-1].GetString_() != nil {
			want := strings.ToLower(cr.Fields[len(cr.Fields)-1].GetString_().GetSval())
			for i, n := range names {
				if n == want {
					k = i
					break
				}
			}
		}
		if k < 0 {
			return nil
		}
		p.plan.Order = append(p.plan.Order, sqlenclave.ScanOrder{Output: k, Desc: sb.SortbyDir == pg.SortByDir_SORTBY_DESC})
	}
	if sel.LimitCount != nil {
		n, ok := intLiteral(sel.LimitCount)
		if !ok || n < 0 {
			return nil
		}
		p.limit = n
	}
	p.tableKey = strings.ToLower(rv.Relname)
	p.whereOK = p.compileWhere(sel.WhereClause, col, input, d)
	return p
}

// whereConj is one WHERE conjunct the enclave evaluates: input op an
// argument, a parameter (param > 0) or a constant.
type whereConj struct {
	input int
	op    string
	param int
	value any
}

// compileWhere turns a WHERE clause into enclave filters: a conjunction
// of comparisons and BETWEENs of a column with a parameter or a
// constant, on encrypted numeric columns or on plaintext text, date and
// integer columns. It reports false for anything else.
func (p *scanStmt) compileWhere(w *pg.Node, col func(*pg.Node) *bind.Column, input func(*bind.Column) int, d *dmlStmt) bool {
	if w == nil {
		return true
	}
	if b := w.GetBoolExpr(); b != nil {
		if b.Boolop != pg.BoolExprType_AND_EXPR {
			return false
		}
		for _, a := range b.Args {
			if !p.compileWhere(a, col, input, d) {
				return false
			}
		}
		return true
	}
	x := w.GetAExpr()
	if x == nil {
		return false
	}
	c := col(x.Lexpr)
	if c == nil {
		return false
	}
	switch {
	case c.Encrypted() && c.Enclave && decimal.Numeric(c.Type):
	case c.Encrypted():
		return false
	case c.Type.Kind == types.VarChar || c.Type.Kind == types.NVarChar || c.Type.Kind == types.Date:
	case c.Type.Kind == types.TinyInt || c.Type.Kind == types.SmallInt || c.Type.Kind == types.Int || c.Type.Kind == types.BigInt:
	default:
		return false
	}
	arg := func(n *pg.Node) (whereConj, bool) {
		if pr := n.GetParamRef(); pr != nil {
			return whereConj{param: int(pr.Number)}, true
		}
		if c.Encrypted() {
			return whereConj{}, false
		}
		if k := n.GetAConst(); k != nil && !k.Isnull {
			switch v := k.Val.(type) {
			case *pg.A_Const_Sval:
				return whereConj{value: v.Sval.Sval}, true
			case *pg.A_Const_Ival:
				return whereConj{value: int64(v.Ival.Ival)}, true
			}
		}
		return whereConj{}, false
	}
	in := input(c)
	switch x.Kind {
	case pg.A_Expr_Kind_AEXPR_OP:
		op := x.Name[len(x.Name)-1].GetString_().GetSval()
		if op == "!=" {
			op = "<>"
		}
		if !strings.Contains("< <= > >= = <>", op) {
			return false
		}
		a, ok := arg(x.Rexpr)
		if !ok {
			return false
		}
		a.input, a.op = in, op
		p.where = append(p.where, a)
		return true
	case pg.A_Expr_Kind_AEXPR_BETWEEN:
		items := x.Rexpr.GetList().GetItems()
		if len(items) != 2 {
			return false
		}
		lo, ok1 := arg(items[0])
		hi, ok2 := arg(items[1])
		if !ok1 || !ok2 {
			return false
		}
		lo.input, lo.op, hi.input, hi.op = in, ">=", in, "<="
		p.where = append(p.where, lo, hi)
		return true
	}
	return false
}

// intLiteral reads an integer constant.
func intLiteral(n *pg.Node) (int64, bool) {
	if c := n.GetAConst(); c != nil {
		if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
			return int64(iv.Ival.Ival), true
		}
	}
	return 0, false
}

// finish writes the host's read, once the WHERE clause has been
// rewritten for SQLite.
func (p *scanStmt) finish(version int32) error {
	read := &pg.SelectStmt{FromClause: []*pg.Node{{Node: &pg.Node_RangeVar{RangeVar: p.table}}}, WhereClause: p.sel.WhereClause}
	for _, name := range p.inputs {
		read.TargetList = append(read.TargetList, &pg.Node{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{
			Val: &pg.Node{Node: &pg.Node_ColumnRef{ColumnRef: &pg.ColumnRef{Fields: []*pg.Node{pg.MakeStrNode(name)}}}}}}})
	}
	if len(read.TargetList) == 0 {
		// COUNT(*) and aggregates of parameters only: one column per row.
		read.TargetList = []*pg.Node{{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{Val: pg.MakeAConstIntNode(1, -1)}}}}
	}
	text, err := pg.Deparse(&pg.ParseResult{Version: version, Stmts: []*pg.RawStmt{{Stmt: &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: read}}}}})
	if err != nil {
		return err
	}
	// Number the parameters the read uses 1 … n, since SQLite wants
	// exactly as many arguments as the highest number.
	sc, err := pg.Scan(text)
	if err != nil {
		return err
	}
	var b strings.Builder
	last, seen := 0, map[int]int{}
	for _, t := range sc.Tokens {
		if t.Token != pg.Token_PARAM {
			continue
		}
		var n int
		fmt.Sscanf(text[t.Start+1:t.End], "%d", &n)
		k, ok := seen[n]
		if !ok {
			p.readParams = append(p.readParams, n)
			k = len(p.readParams)
			seen[n] = k
		}
		b.WriteString(text[last:t.Start])
		fmt.Fprintf(&b, "?%d", k)
		last = int(t.End)
	}
	b.WriteString(text[last:])
	p.read = b.String()
	if p.whereOK {
		split := "SELECT "
		for i, name := range p.inputs {
			if i > 0 {
				split += ", "
			}
			split += quoteIdent(name)
		}
		if len(p.inputs) == 0 {
			split += "1"
		}
		split += " FROM " + quoteIdent(p.table.Relname)
		k := 0
		for _, w := range p.where {
			if p.plan.Inputs[w.input].CEK != "" {
				continue
			}
			if k == 0 {
				split += " WHERE "
			} else {
				split += " AND "
			}
			k++
			split += fmt.Sprintf("%s %s ?%d", quoteIdent(p.plan.Inputs[w.input].Name), w.op, k)
		}
		p.splitRead = split
		p.allRead = strings.SplitN(split, " WHERE ", 2)[0]
	}
	p.sel, p.table = nil, nil
	return nil
}

// bound is the plan with the statement's parameters in its expressions.
func (p *scanStmt) bound(args []any) (sqlenclave.ScanPlan, error) {
	plan := p.plan
	plan.Exprs = append([]sqlenclave.ScanExpr(nil), p.plan.Exprs...)
	for i, n := range p.params {
		env, ok := args[n-1].(string)
		if args[n-1] != nil && !ok {
			return plan, &wire.Error{Code: "22000", Message: fmt.Sprintf("parameter $%d must be a cell", n)}
		}
		plan.Exprs[i].Param = env
	}
	return plan, nil
}

// execute runs the scan with a statement's decoded arguments.
func (p *scanStmt) execute(ctx context.Context, d *dmlStmt, args []any, formats []int16) (wire.Result, error) {
	s := d.s
	plan, err := p.bound(args)
	if err != nil {
		return nil, s.failed(err)
	}
	s.e.scans.Add(1)
	read, readArgs := p.read, make([]any, len(p.readParams))
	for i, n := range p.readParams {
		readArgs[i] = args[n-1]
	}
	if full, ok := p.filters(plan, args); ok {
		if s.tx == idle {
			out, ok, err := p.runImage(ctx, s, full)
			if err != nil {
				return nil, s.failed(err)
			}
			if ok {
				return p.rows(d, out, formats), nil
			}
		}
		// The host filters on the plaintext conjuncts, the enclave on
		// the encrypted ones.
		read, readArgs = p.splitRead, nil
		for _, w := range p.where {
			if plan.Inputs[w.input].CEK != "" {
				continue
			}
			if w.param > 0 {
				readArgs = append(readArgs, args[w.param-1])
			} else {
				readArgs = append(readArgs, w.value)
			}
		}
		for _, f := range full.Filters {
			if plan.Inputs[f.Input].CEK != "" {
				plan.Filters = append(plan.Filters, f)
			}
		}
	}
	scan, err := s.e.Enclave.NewScan(plan)
	if err != nil {
		return nil, s.failed(&wire.Error{Code: "22000", Message: err.Error()})
	}
	rows, err := s.conn.QueryContext(ctx, read, readArgs...)
	if err != nil {
		return nil, s.failed(sqliteError(err))
	}
	if err := streamRows(rows, len(plan.Inputs), scan.Add); err != nil {
		scan.Close()
		return nil, s.failed(sqliteError(err))
	}
	out, err := scan.Result()
	if err != nil {
		return nil, s.failed(sqliteError(err))
	}
	return p.rows(d, out, formats), nil
}

// executeOblivious runs the plan in the oblivious mode: every row of
// the table streamed in storage order, filters and all evaluated alike
// for every row in the enclave (sqlenclave.RunObliviousScan).
func (p *scanStmt) executeOblivious(ctx context.Context, d *dmlStmt, args []any, formats []int16) (wire.Result, error) {
	s := d.s
	plan, err := p.bound(args)
	if err != nil {
		return nil, s.failed(err)
	}
	plan, ok := p.filters(plan, args)
	if !ok {
		return nil, s.failed(errObliviousShape)
	}
	if s.pad > 0 && len(plan.Groups) > 0 {
		return nil, s.failed(&wire.Error{Code: "0A000", Message: "confide.oblivious_pad pads results grouped by one encrypted column: plaintext group keys show the groups"})
	}
	// Every row: from the table's image, loaded whole if need be, or
	// (inside a transaction, whose writes an image does not show) read.
	if s.tx == idle {
		img, ok, err := p.image(ctx, s, plan, true)
		if err != nil {
			return nil, s.failed(err)
		}
		if ok {
			out, err := s.e.Enclave.RunObliviousImage(img, plan)
			if err != nil {
				return nil, s.failed(sqliteError(err))
			}
			return p.rows(d, out, formats), nil
		}
	}
	rows, err := s.conn.QueryContext(ctx, p.allRead)
	if err != nil {
		return nil, s.failed(sqliteError(err))
	}
	var all [][]any
	if err := streamRows(rows, len(plan.Inputs), func(b [][]any) error { all = append(all, b...); return nil }); err != nil {
		return nil, s.failed(sqliteError(err))
	}
	out, err := s.e.Enclave.RunObliviousScan(plan, all)
	if err != nil {
		return nil, s.failed(sqliteError(err))
	}
	return p.rows(d, out, formats), nil
}

// rows serves the enclave's result rows, LIMIT applied.
func (p *scanStmt) rows(d *dmlStmt, out [][]any, formats []int16) wire.Result {
	if p.limit >= 0 && int64(len(out)) > p.limit {
		out = out[:p.limit]
	}
	return &enclaveRows{d: d, rows: out, formats: append([]int16(nil), formats...)}
}

// runImage runs the query on the enclave's image of the table, loading
// the columns the image lacks first. ok is false when it cannot (an
// argument the enclave's filters do not compare, the table changing
// during the load): the streamed scan runs it instead.
// filters adds the WHERE conjuncts to a plan as enclave filters; ok is
// false when an argument is not one the enclave compares.
func (p *scanStmt) filters(plan sqlenclave.ScanPlan, args []any) (sqlenclave.ScanPlan, bool) {
	if !p.whereOK {
		return plan, false
	}
	plan.Filters = nil
	text := func(t types.Type) bool {
		return t.Kind == types.VarChar || t.Kind == types.NVarChar || t.Kind == types.Date
	}
	for _, w := range p.where {
		f := sqlenclave.ScanFilter{Input: w.input, Op: w.op, Arg: w.value}
		if w.param > 0 {
			f.Arg = args[w.param-1]
		}
		in := plan.Inputs[w.input]
		switch f.Arg.(type) {
		case nil:
			// NULL: no row passes.
		case string:
			if in.CEK == "" && !text(in.Type) {
				return plan, false
			}
		case int64:
			if in.CEK != "" || text(in.Type) {
				return plan, false
			}
		default:
			return plan, false
		}
		plan.Filters = append(plan.Filters, f)
	}
	return plan, true
}

// runImage runs the query on the enclave's image of the table. The
// first query of a table at a version does not make one (ok false: it
// streams the rows its plaintext conjuncts select, which is cheaper once);
// the second loads the columns the image lacks; later ones find them.
func (p *scanStmt) runImage(ctx context.Context, s *session, plan sqlenclave.ScanPlan) ([][]any, bool, error) {
	img, ok, err := p.image(ctx, s, plan, false)
	if !ok || err != nil {
		return nil, ok, err
	}
	out, err := s.e.Enclave.RunImage(img, plan)
	if err != nil {
		return nil, true, sqliteError(err)
	}
	return out, true, nil
}

// image finds the enclave's image of the table with the plan's columns,
// loading those it lacks — when always, or when the enclave wants an
// image of the table (WantImage). ok is false when there is none to use.
func (p *scanStmt) image(ctx context.Context, s *session, plan sqlenclave.ScanPlan, always bool) (*sqlenclave.TableImage, bool, error) {
	enc := s.e.Enclave
	version := s.e.version.Load()
	img := enc.Image(p.tableKey, version)
	missing := img.Missing(p.inputs)
	if img != nil && len(missing) == 0 {
		return img, true, nil
	}
	if !enc.WantImage(p.tableKey, version) && !always {
		return nil, false, nil
	}
	var cols []sqlenclave.ScanInput
	for _, m := range missing {
		for _, in := range plan.Inputs {
			if in.Name == m {
				cols = append(cols, in)
			}
		}
	}
	load, err := enc.LoadImage(p.tableKey, version, img, cols)
	if err != nil {
		return nil, true, &wire.Error{Code: "22000", Message: err.Error()}
	}
	read := "SELECT rowid"
	for _, m := range missing {
		read += ", " + quoteIdent(m)
	}
	read += " FROM " + quoteIdent(p.tableKey) + " ORDER BY rowid"
	rows, err := s.conn.QueryContext(ctx, read)
	if err != nil {
		return nil, true, sqliteError(err)
	}
	if err := streamRows(rows, len(missing)+1, load.Add); err != nil {
		if errors.Is(err, sqlenclave.ErrImageMoved) {
			return nil, false, nil
		}
		return nil, true, sqliteError(err)
	}
	// Kept only if no write came in between.
	if img, err = load.Finish(enc, s.e.version.Load() == version); err != nil {
		if errors.Is(err, sqlenclave.ErrImageMoved) {
			return nil, false, nil
		}
		return nil, true, sqliteError(err)
	}
	return img, true, nil
}

// streamRows reads rows of width values in batches into add, the next
// batch read while add works on the last; it stops at add's first error.
func streamRows(rows *sql.Rows, width int, add func([][]any) error) error {
	batches := make(chan [][]any, 2)
	done := make(chan error, 1)
	var failed atomic.Bool
	go func() {
		var err error
		for b := range batches {
			if err == nil {
				if err = add(b); err != nil {
					failed.Store(true)
				}
			}
		}
		done <- err
	}()
	readErr := func() error {
		defer rows.Close()
		batch := make([][]any, 0, scanBatch)
		ptrs := make([]any, max(width, 1))
		for rows.Next() {
			vals := make([]any, max(width, 1))
			for i := range ptrs {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			batch = append(batch, vals[:width])
			if len(batch) == scanBatch {
				if failed.Load() {
					return nil
				}
				batches <- batch
				batch = make([][]any, 0, scanBatch)
			}
		}
		if len(batch) > 0 {
			batches <- batch
		}
		return rows.Err()
	}()
	close(batches)
	if addErr := <-done; addErr != nil {
		return addErr
	}
	return readErr
}

// EnclaveScans counts the queries the enclave scan has run.
func (e *Engine) EnclaveScans() int64 { return e.scans.Load() }

// enclaveRows serves result rows the enclave computed.
type enclaveRows struct {
	d       *dmlStmt
	rows    [][]any
	formats []int16
	i       int
}

func (r *enclaveRows) Next(context.Context) ([][]byte, error) {
	if r.i >= len(r.rows) {
		return nil, io.EOF
	}
	row := r.rows[r.i]
	r.i++
	out := make([][]byte, len(row))
	if err := r.d.encodeRow(row, r.formats, out); err != nil {
		return nil, r.d.s.failed(err)
	}
	return out, nil
}

func (r *enclaveRows) Tag() string  { return fmt.Sprintf("SELECT %d", len(r.rows)) }
func (r *enclaveRows) Close() error { return nil }
