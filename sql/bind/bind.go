package bind

import (
	"context"
	"fmt"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/confide/confide/sql/ddl"
	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/internal/pgast"
	"github.com/confide/confide/sql/types"
	"github.com/confide/confide/sql/wire"
)

// Column is a table column as a catalog records it.
type Column struct {
	Table, Name string
	Ord         int
	// Type is the column's Always Encrypted type; a catalog that does not
	// record plaintext columns' types (stock PostgreSQL's) leaves it zero
	// for them.
	Type types.Type
	// CEK and EncType are set for encrypted columns.
	CEK, EncType string
	// Next is the CEK a rotation is moving the column to: new values are
	// encrypted under it, stored ones may be under either.
	Next string
	// Enclave marks a column whose CEK is enclave-enabled: the SQL
	// enclave compares, orders, groups and matches its plaintexts, for
	// randomized as well as deterministic encryption.
	Enclave bool
}

// Encrypted reports whether the column holds cells.
func (c *Column) Encrypted() bool { return c != nil && c.CEK != "" }

// Catalog gives the columns of a table, in order; a table it does not
// know is an error (42P01), and so is one the statement may not touch.
type Catalog interface {
	Columns(ctx context.Context, schema, table string) ([]Column, error)
}

// Result is a SELECT's result column.
type Result struct {
	Name string
	// Col is the catalog column the value comes from unchanged; nil for
	// expressions.
	Col *Column
	// Count is a count(…) aggregate: a bigint, never encrypted.
	Count bool
}

// Statement is what binding a SELECT, INSERT, UPDATE or DELETE found.
type Statement struct {
	// Params is the highest parameter number, $1 … $Params.
	Params int
	// Bound maps a parameter to the column it meets: an encrypted
	// column's parameter must be encrypted alike; a plaintext column's
	// gives the parameter its type.
	Bound map[int]*Column
	// Results describes a SELECT's result columns (nil for the others).
	Results []Result
	// EnclaveCEKs names the CEKs of the enclave-enabled columns of every
	// table the statement touches, sorted: the SQL enclave must hold them
	// before the statement runs (its comparisons, and the upkeep of
	// indexes ordered by plaintext, need them).
	EnclaveCEKs []string
	// Likes lists the LIKE expressions on enclave-enabled columns, which
	// the server evaluates with an enclave function.
	Likes []*pg.A_Expr
	// Rewrites lists the arithmetic, SUM, AVG and ROUND on encrypted
	// columns, which the server evaluates with enclave functions, innermost
	// first.
	Rewrites []Rewrite
}

// Analyze binds a SELECT, INSERT, UPDATE or DELETE against the catalog:
// the parameters that meet encrypted columns, what the statement may not
// do with encrypted columns (SQL Server's "operand type clash" and
// refusals of operations ciphertext cannot support), and its result
// columns.
func Analyze(ctx context.Context, cat Catalog, node *pg.Node) (*Statement, error) {
	sc, err := tablesOf(ctx, cat, node)
	if err != nil {
		return nil, err
	}
	b := bindings{}
	st := &Statement{Bound: b}
	if err := sc.typeExprs(node, b, st); err != nil {
		return nil, err
	}
	for i, r := range st.Rewrites {
		if r.Table == "" {
			continue
		}
		// The server computes these window functions over the rows the
		// WHERE clause selects (it repeats the clause in its subqueries);
		// a GROUP BY would change what they see.
		sel := node.GetSelectStmt()
		if sel == nil || len(sel.GroupClause) > 0 || sel.HavingClause != nil || len(sel.DistinctClause) > 0 {
			return nil, &wire.Error{Code: "0A000", Message: "window functions on encrypted columns are computed over the rows of one table the WHERE clause selects: no GROUP BY, HAVING or DISTINCT beside them"}
		}
		if sel.WhereClause != nil {
			sub := false
			pgast.Walk(sel.WhereClause.ProtoReflect(), func(m protoreflect.Message) bool {
				if _, ok := m.Interface().(*pg.SubLink); ok {
					sub = true
				}
				return !sub
			})
			if sub {
				return nil, &wire.Error{Code: "0A000", Message: "window functions on encrypted columns: the WHERE clause beside them may not hold subqueries"}
			}
			st.Rewrites[i].Where = sel.WhereClause
		}
	}
	if err := sc.checkExprs(node, b, st); err != nil {
		return nil, err
	}
	if err := sc.checkGrouping(node); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, t := range sc.tables {
		for _, c := range t.cols {
			for _, k := range []string{c.CEK, c.Next} {
				if c.Enclave && k != "" && !seen[strings.ToLower(k)] {
					seen[strings.ToLower(k)] = true
					st.EnclaveCEKs = append(st.EnclaveCEKs, k)
				}
			}
		}
	}
	slices.Sort(st.EnclaveCEKs)
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
		if st.Results, err = sc.resultColumns(n.SelectStmt); err != nil {
			return nil, err
		}
	case *pg.Node_DeleteStmt:
	default:
		return nil, &wire.Error{Code: "0A000", Message: "only SELECT, INSERT, UPDATE and DELETE are bound"}
	}
	pgast.Walk(node.ProtoReflect(), func(m protoreflect.Message) bool {
		if p, ok := m.Interface().(*pg.ParamRef); ok && int(p.Number) > st.Params {
			st.Params = int(p.Number)
		}
		return true
	})
	return st, nil
}

