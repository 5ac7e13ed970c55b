package oblivious

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"unsafe"

	"github.com/confide/confide/oblivious/trace"
)

// ORAM is a Path ORAM (E. Stefanov, M. van Dijk, E. Shi, T.-H. H. Chan,
// C. Fletcher, L. Ren, X. Yu, S. Devadas: "Path ORAM: An Extremely Simple
// Oblivious RAM Protocol", CCS 2013 and J. ACM 65(4), 2018): an array of
// n records of type R whose Read and Write touch memory in a pattern that
// does not depend on the secret index, for a cost polylogarithmic in n
// where the Read and Write functions scan all n records.
//
// # Public and secret
//
// Public: n, the record size, the parameters below (so the whole memory
// layout) and the number of accesses. Secret: the index, whether an
// access reads or writes (Access takes the choice as a Mask), the values,
// and which blocks were ever accessed. An index out of range [0, n) is
// handled obliviously, like Read and Write do: the access is performed on
// block 0 with the write disabled, and returns the zero record.
//
// Each access reveals, for each ORAM of the recursion below, one leaf of
// its tree: the path it reads and writes back. That leaf was drawn
// uniformly at random when the block was last accessed (or when it was
// first needed) and was never revealed before, so the sequence of revealed
// leaves is uniform and independent of the secrets. Everything else the
// access touches — which buckets at which level, which stash slots, which
// position-map words, in which order — is fixed by the public parameters.
// Granularity: element. The trace hooks (package trace) record tree
// accesses by bucket index (Z = 4 records each), stash and path-buffer
// accesses by slot, and position-map accesses by 64-bit word.
//
// # Structure
//
// Each ORAM is a binary tree of height L = ⌈log2 n⌉ (2^L leaves,
// 2^(L+1) − 1 buckets) of Z = 4 blocks per bucket, and a stash of
// C = 93 blocks. Block i is mapped to a uniformly random leaf and lives
// on the path from the root to that leaf or in the stash. An access reads
// the block's path into a buffer next to the stash, takes the block out,
// remaps it to a fresh random leaf, and evicts greedily: every block is
// written back as deep on the read path as its own leaf allows, deepest
// first, Z per bucket; blocks that fit nowhere stay in the stash. The
// eviction is computed obliviously: each block's destination slot is
// derived from per-depth counts with masks, and the buffer and stash
// (Z·(L+1) + C + 1 slots) are then sorted by destination with a fixed
// compare-exchange network (Batcher's odd-even merge sort, pruned to
// the comparators the path and the free incoming slot depend on). The
// buffer, the stash and the network are the same for every access.
//
// The position map (block → leaf) is itself recursive: leaves are packed
// 16 or 32 to a 64-byte block (32- or 16-bit entries) of a smaller Path
// ORAM with the same Z and C, whose position map is packed again, until
// it fits in 4096 words, which are scanned in full on every access. For
// n = 2^20 that is the data ORAM (L = 20), position ORAMs of 2^16
// (L = 16) and 2^11 (L = 11) blocks, and a scanned map of 2^11 16-bit
// entries (512 words). Blocks never accessed are absent from the trees
// (the ORAM starts empty, as in the paper): reading one returns the zero
// record, and a position block read for the first time is filled with
// fresh random leaves, so construction only allocates.
//
// # Stash bound
//
// Stefanov et al. prove (Theorem 1 of the J. ACM version, for bucket size
// Z = 5) that after any sequence of accesses the stash holds more than R
// blocks with probability at most 14 · 0.6002^R. The smallest R with
// 14 · 0.6002^R ≤ 2^−64 is 93, giving 2^−64.7 per access and ORAM of the
// recursion; over T accesses the union bound multiplies it by T. For
// Z = 4 the paper gives experiments, not a proof. In this package's
// tests (TestORAMStash) the Z = 4 stash tail roughly halves with each
// block, falling faster than 0.6002^R, which is why C = 93 is taken as
// the bound for Z = 4 too; that is an extrapolation, not a theorem. An
// eviction that would leave more than C blocks in a stash makes Access
// return ErrStashOverflow (Read and Write panic with it); whether it
// happened is the one secret-dependent fact revealed, and the ORAM is
// unusable afterwards (every later call returns or panics with the same
// error).
//
// # Randomness
//
// Leaves come from the io.Reader given to NewORAM (crypto/rand when nil),
// read 4 KiB at a time into a buffer. Each access first makes sure the
// buffer holds all the bytes it will draw (a fixed number), so a failing
// reader makes Access return an error before any state changes.
//
// # Cost
//
// Memory: the data tree has 2^(L+1) − 1 buckets of 4 slots of
// 8 + size(R) bytes, about 8n slots (604 MB for 2^20 records of 64
// bytes), and the position ORAMs add about 6%. Time: each ORAM of the
// recursion copies a path of L+1 buckets in and out, scans the
// Z·(L+1) + C + 1 slots of path and stash three times, and sorts them with
// 2,327 compare-exchanges at L = 20 (2,038 at L = 16, 1,721 at L = 11),
// which dominate.
//
// An ORAM is not safe for concurrent use.
type ORAM[R any] struct {
	n    uint64
	data *oramTree[R]
	pos  oramPositions
	src  *oramSource
	// need is the number of random bytes one access draws.
	need int
	// height and net are the data tree's (public; kept apart from the
	// tree, whose contents are secret).
	height int
	net    []uint16
}

