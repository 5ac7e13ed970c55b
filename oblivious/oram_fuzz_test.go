package oblivious

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// FuzzORAM runs arbitrary access sequences — the host-chosen inputs an
// enclave's ORAM sees are its callers' indexes and values — against a
// plain slice: every read returns what the slice holds.
func FuzzORAM(f *testing.F) {
	f.Add(uint16(17), []byte{0, 3, 1, 1, 3, 9, 0, 3})
	f.Add(uint16(1), []byte{1, 0, 7, 0, 0, 0, 255, 255})
	f.Add(uint16(300), bytes.Repeat([]byte{1, 5, 2, 0, 5, 0}, 40))
	f.Fuzz(func(t *testing.T, size uint16, ops []byte) {
		n := int(size)%600 + 1
		o, err := NewORAM[[2]uint64](n, rand.NewChaCha8([32]byte{byte(size), byte(size >> 8)}))
		if err != nil {
			t.Fatal(err)
		}
		ref := make([][2]uint64, n)
		for len(ops) >= 4 {
			write := ops[0]&1 == 1
			i := uint64(binary.BigEndian.Uint16(ops[1:3])) % uint64(n+2) // sometimes out of range
			v := [2]uint64{uint64(ops[3]), i}
			ops = ops[4:]
			var want [2]uint64
			if i < uint64(n) {
				want = ref[i]
			}
			got, err := o.Access(FromBit(b2u(write)), i, v)
			if err != nil {
				// The reader never fails: only a stash overflow could,
				// with probability below 2^-64.
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("access %d of %d: got %v, want %v", i, n, got, want)
			}
			if write && i < uint64(n) {
				ref[i] = v
			}
		}
	})
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
