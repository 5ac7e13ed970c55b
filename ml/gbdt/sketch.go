package gbdt

import (
	"math"
	"slices"
)

// This file computes each feature's histogram cuts exactly as XGBoost
// 1.7's hist method does (HostSketchContainer, WQuantileSketch and
// HistogramCuts in its src/common), and maps values to bins.
//
// Each column's values stream, in row order, through a weighted quantile
// sketch with error bound eps = 1/(8·max_bin) (weights are sample
// weights, all 1 here: hist, unlike approx, does not weight by hessian).
// The sketch buffers values, and each time the buffer is full it turns it
// into a summary — values with the range of ranks they may have — and
// merges that into a pyramid of summaries pruned to a fixed size. A
// column that fits the buffer is summarised exactly. The final summary is
// pruned to 8·max_bin entries, then to max_bin+1, and entries 1…max_bin−1
// become the cuts, followed by one value above the maximum. Summary
// arithmetic is in float32, as XGBoost's, so the cuts are the same bits.

// sketchFactor is XGBoost's WQuantileSketch::kFactor.
const sketchFactor = 8

// summaryEntry is one entry of XGBoost's WQSummary: a value and the range
// of ranks it may take.
type summaryEntry struct {
	rmin, rmax, wmin float32
	value            float32
}

func (e summaryEntry) rminNext() float32 { return e.rmin + e.wmin }
func (e summaryEntry) rmaxPrev() float32 { return e.rmax - e.wmin }

// prune is WQSummary::SetPrune: keep at most maxSize entries spread
// evenly over the rank range, always keeping the first and the last. It
// returns a new slice.
func prune(src []summaryEntry, maxSize int) []summaryEntry {
	if len(src) <= maxSize {
		return slices.Clone(src)
	}
	out := make([]summaryEntry, 0, maxSize)
	begin := src[0].rmax
	rng := src[len(src)-1].rmin - src[0].rmax
	n := maxSize - 1
	out = append(out, src[0])
	i, last := 1, 0
	for k := 1; k < n; k++ {
		// The conversions round each step to float32, as XGBoost does.
		dx2 := 2 * float32(float32(float32(k)*rng)/float32(n)+begin)
		for i < len(src)-1 && dx2 >= src[i+1].rmax+src[i+1].rmin {
			i++
		}
		if i == len(src)-1 {
			break
		}
		if dx2 < src[i].rminNext()+src[i+1].rmaxPrev() {
			if i != last {
				out = append(out, src[i])
				last = i
			}
		} else if i+1 != last {
			out = append(out, src[i+1])
			last = i + 1
		}
	}
	if last != len(src)-1 {
		out = append(out, src[len(src)-1])
	}
	return out
}

// combine is WQSummary::SetCombine: the summary of the union of two
// summaries' data.
func combine(a, b []summaryEntry) []summaryEntry {
	if len(a) == 0 {
		return slices.Clone(b)
	}
	if len(b) == 0 {
		return slices.Clone(a)
	}
	out := make([]summaryEntry, 0, len(a)+len(b))
	var aPrevRmin, bPrevRmin float32
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		x, y := a[i], b[j]
		switch {
		case x.value == y.value:
			out = append(out, summaryEntry{x.rmin + y.rmin, x.rmax + y.rmax, x.wmin + y.wmin, x.value})
			aPrevRmin, bPrevRmin = x.rminNext(), y.rminNext()
			i, j = i+1, j+1
		case x.value < y.value:
			out = append(out, summaryEntry{x.rmin + bPrevRmin, x.rmax + y.rmaxPrev(), x.wmin, x.value})
			aPrevRmin = x.rminNext()
			i++
		default:
			out = append(out, summaryEntry{y.rmin + aPrevRmin, y.rmax + x.rmaxPrev(), y.wmin, y.value})
			bPrevRmin = y.rminNext()
			j++
		}
	}
	for ; i < len(a); i++ {
		x := a[i]
		out = append(out, summaryEntry{x.rmin + bPrevRmin, x.rmax + b[len(b)-1].rmax, x.wmin, x.value})
	}
	for ; j < len(b); j++ {
		y := b[j]
		out = append(out, summaryEntry{y.rmin + aPrevRmin, y.rmax + a[len(a)-1].rmax, y.wmin, y.value})
	}
	// WQSummary::FixError: restore the rank invariants rounding broke.
	var prevRmin, prevRmax float32
	for k := range out {
		e := &out[k]
		if e.rmin < prevRmin {
			e.rmin = prevRmin
		} else {
			prevRmin = e.rmin
		}
		if e.rmax < prevRmax {
			e.rmax = prevRmax
		}
		if next := e.rminNext(); e.rmax < next {
			e.rmax = next
		}
		prevRmax = e.rmax
	}
	return out
}