// Resolve finds the column of a table that a name names, for statements
// that are not bound as a whole (CREATE INDEX).
func Resolve(ctx context.Context, cat Catalog, schema, table, column string) (*Column, error) {
	cols, err := cat.Columns(ctx, schema, table)
	if err != nil {
		return nil, err
	}
	sc := &scope{tables: []tableRef{{name: table, cols: cols}}}
	c, _, err := sc.resolve(&pg.ColumnRef{Fields: []*pg.Node{pg.MakeStrNode(column)}})
	return c, err
}

// tableRef is a table in a statement's scope.
type tableRef struct {
	name, alias string
	cols        []Column
}

type scope struct {
	tables []tableRef
	typed  map[*pg.Node]*Column // enclave expressions typed so far
}

// resolve finds the column a ColumnRef names.
func (sc *scope) resolve(ref *pg.ColumnRef) (*Column, bool, error) {
	var parts []string
	for _, f := range ref.Fields {
		switch n := f.Node.(type) {
		case *pg.Node_String_:
			parts = append(parts, n.String_.Sval)
		case *pg.Node_AStar:
			return nil, true, nil // t.* or *: expanded elsewhere
		}
	}
	var qual, name string
	switch len(parts) {
	case 1:
		name = parts[0]
	case 2:
		qual, name = parts[0], parts[1]
	default:
		return nil, false, &wire.Error{Code: "0A000", Message: fmt.Sprintf("column reference %q is not supported", strings.Join(parts, "."))}
	}
	var found *Column
	for i := range sc.tables {
		t := &sc.tables[i]
		if qual != "" && !strings.EqualFold(qual, t.alias) && !strings.EqualFold(qual, t.name) {
			continue
		}
		for j := range t.cols {
			if strings.EqualFold(t.cols[j].Name, name) {
				if found != nil {
					return nil, false, &wire.Error{Code: "42702", Message: fmt.Sprintf("column reference %q is ambiguous", name)}
				}
				found = &t.cols[j]
			}
		}
	}
	if found == nil {
		return nil, false, &wire.Error{Code: "42703", Message: fmt.Sprintf("column %q does not exist", strings.Join(parts, "."))}
	}
	return found, false, nil
}

