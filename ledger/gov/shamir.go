package gov

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// Shamir's secret sharing over GF(2^8) (the AES field, x^8 + x^4 + x^3 +
// x + 1), byte by byte: each byte of the secret is the constant term of
// its own random polynomial of degree k−1; share i holds x = i and the
// polynomials' values at x. Any k shares give the secret by Lagrange
// interpolation at 0; fewer give no information about it. The field
// arithmetic has no tables and no secret-dependent branches. (No library
// on the module proxy here implements it: HashiCorp's lives inside
// Vault's main module.)

// gfMul multiplies in GF(2^8), in constant time.
//
//confide:oblivious
//confide:secret a b
func gfMul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= a & -(b & 1)
		hi := -(a >> 7)
		a = a<<1 ^ 0x1b&hi
		b >>= 1
	}
	return p
}

// gfInv is a^254 = a^−1 (0 for 0), in constant time.
//
//confide:oblivious
//confide:secret a
func gfInv(a byte) byte {
	r, x := byte(1), a
	for e := 254; e > 0; e >>= 1 {
		m := -byte(e & 1) // public: the exponent
		r = r&^m | gfMul(r, x)&m
		x = gfMul(x, x)
	}
	return r
}

// ErrShares reports shares that cannot be combined: too few to hold any
// x, unequal lengths, a repeated or zero x.
var ErrShares = errors.New("gov: the shares do not combine")

// Split shares secret k-of-n: n shares, each len(secret)+1 bytes (x
// first).
func Split(secret []byte, n, k int) ([][]byte, error) {
	if k < 1 || n < k || n > 255 {
		return nil, fmt.Errorf("gov: a %d-of-%d split", k, n)
	}
	coef := make([]byte, len(secret)*(k-1))
	if _, err := rand.Read(coef); err != nil {
		return nil, err
	}
	shares := make([][]byte, n)
	for i := range shares {
		x := byte(i + 1)
		s := make([]byte, len(secret)+1)
		s[0] = x
		for j, c0 := range secret {
			// Horner: c0 + x(c1 + x(c2 + …)).
			var y byte
			for d := k - 2; d >= 0; d-- {
				y = gfMul(y, x) ^ coef[j*(k-1)+d]
			}
			s[j+1] = gfMul(y, x) ^ c0
		}
		shares[i] = s
	}
	clear(coef)
	return shares, nil
}

// Combine recovers the secret from k or more shares of one split. With
// fewer than k it returns a value unrelated to the secret: callers check
// what they recover (an AEAD tag, as Recover does).
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) == 0 || len(shares[0]) < 2 {
		return nil, ErrShares
	}
	l := len(shares[0])
	seen := map[byte]bool{}
	for _, s := range shares {
		if len(s) != l || s[0] == 0 || seen[s[0]] {
			return nil, ErrShares
		}
		seen[s[0]] = true
	}
	out := make([]byte, l-1)
	for i, si := range shares {
		// The Lagrange basis at 0: Π x_j / (x_j − x_i), j ≠ i (− is ^).
		num, den := byte(1), byte(1)
		for j, sj := range shares {
			if i != j {
				num = gfMul(num, sj[0])
				den = gfMul(den, sj[0]^si[0])
			}
		}
		w := gfMul(num, gfInv(den))
		for b := range out {
			out[b] ^= gfMul(w, si[b+1])
		}
	}
	return out, nil
}
