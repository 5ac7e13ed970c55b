package bind

import (
	"fmt"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/confide/confide/sql/types"
	"github.com/confide/confide/sql/wire"
)

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
	var cols []*Column
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
			if c.Encrypted() {
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
func (sc *scope) assign(c *Column, v *pg.Node, b bindings) error {
	o, err := sc.operand(v)
	if err != nil {
		return err
	}
	if !c.Encrypted() {
		if o.param > 0 {
			return b.plain(o.param, c)
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
		var c *Column
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
func (sc *scope) resultColumns(sel *pg.SelectStmt) ([]Result, error) {
	if len(sel.TargetList) == 0 {
		return nil, &wire.Error{Code: "0A000", Message: "UNION, INTERSECT and EXCEPT are not supported"}
	}
	var out []Result
	for _, t := range sel.TargetList {
		rt := t.GetResTarget()
		if rt == nil {
			continue
		}
		if cr := rt.Val.GetColumnRef(); cr != nil {
			c, star, err := sc.resolve(cr)
			if err != nil {
				return nil, err
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
						out = append(out, Result{Name: tb.cols[j].Name, Col: &tb.cols[j]})
					}
				}
				continue
			}
			name := rt.Name
			if name == "" {
				name = c.Name
			}
			out = append(out, Result{Name: name, Col: c})
			continue
		}
		name := rt.Name
		if name == "" {
			name = "?column?"
			if fc := rt.Val.GetFuncCall(); fc != nil && len(fc.Funcname) > 0 {
				name = fc.Funcname[len(fc.Funcname)-1].GetString_().GetSval()
			}
		}
		if c := sc.typed[rt.Val]; c != nil {
			out = append(out, Result{Name: name, Col: c})
			continue
		}
		fc := rt.Val.GetFuncCall()
		fname := ""
		if fc != nil && len(fc.Funcname) > 0 {
			fname = fc.Funcname[len(fc.Funcname)-1].GetString_().GetSval()
		}
		r := Result{Name: name}
		switch strings.ToLower(fname) {
		case "count", "row_number", "rank", "dense_rank", "ntile":
			r.Count = true // bigint
		}
		// min and max of an enclave-enabled column return one of its
		// cells, and of an expression the enclave computed one of its
		// values, which the client decrypts.
		if fc != nil && len(fc.Args) == 1 && (strings.EqualFold(fname, "min") || strings.EqualFold(fname, "max")) {
			if c := sc.typed[fc.Args[0]]; c != nil {
				r.Col = c
			} else if cr := fc.Args[0].GetColumnRef(); cr != nil {
				if c, _, err := sc.resolve(cr); err == nil && c.Encrypted() {
					r.Col = c
				}
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// TypeName rebuilds a column's declared type from the parse tree, mapping
// PostgreSQL's internal names back to the names package types reads.
func TypeName(t *pg.TypeName) (types.Type, error) {
	var names []string
	for _, n := range t.Names {
		if s, ok := n.Node.(*pg.Node_String_); ok && s.String_.Sval != "pg_catalog" {
			names = append(names, s.String_.Sval)
		}
	}
	if len(names) != 1 {
		return types.Type{}, &wire.Error{Code: "42704", Message: "unsupported type"}
	}
	name := strings.ToUpper(map[string]string{"int2": "SMALLINT", "int4": "INT", "int8": "BIGINT", "numeric": "DECIMAL",
		"bool": "BIT", "timestamp": "TIMESTAMP", "bpchar": "CHAR"}[names[0]])
	if name == "" {
		name = strings.ToUpper(names[0])
	}
	if name == "CHAR" {
		return types.Type{}, &wire.Error{Code: "0A000", Message: "CHAR(n) is not supported: use VARCHAR(n) or NVARCHAR(n)"}
	}
	var args []string
	for _, m := range t.Typmods {
		switch x := m.Node.(type) {
		case *pg.Node_AConst:
			if iv, ok := x.AConst.Val.(*pg.A_Const_Ival); ok {
				args = append(args, strconv.Itoa(int(iv.Ival.Ival)))
			}
		case *pg.Node_ColumnRef:
			args = append(args, "MAX")
		}
	}
	if name == "BIT" && len(args) == 1 && args[0] == "1" {
		args = nil // PostgreSQL's BIT means BIT(1)
	}
	spelled := name
	if len(args) > 0 {
		spelled += "(" + strings.Join(args, ",") + ")"
	}
	ty, err := types.Parse(spelled)
	if err != nil {
		return types.Type{}, &wire.Error{Code: "42704", Message: err.Error()}
	}
	return ty, nil
}

// Arg is an argument of a table function call: a literal, or a
// parameter given at execution.
type Arg struct {
	Literal string
	Param   bool
}

// Call recognizes SELECT * FROM name(a, b, …), the form of confide's
// table functions (sp_describe_parameter_encryption and the key
// functions), whose arguments are string literals or $1, $2, … in order.
func Call(sel *pg.SelectStmt, name string) ([]Arg, bool) {
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
	var out []Arg
	for i, a := range fc.Args {
		switch x := a.Node.(type) {
		case *pg.Node_ParamRef:
			if int(x.ParamRef.Number) != i+1 {
				return nil, false
			}
			out = append(out, Arg{Param: true})
		case *pg.Node_AConst:
			s, ok := x.AConst.Val.(*pg.A_Const_Sval)
			if !ok {
				return nil, false
			}
			out = append(out, Arg{Literal: s.Sval.Sval})
		default:
			return nil, false
		}
	}
	return out, true
}