// tablesOf collects the tables a statement reads or writes, with their
// catalog columns.
func tablesOf(ctx context.Context, cat Catalog, root *pg.Node) (*scope, error) {
	sc := &scope{}
	var err error
	pgast.Walk(root.ProtoReflect(), func(m protoreflect.Message) bool {
		rv, ok := m.Interface().(*pg.RangeVar)
		if !ok || err != nil {
			return err == nil
		}
		cols, cerr := cat.Columns(ctx, rv.Schemaname, rv.Relname)
		if cerr != nil {
			err = cerr
			return false
		}
		if len(cols) == 0 {
			err = &wire.Error{Code: "42P01", Message: fmt.Sprintf("table %q does not exist", rv.Relname)}
			return false
		}
		alias := ""
		if rv.Alias != nil {
			alias = rv.Alias.Aliasname
		}
		sc.tables = append(sc.tables, tableRef{name: rv.Relname, alias: alias, cols: cols})
		return true
	})
	return sc, err
}

// operand classifies one side of a comparison.
type operand struct {
	col     *Column
	param   int // $n, 0 if not a parameter
	literal bool
}

func (sc *scope) operand(n *pg.Node) (operand, error) {
	if n == nil {
		return operand{}, nil
	}
	if c, ok := sc.typed[n]; ok && c != nil {
		return operand{col: c}, nil
	}
	switch x := n.Node.(type) {
	case *pg.Node_ColumnRef:
		c, _, err := sc.resolve(x.ColumnRef)
		return operand{col: c}, err
	case *pg.Node_ParamRef:
		return operand{param: int(x.ParamRef.Number)}, nil
	case *pg.Node_AConst:
		return operand{literal: !x.AConst.Isnull}, nil
	case *pg.Node_TypeCast:
		return sc.operand(x.TypeCast.Arg)
	}
	if c, ok := sc.typed[n]; ok && c != nil {
		return operand{col: c}, nil
	}
	return operand{}, nil
}

func clash(c *Column, what string) error {
	return &wire.Error{Code: "42804", Message: fmt.Sprintf("operand type clash: %s is incompatible with column %s.%s, encrypted with %s encryption by column encryption key %q",
		what, c.Table, c.Name, strings.ToLower(c.EncType), c.CEK),
		Hint: "send the value as a parameter through a driver with column encryption enabled"}
}

// bindings maps each parameter to the column it meets: an encrypted
// column's parameter must be encrypted alike; a plaintext column's gives
// the parameter its type.
type bindings map[int]*Column

func (b bindings) bind(n int, c *Column) error {
	if old, ok := b[n]; ok && old != nil && (old.Encrypted() || c.Encrypted()) && (old.CEK != c.CEK || old.EncType != c.EncType || old.Type != c.Type) {
		return &wire.Error{Code: "42804", Message: fmt.Sprintf("parameter $%d meets columns encrypted differently", n)}
	}
	b[n] = c
	return nil
}

// plain records that parameter n meets plaintext column c: the first
// plaintext column gives the parameter its type, and a parameter that
// also meets an encrypted column is refused whichever comes first.
func (b bindings) plain(n int, c *Column) error {
	old, ok := b[n]
	if ok && old.Encrypted() {
		return &wire.Error{Code: "42804", Message: fmt.Sprintf("parameter $%d meets columns encrypted differently", n)}
	}
	if !ok {
		b[n] = c
	}
	return nil
}

// compare checks one comparison between two operands and binds
// parameters to encrypted columns. Deterministic columns support
// equality; enclave-enabled columns, deterministic or randomized,
// support every comparison (the SQL enclave evaluates it).
func (b bindings) compare(l, r operand, equality bool) error {
	for _, pair := range [][2]operand{{l, r}, {r, l}} {
		c, o := pair[0].col, pair[1]
		if c != nil && !c.Encrypted() && o.param > 0 {
			if err := b.plain(o.param, c); err != nil {
				return err
			}
		}
		if c == nil || !c.Encrypted() {
			continue
		}
		if !equality && !c.Enclave {
			return &wire.Error{Code: "0A000", Message: fmt.Sprintf("column %s.%s is encrypted: only equality (=, <>, IN) is supported on it", c.Table, c.Name),
				Hint: "range comparisons, LIKE and sorting need a column encryption key whose column master key allows enclave computations"}
		}
		if c.EncType != ddl.Deterministic && !c.Enclave {
			return &wire.Error{Code: "42804", Message: fmt.Sprintf("column %s.%s is encrypted with randomized encryption: it cannot be compared", c.Table, c.Name)}
		}
		if err := b.operandFor(c, o); err != nil {
			return err
		}
	}
	return nil
}