// ErrStashOverflow reports that an eviction left more blocks than the
// stash holds (probability at most 2^−64.7 per access; see ORAM).
var ErrStashOverflow = errors.New("oblivious: ORAM stash overflow")

const (
	// oramZ is the bucket size Z.
	oramZ = 4
	// oramStashCapacity is the stash size C: the least R with
	// 14·0.6002^R ≤ 2^−64.
	oramStashCapacity = 93
	// oramLinearWords is the largest position map scanned in full.
	oramLinearWords = 4096
	// oramPosWords is the size of a position block, in 64-bit words.
	oramPosWords = 8
	// oramMaxBlocks bounds n: block ids (plus one) and leaves are packed
	// in 28 bits each of a slot's metadata word.
	oramMaxBlocks = 1<<28 - 1
	// oramRandomBuffer is how many random bytes are read at a time.
	oramRandomBuffer = 4096
)

// oramParams are the tunable parameters, fixed for NewORAM and varied by
// the tests.
type oramParams struct {
	stash       int // C
	linearWords int // largest position map kept as a scanned array
}

var oramDefaults = oramParams{stash: oramStashCapacity, linearWords: oramLinearWords}

// NewORAM returns an ORAM of n zero records of type R, drawing its
// randomness from rnd (crypto/rand.Reader when nil). R must be a valid
// record (CheckRecord), and 1 ≤ n < 2^28. Construction allocates the
// trees (the operating system supplies the zeroed pages as they are
// first touched) and reads the random leaves of the smallest position
// map.
func NewORAM[R any](n int, rnd io.Reader) (*ORAM[R], error) {
	return newORAM[R](n, rnd, oramDefaults)
}

