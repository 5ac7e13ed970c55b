package decimal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/confide/confide/oblivious"
	"github.com/confide/confide/sql/types"
)

// MaxPrecision is SQL Server's largest DECIMAL precision.
const MaxPrecision = 38

// Errors, worded as SQL Server words them.
var (
	ErrOverflow     = errors.New("arithmetic overflow error converting expression to data type numeric")
	ErrDivideByZero = errors.New("divide by zero error encountered")
	ErrType         = errors.New("decimal: invalid precision or scale")
)

// Type is DECIMAL(Precision, Scale).
type Type struct{ Precision, Scale int }

func (t Type) String() string { return fmt.Sprintf("DECIMAL(%d,%d)", t.Precision, t.Scale) }

// Valid reports 1 ≤ precision ≤ 38 and 0 ≤ scale ≤ precision.
func (t Type) Valid() bool {
	return t.Precision >= 1 && t.Precision <= MaxPrecision && t.Scale >= 0 && t.Scale <= t.Precision
}

// Dec is a DECIMAL value in sign-magnitude form, the form SQL Server's
// normalization (spec/ae-types.md) stores: Neg is 0 or 1, Mag the
// unscaled magnitude (below 10^38). Its type is carried beside it. Zero is
// never negative.
type Dec struct {
	Neg uint64
	Mag [2]uint64
}

func (d Dec) wide() wide { return wide{d.Mag[0], d.Mag[1]} }

// make builds a Dec from a wide magnitude below 10^38 and a sign, clearing
// the sign of zero.
//
//confide:oblivious
//confide:secret mag neg
func makeDec(mag wide, neg uint64) Dec {
	return Dec{Neg: neg & mag.isZero().Not().Bit(), Mag: [2]uint64{mag[0], mag[1]}}
}

// fits is mag < 10^p.
//
//confide:oblivious
//confide:secret mag
func fits(mag wide, p int) oblivious.Mask { return mag.lt(pow10[p]) }

// Result types (SQL Server's "Precision, scale, and length"): the
// operation's natural type, then, above 38 digits of precision, a scale
// reduced to keep the integral part.

// AddType is the type of e1 + e2 and e1 − e2.
func AddType(a, b Type) Type {
	integral := max(a.Precision-a.Scale, b.Precision-b.Scale)
	s := max(a.Scale, b.Scale)
	p := s + integral + 1
	if p > MaxPrecision {
		s = max(0, MaxPrecision-integral)
		p = MaxPrecision
	}
	return Type{p, min(s, p)}
}

// reduce applies the rule for multiplication and division: above 38
// digits the scale becomes min(scale, 38 − integral) while the integral
// part is under 32 digits, else min(scale, 6).
func reduce(p, s int) Type {
	if p <= MaxPrecision {
		return Type{p, s}
	}
	return Type{MaxPrecision, min(s, max(6, MaxPrecision-(p-s)))}
}

// MulType is the type of e1 × e2.
func MulType(a, b Type) Type { return reduce(a.Precision+b.Precision+1, a.Scale+b.Scale) }

// DivType is the type of e1 / e2.
func DivType(a, b Type) Type {
	s := max(6, a.Scale+b.Precision+1)
	return reduce(a.Precision-a.Scale+b.Scale+s, s)
}

// SumType is the type of SUM over a DECIMAL(p, s) column.
func SumType(t Type) Type { return Type{MaxPrecision, t.Scale} }

// AvgType is the type of AVG over a DECIMAL(p, s) column.
func AvgType(t Type) Type { return Type{MaxPrecision, max(t.Scale, 6)} }

// rescale moves a magnitude from scale from to scale to: up exactly,
// down rounding half away from zero (round) or truncating.
//
//confide:oblivious
//confide:secret mag
func rescale(mag wide, from, to int, round bool) wide {
	if to == from {
		return mag
	}
	if to > from {
		r, _ := mag.mul(pow10[to-from]) // the callers' bounds keep it exact
		return r
	}
	d := pow10[from-to]
	q, r := mag.divmod(d)
	if !round {
		return q
	}
	twice := r.shl1(0)
	up := twice.lt(d).Not() // 2r ≥ 10^k: half or more
	inc, _ := q.add(wide{up.Bit()})
	return inc
}

// Add returns a + b.
func Add(a Dec, at Type, b Dec, bt Type) (Dec, Type, error) { return addSub(a, at, b, bt, 0) }