// operandFor checks the other side of a comparison with encrypted column
// c: a parameter (bound to c), or a column encrypted alike.
func (b bindings) operandFor(c *Column, o operand) error {
	switch {
	case o.param > 0:
		return b.bind(o.param, c)
	case o.literal:
		return clash(c, "a literal")
	case o.col != nil:
		// The enclave compares plaintexts: under one key, values of one
		// kind, or numbers of any numeric types.
		if o.col.Enclave && c.Enclave && strings.EqualFold(o.col.CEK, c.CEK) &&
			(o.col.Type.Kind == c.Type.Kind || decimal.Numeric(o.col.Type) && decimal.Numeric(c.Type)) {
			return nil
		}
		if o.col.CEK != c.CEK || o.col.EncType != c.EncType || o.col.Type.Kind != c.Type.Kind || o.col.Enclave != c.Enclave {
			return &wire.Error{Code: "42804", Message: fmt.Sprintf("columns %s.%s and %s.%s are not encrypted alike: they cannot be compared",
				c.Table, c.Name, o.col.Table, o.col.Name)}
		}
		return nil
	}
	return clash(c, "an expression")
}

var equalityOps = map[string]bool{"=": true, "<>": true, "!=": true}

// checkExprs walks every expression of a statement: comparisons bind
// parameters, and encrypted columns used anywhere else than a plain
// column reference (a select list, GROUP BY, a join on equality, an
// INSERT or SET target) are refused.
func (sc *scope) checkExprs(root *pg.Node, b bindings, st *Statement) error {
	var err error
	pgast.Walk(root.ProtoReflect(), func(m protoreflect.Message) bool {
		if err != nil {
			return false
		}
		switch x := m.Interface().(type) {
		case *pg.A_Expr:
			op := ""
			for _, n := range x.Name {
				if s, ok := n.Node.(*pg.Node_String_); ok {
					op = s.String_.Sval
				}
			}
			switch x.Kind {
			case pg.A_Expr_Kind_AEXPR_OP:
				if arithOps[op] && x.Lexpr != nil {
					return true // typed by typeExprs
				}
				var l, r operand
				if l, err = sc.operand(x.Lexpr); err != nil {
					return false
				}
				if r, err = sc.operand(x.Rexpr); err != nil {
					return false
				}
				err = b.compare(l, r, equalityOps[op])
			case pg.A_Expr_Kind_AEXPR_IN:
				var l operand
				if l, err = sc.operand(x.Lexpr); err != nil {
					return false
				}
				if list, ok := x.Rexpr.GetNode().(*pg.Node_List); ok {
					for _, item := range list.List.Items {
						var r operand
						if r, err = sc.operand(item); err != nil {
							return false
						}
						if err = b.compare(l, r, true); err != nil {
							return false
						}
					}
				}
			case pg.A_Expr_Kind_AEXPR_LIKE:
				err = sc.like(x, b)
				if err == nil && x.Lexpr != nil {
					if l, _ := sc.operand(x.Lexpr); l.col.Encrypted() {
						st.Likes = append(st.Likes, x)
					}
				}
			case pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN:
				var l operand
				if l, err = sc.operand(x.Lexpr); err != nil {
					return false
				}
				for _, item := range x.Rexpr.GetList().GetItems() {
					var r operand
					if r, err = sc.operand(item); err != nil {
						return false
					}
					if err = b.compare(l, r, false); err != nil {
						return false
					}
				}
			default:
				var l, r operand
				l, _ = sc.operand(x.Lexpr)
				r, _ = sc.operand(x.Rexpr)
				for _, o := range []operand{l, r} {
					if o.col != nil && o.col.Encrypted() {
						err = &wire.Error{Code: "0A000", Message: fmt.Sprintf("column %s.%s is encrypted: %s is not supported on it", o.col.Table, o.col.Name, x.Kind)}
					}
				}
			}
			return err == nil
		case *pg.FuncCall:
			switch strings.ToLower(opName(x.Funcname)) {
			case "sum", "avg", "round", "percentile_disc":
				return true // typed by typeExprs
			}
			for _, a := range x.Args {
				if o, _ := sc.operand(a); o.col != nil && o.col.Encrypted() {
					name := ""
					for _, n := range x.Funcname {
						if s, ok := n.Node.(*pg.Node_String_); ok {
							name = s.String_.Sval
						}
					}
					// count(col) counts ciphertexts as well as plaintexts;
					// the enclave's collation orders for min and max.
					if !strings.EqualFold(name, "count") && !(o.col.Enclave && (strings.EqualFold(name, "min") || strings.EqualFold(name, "max"))) {
						err = &wire.Error{Code: "0A000", Message: fmt.Sprintf("column %s.%s is encrypted: function %s cannot see its plaintext", o.col.Table, o.col.Name, name)}
						return false
					}
				}
			}
		case *pg.SortBy:
			if o, _ := sc.operand(x.Node); o.col.Encrypted() && !o.col.Enclave {
				err = &wire.Error{Code: "0A000", Message: fmt.Sprintf("column %s.%s is encrypted: ORDER BY would sort ciphertexts", o.col.Table, o.col.Name)}
				return false
			}
		}
		return true
	})
	return err
}

