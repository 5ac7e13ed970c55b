package decimal

import (
	"math/bits"

	"github.com/confide/confide/oblivious"
)

// wide is a 384-bit unsigned integer, little-endian limbs: room for a
// 38-digit magnitude scaled by up to 10^44 (division's numerator) or the
// product of two 38-digit magnitudes. Every operation on it is
// branch-free and runs in time independent of the values (the oblivious
// library's masks), so the enclave's arithmetic on secret decimals leaks
// nothing through timing.
type wide [6]uint64

const wideBits = 6 * 64

// add returns a + b and the carry out.
//
//confide:oblivious
//confide:secret a b
func (a wide) add(b wide) (wide, uint64) {
	var r wide
	var c uint64
	for i := range a {
		r[i], c = bits.Add64(a[i], b[i], c)
	}
	return r, c
}

// sub returns a − b and the borrow out.
//
//confide:oblivious
//confide:secret a b
func (a wide) sub(b wide) (wide, uint64) {
	var r wide
	var c uint64
	for i := range a {
		r[i], c = bits.Sub64(a[i], b[i], c)
	}
	return r, c
}

// lt is a < b.
//
//confide:oblivious
//confide:secret a b
func (a wide) lt(b wide) oblivious.Mask {
	_, borrow := a.sub(b)
	return oblivious.FromBit(borrow)
}

// isZero is a == 0.
//
//confide:oblivious
//confide:secret a
func (a wide) isZero() oblivious.Mask {
	var or uint64
	for _, l := range a {
		or |= l
	}
	return oblivious.IsZero(or)
}

// sel is m ? a : b.
//
//confide:oblivious
//confide:secret m a b
func sel(m oblivious.Mask, a, b wide) wide {
	var r wide
	for i := range a {
		r[i] = oblivious.Select(m, a[i], b[i])
	}
	return r
}

// mul returns the low 384 bits of a × b and whether any product bit was
// lost (an overflow mask).
//
//confide:oblivious
//confide:secret a b
func (a wide) mul(b wide) (wide, oblivious.Mask) {
	var acc [12]uint64
	for i := range a {
		var carry uint64
		for j := range b {
			hi, lo := bits.Mul64(a[i], b[j])
			var c uint64
			acc[i+j], c = bits.Add64(acc[i+j], lo, 0)
			hi += c // cannot overflow: hi ≤ 2^64 − 2
			acc[i+j], c = bits.Add64(acc[i+j], carry, 0)
			carry = hi + c
		}
		k := i + len(b)
		acc[k], carry = bits.Add64(acc[k], carry, 0)
		for k++; k < len(acc); k++ {
			acc[k], carry = bits.Add64(acc[k], carry, 0)
		}
	}
	var r wide
	copy(r[:], acc[:6])
	var lost uint64
	for _, l := range acc[6:] {
		lost |= l
	}
	return r, oblivious.IsZero(lost).Not()
}

// shl1 shifts left by one bit, shifting in the bit in.
//
//confide:oblivious
//confide:secret a in
func (a wide) shl1(in uint64) wide {
	var r wide
	for i := range a {
		r[i] = a[i]<<1 | in
		in = a[i] >> 63
	}
	return r
}

// divmod returns a / b and a mod b by restoring binary long division:
// wideBits iterations whatever the operands. b must not be zero (the
// callers check, and report division by zero).
//
//confide:oblivious
//confide:secret a b
func (a wide) divmod(b wide) (q, r wide) {
	for i := wideBits - 1; i >= 0; i-- {
		bit := (a[i/64] >> (uint(i) % 64)) & 1
		r = r.shl1(bit)
		d, borrow := r.sub(b)
		ge := oblivious.FromBit(borrow).Not()
		r = sel(ge, d, r)
		q[i/64] |= ge.Bit() << (uint(i) % 64)
	}
	return q, r
}

// pow10 holds 10^0 … 10^maxPow.
const maxPow = 2*MaxPrecision + 8

var pow10 = func() [maxPow + 1]wide {
	var t [maxPow + 1]wide
	t[0][0] = 1
	ten := wide{10}
	for i := 1; i <= maxPow; i++ {
		t[i], _ = t[i-1].mul(ten)
	}
	return t
}()