// Sub returns a − b.
func Sub(a Dec, at Type, b Dec, bt Type) (Dec, Type, error) { return addSub(a, at, b, bt, 1) }

func addSub(a Dec, at Type, b Dec, bt Type, negB uint64) (Dec, Type, error) {
	d, rt, over := addSubCT(a, at, b, bt, negB)
	if over == oblivious.True {
		return Dec{}, rt, ErrOverflow
	}
	return d, rt, nil
}

// addSubCT is a + b (negB 1: a − b) with a mask for overflow.
//
//confide:oblivious
//confide:secret a b
func addSubCT(a Dec, at Type, b Dec, bt Type, negB uint64) (Dec, Type, oblivious.Mask) {
	rt := AddType(at, bt)
	s := max(at.Scale, bt.Scale)
	mag, neg := signedAdd(rescale(a.wide(), at.Scale, s, false), a.Neg, rescale(b.wide(), bt.Scale, s, false), b.Neg^negB)
	mag = rescale(mag, s, rt.Scale, true)
	return makeDec(mag, neg), rt, fits(mag, rt.Precision).Not()
}

// signedAdd adds two sign-magnitude values.
//
//confide:oblivious
//confide:secret a an b bn
func signedAdd(a wide, an uint64, b wide, bn uint64) (wide, uint64) {
	sum, _ := a.add(b)
	diff, borrow := a.sub(b) // a − b, or b − a when it borrows
	rdiff, _ := b.sub(a)
	same := oblivious.Eq(an, bn)
	aSmaller := oblivious.FromBit(borrow)
	mag := sel(same, sum, sel(aSmaller, rdiff, diff))
	neg := oblivious.Select(same, an, oblivious.Select(aSmaller, bn, an))
	return mag, neg
}

// Mul returns a × b, rounded half away from zero when the result's scale
// is reduced.
func Mul(a Dec, at Type, b Dec, bt Type) (Dec, Type, error) {
	d, rt, over := MulCT(a, at, b, bt)
	if over == oblivious.True {
		return Dec{}, rt, ErrOverflow
	}
	return d, rt, nil
}

// Div returns a / b, truncated toward zero at the result's scale, as SQL
// Server divides.
func Div(a Dec, at Type, b Dec, bt Type) (Dec, Type, error) {
	rt := DivType(at, bt)
	if b.wide().isZero() == oblivious.True {
		return Dec{}, rt, ErrDivideByZero
	}
	// a/10^as ÷ b/10^bs × 10^rs = a × 10^(rs − as + bs) ÷ b.
	num, den := a.wide(), b.wide()
	if k := rt.Scale - at.Scale + bt.Scale; k >= 0 {
		num, _ = num.mul(pow10[k])
	} else {
		den, _ = den.mul(pow10[-k])
	}
	q, _ := num.divmod(den)
	if fits(q, rt.Precision) == oblivious.False {
		return Dec{}, rt, ErrOverflow
	}
	return makeDec(q, a.Neg^b.Neg), rt, nil
}

// Round is ROUND(a, n) (truncate false) or ROUND(a, n, 1) (true): the
// value rounded half away from zero, or truncated, to n decimal places (n
// negative: left of the point), in a's own type, which it may overflow.
func Round(a Dec, t Type, n int, truncate bool) (Dec, error) {
	if n >= t.Scale {
		return a, nil
	}
	k := t.Scale - n
	if k > maxPow-MaxPrecision {
		return Dec{}, fmt.Errorf("decimal: ROUND to %d places", n)
	}
	mag := rescale(a.wide(), t.Scale, n, !truncate)
	mag, _ = mag.mul(pow10[k])
	if fits(mag, t.Precision) == oblivious.False {
		return Dec{}, ErrOverflow
	}
	return makeDec(mag, a.Neg), nil
}

// Cast converts between DECIMAL types, rounding half away from zero when
// the scale shrinks.
func Cast(a Dec, from, to Type) (Dec, error) {
	if !to.Valid() {
		return Dec{}, ErrType
	}
	d, over := CastCT(a, from, to)
	if over == oblivious.True {
		return Dec{}, ErrOverflow
	}
	return d, nil
}

