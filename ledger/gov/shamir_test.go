package gov

import (
	"bytes"
	"crypto/rand"
	"testing"
)

func TestGF(t *testing.T) {
	for a := range 256 {
		if a != 0 && gfMul(byte(a), gfInv(byte(a))) != 1 {
			t.Fatalf("%d × %d⁻¹ ≠ 1", a, a)
		}
		for b := range 256 {
			// Against the schoolbook carry-less product reduced mod the AES polynomial.
			var p uint16
			for i := range 8 {
				if b>>i&1 == 1 {
					p ^= uint16(a) << i
				}
			}
			for i := 15; i >= 8; i-- {
				if p>>i&1 == 1 {
					p ^= 0x11b << (i - 8)
				}
			}
			if gfMul(byte(a), byte(b)) != byte(p) {
				t.Fatalf("%d × %d = %d, want %d", a, b, gfMul(byte(a), byte(b)), p)
			}
		}
	}
}

// TestSplitCombine: every k-subset of a k-of-n split gives the secret
// back; k−1 shares give something else (for a 32-byte secret, with
// overwhelming probability).
func TestSplitCombine(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	for _, kn := range [][2]int{{1, 1}, {1, 3}, {2, 3}, {3, 5}, {5, 5}} {
		k, n := kn[0], kn[1]
		shares, err := Split(secret, n, k)
		if err != nil {
			t.Fatal(err)
		}
		for mask := 1; mask < 1<<n; mask++ {
			var sub [][]byte
			for i := range n {
				if mask>>i&1 == 1 {
					sub = append(sub, shares[i])
				}
			}
			got, err := Combine(sub)
			if err != nil {
				t.Fatal(err)
			}
			if ok := bytes.Equal(got, secret); ok != (len(sub) >= k) {
				t.Fatalf("%d-of-%d, %d shares: recovered=%v", k, n, len(sub), ok)
			}
		}
	}
	if _, err := Split(secret, 2, 3); err == nil {
		t.Error("a 3-of-2 split")
	}
	s, _ := Split(secret, 3, 2)
	if _, err := Combine([][]byte{s[0], s[0]}); err == nil {
		t.Error("a repeated share combined")
	}
	if _, err := Combine([][]byte{s[0], s[1][:5]}); err == nil {
		t.Error("shares of different lengths combined")
	}
}