// sketch is XGBoost's WQuantileSketch for one column, with unit weights.
type sketch struct {
	limit  int      // limit_size: the pyramid's summary size
	queue  []uint64 // buffered values: floatKey<<32 | float32 weight bits
	tmp    []uint64 // radix sort scratch
	levels [][]summaryEntry
}

// newSketch is WQuantileSketch::Init(n, eps) for a column of n values
// and max_bin maxBins, with the buffer of limit_size*2 entries that
// HostSketchContainer gives it.
func newSketch(n, maxBins int) *sketch {
	nb := max(min(maxBins, n), 1)
	eps := 1.0 / float64(float32(nb)*sketchFactor)
	nlevel, limit := 1, 0
	for {
		limit = min(n, int(math.Ceil(float64(nlevel)/eps))+1)
		if (1<<nlevel)*limit >= n {
			break
		}
		nlevel++
	}
	return &sketch{limit: limit, queue: make([]uint64, 0, 2*limit), tmp: make([]uint64, 2*limit)}
}

// push adds one value (Queue::Push: a run of equal values is one entry).
func (s *sketch) push(v float32) {
	k := uint64(floatKey(v)) << 32
	if n := len(s.queue); n > 0 && s.queue[n-1]&^0xffffffff == k {
		w := math.Float32frombits(uint32(s.queue[n-1])) + 1
		s.queue[n-1] = k | uint64(math.Float32bits(w))
		return
	}
	if len(s.queue) == cap(s.queue) {
		s.pushSummary(s.queueSummary())
		s.queue = s.queue[:0]
	}
	s.queue = append(s.queue, k|uint64(math.Float32bits(1)))
}

// queueSummary is Queue::MakeSummary: the exact summary of the buffer.
func (s *sketch) queueSummary() []summaryEntry {
	radixSortHigh(s.queue, s.tmp[:len(s.queue)])
	out := make([]summaryEntry, 0, len(s.queue))
	var wsum float32
	for i := 0; i < len(s.queue); {
		k := s.queue[i] >> 32
		w := math.Float32frombits(uint32(s.queue[i]))
		j := i + 1
		for ; j < len(s.queue) && s.queue[j]>>32 == k; j++ {
			w += math.Float32frombits(uint32(s.queue[j]))
		}
		out = append(out, summaryEntry{wsum, wsum + w, w, keyFloat(uint32(k))})
		wsum += w
		i = j
	}
	return out
}

// pushSummary is PushTemp: carry a summary up the pyramid, merging it
// with each full level until the merge fits.
func (s *sketch) pushSummary(temp []summaryEntry) {
	for l := 1; ; l++ {
		for len(s.levels) < l+1 {
			s.levels = append(s.levels, nil)
		}
		if len(s.levels[l]) == 0 {
			s.levels[l] = prune(temp, s.limit)
			return
		}
		temp = combine(prune(temp, s.limit), s.levels[l])
		if len(temp) > s.limit {
			s.levels[l] = nil
			continue
		}
		s.levels[l] = temp
		return
	}
}

// summary is GetSummary: the buffer and the pyramid merged.
func (s *sketch) summary() []summaryEntry {
	out := s.queueSummary()
	if len(s.levels) == 0 {
		if len(out) > s.limit {
			out = prune(out, s.limit)
		}
		return out
	}
	level0 := prune(out, s.limit)
	for _, lv := range s.levels[1:] {
		if len(lv) == 0 {
			continue
		}
		if len(level0) == 0 {
			level0 = slices.Clone(lv)
		} else {
			level0 = prune(combine(level0, lv), s.limit)
		}
	}
	return level0
}

