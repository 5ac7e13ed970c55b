package bind

import (
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/internal/pgast"
	"github.com/confide/confide/sql/types"
	"github.com/confide/confide/sql/wire"
)

// Expressions on enclave-enabled numeric columns (issue 25): arithmetic
// (+ − × /), SUM, AVG and ROUND are computed by the SQL enclave, which
// returns the result encrypted under the operands' key. The binder types
// each such expression (SQL Server's result types, package decimal),
// describes it as an encrypted column of that type, binds parameters
// that meet it, and records a Rewrite for the server.

// Rewrite is an expression the server replaces by an enclave function.
type Rewrite struct {
	// Node is the expression's node; the server replaces its content.
	Node *pg.Node
	// Op is "+", "-", "*", "/", "sum", "avg", "round" or "cast".
	Op string
	// Args are the operands' nodes (for round, the value; N and
	// Truncate hold the rest).
	Args     []*pg.Node
	N        int
	Truncate bool
	// Type is the result's type.
	Type types.Type
	// Window functions (sum-over, avg-over, percentile_disc) over the
	// statement's one table: its name and alias, the PARTITION BY and
	// ORDER BY columns (Desc for descending), and the percentile.
	Table, Alias string
	Partition    []string
	Order        string
	Desc         bool
	Percentile   string
	// Where is the statement's WHERE clause, which the window's rows
	// must pass too (nil: every row).
	Where *pg.Node
}

var arithOps = map[string]bool{"+": true, "-": true, "*": true, "/": true}

func opName(names []*pg.Node) string {
	op := ""
	for _, n := range names {
		op = n.GetString_().GetSval()
	}
	return op
}

// isEnclaveExpr reports whether a node is an expression the enclave may
// compute (its operands decide).
func isEnclaveExpr(n *pg.Node) bool {
	if n.GetTypeCast() != nil || n.GetCaseExpr() != nil {
		return true
	}
	if x := n.GetAExpr(); x != nil {
		return x.Kind == pg.A_Expr_Kind_AEXPR_OP && arithOps[opName(x.Name)] && x.Lexpr != nil
	}
	if fc := n.GetFuncCall(); fc != nil {
		switch strings.ToLower(opName(fc.Funcname)) {
		case "sum", "avg", "round", "percentile_disc":
			return true
		}
	}
	return false
}

// typeExprs types every arithmetic, SUM, AVG and ROUND node over
// encrypted operands, before the statement's other checks use them.
func (sc *scope) typeExprs(root *pg.Node, b bindings, st *Statement) error {
	var err error
	pgast.Walk(root.ProtoReflect(), func(m protoreflect.Message) bool {
		n, ok := m.Interface().(*pg.Node)
		if !ok || err != nil || !isEnclaveExpr(n) {
			return err == nil
		}
		_, err = sc.typeExpr(n, b, st)
		return err == nil
	})
	return err
}

// typeExpr returns the synthetic column an enclave expression computes,
// or nil for an expression on plaintext only.
func (sc *scope) typeExpr(n *pg.Node, b bindings, st *Statement) (*Column, error) {
	if c, ok := sc.typed[n]; ok {
		return c, nil
	}
	if sc.typed == nil {
		sc.typed = map[*pg.Node]*Column{}
	}
	var c *Column
	var err error
	if ce := n.GetCaseExpr(); ce != nil {
		c, err = sc.typeCase(ce, b, st)
	} else if tc := n.GetTypeCast(); tc != nil {
		c, err = sc.typeCast(n, tc, b, st)
	} else if x := n.GetAExpr(); x != nil {
		c, err = sc.typeArith(n, x, b, st)
	} else {
		c, err = sc.typeCall(n, n.GetFuncCall(), b, st)
	}
	if err != nil {
		return nil, err
	}
	sc.typed[n] = c
	return c, nil
}

// computed is the column an enclave expression yields.
func computed(from *Column, t types.Type, name string) *Column {
	return &Column{Name: name, Type: t, CEK: from.CEK, EncType: "RANDOMIZED", Enclave: true}
}

// typedOperand is operand, typing a nested enclave expression first.
func (sc *scope) typedOperand(n *pg.Node, b bindings, st *Statement) (operand, error) {
	if n != nil && isEnclaveExpr(n) {
		if _, err := sc.typeExpr(n, b, st); err != nil {
			return operand{}, err
		}
	}
	return sc.operand(n)
}

