// Package obliv exercises indirect leaks: every dependence an oblivious
// function must not have on a secret.
package obliv

import (
	"crypto/subtle"
	"math"
	"math/bits"
	"strconv"
	"unsafe"
)

type Row struct {
	ID    uint64
	Score uint64 //confide:secret
}

// kinds has one of every forbidden dependence.
//
//confide:oblivious
//confide:secret s n str arr m ch b
func kinds(s uint64, n int, str string, arr [4]byte, m map[uint64]int, ch []chan int, b bool, table []byte, pub int) uint64 {
	if s > 3 { // want `indirect leak: secret parameter s of kinds used as branch condition in oblivious function kinds`
		pub++
	}
	for i := 0; i < n; i++ { // want `used as loop condition`
		pub++
	}
	for range n { // want `used as loop condition`
	}
	switch s { // want `used as switch value`
	case 1:
	}
	switch {
	case s == 2: // want `used as switch value`
	}
	x := b && pub > 0 // want `used as &&/|| operand`
	_ = x
	_ = table[s] // want `used as index`
	_ = str[pub] // secret string, public index: fine
	_ = m[s]     // want `used as index`
	_ = pub / n  // want `used as divisor`
	_ = pub % n  // want `used as divisor`
	q := pub
	q /= n                // want `used as divisor`
	_ = n / pub           // secret dividend, public divisor: fine
	_ = table[:s]         // want `used as slice bound`
	_ = pub << s          // want `used as shift count`
	_ = s >> pub          // public shift count: fine
	_ = float64(s)        // want `used as operand of a float/uint64 conversion`
	_ = float64(int64(s)) // through int64: no branch
	_ = uint32(s)         // integer conversions: fine
	_ = str == "x"        // want `used as operand of an early-exit comparison`
	_ = arr == arr        // want `used as operand of an early-exit comparison`
	_ = s == 3            // integer comparison: a SETcc, no branch
	_ = min(n, pub)       // want `used as min/max operand`
	_ = max(1.0, 2.0)     // floats: fine
	_ = make([]byte, n)   // want `used as make size`
	select {
	case <-ch[0]: // want `used as select channel`
	default:
	}
	var rows []Row
	for _, r := range rows {
		if r.ID > 3 { // public field: fine
			pub++
		}
		if r.Score > 3 { // want `secret field Row.Score used as branch condition`
			pub++
		}
	}
	for range str { // want `used as branch condition`
	}
	for k := range m { // want `used as index`
		_ = k
	}
	return s + uint64(pub)
}

//confide:oblivious
//confide:secret c
func selects(c chan int) {
	select {
	case <-c: // want `used as select channel`
	default:
	}
}

//confide:oblivious
//confide:secret n
func appendSize(dst, src []byte, n int) []byte {
	return append(dst, src[:n]...) // want `used as slice bound` `used as append size`
}

// lengths of secret data are public.
//
//confide:oblivious
//confide:secret key
func lengths(key []byte) int {
	total := 0
	for i := 0; i < len(key); i++ {
		total += int(key[i])
	}
	for i := range key {
		total ^= int(key[i])
	}
	return total
}

// lookup indexes by a parameter: a secret index leaks through it.
//
//confide:oblivious
func lookup(t []byte, i int) byte {
	return t[i]
}

//confide:secret k
func callsHelper(k int, t []byte) byte {
	_ = lookup(t, 3)    // public index
	_ = lookup(t[:], k) // want `indirect leak: secret parameter k of callsHelper used as index in oblivious function lookup via lookup\(i\) → index at obliv.go:\d+`
	return 0
}

// branches is not oblivious: it may branch on its parameters.
func branches(x uint64) uint64 {
	if x > 0 {
		return 1
	}
	return 0
}

//confide:oblivious
//confide:secret k
func callsBrancher(k uint64) uint64 {
	return branches(k) // want `indirect leak: secret parameter k of callsBrancher used as branch condition in oblivious function callsBrancher via branches\(x\) → branch condition at obliv.go:\d+`
}

