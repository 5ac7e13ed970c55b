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

// ORAM is a tree ORAM with Circuit ORAM's eviction (X. Wang, T.-H. H.
// Chan, E. Shi: "Circuit ORAM: On Tightness of the Goldreich-Ostrovsky
// Lower Bound", CCS 2015), on the tree, stash and recursive position map
// of Path ORAM (E. Stefanov, M. van Dijk, E. Shi, T.-H. H. Chan,
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
// its tree: the path it reads. That leaf was drawn uniformly at random
// when the block was last accessed (or when it was first needed) and was
// never revealed before, so the sequence of revealed leaves is uniform and
// independent of the secrets. Everything else the access touches — the
// two eviction paths (fixed by the number of accesses), which slots of
// which buckets, which stash slots, which position-map words, in which
// order — is fixed by the public parameters. Granularity: element. The
// trace hooks (package trace) record tree and stash accesses by slot and
// position-map accesses by 64-bit word.
//
// # Structure
//
// Each ORAM is a binary tree of height L = ⌈log2 n⌉ (2^L leaves,
// 2^(L+1) − 1 buckets) of Z = 2 blocks per bucket, and a stash of
// C = 64 blocks. Block i is mapped to a uniformly random leaf and lives
// on the path from the root to that leaf or in the stash. An access moves
// the block out of its path or the stash into an incoming slot next to
// the stash, remaps it to a fresh random leaf, lets the caller read and
// change it, and then evicts along two paths chosen in advance: those of
// evictions g and g+1 of the tree, eviction g's leaf being g's low L bits
// reversed, so that the leaves are taken in reverse-lexicographic order.
//
// An eviction (the paper's PrepareDeepest, PrepareTarget and
// EvictOnceFast) first reads the metadata of the stash and of the path's
// buckets and computes, level by level from the stash to the leaf,
// whether the level's deepest block (the one that may go furthest down
// the path) moves, and to which level: as far down as possible, into an
// empty slot or the slot a departing block leaves. Then it passes once
// down the path, holding at most one block: at each level it drops the
// held block if this is its destination and picks up the level's deepest
// block if that moves, both by one conditional swap of each of the
// level's slots with the held slot. The incoming block counts as part of
// the stash; if no eviction stores it, in the tree or in an empty stash
// slot, the stash has overflowed. All of it is computed with masks: every
// slot of the stash and of the path is read and then swapped or not, in
// an order fixed by the public parameters.
//
// The position map (block → leaf) is itself recursive: leaves are packed
// 16 or 32 to a 64-byte block (32- or 16-bit entries) of a smaller ORAM
// with the same Z and C, whose position map is packed again, until it
// fits in 4096 words, which are scanned in full on every access. For
// n = 2^20 that is the data ORAM (L = 20), position ORAMs of 2^16
// (L = 16) and 2^11 (L = 11) blocks, and a scanned map of 2^11 16-bit
// entries (512 words). Blocks never accessed are absent from the trees
// (the ORAM starts empty, as in the paper): reading one returns the zero
// record, and a position block read for the first time is filled with
// fresh random leaves, so construction only allocates.
//
// # Stash bound
//
// Wang, Chan and Shi prove that Circuit ORAM's stash, for a constant
// bucket size, exceeds R blocks with a probability that falls
// exponentially in R, so that a stash of ω(log n) blocks overflows with
// negligible probability. C is not derived from the constants of that
// proof: it is an extrapolation of measurements of this implementation.
// TestORAMStashTail (opt-in) measured, with Z = 2, n = 2^20 and 2·10^7
// random accesses after every block was written once, the probability
// that the stash holds at least R blocks after an access: 2^−7.9 for
// R = 1, 2^−13.6 for 5, 2^−19.7 for 9, 2^−21.7 for 11 (the last value
// seen more than once), a tail falling by about 1.45 bits per block
// (1.2 to 1.7 from one R to the next). At n = 2^16 (10^7 accesses) the
// tail is lighter: 2^−8.4 for R = 1, 2^−18.7 for 7. An access overflows
// when the stash would hold C+1 blocks. At the measured rate, C = 40
// would give 2^−64; C = 64 gives about 2^−100, and stays below 2^−64
// per access and ORAM of the recursion unless, beyond the measured
// range, the tail falls at less than 0.78 bit per block, about half the
// measured rate. That is an extrapolation, not a theorem; over T accesses
// the union bound multiplies the probability by T. Z = 2 rather than 3
// or 4: the tree and its paths are half those of Z = 4 (302 MB instead
// of 604 MB for 2^20 records of 64 bytes), and the stash tail is heavy
// enough to be measured: with Z = 3 or 4 a stash is so rarely occupied
// (TestORAMStashTail at n = 2^12 and 2·10^7 accesses: with Z = 3 after
// 2^−17 of them, never by more than 2 blocks; with Z = 4 never) that
// there is no tail to extrapolate a stash size from.
//
// An access that leaves more than C blocks in a stash makes Access
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
// Memory: the data tree has 2^(L+1) − 1 buckets of 2 slots of
// 8 + size(R) bytes, about 4n slots (302 MB for 2^20 records of 64
// bytes), and the position ORAMs add about 6%. Time: for each ORAM of the
// recursion, an access conditionally moves each of the Z·(L+1) + C slots
// of the read path and the stash to the incoming slot, and each of the
// two evictions reads the metadata of the Z·(L+1) + C + 1 slots of its
// path and the stash and conditionally swaps each with the held slot:
// 3·(Z·(L+1) + C) slot operations, 318 at L = 20 and 876 for the three
// ORAMs of n = 2^20, over three paths of the tree.
//
// An ORAM is not safe for concurrent use.
type ORAM[R any] struct {
	n    uint64
	data *oramTree[R]
	pos  oramPositions
	src  *oramSource
	// need is the number of random bytes one access draws.
	need int
	// height and evictions are the data tree's (public; kept apart from
	// the tree, whose contents are secret): its height and how many
	// evictions it has had, which fixes the next eviction paths.
	height    int
	evictions uint64
}