func (sc *scope) typeArith(n *pg.Node, x *pg.A_Expr, b bindings, st *Statement) (*Column, error) {
	op := opName(x.Name)
	l, err := sc.typedOperand(x.Lexpr, b, st)
	if err != nil {
		return nil, err
	}
	r, err := sc.typedOperand(x.Rexpr, b, st)
	if err != nil {
		return nil, err
	}
	if !l.col.Encrypted() && !r.col.Encrypted() {
		for _, o := range []operand{l, r} {
			if o.col != nil && o.param > 0 {
				if err := b.plain(o.param, o.col); err != nil {
					return nil, err
				}
			}
		}
		return nil, nil
	}
	enc := l.col
	if !enc.Encrypted() {
		enc = r.col
	}
	if !enc.Enclave || !decimal.Numeric(enc.Type) {
		return nil, &wire.Error{Code: "0A000", Message: fmt.Sprintf("%s is encrypted: arithmetic on it needs a numeric column whose key is enclave-enabled", describeCol(enc))}
	}
	// The other operand: a column or expression under the same key, or a
	// parameter, which the client encrypts as this operand's type.
	for _, pair := range [][2]*operand{{&l, &r}, {&r, &l}} {
		o, other := pair[0], pair[1]
		switch {
		case o.col.Encrypted():
			if !strings.EqualFold(o.col.CEK, enc.CEK) || !o.col.Enclave || !decimal.Numeric(o.col.Type) {
				return nil, &wire.Error{Code: "42804", Message: fmt.Sprintf("%s and %s: an expression's encrypted operands must be numeric and share an enclave-enabled key", describeCol(enc), describeCol(o.col))}
			}
		case o.param > 0:
			if err := b.bind(o.param, other.col); err != nil {
				return nil, err
			}
			o.col = other.col
		case o.literal:
			return nil, clash(enc, "a literal")
		default:
			return nil, clash(enc, "an expression on plaintext")
		}
	}
	rt, err := decimal.ResultType(op[0], l.col.Type, r.col.Type)
	if err != nil {
		return nil, &wire.Error{Code: "42804", Message: err.Error()}
	}
	st.Rewrites = append(st.Rewrites, Rewrite{Node: n, Op: op, Args: []*pg.Node{x.Lexpr, x.Rexpr}, Type: rt})
	return computed(enc, rt, "?column?"), nil
}

func (sc *scope) typeCall(n *pg.Node, fc *pg.FuncCall, b bindings, st *Statement) (*Column, error) {
	name := strings.ToLower(opName(fc.Funcname))
	if name == "percentile_disc" {
		return sc.typePercentile(n, fc, st)
	}
	if len(fc.Args) == 0 {
		return nil, nil
	}
	arg, err := sc.typedOperand(fc.Args[0], b, st)
	if err != nil {
		return nil, err
	}
	if !arg.col.Encrypted() {
		return nil, nil
	}
	c := arg.col
	if !c.Enclave || !decimal.Numeric(c.Type) {
		return nil, &wire.Error{Code: "0A000", Message: fmt.Sprintf("%s is encrypted: %s needs a numeric column whose key is enclave-enabled", describeCol(c), name)}
	}
	if fc.Over != nil && (name == "sum" || name == "avg") {
		rt, err := decimal.AggregateType(name, c.Type)
		if err != nil {
			return nil, &wire.Error{Code: "42804", Message: err.Error()}
		}
		r, err := sc.window(n, fc.Over, fc.Args[0], name+"-over", rt)
		if err != nil {
			return nil, err
		}
		st.Rewrites = append(st.Rewrites, r)
		return computed(c, rt, name), nil
	}
	if fc.AggDistinct || fc.Over != nil || len(fc.AggOrder) > 0 || fc.AggFilter != nil {
		return nil, &wire.Error{Code: "0A000", Message: fmt.Sprintf("%s with DISTINCT, ORDER BY, FILTER or OVER is not supported on encrypted columns", name)}
	}
	switch name {
	case "sum", "avg":
		if len(fc.Args) != 1 {
			return nil, &wire.Error{Code: "42883", Message: name + " takes one argument"}
		}
		rt, err := decimal.AggregateType(name, c.Type)
		if err != nil {
			return nil, &wire.Error{Code: "42804", Message: err.Error()}
		}
		st.Rewrites = append(st.Rewrites, Rewrite{Node: n, Op: name, Args: fc.Args, Type: rt})
		return computed(c, rt, name), nil
	}
	// round(value, places[, 1]): the places and the truncate flag are
	// public integer literals.
	if len(fc.Args) < 2 || len(fc.Args) > 3 {
		return nil, &wire.Error{Code: "42883", Message: "round takes a value, the places and optionally a truncate flag"}
	}
	places, ok := intLiteral(fc.Args[1])
	truncate := int64(0)
	if len(fc.Args) == 3 {
		var ok2 bool
		truncate, ok2 = intLiteral(fc.Args[2])
		ok = ok && ok2
	}
	if !ok {
		return nil, &wire.Error{Code: "0A000", Message: "round on an encrypted column takes integer literals for the places and the truncate flag"}
	}
	st.Rewrites = append(st.Rewrites, Rewrite{Node: n, Op: "round", Args: fc.Args[:1], N: int(places), Truncate: truncate != 0, Type: c.Type})
	return computed(c, c.Type, "round"), nil
}

