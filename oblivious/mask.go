package oblivious

import (
	"math"
	"math/bits"
	"unsafe"
)

// Mask is a condition in branch-free form: all ones for true, all zeros
// for false. Comparisons return masks and selections consume them, so a
// secret condition never becomes a Go bool, which the compiler may turn
// into a branch.
type Mask uint64

// True and False are the two masks.
const (
	True  Mask = ^Mask(0)
	False Mask = 0
)

// Lt returns a < b over the full unsigned 64-bit range. (crypto/subtle's
// ConstantTimeLessOrEq is only defined for values below 2^31.) The borrow
// of a−b is computed by math/bits.Sub64, which compiles to SUB/SBB.
//
//confide:oblivious
//confide:secret a b
func Lt(a, b uint64) Mask {
	_, borrow := bits.Sub64(a, b, 0)
	return Mask(-borrow)
}

// Le returns a <= b.
//
//confide:oblivious
//confide:secret a b
func Le(a, b uint64) Mask { return ^Lt(b, a) }

// Gt returns a > b.
//
//confide:oblivious
//confide:secret a b
func Gt(a, b uint64) Mask { return Lt(b, a) }

// Ge returns a >= b.
//
//confide:oblivious
//confide:secret a b
func Ge(a, b uint64) Mask { return ^Lt(a, b) }

// Eq returns a == b.
//
//confide:oblivious
//confide:secret a b
func Eq(a, b uint64) Mask {
	x := a ^ b
	return Mask(((x | -x) >> 63) - 1)
}

// IsZero returns x == 0.
//
//confide:oblivious
//confide:secret x
func IsZero(x uint64) Mask { return Eq(x, 0) }

// flipSign maps int64 order onto uint64 order.
//
//confide:oblivious
//confide:secret x
func flipSign(x int64) uint64 { return uint64(x) ^ (1 << 63) }

// LtInt returns a < b for signed integers.
//
//confide:oblivious
//confide:secret a b
func LtInt(a, b int64) Mask { return Lt(flipSign(a), flipSign(b)) }

// EqInt returns a == b for signed integers.
//
//confide:oblivious
//confide:secret a b
func EqInt(a, b int64) Mask { return Eq(uint64(a), uint64(b)) }

// FloatKey maps a float64 to a uint64 whose unsigned order is the float's
// total order (−NaN < −Inf < … < −0 < +0 < … < +Inf < +NaN), branch-free,
// so that floats sort and compare with the integer primitives. Note that
// −0 and +0 get different keys.
//
//confide:oblivious
//confide:secret f
func FloatKey(f float64) uint64 {
	k := math.Float64bits(f)
	return k ^ (uint64(int64(k)>>63) | 1<<63)
}

// LtFloat returns a < b in FloatKey order (for non-NaN values, Go's <,
// except that −0 < +0).
//
//confide:oblivious
//confide:secret a b
func LtFloat(a, b float64) Mask { return Lt(FloatKey(a), FloatKey(b)) }

// Not, And and Or combine masks.
//
//confide:oblivious
//confide:secret m
func (m Mask) Not() Mask { return ^m }

//confide:oblivious
//confide:secret m o
func (m Mask) And(o Mask) Mask { return m & o }

//confide:oblivious
//confide:secret m o
func (m Mask) Or(o Mask) Mask { return m | o }

//confide:oblivious
//confide:secret m o
func (m Mask) AndNot(o Mask) Mask { return m &^ o }

// Bit returns 1 for True and 0 for False.
//
//confide:oblivious
//confide:secret m
func (m Mask) Bit() uint64 { return uint64(m) & 1 }

// FromBit turns 1 into True and 0 into False; other values are undefined.
//
//confide:oblivious
//confide:secret b
func FromBit(b uint64) Mask { return Mask(-(b & 1)) }

// Select returns a if m is True, else b.
//
//confide:oblivious
//confide:secret m a b
func Select(m Mask, a, b uint64) uint64 { return b ^ (uint64(m) & (a ^ b)) }

// SelectInt returns a if m is True, else b.
//
//confide:oblivious
//confide:secret m a b
func SelectInt(m Mask, a, b int64) int64 { return int64(Select(m, uint64(a), uint64(b))) }

// SelectFloat returns a if m is True, else b.
//
//confide:oblivious
//confide:secret m a b
func SelectFloat(m Mask, a, b float64) float64 {
	return math.Float64frombits(Select(m, math.Float64bits(a), math.Float64bits(b)))
}

