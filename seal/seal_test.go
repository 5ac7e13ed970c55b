package seal_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/seal"
)

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	p := simtest.Start(t)
	s, err := seal.New(p.Client, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, pol := range []enclave.SealPolicy{enclave.SealUnique, enclave.SealProduct} {
		for _, msg := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("secret"), 10000)} {
			blob, err := s.Seal(ctx, pol, msg, []byte("aad"))
			if err != nil {
				t.Fatal(err)
			}
			h, err := seal.ParseHeader(blob)
			if err != nil || h.Policy != pol {
				t.Fatalf("header %+v %v", h, err)
			}
			// A fresh Sealer has no cached keys: it must derive them.
			s2, _ := seal.New(p.Client, nil)
			for _, u := range []*seal.Sealer{s, s2} {
				got, err := u.Unseal(ctx, blob, []byte("aad"))
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("%v: unseal %v", pol, err)
				}
			}
			if _, err := s2.Unseal(ctx, blob, []byte("aae")); !errors.Is(err, seal.ErrOpen) {
				t.Errorf("wrong additional data: %v", err)
			}
			if _, err := s2.Unseal(ctx, blob, nil); !errors.Is(err, seal.ErrOpen) {
				t.Errorf("missing additional data: %v", err)
			}
		}
	}
}

func TestTamper(t *testing.T) {
	ctx := context.Background()
	p := simtest.Start(t)
	s, _ := seal.New(p.Client, nil)
	blob, err := s.Seal(ctx, enclave.SealProduct, []byte("the quick brown fox"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range blob {
		bad := bytes.Clone(blob)
		bad[i] ^= 1
		if _, err := s.Unseal(ctx, bad, nil); err == nil {
			t.Fatalf("byte %d flipped: unsealed", i)
		}
	}
	for n := range len(blob) {
		if _, err := s.Unseal(ctx, blob[:n], nil); err == nil {
			t.Fatalf("truncated to %d: unsealed", n)
		}
	}
}

func TestOtherPlatform(t *testing.T) {
	ctx := context.Background()
	a, b := simtest.Start(t), simtest.Start(t)
	sa, _ := seal.New(a.Client, nil)
	sb, _ := seal.New(b.Client, nil)
	blob, err := sa.Seal(ctx, enclave.SealUnique, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Unseal(ctx, blob, nil); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("another platform: %v", err)
	}
}

type noSealing struct{ enclave.Self }

func TestNoSealing(t *testing.T) {
	if _, err := seal.New(noSealing{}, nil); !errors.Is(err, seal.ErrNoSealing) {
		t.Errorf("got %v", err)
	}
}

func FuzzUnseal(f *testing.F) {
	p := simtest.Start(f)
	s, _ := seal.New(p.Client, nil)
	blob, _ := s.Seal(context.Background(), enclave.SealUnique, []byte("seed"), nil)
	f.Add(blob)
	blob, _ = s.Seal(context.Background(), enclave.SealProduct, nil, nil)
	f.Add(blob)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := seal.ParseHeader(b)
		if err != nil {
			return
		}
		if h.Policy != enclave.SealUnique && h.Policy != enclave.SealProduct {
			t.Fatalf("parsed unknown policy %d", h.Policy)
		}
		// Only what this Sealer sealed opens; the fuzzer cannot forge.
		s.Unseal(context.Background(), b, nil)
	})
}

func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	p := simtest.Start(t)
	s, _ := seal.New(p.Client, nil)
	done := make(chan error)
	for g := range 4 {
		go func() {
			for i := range 50 {
				msg := []byte{byte(g), byte(i)}
				blob, err := s.Seal(ctx, enclave.SealPolicy(1+i%2), msg, nil)
				if err == nil {
					var got []byte
					got, err = s.Unseal(ctx, blob, nil)
					if err == nil && !bytes.Equal(got, msg) {
						err = errors.New("wrong plaintext")
					}
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
