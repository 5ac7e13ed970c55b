package gbdt

import (
	"sync"
	"sync/atomic"
)

// parallelFor runs fn(worker, i) for every i in [0, n) on up to threads
// goroutines, worker in [0, threads) naming the goroutine so that fn can
// use per-goroutine scratch space. Items are handed out in order, one at a
// time; callers make results independent of which worker ran which item.
func parallelFor(threads, n int, fn func(worker, i int)) {
	w := min(threads, n)
	if w <= 1 {
		for i := range n {
			fn(0, i)
		}
		return
	}
	var next atomic.Int64
	run := func(worker int) {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			fn(worker, i)
		}
	}
	var wg sync.WaitGroup
	for k := 1; k < w; k++ {
		wg.Go(func() { run(k) })
	}
	run(0)
	wg.Wait()
}
