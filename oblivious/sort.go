package oblivious

import (
	"math/bits"
	"unsafe"

	"github.com/confide/confide/oblivious/trace"
)

// Keyed is a record sorted by the key its Key method returns. The SQL
// enclave and the ML trainer sort their rows through this interface.
type Keyed interface {
	// Key returns the record's sort key, a secret, without branching on
	// the record's contents.
	//
	//confide:oblivious
	//confide:secret
	Key() uint64
}

// Sort sorts records by Key, ascending, with a bitonic sorting network for
// arbitrary n (H. W. Lang's formulation). Keys are read once, through the
// method, into a parallel array; then every compare-exchange of the
// network reads and rewrites both keys and both records whatever their
// order. Public parameters: len(rs) and the record size. Granularity:
// element (the pair of positions of each compare-exchange is fixed by n).
// The order of equal keys is unspecified. R must be a valid record
// (CheckRecord); Sort panics otherwise.
//
//confide:oblivious
//confide:secret rs
func Sort[R Keyed](rs []R) {
	mustRecord[R]()
	keys := make([]uint64, len(rs))
	for i := range rs {
		keys[i] = rs[i].Key()
	}
	sortBy(keys, rs)
}

// SortUint64 sorts keys ascending with the same network as Sort.
//
//confide:oblivious
//confide:secret keys
func SortUint64(keys []uint64) {
	s := sorter[struct{}]{k: keys}
	s.sort(0, len(keys), true)
}

// SortRows sorts keys ascending with the same network as Sort and
// permutes rows alongside: rows holds len(keys) records of width words
// each, row i at rows[i*width:(i+1)*width] (records whose size is known
// only at run time, such as a table's rows). Public: len(keys) and width.
// Granularity: element.
//
//confide:oblivious
//confide:secret keys rows
func SortRows(keys []uint64, rows []uint64, width int) {
	if width <= 0 || len(rows) != len(keys)*width {
		panic("oblivious: SortRows: rows is not len(keys) records of width words")
	}
	s := sorter[struct{}]{k: keys, rw: rows}
	s.sort(0, len(keys), true)
}

// sortBy sorts keys and permutes rs (nil, or the same length) alongside.
//
//confide:oblivious
//confide:secret keys rs
func sortBy[R any](keys []uint64, rs []R) int {
	s := sorter[R]{k: keys, r: rs}
	s.sort(0, len(keys), true)
	return s.count
}

type sorter[R any] struct {
	k []uint64
	r []R
	// rw holds records of len(rw)/len(k) words (SortRows): the width
	// is a ratio of lengths, public by construction.
	rw    []uint64
	count int
}

//confide:oblivious
func (s *sorter[R]) sort(lo, n int, up bool) {
	if n <= 1 {
		return
	}
	m := n / 2
	s.sort(lo, m, !up)
	s.sort(lo+m, n-m, up)
	s.merge(lo, n, up)
}

//confide:oblivious
func (s *sorter[R]) merge(lo, n int, up bool) {
	if n <= 1 {
		return
	}
	m := 1 << (bits.Len(uint(n-1)) - 1) // greatest power of two below n
	s.cmpexRange(lo, lo+m, n-m, up)
	s.mergePow2(lo, m, up)
	s.merge(lo+m, n-m, up)
}

// NetworkSize returns the number of compare-exchanges Sort performs on n
// records: C(n) = C(⌊n/2⌋) + C(⌈n/2⌉) + M(n), where the merge costs
// M(n) = (n − p) + M(p) + M(n − p) with p the greatest power of two below
// n, and C(1) = M(1) = 0. For n = 2^k this is n·k·(k+1)/4.
func NetworkSize(n int) int {
	memoC, memoM := map[int]int{}, map[int]int{}
	var c, mrg func(int) int
	mrg = func(n int) int {
		if n <= 1 {
			return 0
		}
		if v, ok := memoM[n]; ok {
			return v
		}
		p := 1 << (bits.Len(uint(n-1)) - 1)
		v := (n - p) + mrg(p) + mrg(n-p)
		memoM[n] = v
		return v
	}
	c = func(n int) int {
		if n <= 1 {
			return 0
		}
		if v, ok := memoC[n]; ok {
			return v
		}
		v := c(n/2) + c(n-n/2) + mrg(n)
		memoC[n] = v
		return v
	}
	return c(n)
}

