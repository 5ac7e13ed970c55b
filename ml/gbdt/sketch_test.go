package gbdt

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

func TestFloatKeyOrder(t *testing.T) {
	vals := []float32{float32(math.Inf(-1)), -math.MaxFloat32, -1, -math.SmallestNonzeroFloat32,
		0, math.SmallestNonzeroFloat32, 1e-30, 1, 1.5, math.MaxFloat32, float32(math.Inf(1))}
	for i := 1; i < len(vals); i++ {
		if floatKey(vals[i-1]) >= floatKey(vals[i]) {
			t.Errorf("floatKey(%v) >= floatKey(%v)", vals[i-1], vals[i])
		}
	}
	negZero := float32(math.Copysign(0, -1))
	if floatKey(negZero) != floatKey(0) {
		t.Error("-0 and +0 have different keys")
	}
	for _, v := range vals {
		if got := keyFloat(floatKey(v)); got != v {
			t.Errorf("keyFloat(floatKey(%v)) = %v", v, got)
		}
	}
}

func TestRadixSortHigh(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 100, 5000} {
		for _, mask := range []uint64{0, 0xff, 0xff00ff, 0xffffffff} {
			items := make([]uint64, n)
			for i := range items {
				items[i] = (r.Uint64()&mask)<<32 | uint64(i)
			}
			want := slices.Clone(items)
			// The sort is stable, so items equal in the high half keep
			// their order (their low halves increase).
			slices.Sort(want)
			radixSortHigh(items, make([]uint64, n))
			if !slices.Equal(items, want) {
				t.Fatalf("n=%d mask=%#x: radixSortHigh differs from slices.Sort", n, mask)
			}
		}
	}
}

// cutsOf runs the cut computation on a column.
func cutsOf(col []float32, maxBins int) []float32 { return featureCuts(col, maxBins) }

func TestCutsFewDistinctValues(t *testing.T) {
	// With at most max_bin distinct values XGBoost's cuts are the values
	// but the smallest, then max + |max| + 1e-5.
	got := cutsOf([]float32{3, 1, 2, 2, 5, 1, 3}, 256)
	five := float32(5)
	want := []float32{2, 3, 5, five + (five + 1e-5)}
	if !slices.Equal(got, want) {
		t.Errorf("cuts = %v, want %v", got, want)
	}
	// A constant column has one bin. (The sum is in float32, as XGBoost's.)
	two := float32(2)
	if got := cutsOf([]float32{-2, -2, -2}, 256); !slices.Equal(got, []float32{-two + (two + 1e-5)}) {
		t.Errorf("constant column: cuts = %v", got)
	}
	// Exactly max_bin distinct values: all but the smallest are cuts.
	col := make([]float32, 8)
	for i := range col {
		col[i] = float32(i)
	}
	seven := float32(7)
	if got := cutsOf(col, 8); !slices.Equal(got, []float32{1, 2, 3, 4, 5, 6, 7, seven + (seven + 1e-5)}) {
		t.Errorf("max_bin distinct values: cuts = %v", got)
	}
}

func TestCutsFewValuesLargeColumn(t *testing.T) {
	// 100,000 rows of 5 values: the sketch's summaries never hold more
	// than 5 entries, so nothing is pruned however many rows stream in.
	r := rand.New(rand.NewPCG(7, 8))
	col := make([]float32, 100000)
	for i := range col {
		col[i] = float32(r.IntN(5)) - 2
	}
	two := float32(2)
	if got, want := cutsOf(col, 256), []float32{-1, 0, 1, 2, two + (two + 1e-5)}; !slices.Equal(got, want) {
		t.Errorf("cuts = %v, want %v", got, want)
	}
}

func TestCutsQuantiles(t *testing.T) {
	// 10,000 distinct values, 16 bins: 15 cuts near the k/16 quantiles.
	const n, bins = 10000, 16
	r := rand.New(rand.NewPCG(3, 4))
	col := make([]float32, n)
	for i := range col {
		col[i] = float32(i)
	}
	r.Shuffle(n, func(i, j int) { col[i], col[j] = col[j], col[i] })
	cuts := cutsOf(col, bins)
	if len(cuts) != bins {
		t.Fatalf("%d cuts, want %d: %v", len(cuts), bins, cuts)
	}
	for k, c := range cuts[:bins-1] {
		ideal := float64(k+1) * n / bins
		if math.Abs(float64(c)-ideal) > n/bins/4 {
			t.Errorf("cut %d = %v, far from the %d/%d quantile %v", k, c, k+1, bins, ideal)
		}
	}
	if top := cuts[bins-1]; top <= n-1 {
		t.Errorf("last cut %v is not above the maximum", top)
	}
	// Heavy duplicates: a value holding most of the mass is one bin.
	for i := range col {
		if i%10 != 0 {
			col[i] = 42
		}
	}
	cuts = cutsOf(col, bins)
	if !slices.IsSorted(cuts) || len(slices.Compact(slices.Clone(cuts))) != len(cuts) {
		t.Errorf("cuts not strictly increasing: %v", cuts)
	}
	if !slices.Contains(cuts, 42) {
		t.Errorf("cuts %v miss the dominant value's neighbourhood", cuts)
	}
}

func TestBinner(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, nc := range []int{1, 2, 7, 255, 256} {
		cuts := make([]float32, nc)
		for i := range cuts {
			cuts[i] = float32(r.NormFloat64())
		}
		slices.Sort(cuts)
		cuts = slices.Compact(cuts)
		b := newBinner(cuts)
		top := cuts[len(cuts)-1]
		for range 2000 {
			v := float32(r.NormFloat64() * 1.5)
			if v >= top {
				continue // training values are below the last cut
			}
			want := sort.Search(len(cuts), func(i int) bool { return cuts[i] > v })
			if got := int(b.bin(v)); got != want {
				t.Fatalf("%d cuts: bin(%v) = %d, want %d", len(cuts), v, got, want)
			}
		}
		// Every cut value itself goes to the bin above it.
		for i, c := range cuts[:len(cuts)-1] {
			if got := int(b.bin(c)); got != i+1 {
				t.Fatalf("bin(cut %d = %v) = %d, want %d", i, c, got, i+1)
			}
		}
	}
}