// a non-oblivious caller may call a brancher with a secret.
//
//confide:secret k
func nonOblivious(k uint64) uint64 {
	if k > 1 {
		return branches(k)
	}
	return 0
}

// Transitively: a public wrapper passes its argument on to an oblivious
// function that indexes by it.
func wrapper(t []byte, i int) byte { return lookup(t, i) }

//confide:secret k
func callsWrapper(k int, t []byte) byte {
	return wrapper(t, k) // want `used as index in oblivious function lookup via wrapper\(i\) → lookup\(i\) → index`
}

// The allow-list: constant-time standard functions.
//
//confide:oblivious
//confide:secret a b f
func allowed(a, b []byte, f float64, x uint64) int {
	c := subtle.ConstantTimeCompare(a, b)
	_ = math.Float64bits(f)
	_ = math.Abs(f)
	hi, lo := bits.Mul64(uint64(c), x)
	_ = bits.LeadingZeros64(hi ^ lo)
	_, _ = bits.Div64(0, x, 3)         // public operands
	_, _ = bits.Div64(0, uint64(c), 3) // want `used as argument of a function not known to be oblivious in oblivious function allowed via bits.Div64`
	_ = strconv.Itoa(c)                // want `via strconv.Itoa`
	return c
}

// Recursion: summaries reach a fixed point.
func even(n int) bool {
	if n == 0 {
		return true
	}
	return odd(n - 1)
}

func odd(n int) bool {
	if n == 0 {
		return false
	}
	return even(n - 1)
}

//confide:oblivious
//confide:secret k
func callsRecursive(k int) bool {
	return even(k) // want `used as branch condition in oblivious function callsRecursive via even\(n\)`
}

// Closures inherit obliviousness and are checked where defined.
//
//confide:oblivious
//confide:secret k
func closures(k int, t []byte) {
	f := func() byte { return t[k] } // want `used as index`
	_ = f()
	g := func(i int) byte { return t[i] }
	_ = g(1)
	_ = g(k) // want `used as index in oblivious function a function literal in closures via a function literal in closures\(i\)`
}

// apply calls f on its data: obliviously.
//
//confide:oblivious
func apply(xs []uint64, f func(uint64) uint64) {
	for i := range xs {
		xs[i] = f(xs[i])
	}
}

type scaler struct{ limit uint64 }

func (s scaler) clamp(x uint64) uint64 {
	if x > s.limit {
		return s.limit
	}
	return x
}

func (s scaler) double(x uint64) uint64 { return x << 1 }

func usesApply(xs []uint64) {
	var sc scaler
	apply(xs, sc.double)
	apply(xs, sc.clamp)                               // want `parameter x of scaler.clamp, which oblivious function apply calls on its data, used as branch condition`
	apply(xs, func(x uint64) uint64 { return x * 2 }) // branch-free: fine
	apply(xs, func(x uint64) uint64 {                 // want `parameter x of a function literal in usesApply, which oblivious function apply calls on its data, used as branch condition`
		if x > 3 {
			return 0
		}
		return x
	})
}

// condMove views records as words (as oblivious.CondMove does): sizes
// and alignments depend on the type only.
//
//confide:oblivious
//confide:secret m
func condMove[R any](m uint64, dst, src *R) {
	n := unsafe.Sizeof(*dst)
	if unsafe.Alignof(*dst) >= 8 && n >= 8 {
		wd := unsafe.Slice((*uint64)(unsafe.Pointer(dst)), n/8)
		ws := unsafe.Slice((*uint64)(unsafe.Pointer(src)), n/8)
		for i := range wd {
			wd[i] ^= m & (wd[i] ^ ws[i])
		}
		if wd[0] > 0 { // want `indirect leak: secret parameter m of condMove used as branch condition`
			return
		}
	}
}
