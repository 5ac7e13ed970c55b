package obl

import (
	"math"

	"github.com/confide/confide/oblivious"
)

// Branch-free elementary functions. math.Exp and math.Log branch on
// their argument (special cases, ranges, subnormal scaling), so a secret
// that reaches them shows in the branch trace. These take the same path
// for every argument in their domain: range reduction by arithmetic,
// fixed-degree polynomials, the exponent assembled from bits, clamps by
// masks. Their errors are stated and tested against package math.

const (
	ln2Hi  = 6.93147180369123816490e-01 // ln 2, high part (Cody–Waite)
	ln2Lo  = 1.90821492927058770002e-10 // ln 2 − ln2Hi
	log2e  = 1.44269504088896338700e+00
	sqrt2  = 1.41421356237309504880
	roundK = 0x1.8p52 // adding and subtracting it rounds to an integer

	// ExpMin and ExpMax bound Exp's domain: arguments outside are
	// clamped (e^ExpMin is a normal number, e^ExpMax finite).
	ExpMin = -708.0
	ExpMax = 709.0
)

// clamp returns x limited to [lo, hi] by masks, not branches.
//
//confide:oblivious
//confide:secret x
func clamp(x, lo, hi float64) float64 {
	x = oblivious.SelectFloat(oblivious.LtFloat(x, lo), lo, x)
	return oblivious.SelectFloat(oblivious.LtFloat(hi, x), hi, x)
}

// Exp is e^x for x in [ExpMin, ExpMax] (x is clamped to it) with a
// relative error below 1e-15 (TestExp). x = n·ln 2 + r, |r| ≤ ½ln 2;
// e^r is its Taylor polynomial of degree 13 (the next term is below
// 5e-18), evaluated by Estrin's scheme, and 2^n is assembled in the
// exponent bits.
//
//confide:oblivious
//confide:secret x
func Exp(x float64) float64 {
	x = clamp(x, ExpMin, ExpMax)
	n := (x*log2e + roundK) - roundK
	r := x - n*ln2Hi - n*ln2Lo
	// Estrin's scheme: pairs, then pairs of pairs, so that the terms are
	// computed side by side rather than each waiting on the last.
	r2 := r * r
	r4 := r2 * r2
	r8 := r4 * r4
	p01 := 1 + r
	p23 := 1.0/2 + r*(1.0/6)
	p45 := 1.0/24 + r*(1.0/120)
	p67 := 1.0/720 + r*(1.0/5040)
	p89 := 1.0/40320 + r*(1.0/362880)
	pab := 1.0/3628800 + r*(1.0/39916800)
	pcd := 1.0/479001600 + r*(1.0/6227020800)
	p03 := p01 + r2*p23
	p47 := p45 + r2*p67
	p8b := p89 + r2*pab
	p07 := p03 + r4*p47
	p8d := p8b + r4*pcd
	p := p07 + r8*p8d
	return p * math.Float64frombits(uint64(int64(n)+1023)<<52)
}

// Log is the natural logarithm of a positive normal x (at least 2^-1022;
// other arguments give meaningless results, never a branch) with an
// absolute error below 1e-15·max(1, |ln x|) (TestLog). x = 2^e·m with m
// in [√½, √2); ln m = 2·atanh(s), s = (m−1)/(m+1), |s| < 0.172, by its
// series to s^21 (the next term is below 1e-17).
//
//confide:oblivious float-division
//confide:secret x
func Log(x float64) float64 {
	b := math.Float64bits(x)
	e := float64(int64(b>>52&0x7ff) - 1023)
	m := math.Float64frombits(b&(1<<52-1) | 1023<<52) // [1, 2)
	big := oblivious.LtFloat(sqrt2, m)
	m = oblivious.SelectFloat(big, m*0.5, m)
	e += float64(int64(big.Bit())) // through int64: no branch
	s := (m - 1) / (m + 1)
	s2 := s * s
	p := 1.0 / 21
	for _, c := range [...]float64{1.0 / 19, 1.0 / 17, 1.0 / 15, 1.0 / 13, 1.0 / 11, 1.0 / 9, 1.0 / 7, 1.0 / 5, 1.0 / 3, 1} {
		p = p*s2 + c
	}
	return e*ln2Hi + (2*s*p + e*ln2Lo)
}

// Sigmoid is 1/(1+e^−z), with z clamped to ±700 (where it is within
// 1e-300 of 0 or 1), to a relative error below 2e-15.
//
//confide:oblivious float-division
//confide:secret z
func Sigmoid(z float64) float64 {
	return 1 / (1 + Exp(-clamp(z, -700, 700)))
}

// Softplus is log(1+e^z) = max(z, 0) + log(1+e^−|z|), to an absolute
// error below 2e-15·max(1, z).
//
//confide:oblivious float-division
//confide:secret z
func Softplus(z float64) float64 {
	pos := oblivious.SelectFloat(oblivious.LtFloat(0, z), z, 0)
	return pos + Log(1+Exp(-math.Abs(z)))
}