func newORAM[R any](n int, rnd io.Reader, p oramParams) (*ORAM[R], error) {
	if err := CheckRecord[R](); err != nil {
		return nil, err
	}
	if n < 1 || n > oramMaxBlocks {
		return nil, fmt.Errorf("oblivious: ORAM of %d blocks: want 1 to %d", n, oramMaxBlocks)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	src := &oramSource{r: rnd, buf: make([]byte, oramRandomBuffer), off: oramRandomBuffer}
	o := &ORAM[R]{n: uint64(n), data: newORAMTree[R](uint64(n), p.stash), src: src}
	pos, need, err := newORAMPositions(uint64(n), o.data.height, p, src)
	if err != nil {
		return nil, err
	}
	o.pos = pos
	o.height = o.data.height
	o.net = o.data.net
	o.need = need + 4
	if o.need > len(src.buf) {
		src.buf = make([]byte, o.need)
		src.off = len(src.buf)
	}
	return o, nil
}

// Len returns n.
func (o *ORAM[R]) Len() int { return int(o.n) }

// Read returns record i (the zero record for i ≥ n). It panics if the
// random source fails or on stash overflow; Access returns those errors
// instead. Its trace is that of Write.
func (o *ORAM[R]) Read(i uint64) R {
	var zero R
	v, err := o.Access(False, i, zero)
	if err != nil {
		panic(err)
	}
	return v
}

// Write sets record i to v (nothing for i ≥ n). It panics if the random
// source fails or on stash overflow; Access returns those errors instead.
// Its trace is that of Read.
func (o *ORAM[R]) Write(i uint64, v R) {
	if _, err := o.Access(True, i, v); err != nil {
		panic(err)
	}
}

// Access returns record i and, if write is True, then sets it to v. The
// index, the mask and v are secret: reads, writes and accesses out of
// range (which return the zero record and write nothing) have the same
// trace. Errors: the random source's (wrapped; nothing changed, and the
// access can be retried) and ErrStashOverflow (the ORAM is unusable).
//
//confide:oblivious
//confide:secret write i v
func (o *ORAM[R]) Access(write Mask, i uint64, v R) (R, error) {
	var zero R
	if o.src.overflowed {
		return zero, publicError(ErrStashOverflow)
	}
	if err := o.src.reserve(o.need); err != nil {
		return zero, publicError(fmt.Errorf("oblivious: ORAM randomness: %w", err))
	}
	in := Lt(i, o.n)
	i = Select(in, i, 0)
	write &= in

	leaf := o.src.leaf(o.height)
	old := revealLeaf(o.pos.swap(i, leaf))
	p := o.data.fetch(i, old, leaf, &zero, o.height)
	out := *p
	CondMove(write, p, &v)
	if revealOverflow(o.data.evict(old, o.height, o.net)) {
		o.src.overflowed = true
	}
	CondMove(^in, &out, &zero)

	if o.src.overflowed {
		return zero, publicError(ErrStashOverflow)
	}
	return out, nil
}

// oramSource hands out the random bytes of the access in progress, and
// collects the overflow masks of all the ORAMs of one recursion.
type oramSource struct {
	r          io.Reader
	buf        []byte
	off        int
	overflowed bool // public once revealed (revealOverflow)
}

// reserve makes sure that n bytes can be drawn without reading.
func (s *oramSource) reserve(n int) error {
	if len(s.buf)-s.off >= n {
		return nil
	}
	if _, err := io.ReadFull(s.r, s.buf); err != nil {
		s.off = len(s.buf)
		return err
	}
	s.off = 0
	return nil
}

// leaf draws a uniformly random leaf of a tree of height h (h ≤ 28).
func (s *oramSource) leaf(h int) uint64 {
	v := binary.LittleEndian.Uint32(s.buf[s.off:])
	s.off += 4
	return uint64(v) & (1<<h - 1)
}

// words fills w with random words.
func (s *oramSource) words(w []uint64) {
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(s.buf[s.off:])
		s.off += 8
	}
}

// A slot's metadata word: the block id plus one (zero for an empty slot)
// and the block's leaf in the low 56 bits, and in the top 8 bits the sort
// key of the eviction in progress.
const (
	oramLeafBits = 28
	oramLeafMask = 1<<oramLeafBits - 1
	oramIDMask   = (1<<28 - 1) << oramLeafBits
	oramKeyShift = 56
	oramBodyMask = 1<<oramKeyShift - 1
)

type oramSlot[R any] struct {
	meta uint64
	val  R
}

// oramTree is one Path ORAM without its position map.
type oramTree[R any] struct {
	height int // L
	// tree holds bucket b in slots [b·Z, b·Z+Z), heap-ordered: the root is
	// bucket 0 and bucket b's children are 2b+1 and 2b+2.
	tree []oramSlot[R]
	// work holds the path being accessed in slots [0, P), P = Z·(L+1),
	// numbered from the leaf up (level l's bucket in [(L−l)·Z, (L−l+1)·Z)),
	// then the stash in [P, P+C), then the incoming slot P+C, empty
	// between accesses.
	work []oramSlot[R]
	net  []uint16 // compare-exchange pairs of the eviction sort
	leaf uint64   // the path of the access in progress
}

func newORAMTree[R any](n uint64, stash int) *oramTree[R] {
	h := bits.Len64(n - 1)
	p := oramZ * (h + 1)
	m := p + stash + 1
	return &oramTree[R]{
		height: h,
		tree:   make([]oramSlot[R], oramZ*(1<<(h+1)-1)),
		work:   make([]oramSlot[R], m),
		net:    oramNetwork(m, p),
	}
}

// bucket returns the index of the bucket at level l on the path to leaf.
//
//confide:oblivious
func (t *oramTree[R]) bucket(leaf uint64, l int) int { return bucketAt(leaf, l, t.height) }

