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
