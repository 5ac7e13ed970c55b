package oblivious

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkORAM measures reads and writes of 64-byte records at random
// secret indexes, in operations per second, for n = 2^14 and n = 2^20,
// next to the linear scan (Read, Write) that the ORAM replaces. Building
// the ORAM and touching its pages happen before the timed loops.
func BenchmarkORAM(b *testing.B) {
	for _, logN := range []int{14, 20} {
		n := 1 << logN
		b.Run(fmt.Sprintf("n=2^%d", logN), func(b *testing.B) {
			start := time.Now()
			o, err := NewORAM[oramBlock64](n, nil)
			if err != nil {
				b.Fatal(err)
			}
			built := time.Since(start)
			oramTouch(o)
			b.Logf("NewORAM: %v; touching its pages: %v", built, time.Since(start)-built)
			r := rand.New(rand.NewPCG(1, uint64(logN)))
			idx := make([]uint64, 1<<16)
			for i := range idx {
				idx[i] = r.Uint64N(uint64(n))
			}
			var v oramBlock64
			b.Run("read", func(b *testing.B) {
				k := 0
				for b.Loop() {
					v = o.Read(idx[k%len(idx)])
					k++
				}
				oramOpsPerSecond(b, k)
			})
			b.Run("write", func(b *testing.B) {
				k := 0
				for b.Loop() {
					v[0] = uint64(k)
					o.Write(idx[k%len(idx)], v)
					k++
				}
				oramOpsPerSecond(b, k)
			})
			b.Run("scan", func(b *testing.B) {
				rs := make([]oramBlock64, n)
				k := 0
				for b.Loop() {
					v = Read(rs, idx[k%len(idx)])
					k++
				}
				oramOpsPerSecond(b, k)
			})
		})
	}
}

func oramOpsPerSecond(b *testing.B, ops int) {
	b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), "ops/s")
}

// oramTouch writes to every slot of a new ORAM's trees, so that page
// faults do not land in the timed loop.
func oramTouch[R any](o *ORAM[R]) {
	oramTouchTree(o.data)
	for p := o.pos; ; {
		rp, ok := p.(*oramRecursivePositions)
		if !ok {
			return
		}
		oramTouchTree(rp.tree)
		p = rp.next
	}
}

func oramTouchTree[R any](t *oramTree[R]) {
	for i := range t.tree {
		t.tree[i].meta = 0 // they are all empty
	}
}