// bucketAt is bucket for a tree of height h. The accesses pass heights
// from public fields, apart from the tree's secret contents.
//
//confide:oblivious
func bucketAt(leaf uint64, l, h int) int {
	return 1<<l - 1 + int(leaf>>(h-l))
}

// fetch reads the path to leaf (public from now on: it was drawn at
// random and never revealed) into the buffer, moves block id out of the
// buffer and stash into the incoming slot, creating it with value init if
// it is absent, maps it to newLeaf, and returns its value, which the
// caller may change before evict.
//
//confide:oblivious
func (t *oramTree[R]) fetch(id, leaf, newLeaf uint64, init *R, h int) *R {
	t.leaf = leaf
	tb := unsafe.Pointer(unsafe.SliceData(t.tree))
	wb := unsafe.Pointer(unsafe.SliceData(t.work))
	for l := 0; l <= h; l++ {
		b := bucketAt(leaf, l, h)
		u := (h - l) * oramZ
		trace.Access(trace.OpRead, tb, b)
		for s := range oramZ {
			trace.Access(trace.OpWrite, wb, u+s)
		}
		copy(t.work[u:u+oramZ], t.tree[b*oramZ:b*oramZ+oramZ])
	}

	last := len(t.work) - 1
	dst := &t.work[last]
	want := (id + 1) << oramLeafBits
	for i := range last {
		trace.Access(trace.OpSwap, wb, i)
		trace.Access(trace.OpSwap, wb, last)
		s := &t.work[i]
		m := Eq(s.meta&oramIDMask, want)
		CondMove(m, dst, s)
		s.meta = Select(m, 0, s.meta)
	}
	found := ^IsZero(dst.meta & oramIDMask)
	CondMove(^found, &dst.val, init)
	dst.meta = want | newLeaf
	return &dst.val
}

// depth returns how many levels below the root the path to leaf follows
// the path being accessed: the deepest level where a block mapped to leaf
// may be written back.
//
//confide:oblivious
func (t *oramTree[R]) depth(meta, path uint64, h int) uint64 {
	leaf := meta & (1<<h - 1)
	return uint64(h - bits.Len64(leaf^path))
}

// evict writes the path back, greedily: blocks as deep as their leaves
// allow, deepest first, Z per bucket, the rest in the stash. It returns
// True if the stash overflowed.
//
// Number the path's slots from the leaf up, u = (L−l)·Z + s, and let the
// stash follow from u = P. Taken deepest first, the blocks of depth d
// follow on after the deeper ones, or start at level d's first slot
// (L−d)·Z if that is further: start(d) = max(end(d+1), (L−d)·Z) and
// end(d) = start(d) + count(d), with end(L+1) = 0. A block's key is the
// start of its depth's run (blocks of equal depth tie, and fill the run
// in some order); the slots in no run are holes, as many as there are
// empty slots, and each empty slot takes one as its key. Runs past P are
// in the stash, and must end before the last, incoming, slot. All of it
// is computed with masks from per-depth counts kept in 8-bit lanes, and
// applied by one sort.
//
//confide:oblivious
func (t *oramTree[R]) evict(path uint64, h int, net []uint16) Mask {
	w := t.work
	wb := unsafe.Pointer(unsafe.SliceData(w))

	// Blocks per depth, depth d in lane d%8 of hist[d/8].
	var hist [4]uint64
	for i := range w {
		trace.Access(trace.OpRead, wb, i)
		meta := w[i].meta
		real := ^IsZero(meta & oramIDMask)
		d := t.depth(meta, path, h)
		one := uint64(real) & shlLane(1, d&7)
		for k := range hist { // add to the word of lane d
			hist[k] += uint64(Eq(d>>3, uint64(k))) & one
		}
	}

	// Runs: start(d) in lanes, and the slots they cover.
	var start, used [4]uint64
	end := uint64(0)
	for d := h; d >= 0; d-- {
		sh := uint(d&7) * 8
		floor := uint64((h - d) * oramZ)
		s := Select(Lt(end, floor), floor, end)
		end = s + hist[d>>3]>>sh&0xFF
		start[d>>3] |= Select(Lt(s, 0xFF), s, 0xFF) << sh
		for k := range used {
			used[k] |= oramRange(s, end, k)
		}
	}
	overflow := Gt(end, uint64(len(w)-1))
	var holes [4]uint64
	for k := range holes {
		holes[k] = ^used[k] & oramRange(0, uint64(len(w)), k)
	}

	// Keys: a block's run start; an empty slot takes the lowest hole left.
	for i := range w {
		trace.Access(trace.OpWrite, wb, i)
		meta := w[i].meta
		real := ^IsZero(meta & oramIDMask)
		d := t.depth(meta, path, h)
		var run uint64
		for k := range start { // the word of lane d
			run |= uint64(Eq(d>>3, uint64(k))) & start[k]
		}
		run = shrLane(run, d&7) & 0xFF
		hole, taken := uint64(0xFF), real // a block takes no hole
		for k := range holes {
			c := holes[k]
			some := ^IsZero(c)
			take := some &^ taken
			hole = Select(take, uint64(64*k+bits.TrailingZeros64(c)), hole)
			holes[k] &^= uint64(take) & (c & -c)
			taken |= some
		}
		w[i].meta = Select(real, run, hole)<<oramKeyShift | meta&oramBodyMask
	}

	for k := 0; k+1 < len(net); k += 2 {
		i, j := int(net[k]), int(net[k+1])
		trace.Access(trace.OpSwap, wb, i)
		trace.Access(trace.OpSwap, wb, j)
		CondSwap(Lt(w[j].meta, w[i].meta), &w[i], &w[j])
	}

	tb := unsafe.Pointer(unsafe.SliceData(t.tree))
	for l := 0; l <= h; l++ {
		b := bucketAt(path, l, h)
		u := (h - l) * oramZ
		for s := range oramZ {
			trace.Access(trace.OpRead, wb, u+s)
		}
		trace.Access(trace.OpWrite, tb, b)
		copy(t.tree[b*oramZ:b*oramZ+oramZ], w[u:u+oramZ])
	}
	return overflow
}

