package oblivious

import (
	"math/bits"
	"unsafe"

	"github.com/confide/confide/oblivious/trace"
)

// Keyed is a record sorted by the key its Key method returns. The SQL
// enclave and the ML trainer sort their rows through this interface.
type Keyed interface {
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
func Sort[R Keyed](rs []R) {
	mustRecord[R]()
	keys := make([]uint64, len(rs))
	for i := range rs {
		keys[i] = rs[i].Key()
	}
	sortBy(keys, rs)
}

// SortUint64 sorts keys ascending with the same network as Sort.
func SortUint64(keys []uint64) {
	s := sorter[struct{}]{k: keys}
	s.sort(0, len(keys), true)
}

// sortBy sorts keys and permutes rs (nil, or the same length) alongside.
func sortBy[R any](keys []uint64, rs []R) int {
	s := sorter[R]{k: keys, r: rs}
	s.sort(0, len(keys), true)
	return s.count
}

type sorter[R any] struct {
	k     []uint64
	r     []R
	count int
}

func (s *sorter[R]) sort(lo, n int, up bool) {
	if n <= 1 {
		return
	}
	m := n / 2
	s.sort(lo, m, !up)
	s.sort(lo+m, n-m, up)
	s.merge(lo, n, up)
}

func (s *sorter[R]) merge(lo, n int, up bool) {
	if n <= 1 {
		return
	}
	m := 1 << (bits.Len(uint(n-1)) - 1) // greatest power of two below n
	for i := lo; i < lo+n-m; i++ {
		s.cmpex(i, i+m, up)
	}
	s.merge(lo, m, up)
	s.merge(lo+m, n-m, up)
}

// cmpex orders positions i < j ascending (up) or descending. The
// direction is public: it depends only on the position in the network.
func (s *sorter[R]) cmpex(i, j int, up bool) {
	ki, kj := &s.k[i], &s.k[j]
	var m Mask
	if up {
		m = Lt(*kj, *ki)
	} else {
		m = Lt(*ki, *kj)
	}
	trace.Access(trace.OpSwap, unsafe.Pointer(unsafe.SliceData(s.k)), i)
	trace.Access(trace.OpSwap, unsafe.Pointer(unsafe.SliceData(s.k)), j)
	CondSwap64(m, ki, kj)
	if s.r != nil {
		CondSwap(m, &s.r[i], &s.r[j])
	}
	s.count++
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
