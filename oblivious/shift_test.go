package oblivious

import (
	"math/rand/v2"
	"testing"
)

func TestShiftBySecretCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		x := rng.Uint64()
		for _, s := range []uint64{0, 1, 7, 8, 31, 32, 63, 64, 65, 1 << 40, ^uint64(0), rng.Uint64N(70)} {
			if got, want := Shl(x, s), x<<s; got != want {
				t.Fatalf("Shl(%#x, %d) = %#x, want %#x", x, s, got, want)
			}
			if got, want := Shr(x, s), x>>s; got != want {
				t.Fatalf("Shr(%#x, %d) = %#x, want %#x", x, s, got, want)
			}
		}
	}
}

func TestLaneShifts(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 1000 {
		x := rng.Uint64()
		for k := range uint64(8) {
			if shlLane(x, k) != x<<(8*k) || shrLane(x, k) != x>>(8*k) {
				t.Fatalf("lane shifts of %#x by %d", x, k)
			}
		}
	}
}