// oramRange returns word k of a 256-bit mask of the bits in [lo, hi),
// branch-free.
//
//confide:oblivious
func oramRange(lo, hi uint64, k int) uint64 {
	base := uint64(64 * k)
	a := Select(Lt(lo, base), 0, lo-base)
	a = Select(Gt(a, 64), 64, a)
	b := Select(Lt(hi, base), 0, hi-base)
	b = Select(Gt(b, 64), 64, b)
	return Shl(^uint64(0), a) &^ Shl(^uint64(0), b)
}

// oramNetwork returns the compare-exchange pairs (flattened, smaller
// index first) of Batcher's odd-even merge sort of m elements, padded to
// a power of two with elements that compare greater than any (so the
// comparators that touch the padding drop out), and pruned, from the
// last comparator back, to those on which positions [0, p) and m−1
// depend: the order of the rest of the stash is irrelevant.
func oramNetwork(m, p int) []uint16 {
	n := 1
	for n < m {
		n <<= 1
	}
	var pairs [][2]int
	for q := 1; q < n; q <<= 1 {
		for k := q; k >= 1; k >>= 1 {
			for j := k % q; j+k < n; j += 2 * k {
				for i := 0; i < k && i+j+k < n; i++ {
					a, b := i+j, i+j+k
					if a/(2*q) == b/(2*q) && b < m {
						pairs = append(pairs, [2]int{a, b})
					}
				}
			}
		}
	}
	need := make([]bool, m)
	for i := range p {
		need[i] = true
	}
	need[m-1] = true
	keep := make([]bool, len(pairs))
	count := 0
	for c := len(pairs) - 1; c >= 0; c-- {
		a, b := pairs[c][0], pairs[c][1]
		if need[a] || need[b] {
			keep[c] = true
			need[a], need[b] = true, true
			count++
		}
	}
	net := make([]uint16, 0, 2*count)
	for c, pr := range pairs {
		if keep[c] {
			net = append(net, uint16(pr[0]), uint16(pr[1]))
		}
	}
	return net
}

// oramPositions is a position map: swap returns block i's leaf and maps
// the block to leaf instead, obliviously in i.
type oramPositions interface {
	// swap returns block i's leaf and records leaf as its new one.
	//
	//confide:oblivious
	//confide:secret i
	swap(i, leaf uint64) uint64
}

