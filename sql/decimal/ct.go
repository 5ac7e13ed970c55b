package decimal

import "github.com/confide/confide/oblivious"

// Constant-time building blocks for the SQL enclave's oblivious mode,
// on values of one scale: no error paths, masks instead.

// AddCT returns a + b (same scale) and a mask that is True when the sum
// does not fit 38 digits (the value is then meaningless).
//
//confide:oblivious
//confide:secret a b
func AddCT(a, b Dec) (Dec, oblivious.Mask) {
	mag, neg := signedAdd(a.wide(), a.Neg, b.wide(), b.Neg)
	return makeDec(mag, neg), fits(mag, MaxPrecision).Not()
}

// LessCT is a < b (same scale).
//
//confide:oblivious
//confide:secret a b
func LessCT(a, b Dec) oblivious.Mask {
	mag, neg := signedAdd(a.wide(), a.Neg, b.wide(), b.Neg^1) // a − b
	return oblivious.FromBit(neg).And(mag.isZero().Not())
}

// SelectDec is m ? a : b.
//
//confide:oblivious
//confide:secret m a b
func SelectDec(m oblivious.Mask, a, b Dec) Dec {
	return Dec{
		Neg: oblivious.Select(m, a.Neg, b.Neg),
		Mag: [2]uint64{oblivious.Select(m, a.Mag[0], b.Mag[0]), oblivious.Select(m, a.Mag[1], b.Mag[1])},
	}
}

// FitsCT is |a| < 10^p.
//
//confide:oblivious
//confide:secret a
func FitsCT(a Dec, p int) oblivious.Mask { return fits(a.wide(), p) }

// AddTypedCT is a + b in SQL Server's result type (Add), with a mask
// that is True when it overflows that type.
//
//confide:oblivious
//confide:secret a b
func AddTypedCT(a Dec, at Type, b Dec, bt Type) (Dec, Type, oblivious.Mask) {
	return addSubCT(a, at, b, bt, 0)
}

// SubTypedCT is a − b, as AddTypedCT.
//
//confide:oblivious
//confide:secret a b
func SubTypedCT(a Dec, at Type, b Dec, bt Type) (Dec, Type, oblivious.Mask) {
	return addSubCT(a, at, b, bt, 1)
}

// MulCT is a × b in SQL Server's result type (Mul), with an overflow
// mask.
//
//confide:oblivious
//confide:secret a b
func MulCT(a Dec, at Type, b Dec, bt Type) (Dec, Type, oblivious.Mask) {
	rt := MulType(at, bt)
	prod, _ := a.wide().mul(b.wide()) // 2 × 127 bits: exact
	mag := rescale(prod, at.Scale+bt.Scale, rt.Scale, true)
	return makeDec(mag, a.Neg^b.Neg), rt, fits(mag, rt.Precision).Not()
}

// CastCT converts between DECIMAL types (Cast), with an overflow mask;
// to must be valid.
//
//confide:oblivious
//confide:secret a
func CastCT(a Dec, from, to Type) (Dec, oblivious.Mask) {
	mag := rescale(a.wide(), from.Scale, to.Scale, true)
	return makeDec(mag, a.Neg), fits(mag, to.Precision).Not()
}