// like checks value LIKE pattern: on an encrypted column only when it is
// enclave-enabled, with a parameter pattern, which is bound to the column
// with its length lifted (a pattern's wildcards may make it longer than
// any value).
func (sc *scope) like(x *pg.A_Expr, b bindings) error {
	l, err := sc.operand(x.Lexpr)
	if err != nil {
		return err
	}
	r, err := sc.operand(x.Rexpr)
	if err != nil {
		return err
	}
	if r.col.Encrypted() {
		return &wire.Error{Code: "0A000", Message: fmt.Sprintf("column %s.%s is encrypted: it cannot be a LIKE pattern", r.col.Table, r.col.Name)}
	}
	c := l.col
	if !c.Encrypted() {
		if c != nil && r.param > 0 {
			return b.plain(r.param, c)
		}
		return nil
	}
	if !c.Enclave {
		return &wire.Error{Code: "0A000", Message: fmt.Sprintf("column %s.%s is encrypted: LIKE needs a column encryption key whose column master key allows enclave computations", c.Table, c.Name)}
	}
	if r.param == 0 {
		return b.operandFor(c, r)
	}
	if k := c.Type.Kind; k != types.VarChar && k != types.NVarChar {
		return &wire.Error{Code: "42804", Message: fmt.Sprintf("column %s.%s is %s: LIKE needs a string", c.Table, c.Name, c.Type)}
	}
	pattern := *c
	pattern.Type.Length = types.Max
	return b.bind(r.param, &pattern)
}

// checkGrouping refuses GROUP BY and DISTINCT on randomized columns that
// are not enclave-enabled: their equal plaintexts have unequal
// ciphertexts, so every row would be its own group.
func (sc *scope) checkGrouping(root *pg.Node) error {
	var err error
	check := func(n *pg.Node, what string) {
		if o, _ := sc.operand(n); err == nil && o.col.Encrypted() && o.col.EncType != ddl.Deterministic && !o.col.Enclave {
			err = &wire.Error{Code: "42804", Message: fmt.Sprintf("column %s.%s is encrypted with randomized encryption: %s cannot group it", o.col.Table, o.col.Name, what)}
		}
	}
	pgast.Walk(root.ProtoReflect(), func(m protoreflect.Message) bool {
		sel, ok := m.Interface().(*pg.SelectStmt)
		if !ok || err != nil {
			return err == nil
		}
		for _, g := range sel.GroupClause {
			check(g, "GROUP BY")
		}
		if len(sel.DistinctClause) > 0 {
			for _, t := range sel.TargetList {
				if rt := t.GetResTarget(); rt != nil {
					check(rt.Val, "DISTINCT")
				}
			}
		}
		return true
	})
	return err
}