// newORAMPositions returns the position map of n blocks of a tree of
// height leafBits, and the number of random bytes one swap draws.
func newORAMPositions(n uint64, leafBits int, p oramParams, src *oramSource) (oramPositions, int, error) {
	width := uint(16)
	if leafBits > 16 {
		width = 32
	}
	perWord := uint64(64 / width)
	words := (n + perWord - 1) / perWord
	if words <= uint64(p.linearWords) {
		lp := &oramLinearPositions{words: make([]uint64, words), width: width}
		buf := make([]byte, 8*words)
		if _, err := io.ReadFull(src.r, buf); err != nil {
			return nil, 0, fmt.Errorf("oblivious: ORAM randomness: %w", err)
		}
		mask := oramEntryMask(width, leafBits)
		for i := range lp.words {
			lp.words[i] = binary.LittleEndian.Uint64(buf[8*i:]) & mask
		}
		return lp, 0, nil
	}
	perBlock := perWord * oramPosWords
	blocks := (n + perBlock - 1) / perBlock
	rp := &oramRecursivePositions{
		tree:  newORAMTree[oramPosBlock](blocks, p.stash),
		width: width,
		mask:  oramEntryMask(width, leafBits),
		src:   src,
	}
	rp.height = rp.tree.height
	rp.net = rp.tree.net
	next, need, err := newORAMPositions(blocks, rp.height, p, src)
	if err != nil {
		return nil, 0, err
	}
	rp.next = next
	return rp, need + 4 + 8*oramPosWords, nil
}

// oramEntryMask masks each width-bit entry of a word to leafBits bits.
func oramEntryMask(width uint, leafBits int) uint64 {
	var m uint64
	for s := uint(0); s < 64; s += width {
		m |= (1<<leafBits - 1) << s
	}
	return m
}

// oramSwapEntry returns entry i of the width-bit entries packed in ws and
// replaces it with v, reading and rewriting every word. base, if not nil,
// is the array's address for the trace.
//
//confide:oblivious
func oramSwapEntry(ws []uint64, base unsafe.Pointer, width uint, i, v uint64) uint64 {
	// Shifts and masks, not DIV: i is secret.
	perWord := uint(bits.TrailingZeros(64 / width)) // log2 of entries per word
	wi := i >> perWord
	sh := i & (1<<perWord - 1) * uint64(width)
	field := Shl(uint64(1)<<width-1, sh)
	v = Shl(v, sh)
	var old uint64
	for j := range ws {
		if base != nil { // public
			trace.Access(trace.OpWrite, base, j)
		}
		m := uint64(Eq(uint64(j), wi))
		x := ws[j]
		old |= m & x
		ws[j] = x ^ m&field&(x^v)
	}
	return Shr(old&field, sh)
}

// oramLinearPositions is a position map scanned in full on every swap.
type oramLinearPositions struct {
	words []uint64
	width uint
}

//confide:oblivious
func (p *oramLinearPositions) swap(i, leaf uint64) uint64 {
	return oramSwapEntry(p.words, unsafe.Pointer(unsafe.SliceData(p.words)), p.width, i, leaf)
}

// oramPosBlock is a block of a position ORAM: packed leaves.
type oramPosBlock [oramPosWords]uint64

// oramRecursivePositions is a position map kept in a Path ORAM of packed
// leaves, with its own position map.
type oramRecursivePositions struct {
	tree  *oramTree[oramPosBlock]
	next  oramPositions
	width uint
	mask  uint64 // oramEntryMask of the entries
	src   *oramSource
	init  oramPosBlock // the contents of a block read for the first time
	// height and net are the tree's (public; kept apart from the tree,
	// whose contents are secret).
	height int
	net    []uint16
}

//confide:oblivious
func (p *oramRecursivePositions) swap(i, leaf uint64) uint64 {
	// Shifts and masks, not DIV: i is secret.
	perBlock := uint(bits.TrailingZeros(64 / p.width * oramPosWords)) // log2 of entries per block
	id := i >> perBlock
	off := i & (1<<perBlock - 1)

	newLeaf := p.src.leaf(p.height)
	old := revealLeaf(p.next.swap(id, newLeaf))
	p.src.words(p.init[:])
	for k := range p.init {
		p.init[k] &= p.mask
	}
	b := p.tree.fetch(id, old, newLeaf, &p.init, p.height)
	v := oramSwapEntry(b[:], nil, p.width, off, leaf)
	if revealOverflow(p.tree.evict(old, p.height, p.net)) {
		p.src.overflowed = true
	}
	return v
}
