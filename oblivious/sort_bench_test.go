package oblivious

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// benchRec is the benchmark's record: an 8-byte key read through a
// method, as the SQL enclave's rows are.
type benchRec struct{ K uint64 }

func (r benchRec) Key() uint64 { return r.K }

func benchSizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprint(n)
}

// BenchmarkSort compares the oblivious Sort of n records keyed by a
// method with slices.Sort of the same n uint64 keys, side by side in one
// run. Goal: oblivious within 4x of slices at 1M. The oblivious
// sub-benchmarks also report the compare-exchanges the network performs
// per sort (counted by running the same network once), NetworkSize(n),
// and the time per compare-exchange.
//
//	go test -run '^$' -bench Sort -benchtime 5x ./oblivious/
func BenchmarkSort(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 16, 1 << 20} {
		r := rand.New(rand.NewPCG(uint64(n), 1))
		keys := make([]uint64, n)
		for i := range keys {
			keys[i] = r.Uint64()
		}
		b.Run("oblivious/"+benchSizeName(n), func(b *testing.B) {
			rs := make([]benchRec, n)
			load := func() {
				for i, k := range keys {
					rs[i] = benchRec{k}
				}
			}
			// The network's size, counted on this input.
			load()
			count := sortBy(slices.Clone(keys), rs)
			for b.Loop() {
				b.StopTimer()
				load()
				b.StartTimer()
				Sort(rs)
			}
			if !slices.IsSortedFunc(rs, func(x, y benchRec) int { return cmp.Compare(x.K, y.K) }) {
				b.Fatal("not sorted")
			}
			b.ReportMetric(float64(count), "cmpex/op")
			b.ReportMetric(float64(NetworkSize(n)), "networksize")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(count), "ns/cmpex")
		})
		b.Run("slices/"+benchSizeName(n), func(b *testing.B) {
			ks := make([]uint64, n)
			for b.Loop() {
				b.StopTimer()
				copy(ks, keys)
				b.StartTimer()
				slices.Sort(ks)
			}
		})
	}
}
