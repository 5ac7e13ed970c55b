package decimal

import (
	"fmt"

	"github.com/confide/confide/sql/types"
)

// Integer types take part in DECIMAL arithmetic with SQL Server's
// precisions for them.
var intPrecision = map[types.Kind]int{types.TinyInt: 3, types.SmallInt: 5, types.Int: 10, types.BigInt: 19}

// Numeric reports whether a column type takes part in arithmetic.
func Numeric(t types.Type) bool {
	_, isInt := intPrecision[t.Kind]
	return isInt || t.Kind == types.Decimal
}

// Of is the DECIMAL type a numeric column type computes as.
func Of(t types.Type) (Type, error) {
	if p, ok := intPrecision[t.Kind]; ok {
		return Type{Precision: p}, nil
	}
	if t.Kind == types.Decimal {
		return Type{Precision: t.Precision, Scale: t.Scale}, nil
	}
	return Type{}, fmt.Errorf("decimal: %s is not numeric", t)
}

// ResultType is the column type of a op b (op one of + - * /), as SQL
// Server types it: two integers give the wider integer type (int / int
// divides integers); otherwise DECIMAL by the rules of this package, an
// integer operand counting as DECIMAL(its precision, 0).
func ResultType(op byte, a, b types.Type) (types.Type, error) {
	if !Numeric(a) || !Numeric(b) {
		return types.Type{}, fmt.Errorf("decimal: %s %c %s: arithmetic needs numbers", a, op, b)
	}
	if a.Kind != types.Decimal && b.Kind != types.Decimal {
		return types.Type{Kind: max(a.Kind, b.Kind)}, nil
	}
	da, _ := Of(a)
	db, _ := Of(b)
	var r Type
	switch op {
	case '+', '-':
		r = AddType(da, db)
	case '*':
		r = MulType(da, db)
	case '/':
		r = DivType(da, db)
	default:
		return types.Type{}, fmt.Errorf("decimal: unknown operator %c", op)
	}
	return types.Type{Kind: types.Decimal, Precision: r.Precision, Scale: r.Scale}, nil
}

// AggregateType is the column type of SUM or AVG over a numeric column:
// integers stay their type (at least INT: SUM(TINYINT) is INT), DECIMAL(p,
// s) becomes DECIMAL(38, s) for SUM and DECIMAL(38, max(s, 6)) for AVG.
func AggregateType(fn string, t types.Type) (types.Type, error) {
	if !Numeric(t) {
		return types.Type{}, fmt.Errorf("decimal: %s of %s", fn, t)
	}
	if t.Kind != types.Decimal {
		return types.Type{Kind: max(t.Kind, types.Int)}, nil
	}
	d, _ := Of(t)
	r := SumType(d)
	if fn == "avg" {
		r = AvgType(d)
	}
	return types.Type{Kind: types.Decimal, Precision: r.Precision, Scale: r.Scale}, nil
}