// Sum adds values of one type; the result is DECIMAL(38, s). Empty input
// is the caller's NULL.
func Sum(vals []Dec, t Type) (Dec, Type, error) {
	rt := SumType(t)
	var mag wide
	var neg uint64
	for _, v := range vals {
		mag, neg = signedAdd(mag, neg, v.wide(), v.Neg)
	}
	if fits(mag, rt.Precision) == oblivious.False {
		return Dec{}, rt, ErrOverflow
	}
	return makeDec(mag, neg), rt, nil
}

// Avg is SUM / COUNT at scale max(s, 6), truncated (SQL Server's AVG of a
// DECIMAL column).
func Avg(vals []Dec, t Type) (Dec, Type, error) {
	sum, st, err := Sum(vals, t)
	if err != nil {
		return Dec{}, AvgType(t), err
	}
	return AvgOf(sum, st, int64(len(vals)))
}

// AvgOf finishes an average from a sum of DECIMAL(38, s) values and
// their count.
func AvgOf(sum Dec, st Type, count int64) (Dec, Type, error) {
	rt := AvgType(st)
	if count <= 0 {
		return Dec{}, rt, ErrDivideByZero
	}
	q, _ := rescale(sum.wide(), st.Scale, rt.Scale, false).divmod(wide{uint64(count)})
	if fits(q, rt.Precision) == oblivious.False {
		return Dec{}, rt, ErrOverflow
	}
	return makeDec(q, sum.Neg), rt, nil
}

// Compare orders two values of possibly different types exactly: both
// are brought to the larger scale (at most 76 digits, which a wide
// holds) and subtracted.
func Compare(a Dec, at Type, b Dec, bt Type) int {
	s := max(at.Scale, bt.Scale)
	mag, neg := signedAdd(rescale(a.wide(), at.Scale, s, false), a.Neg, rescale(b.wide(), bt.Scale, s, false), b.Neg^1)
	switch {
	case mag.isZero() == oblivious.True:
		return 0
	case neg == 1:
		return -1
	}
	return 1
}

// FromTypes converts package types' decimal (a big.Int) to a Dec.
func FromTypes(v types.Dec) (Dec, error) {
	m := new(big.Int).Abs(v.Unscaled)
	if m.BitLen() > 127 {
		return Dec{}, ErrOverflow
	}
	var d Dec
	var be [16]byte
	m.FillBytes(be[:])
	d.Mag[1], d.Mag[0] = binary.BigEndian.Uint64(be[:8]), binary.BigEndian.Uint64(be[8:])
	if v.Unscaled.Sign() < 0 {
		d.Neg = 1
	}
	if fits(d.wide(), MaxPrecision) == oblivious.False {
		return Dec{}, ErrOverflow
	}
	return d, nil
}

// ToTypes converts to package types' decimal.
func (d Dec) ToTypes(t Type) types.Dec {
	m := new(big.Int).SetUint64(d.Mag[1])
	m.Lsh(m, 64).Or(m, new(big.Int).SetUint64(d.Mag[0]))
	if d.Neg == 1 {
		m.Neg(m)
	}
	return types.Dec{Unscaled: m, Scale: t.Scale}
}

// String formats the value at its type's scale.
func (d Dec) String(t Type) string { return d.ToTypes(t).String() }

// Parse reads a literal ("-12.50") as SQL Server types it: DECIMAL(p, s)
// with s the digits after the point and p all digits (at least s, at
// least 1).
func Parse(s string) (Dec, Type, error) {
	s = strings.TrimSpace(s)
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 || body == "" {
		return Dec{}, Type{}, fmt.Errorf("decimal: %q is not a number", s)
	}
	intPart, frac, _ := strings.Cut(body, ".")
	digits := strings.TrimLeft(intPart, "0") + frac
	t := Type{Precision: max(len(strings.TrimLeft(intPart, "0"))+len(frac), len(frac), 1), Scale: len(frac)}
	if !t.Valid() {
		return Dec{}, Type{}, ErrOverflow
	}
	if strings.Trim(intPart+frac, "0123456789") != "" || intPart+frac == "" {
		return Dec{}, Type{}, fmt.Errorf("decimal: %q is not a number", s)
	}
	u, ok := new(big.Int).SetString("0"+digits, 10)
	if !ok {
		return Dec{}, Type{}, fmt.Errorf("decimal: %q is not a number", s)
	}
	if strings.HasPrefix(s, "-") {
		u.Neg(u)
	}
	d, err := FromTypes(types.Dec{Unscaled: u, Scale: t.Scale})
	return d, t, err
}