// cmpexRange compare-exchanges positions a+i and b+i for i < cnt, the
// merge step as one loop: the (public) direction is hoisted out, bounds
// are checked once, and records of 8-byte words are swapped through a
// word view of the whole range.
//
//confide:oblivious
func (s *sorter[R]) cmpexRange(a, b, cnt int, up bool) {
	if cnt <= 0 {
		return
	}
	ka := s.k[a : a+cnt]
	kb := s.k[b : b+cnt]
	kb = kb[:len(ka)]
	var zero R
	size, align := unsafe.Sizeof(zero), unsafe.Alignof(zero)
	switch {
	case len(s.rw) > 0: // public: the record layout
		w := len(s.rw) / len(s.k)
		for i := range ka {
			traceSwap(s.k, a+i, b+i)
			var m Mask
			ka[i], kb[i], m = order(ka[i], kb[i], up)
			condSwapWords(m, s.rw[(a+i)*w:(a+i+1)*w], s.rw[(b+i)*w:(b+i+1)*w])
		}
	case len(s.r) == 0: // public: whether records ride along
		for i := range ka {
			traceSwap(s.k, a+i, b+i)
			ka[i], kb[i], _ = order(ka[i], kb[i], up)
		}
	case align >= 8 && size == 8:
		ra := s.r[a : a+cnt]
		rb := s.r[b : b+cnt]
		wa := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(ra))), len(ra))
		wb := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(rb))), len(rb))
		wb = wb[:len(ka)]
		wa = wa[:len(ka)]
		for i := range ka {
			traceSwap(s.k, a+i, b+i)
			var m Mask
			ka[i], kb[i], m = order(ka[i], kb[i], up)
			CondSwap64(m, &wa[i], &wb[i])
		}
	default:
		for i := range ka {
			traceSwap(s.k, a+i, b+i)
			var m Mask
			ka[i], kb[i], m = order(ka[i], kb[i], up)
			CondSwap(m, &s.r[a+i], &s.r[b+i])
		}
	}
	s.count += cnt
}

// order returns x and y in ascending (up) or descending order, and the
// mask of whether it swapped them. The direction is public: it depends
// only on the position in the network.
//
//confide:oblivious
//confide:secret x y
func order(x, y uint64, up bool) (uint64, uint64, Mask) {
	m := Lt(y, x)
	if !up {
		m = Lt(x, y)
	}
	d := uint64(m) & (x ^ y)
	return x ^ d, y ^ d, m
}

// traceSwap records a compare-exchange of keys i and j.
func traceSwap(k []uint64, i, j int) {
	if trace.Enabled {
		base := unsafe.Pointer(unsafe.SliceData(k))
		trace.Access(trace.OpSwap, base, i)
		trace.Access(trace.OpSwap, base, j)
	}
}

// mergePow2 is merge for a power of two m: depth first while the block
// is larger than the cache, then level by level.
//
//confide:oblivious
func (s *sorter[R]) mergePow2(lo, m int, up bool) {
	if m <= 1 {
		return
	}
	if m > 1<<11 {
		s.cmpexRange(lo, lo+m/2, m/2, up)
		s.mergePow2(lo, m/2, up)
		s.mergePow2(lo+m/2, m/2, up)
		return
	}
	for p := m / 2; p >= 1; p /= 2 {
		if p >= 8 {
			for blk := lo; blk < lo+m; blk += 2 * p {
				s.cmpexRange(blk, blk+p, p, up)
			}
		} else {
			s.level(lo, m, p, up)
		}
	}
}

// level compare-exchanges i and i+p for the i in [lo, lo+m) with bit p of
// i−lo clear, in one loop: the small-p levels of a power-of-two merge.
//
//confide:oblivious
func (s *sorter[R]) level(lo, m, p int, up bool) {
	k := s.k[lo : lo+m]
	var zero R
	var w []uint64
	if len(s.r) > 0 && unsafe.Alignof(zero) >= 8 && unsafe.Sizeof(zero) == 8 {
		r := s.r[lo : lo+m]
		w = unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(r))), len(r))
		w = w[:len(k)]
	}
	for i := 0; i+p < len(k); i++ {
		if i&p != 0 {
			continue // public: position only
		}
		j := i + p
		traceSwap(s.k, lo+i, lo+j)
		var mk Mask
		k[i], k[j], mk = order(k[i], k[j], up)
		switch {
		case len(s.rw) > 0: // public: the record layout
			rw := len(s.rw) / len(s.k)
			condSwapWords(mk, s.rw[(lo+i)*rw:(lo+i+1)*rw], s.rw[(lo+j)*rw:(lo+j+1)*rw])
		case len(w) > 0:
			CondSwap64(mk, &w[i], &w[j])
		case len(s.r) > 0:
			CondSwap(mk, &s.r[lo+i], &s.r[lo+j])
		}
	}
	s.count += m / 2
}

// condSwapWords swaps the words of a and b (of equal length) if m is
// True; every word of both is read and written either way.
//
//confide:oblivious
//confide:secret m a b
func condSwapWords(m Mask, a, b []uint64) {
	b = b[:len(a)]
	for i := range a {
		d := uint64(m) & (a[i] ^ b[i])
		a[i] ^= d
		b[i] ^= d
	}
}
