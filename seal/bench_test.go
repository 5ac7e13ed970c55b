package seal_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/seal"
)

var sizes = []int{64, 4 << 10, 64 << 10, 1 << 20}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// rawGCM is the peer: AES-256-GCM with a random nonce and nothing else,
// as an application would seal with a key it already holds.
func rawGCM(b *testing.B) cipher.AEAD {
	key := make([]byte, 32)
	rand.Read(key)
	blk, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(blk)
	return g
}

// BenchmarkSeal compares sealing with raw AES-256-GCM in the same run.
// Goal (issue 11): confide within 1.2x of aesgcm.
func BenchmarkSeal(b *testing.B) {
	p := simtest.Start(b)
	ctx := context.Background()
	for _, n := range sizes {
		msg := make([]byte, n)
		b.Run("confide/"+sizeName(n), func(b *testing.B) {
			s, _ := seal.New(p.Client, nil)
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := s.Seal(ctx, enclave.SealProduct, msg, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("aesgcm/"+sizeName(n), func(b *testing.B) {
			g := rawGCM(b)
			nonce := make([]byte, 12)
			b.SetBytes(int64(n))
			for b.Loop() {
				rand.Read(nonce)
				out := make([]byte, 12, 12+n+16)
				copy(out, nonce)
				g.Seal(out, nonce, msg, nil)
			}
		})
	}
}

// BenchmarkUnseal compares unsealing with raw AES-256-GCM opening.
func BenchmarkUnseal(b *testing.B) {
	p := simtest.Start(b)
	ctx := context.Background()
	for _, n := range sizes {
		msg := make([]byte, n)
		b.Run("confide/"+sizeName(n), func(b *testing.B) {
			s, _ := seal.New(p.Client, nil)
			blob, _ := s.Seal(ctx, enclave.SealProduct, msg, nil)
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := s.Unseal(ctx, blob, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("aesgcm/"+sizeName(n), func(b *testing.B) {
			g := rawGCM(b)
			nonce := make([]byte, 12)
			rand.Read(nonce)
			ct := g.Seal(nil, nonce, msg, nil)
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := g.Open(nil, nonce, ct, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
