package oblivious

import (
	"fmt"
	"reflect"
	"unsafe"
)

// Records are fixed-size and pointer-free: a conditional swap rewrites a
// record's bytes word by word, which would bypass the garbage collector's
// write barrier for pointers, and a pointer's target would leak through
// the allocator anyway. CheckRecord enforces it at every entry point that
// takes records (a check on the type, public).

// CheckRecord reports whether R can be used as an oblivious record: no
// pointers, slices, strings, maps, interfaces, channels or functions.
func CheckRecord[R any]() error {
	t := reflect.TypeFor[R]()
	if err := pointerFree(t); err != nil {
		return fmt.Errorf("oblivious: %v is not a valid record: %w", t, err)
	}
	return nil
}

func pointerFree(t reflect.Type) error {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return nil
	case reflect.Array:
		return pointerFree(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if err := pointerFree(t.Field(i).Type); err != nil {
				return fmt.Errorf("field %s: %w", t.Field(i).Name, err)
			}
		}
		return nil
	}
	return fmt.Errorf("%v holds pointers", t)
}

func mustRecord[R any]() {
	if err := CheckRecord[R](); err != nil {
		panic(err)
	}
}

// The functions below are the package's audited core: they view records
// as machine words through unsafe, which the leak checker cannot follow.
// Every word of both records is read and written whatever the mask.

// CondSwap swaps *a and *b if m is True. R must be a valid record; as a
// building block called per element, CondSwap does not check that itself
// (the slice-taking entry points do).
//
//confide:oblivious
//confide:secret m
func CondSwap[R any](m Mask, a, b *R) {
	pa, pb := unsafe.Pointer(a), unsafe.Pointer(b)
	n := unsafe.Sizeof(*a)
	// Words as wide as the record's alignment allows: a misaligned
	// *uint64 breaks Go's unsafe rules even where amd64 tolerates it.
	// (checkptr does not catch it for pointer-free types; the objdump
	// test checks the access widths instead.)
	var done uintptr
	if unsafe.Alignof(*a) >= 8 {
		done = n &^ 7
		wa := unsafe.Slice((*uint64)(pa), done/8)
		wb := unsafe.Slice((*uint64)(pb), done/8)
		for i := range wa {
			d := uint64(m) & (wa[i] ^ wb[i])
			wa[i] ^= d
			wb[i] ^= d
		}
	}
	if r := n - done; r > 0 {
		ba := unsafe.Slice((*byte)(unsafe.Add(pa, done)), r)
		bb := unsafe.Slice((*byte)(unsafe.Add(pb, done)), r)
		mb := byte(m)
		for i := range ba {
			d := mb & (ba[i] ^ bb[i])
			ba[i] ^= d
			bb[i] ^= d
		}
	}
}

// CondMove sets *dst to *src if m is True. R must be a valid record.
//
//confide:oblivious
//confide:secret m
func CondMove[R any](m Mask, dst, src *R) {
	pd, ps := unsafe.Pointer(dst), unsafe.Pointer(src)
	n := unsafe.Sizeof(*dst)
	var done uintptr
	if unsafe.Alignof(*dst) >= 8 {
		done = n &^ 7
		wd := unsafe.Slice((*uint64)(pd), done/8)
		ws := unsafe.Slice((*uint64)(ps), done/8)
		for i := range wd {
			wd[i] ^= uint64(m) & (wd[i] ^ ws[i])
		}
	}
	if r := n - done; r > 0 {
		bd := unsafe.Slice((*byte)(unsafe.Add(pd, done)), r)
		bs := unsafe.Slice((*byte)(unsafe.Add(ps, done)), r)
		mb := byte(m)
		for i := range bd {
			bd[i] ^= mb & (bd[i] ^ bs[i])
		}
	}
}

// SelectRecord returns a if m is True, else b.
//
//confide:oblivious
//confide:secret m a b
func SelectRecord[R any](m Mask, a, b R) R {
	CondMove(m.Not(), &a, &b)
	return a
}

// The two declassifications of the ORAM, audited here with the rest of
// the core.

// revealLeaf makes an ORAM leaf label public. A label is drawn uniformly at
// random when its block is accessed and stays unrevealed until the block's
// next access reads the path to it, so the label read then is independent
// of every secret: that is Path ORAM's security argument (Stefanov et al.,
// Lemma 1), and why the path may be read in the clear.
//
//confide:declassify
func revealLeaf(leaf uint64) uint64 { return leaf }

// revealOverflow makes a stash overflow public: the one secret-dependent
// fact the ORAM reveals, with probability below 2^-64 per access (an
// extrapolation; see ErrStashOverflow); the ORAM is unusable after it.
//
//confide:declassify
func revealOverflow(m Mask) bool { return m != False }

// publicError marks ORAM's errors public: ErrStashOverflow (the fact
// revealOverflow declassified) or the random source's failure, neither
// built from a record. The checker's flow-insensitive memory model would
// otherwise merge them with the records Access returns.
//
//confide:declassify
func publicError(err error) error { return err }