// typeCase types CASE … THEN r1 … ELSE rn END whose results include an
// encrypted value: SQLite returns one of the results unchanged, so every
// result must be a value encrypted alike (same key and type), a
// parameter (encrypted alike by the client) or NULL.
func (sc *scope) typeCase(ce *pg.CaseExpr, b bindings, st *Statement) (*Column, error) {
	if ce.Arg != nil {
		return nil, &wire.Error{Code: "0A000", Message: "CASE x WHEN … is not supported with encrypted results: write CASE WHEN x = … THEN …"}
	}
	results := []*pg.Node{}
	for _, w := range ce.Args {
		if cw := w.GetCaseWhen(); cw != nil {
			results = append(results, cw.Result)
		}
	}
	if ce.Defresult != nil {
		results = append(results, ce.Defresult)
	}
	ops := make([]operand, len(results))
	var enc *Column
	for i, r := range results {
		o, err := sc.typedOperand(r, b, st)
		if err != nil {
			return nil, err
		}
		ops[i] = o
		if o.col.Encrypted() && enc == nil {
			enc = o.col
		}
	}
	if enc == nil {
		return nil, nil
	}
	for i, o := range ops {
		switch {
		case o.col.Encrypted():
			if !strings.EqualFold(o.col.CEK, enc.CEK) || o.col.Type != enc.Type || o.col.Enclave != enc.Enclave {
				return nil, &wire.Error{Code: "42804", Message: fmt.Sprintf("CASE results %s and %s are not encrypted alike", describeCol(enc), describeCol(o.col))}
			}
		case o.param > 0:
			if err := b.bind(o.param, enc); err != nil {
				return nil, err
			}
		case results[i].GetAConst() != nil && results[i].GetAConst().Isnull:
		case o.literal:
			return nil, clash(enc, "a literal")
		default:
			return nil, clash(enc, "an expression")
		}
	}
	return enc, nil
}

// typeCast types CAST(x AS type) of an encrypted number: the enclave
// converts it (rounding half away from zero, an error on overflow). Casts
// of encrypted values to other types are refused: SQLite would convert
// the ciphertext.
func (sc *scope) typeCast(n *pg.Node, tc *pg.TypeCast, b bindings, st *Statement) (*Column, error) {
	arg, err := sc.typedOperand(tc.Arg, b, st)
	if err != nil || !arg.col.Encrypted() {
		return nil, err
	}
	c := arg.col
	to, err := TypeName(tc.TypeName)
	if err != nil {
		return nil, err
	}
	if !c.Enclave || !decimal.Numeric(c.Type) || !decimal.Numeric(to) {
		return nil, &wire.Error{Code: "0A000", Message: fmt.Sprintf("%s is encrypted: CAST is supported between numeric types on enclave-enabled keys", describeCol(c))}
	}
	st.Rewrites = append(st.Rewrites, Rewrite{Node: n, Op: "cast", Args: []*pg.Node{tc.Arg}, Type: to})
	return computed(c, to, "?column?"), nil
}