// CondSwap64 swaps *a and *b if m is True. Both are read and written
// either way.
//
//confide:oblivious
//confide:secret m
func CondSwap64(m Mask, a, b *uint64) {
	d := uint64(m) & (*a ^ *b)
	*a ^= d
	*b ^= d
}

// CondCopyBytes sets dst to src where m is True; dst and src must have the
// same (public) length. Every byte is read and written either way.
//
//confide:oblivious
//confide:secret m dst src
func CondCopyBytes(m Mask, dst, src []byte) {
	if len(dst) != len(src) {
		panic("oblivious: CondCopyBytes of unequal lengths")
	}
	mb := byte(m)
	for i := range dst {
		dst[i] ^= mb & (dst[i] ^ src[i])
	}
}

// CondSwapBytes swaps a and b (same public length) if m is True.
//
//confide:oblivious
//confide:secret m a b
func CondSwapBytes(m Mask, a, b []byte) {
	if len(a) != len(b) {
		panic("oblivious: CondSwapBytes of unequal lengths")
	}
	mb := byte(m)
	for i := range a {
		d := mb & (a[i] ^ b[i])
		a[i] ^= d
		b[i] ^= d
	}
}

// EqBytes returns whether a and b (same public length) are equal, reading
// every byte.
//
//confide:oblivious
//confide:secret a b
func EqBytes(a, b []byte) Mask {
	if len(a) != len(b) {
		panic("oblivious: EqBytes of unequal lengths")
	}
	var x byte
	for i := range a {
		x |= a[i] ^ b[i]
	}
	return IsZero(uint64(x))
}

// Shl returns x << s for a secret count s, 0 when s ≥ 64, as six
// selections between shifts by public amounts: the count never reaches a
// shift instruction (constant-time on amd64 anyway, but not on every CPU).
//
//confide:oblivious
//confide:secret x s
func Shl(x, s uint64) uint64 {
	for b := range 6 {
		x = Select(FromBit(s>>b), x<<(1<<b), x)
	}
	return Select(Ge(s, 64), 0, x)
}

// Shr returns x >> s for a secret count s, 0 when s ≥ 64, like Shl.
//
//confide:oblivious
//confide:secret x s
func Shr(x, s uint64) uint64 {
	for b := range 6 {
		x = Select(FromBit(s>>b), x>>(1<<b), x)
	}
	return Select(Ge(s, 64), 0, x)
}

// shlLane returns x << (8·k) for a secret byte lane k < 8: three
// selections, for code that packs eight byte-wide counters in a word.
//
//confide:oblivious
//confide:secret x k
func shlLane(x, k uint64) uint64 {
	x = Select(FromBit(k), x<<8, x)
	x = Select(FromBit(k>>1), x<<16, x)
	return Select(FromBit(k>>2), x<<32, x)
}

// shrLane returns x >> (8·k) for a secret byte lane k < 8.
//
//confide:oblivious
//confide:secret x k
func shrLane(x, k uint64) uint64 {
	x = Select(FromBit(k), x>>8, x)
	x = Select(FromBit(k>>1), x>>16, x)
	return Select(FromBit(k>>2), x>>32, x)
}

// LtFinite returns a < b for finite a and b, in LtFloat's order (−0 <
// +0), as the sign of a − b: three instructions against LtFloat's dozen,
// for inner loops. For an infinite or NaN operand the result is
// meaningless. A subtraction's timing may depend on subnormal operands on
// some CPUs; its memory accesses do not.
//
//confide:oblivious
//confide:secret a b
func LtFinite(a, b float64) Mask { return Mask(int64(math.Float64bits(a-b)) >> 63) }

// ByteAt returns byte i of ws read as little-endian words (byte 0 is the
// low byte of ws[0]): every word is read and the one holding the byte
// selected by masks (element granularity over ws), then the byte is read
// from that word's copy on the stack at its offset — an 8-aligned word,
// so within one cache line whatever the offset (cache-line granularity
// there; a shift by a secret amount would be a checker finding). An i out
// of range returns 0.
//
//confide:oblivious
//confide:secret ws i
func ByteAt(ws []uint64, i uint64) uint64 {
	target := i / 8
	var w uint64
	for k, x := range ws {
		w |= x & uint64(Eq(uint64(k), target))
	}
	return uint64(*(*byte)(unsafe.Add(unsafe.Pointer(&w), i%8)))
}
