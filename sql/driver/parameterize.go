package driver

import (
	"fmt"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/confide/confide/sql/internal/pgast"
)

// Parameterize turns the literals a statement compares with columns (=,
// <>, <, >, IN, BETWEEN, LIKE …) or combines with them (1 - discount),
// inserts (VALUES) or assigns (SET) into parameters numbered
// after the statement's own, and returns their texts as arguments — as
// SSMS's "parameterization for Always Encrypted" does, so that a person
// can type plain SQL against encrypted columns and the driver encrypts
// the values. Statements without such literals come back unchanged.
func Parameterize(query string) (string, []any, error) {
	tree, err := pg.Parse(query)
	if err != nil || len(tree.Stmts) != 1 {
		return query, nil, nil // not ours to judge: the server answers
	}
	top := 0
	var consts []*pg.Node
	pgast.Walk(tree.Stmts[0].Stmt.ProtoReflect(), func(m protoreflect.Message) bool {
		switch x := m.Interface().(type) {
		case *pg.ParamRef:
			top = max(top, int(x.Number))
		case *pg.A_Expr:
			switch x.Kind {
			case pg.A_Expr_Kind_AEXPR_OP, pg.A_Expr_Kind_AEXPR_IN, pg.A_Expr_Kind_AEXPR_LIKE,
				pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN:
				if refersToColumn(x.Lexpr) || refersToColumn(x.Rexpr) {
					consts = append(consts, x.Lexpr, x.Rexpr)
					for _, it := range x.Rexpr.GetList().GetItems() {
						consts = append(consts, it)
					}
				}
			}
		case *pg.SelectStmt:
			for _, row := range x.ValuesLists {
				consts = append(consts, row.GetList().GetItems()...)
			}
		case *pg.UpdateStmt:
			for _, t := range x.TargetList {
				consts = append(consts, t.GetResTarget().GetVal())
			}
		}
		return true
	})
	var args []any
	for _, n := range consts {
		c := n.GetAConst()
		if c == nil || c.Isnull {
			continue
		}
		var text string
		switch v := c.Val.(type) {
		case *pg.A_Const_Sval:
			text = v.Sval.Sval
		case *pg.A_Const_Ival:
			text = strconv.Itoa(int(v.Ival.Ival))
		case *pg.A_Const_Fval:
			text = v.Fval.Fval
		case *pg.A_Const_Boolval:
			text = strconv.FormatBool(v.Boolval.Boolval)
		default:
			continue
		}
		top++
		args = append(args, text)
		n.Node = &pg.Node_ParamRef{ParamRef: &pg.ParamRef{Number: int32(top)}}
	}
	if len(args) == 0 {
		return query, nil, nil
	}
	out, err := pg.Deparse(tree)
	if err != nil {
		return "", nil, fmt.Errorf("driver: parameterizing: %w", err)
	}
	return strings.TrimSpace(out), args, nil
}

// refersToColumn reports whether an expression reads a column: a
// literal beside it — compared with it, or an operand of arithmetic on it
// (1 - discount) — may meet an encrypted column.
func refersToColumn(n *pg.Node) bool {
	if n == nil {
		return false
	}
	found := false
	pgast.Walk(n.ProtoReflect(), func(m protoreflect.Message) bool {
		if _, ok := m.Interface().(*pg.ColumnRef); ok {
			found = true
		}
		return !found
	})
	return found
}