// window checks an OVER clause the server evaluates itself, as a
// correlated subquery over the statement's single table: PARTITION BY
// columns, at most one ORDER BY column, the default frame (RANGE
// UNBOUNDED PRECEDING … CURRENT ROW, peers included).
func (sc *scope) window(n *pg.Node, w *pg.WindowDef, arg *pg.Node, op string, rt types.Type) (Rewrite, error) {
	const defaultFrame = 1058 // FRAMEOPTION_DEFAULTS
	bad := &wire.Error{Code: "0A000", Message: "window functions on encrypted columns take one table, PARTITION BY columns and at most one ORDER BY column, with the default frame"}
	if len(sc.tables) != 1 || w.Refname != "" || w.Name != "" || w.FrameOptions != defaultFrame || len(w.OrderClause) > 1 || arg.GetColumnRef() == nil {
		return Rewrite{}, bad
	}
	r := Rewrite{Node: n, Op: op, Args: []*pg.Node{arg}, Type: rt, Table: sc.tables[0].name, Alias: sc.tables[0].alias}
	colName := func(x *pg.Node) (string, error) {
		cr := x.GetColumnRef()
		if cr == nil {
			return "", bad
		}
		c, _, err := sc.resolve(cr)
		if err != nil {
			return "", err
		}
		return c.Name, nil
	}
	for _, p := range w.PartitionClause {
		name, err := colName(p)
		if err != nil {
			return Rewrite{}, err
		}
		r.Partition = append(r.Partition, name)
	}
	if len(w.OrderClause) == 1 {
		sb := w.OrderClause[0].GetSortBy()
		name, err := colName(sb.GetNode())
		if err != nil {
			return Rewrite{}, err
		}
		r.Order, r.Desc = name, sb.SortbyDir == pg.SortByDir_SORTBY_DESC
	}
	return r, nil
}

// typePercentile types PERCENTILE_DISC(p) WITHIN GROUP (ORDER BY x) OVER
// (PARTITION BY …): one of x's own values, so x's column type (an
// encrypted x stays encrypted). The server computes it as a correlated
// subquery; SQLite has no percentile functions.
func (sc *scope) typePercentile(n *pg.Node, fc *pg.FuncCall, st *Statement) (*Column, error) {
	bad := &wire.Error{Code: "0A000", Message: "PERCENTILE_DISC takes a literal fraction, WITHIN GROUP (ORDER BY a column) and OVER (PARTITION BY columns)"}
	if len(fc.Args) != 1 || !fc.AggWithinGroup || len(fc.AggOrder) != 1 || fc.Over == nil || len(fc.Over.OrderClause) != 0 {
		return nil, bad
	}
	p := ""
	switch v := fc.Args[0].GetAConst().GetVal().(type) {
	case *pg.A_Const_Fval:
		p = v.Fval.Fval
	case *pg.A_Const_Ival:
		p = fmt.Sprint(v.Ival.Ival)
	}
	if d, dt, err := decimal.Parse(p); err != nil || d.Neg == 1 || decimal.Compare(d, dt, decimal.Dec{Mag: [2]uint64{1, 0}}, decimal.Type{Precision: 1}) > 0 {
		return nil, &wire.Error{Code: "22003", Message: "PERCENTILE_DISC's fraction is between 0 and 1"}
	}
	sb := fc.AggOrder[0].GetSortBy()
	if sb == nil || sb.SortbyDir == pg.SortByDir_SORTBY_DESC || sb.GetNode().GetColumnRef() == nil {
		return nil, bad
	}
	x, _, err := sc.resolve(sb.GetNode().GetColumnRef())
	if err != nil {
		return nil, err
	}
	if x.Encrypted() && !x.Enclave {
		return nil, &wire.Error{Code: "0A000", Message: fmt.Sprintf("%s is encrypted: PERCENTILE_DISC orders it, which needs an enclave-enabled key", describeCol(x))}
	}
	r, err := sc.window(n, &pg.WindowDef{PartitionClause: fc.Over.PartitionClause, FrameOptions: 1058}, sb.GetNode(), "percentile_disc", x.Type)
	if err != nil {
		return nil, err
	}
	r.Percentile = p
	st.Rewrites = append(st.Rewrites, r)
	if !x.Encrypted() {
		return nil, nil
	}
	return x, nil
}

func intLiteral(n *pg.Node) (int64, bool) {
	if c := n.GetAConst(); c != nil {
		if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
			return int64(iv.Ival.Ival), true
		}
	}
	// A negative literal parses as a unary minus.
	if x := n.GetAExpr(); x != nil && x.Lexpr == nil && opName(x.Name) == "-" {
		if v, ok := intLiteral(x.Rexpr); ok {
			return -v, true
		}
	}
	return 0, false
}

func describeCol(c *Column) string {
	if c.Table == "" {
		return "an expression"
	}
	return "column " + c.Table + "." + c.Name
}