// ErrStashOverflow reports that an access left more blocks than the
// stash holds (probability below 2^−64 per access by an extrapolation,
// not a proof; see ORAM).
var ErrStashOverflow = errors.New("oblivious: ORAM stash overflow")

const (
	// oramZ is the bucket size Z.
	oramZ = 2
	// oramStashCapacity is the stash size C: an extrapolation of the
	// measured tail of the stash occupancy (see ORAM).
	oramStashCapacity = 64
	// oramLinearWords is the largest position map scanned in full.
	oramLinearWords = 4096
	// oramPosWords is the size of a position block, in 64-bit words.
	oramPosWords = 8
	// oramMaxBlocks bounds n: block ids (plus one) and leaves are packed
	// in 28 bits each of a slot's metadata word.
	oramMaxBlocks = 1<<28 - 1
	// oramMaxLevels bounds the levels of a path: heights up to 28, plus
	// the stash.
	oramMaxLevels = 30
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
	if revealOverflow(o.data.evict(o.evictions, o.height)) {
		o.src.overflowed = true
	}
	o.evictions += oramEvictionsPerAccess
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
// and the block's leaf.
const (
	oramLeafBits = 28
	oramLeafMask = 1<<oramLeafBits - 1
	oramIDMask   = (1<<28 - 1) << oramLeafBits
)

type oramSlot[R any] struct {
	meta uint64
	val  R
}

// oramEvictionsPerAccess is how many paths are evicted after each access.
const oramEvictionsPerAccess = 2

// oramNone is the level code of no level (see evictPath).
const oramNone = 1 << 32

// oramTree is one Circuit ORAM without its position map.
type oramTree[R any] struct {
	height int // L
	// tree holds bucket b in slots [b·Z, b·Z+Z), heap-ordered: the root is
	// bucket 0 and bucket b's children are 2b+1 and 2b+2.
	tree []oramSlot[R]
	// stash holds the stash in slots [0, C), then the incoming slot C,
	// which holds the block of the access in progress until an eviction
	// stores it (empty between accesses), then the held slot C+1, which
	// holds the block an eviction carries down the path (empty between
	// evictions).
	stash []oramSlot[R]
	leaf  uint64 // the path read by the last access
}

func newORAMTree[R any](n uint64, stash int) *oramTree[R] {
	h := bits.Len64(n - 1)
	return &oramTree[R]{
		height: h,
		tree:   make([]oramSlot[R], oramZ*(1<<(h+1)-1)),
		stash:  make([]oramSlot[R], stash+2),
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

// oramEvictionLeaf returns the leaf of eviction g of a tree of height h:
// g's low h bits reversed, so that consecutive evictions take the leaves
// in reverse-lexicographic order and spread over the tree (public).
func oramEvictionLeaf(g uint64, h int) uint64 {
	return bits.Reverse64(g) >> (64 - h) // 0 when h = 0
}

// fetch reads the path to leaf (public from now on: it was drawn at
// random and never revealed), moves block id out of the path and the
// stash into the incoming slot, creating it with value init if it is
// absent, maps it to newLeaf, and returns its value, which the caller may
// change before evict.
//
//confide:oblivious
func (t *oramTree[R]) fetch(id, leaf, newLeaf uint64, init *R, h int) *R {
	t.leaf = leaf
	tb := unsafe.Pointer(unsafe.SliceData(t.tree))
	sb := unsafe.Pointer(unsafe.SliceData(t.stash))
	c := len(t.stash) - 2
	dst := &t.stash[c]
	want := (id + 1) << oramLeafBits
	for l := 0; l <= h; l++ {
		b := bucketAt(leaf, l, h) * oramZ
		for s := range oramZ {
			trace.Access(trace.OpSwap, tb, b+s)
			trace.Access(trace.OpSwap, sb, c)
			oramTake(&t.tree[b+s], dst, want)
		}
	}
	for k := range c {
		trace.Access(trace.OpSwap, sb, k)
		trace.Access(trace.OpSwap, sb, c)
		oramTake(&t.stash[k], dst, want)
	}
	found := ^IsZero(dst.meta & oramIDMask)
	CondMove(^found, &dst.val, init)
	dst.meta = want | newLeaf
	return &dst.val
}

// oramTake moves the block in s to dst if its id field is want.
//
//confide:oblivious
//confide:secret want
func oramTake[R any](s, dst *oramSlot[R], want uint64) {
	m := Eq(s.meta&oramIDMask, want)
	CondMove(m, dst, s)
	s.meta = Select(m, 0, s.meta)
}

// evict runs the oramEvictionsPerAccess evictions that follow an access,
// the first being eviction g, and returns True if the incoming block is
// still not stored: the stash overflowed.
//
//confide:oblivious
func (t *oramTree[R]) evict(g uint64, h int) Mask {
	for k := range uint64(oramEvictionsPerAccess) {
		t.evictPath(oramEvictionLeaf(g+k, h), h)
	}
	return ^IsZero(t.stash[len(t.stash)-2].meta & oramIDMask)
}

// oramEvictLevel is what an eviction knows about one level of its path (the
// stash, or a bucket) before it moves anything: the key of the deepest
// block (how far down the path it may go: its depth plus one, 0 if the
// level is empty), that block's slot, and the first empty slot if any.
type oramEvictLevel struct {
	key, deep, free uint64
	hasFree         Mask
}

// scan folds slot k, with metadata meta, into l, for the eviction path
// path of a tree of height h.
//
//confide:oblivious
//confide:secret meta
func (l *oramEvictLevel) scan(meta, path uint64, h int, k uint64) {
	real := ^IsZero(meta & oramIDMask)
	key := uint64(real) & (oramDepth(meta, path, h) + 1)
	deeper := Gt(key, l.key)
	l.key = Select(deeper, key, l.key)
	l.deep = Select(deeper, k, l.deep)
	first := ^real &^ l.hasFree
	l.free = Select(first, k, l.free)
	l.hasFree |= ^real
}

// oramDepth returns how many levels below the root the path to the leaf
// in meta follows the path to leaf path: the deepest level of that path
// where the block may be stored.
//
//confide:oblivious
//confide:secret meta
func oramDepth(meta, path uint64, h int) uint64 {
	leaf := meta & (1<<h - 1)
	return uint64(h - bits.Len64(leaf^path))
}

// evictPath is Circuit ORAM's eviction along the path to leaf path (the
// paper's EvictOnceFast with PrepareDeepest and PrepareTarget): it moves
// blocks from the stash and the path's buckets as far down the path as
// they may go, carrying at most one block at a time in one pass from the
// stash to the leaf.
//
// Levels are coded 0 for the stash and l+1 for the bucket at depth l,
// oramNone for none. After a scan of the metadata, PrepareDeepest finds,
// for each bucket l, deepest[l]: the level above it holding the block
// that may go deepest, if that block may go to l or below. PrepareTarget
// then chooses the moves, from the leaf up: a bucket with an empty slot
// (or one whose deepest block leaves) and a deepest[l] receives that
// level's deepest block, which makes the source level a receiver in turn,
// for a source further up; target[l] is where level l's deepest block
// goes. The pass then goes down the path with the held slot: at each
// level, the held block (if this is its destination) and the level's
// deepest block (if it has a target) are exchanged, or the held block
// goes to the first empty slot. All of it with masks: every slot of the
// stash and of the path is read, then conditionally swapped with the held
// slot, in a fixed order.
//
// The incoming slot counts with the stash: if the stash's deepest block
// is taken, the incoming block takes its place (a stash slot, or it is
// the deepest itself); if not, it moves to the first empty stash slot if
// there is one.
//
//confide:oblivious
func (t *oramTree[R]) evictPath(path uint64, h int) {
	tb := unsafe.Pointer(unsafe.SliceData(t.tree))
	sb := unsafe.Pointer(unsafe.SliceData(t.stash))
	c := len(t.stash) - 2
	in, hold := &t.stash[c], &t.stash[c+1]

	// The levels: the stash (with the incoming slot, whose index c is no
	// empty slot to move the incoming block to), then the buckets.
	var lv [oramMaxLevels]oramEvictLevel
	for k := 0; k <= c; k++ {
		trace.Access(trace.OpRead, sb, k)
		lv[0].scan(t.stash[k].meta, path, h, uint64(k))
	}
	lv[0].hasFree &^= Eq(lv[0].free, uint64(c))
	// The path's metadata is gathered first, in a loop of independent
	// loads, so that the processor fetches its cache lines in parallel.
	var meta [oramMaxLevels * oramZ]uint64
	for l := 0; l <= h; l++ {
		b := bucketAt(path, l, h) * oramZ
		for s := range oramZ {
			trace.Access(trace.OpRead, tb, b+s)
			meta[l*oramZ+s] = t.tree[b+s].meta
		}
	}
	for l := 0; l <= h; l++ {
		for s := range oramZ {
			lv[l+1].scan(meta[l*oramZ+s], path, h, uint64(s))
		}
	}

	// PrepareDeepest: goal is the key of the deepest block seen so far,
	// src its level.
	var deepest [oramMaxLevels]uint64
	goal, src := lv[0].key, uint64(0)
	for l := 0; l <= h; l++ {
		deepest[l] = Select(Gt(goal, uint64(l)), src, oramNone)
		deeper := Gt(lv[l+1].key, goal)
		goal = Select(deeper, lv[l+1].key, goal)
		src = Select(deeper, uint64(l+1), src)
	}

	// PrepareTarget, from the leaf up: dest is the level waiting for the
	// deepest block of level src.
	var target [oramMaxLevels]uint64
	dest, src := uint64(oramNone), uint64(oramNone)
	for l := h; l >= 0; l-- {
		at := Eq(src, uint64(l+1))
		target[l] = Select(at, dest, oramNone)
		dest = Select(at, oramNone, dest)
		src = Select(at, oramNone, src)
		receives := Eq(dest, oramNone)&lv[l+1].hasFree | ^Eq(target[l], oramNone)
		move := receives &^ Eq(deepest[l], oramNone)
		src = Select(move, deepest[l], src)
		dest = Select(move, uint64(l+1), dest)
	}
	stashTarget := Select(Eq(src, 0), dest, oramNone)

	// The pass. The stash first: the held slot takes the incoming block,
	// which then changes places with the stash's deepest block or moves
	// to an empty stash slot, and goes back to the incoming slot if
	// neither happened.
	trace.Access(trace.OpRead, sb, c)
	trace.Access(trace.OpWrite, sb, c+1)
	trace.Access(trace.OpWrite, sb, c)
	*hold = *in
	in.meta = 0
	take := ^Eq(stashTarget, oramNone)
	for k := range c {
		trace.Access(trace.OpSwap, sb, k)
		trace.Access(trace.OpSwap, sb, c+1)
		m := take&Eq(uint64(k), lv[0].deep) | ^take&lv[0].hasFree&Eq(uint64(k), lv[0].free)
		CondSwap(m, hold, &t.stash[k])
	}
	trace.Access(trace.OpSwap, sb, c)
	trace.Access(trace.OpSwap, sb, c+1)
	CondMove(^take, in, hold)
	hold.meta = Select(take, hold.meta, 0)

	// Then down the path.
	dest = stashTarget
	for l := 0; l <= h; l++ {
		b := bucketAt(path, l, h) * oramZ
		put := Eq(dest, uint64(l+1))
		take := ^Eq(target[l], oramNone)
		slot := Select(take, lv[l+1].deep, lv[l+1].free)
		act := put | take
		for s := range oramZ {
			trace.Access(trace.OpSwap, tb, b+s)
			trace.Access(trace.OpSwap, sb, c+1)
			CondSwap(act&Eq(uint64(s), slot), hold, &t.tree[b+s])
		}
		dest = Select(take, target[l], Select(put, oramNone, dest))
	}
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

// oramRecursivePositions is a position map kept in a Circuit ORAM of packed
// leaves, with its own position map.
type oramRecursivePositions struct {
	tree  *oramTree[oramPosBlock]
	next  oramPositions
	width uint
	mask  uint64 // oramEntryMask of the entries
	src   *oramSource
	init  oramPosBlock // the contents of a block read for the first time
	// height and evictions are the tree's (public; kept apart from the
	// tree, whose contents are secret), as in ORAM.
	height    int
	evictions uint64
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
	if revealOverflow(p.tree.evict(p.evictions, p.height)) {
		p.src.overflowed = true
	}
	p.evictions += oramEvictionsPerAccess
	return v
}