// featureCuts turns one column (its values in row order) into its cut
// values: the upper bounds of its bins, the last above every value.
func featureCuts(col []float32, maxBins int) []float32 {
	sk := newSketch(len(col), maxBins)
	for _, v := range col {
		sk.push(v)
	}
	// SketchContainerImpl::AllReduce, then MakeCuts and AddCutPoint.
	inter := min(len(col), maxBins*sketchFactor)
	s := prune(sk.summary(), inter)
	numBins := min(inter, maxBins)
	s = prune(s, numBins+1)
	var cuts []float32
	for i := 1; i < min(len(s), numBins); i++ {
		if i == 1 || s[i].value > cuts[len(cuts)-1] {
			cuts = append(cuts, s[i].value)
		}
	}
	top := s[len(s)-1].value
	cuts = append(cuts, top+(abs32(top)+1e-5))
	return cuts
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// floatKey maps a float32 to a uint32 with the same order; -0 and +0 map
// to the same key, as they compare equal.
func floatKey(v float32) uint32 {
	if v == 0 {
		v = 0
	}
	b := math.Float32bits(v)
	if b&(1<<31) != 0 {
		return ^b
	}
	return b | 1<<31
}

func keyFloat(k uint32) float32 {
	if k&(1<<31) != 0 {
		return math.Float32frombits(k &^ (1 << 31))
	}
	return math.Float32frombits(^k)
}

// radixSortHigh sorts items by their high 32 bits, using tmp (of the
// same length) as scratch. The result is in items.
func radixSortHigh(items, tmp []uint64) {
	if len(items) == 0 {
		return
	}
	var counts [4][256]int
	for _, it := range items {
		k := uint32(it >> 32)
		counts[0][k&0xff]++
		counts[1][k>>8&0xff]++
		counts[2][k>>16&0xff]++
		counts[3][k>>24]++
	}
	src, dst := items, tmp
	for pass := range 4 {
		c := &counts[pass]
		shift := 32 + 8*pass
		if c[src[0]>>shift&0xff] == len(src) {
			continue // every item has this digit
		}
		sum := 0
		for d := range c {
			c[d], sum = sum, sum+c[d]
		}
		for _, it := range src {
			d := it >> shift & 0xff
			dst[c[d]] = it
			c[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &items[0] {
		copy(items, src)
	}
}

// binner maps a feature's values to bin indices: the index of the first
// cut above the value (upper_bound, as XGBoost's SearchBin). It compares
// order-preserving integer keys so that the search is arithmetic, not
// branches a CPU mispredicts half the time.
type binner struct {
	keys [256]int64 // floatKey of the feature's cuts, padded with +Inf's
}

func newBinner(cuts []float32) *binner {
	b := &binner{}
	for i := range b.keys {
		b.keys[i] = int64(floatKey(float32(math.Inf(1))))
	}
	for i, c := range cuts {
		b.keys[i] = int64(floatKey(c))
	}
	return b
}

// bin counts the cuts <= v by binary search; the last real cut exceeds
// every training value, so the count is a valid index.
func (b *binner) bin(v float32) uint8 {
	k := int64(floatKey(v))
	c := &b.keys
	i := 0
	// (k-c)>>63 is -1 when k < c, else 0: step is added when c <= k.
	i += 128 &^ int((k-c[127])>>63)
	i += 64 &^ int((k-c[(i+63)&255])>>63)
	i += 32 &^ int((k-c[(i+31)&255])>>63)
	i += 16 &^ int((k-c[(i+15)&255])>>63)
	i += 8 &^ int((k-c[(i+7)&255])>>63)
	i += 4 &^ int((k-c[(i+3)&255])>>63)
	i += 2 &^ int((k-c[(i+1)&255])>>63)
	i += 1 &^ int((k-c[i&255])>>63)
	return uint8(i)
}
