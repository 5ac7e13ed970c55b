package oblivious

import (
	"math"
	"testing"
	"unsafe"
)

func TestAddPairLines(t *testing.T) {
	dst := AlignedFloats(40)
	if len(dst) != 40 || uintptr(unsafe.Pointer(&dst[0]))%64 != 0 {
		t.Fatalf("%d floats at %p", len(dst), &dst[0])
	}
	want := make([]float64, len(dst))
	for k, i := range []uint64{0, 6, 8, 38, 14, 14, 30} {
		a, b := float64(k+1), -float64(k+1)/2
		AddPairLines(dst, i, a, b)
		want[i] += a
		want[i+1] += b
	}
	AddPairLines(dst, 400, 1, 1) // out of range: nothing
	for j := range dst {
		if dst[j] != want[j] {
			t.Fatalf("dst[%d] = %v, want %v", j, dst[j], want[j])
		}
	}
	// Extreme values elsewhere are not disturbed by the zero additions.
	dst[2] = math.MaxFloat64
	AddPairLines(dst, 10, 1, 1)
	if dst[2] != math.MaxFloat64 {
		t.Fatal("an untargeted element changed")
	}
}

func TestAddPairLines32(t *testing.T) {
	for _, n := range []int{40, 100, 200} {
		dst := AlignedFloat32s(n)
		if len(dst)%16 != 0 || len(dst) < n || uintptr(unsafe.Pointer(&dst[0]))%64 != 0 {
			t.Fatalf("%d floats at %p", len(dst), &dst[0])
		}
		want := make([]float32, len(dst))
		for k := range 50 {
			i := uint64(k*37) % uint64(len(dst)) &^ 1
			a, b := float32(k+1), -float32(k+1)/2
			AddPairLines32(dst, i, a, b)
			want[i] += a
			want[i+1] += b
		}
		AddPairLines32(dst, 4000, 1, 1)
		for j := range dst {
			if dst[j] != want[j] {
				t.Fatalf("n=%d: dst[%d] = %v, want %v", n, j, dst[j], want[j])
			}
		}
	}
}

func TestReadLine64(t *testing.T) {
	for _, n := range []int{20, 40, 70} {
		xs := AlignedUint64s(n)
		if len(xs)%8 != 0 || len(xs) < n || uintptr(unsafe.Pointer(&xs[0]))%64 != 0 {
			t.Fatalf("%d at %p", len(xs), &xs[0])
		}
		for i := range xs {
			xs[i] = uint64(i*i + 7)
		}
		for i := range xs {
			if got := ReadLine64(xs, uint64(i)); got != xs[i] {
				t.Fatalf("n=%d: ReadLine64(%d) = %d, want %d", n, i, got, xs[i])
			}
		}
		if got := ReadLine64(xs, 1000); got != 0 {
			t.Fatalf("out of range: %d", got)
		}
	}
}

func TestLineTable(t *testing.T) {
	for _, n := range []int{1, 8, 9, 40} {
		tb := NewLineTable(5, n)
		want := make([][]uint64, 5)
		for f := range want {
			want[f] = make([]uint64, n)
			for i := range n {
				want[f][i] = uint64(1000*f + i)
				tb.Set(f, i, want[f][i])
			}
		}
		for i := range n {
			// Fields 1…3 of row i: 10+i where the mask is True, else kept.
			masks := []Mask{True, False, True}
			tb.Write(uint64(i), 1, []uint64{uint64(10 + i), 99, uint64(20 + i)}, masks)
			want[1][i], want[3][i] = uint64(10+i), uint64(20+i)
		}
		tb.Write(uint64(n+8), 0, []uint64{7}, []Mask{True}) // out of range: nothing
		for i := range n {
			out := make([]uint64, 4)
			tb.Read(uint64(i), 1, out)
			for k, v := range out {
				if v != want[1+k][i] || tb.Get(1+k, i) != v {
					t.Fatalf("n=%d: field %d of row %d = %d (Get %d), want %d", n, 1+k, i, v, tb.Get(1+k, i), want[1+k][i])
				}
			}
		}
		out := []uint64{5}
		if tb.Read(uint64(n+8), 0, out); out[0] != 0 {
			t.Fatalf("out of range read %d", out[0])
		}
	}
}

func TestReadLineFloat(t *testing.T) {
	xs := AlignedFloats(20)
	for i := range xs {
		xs[i] = float64(i) - 0.5
	}
	for i := range xs {
		if got := ReadLineFloat(xs, uint64(i)); got != xs[i] {
			t.Fatalf("ReadLineFloat(%d) = %v", i, got)
		}
	}
}
