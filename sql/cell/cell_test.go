package cell_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/confide/confide/internal/nodetest"
	"github.com/confide/confide/sql/cell"
)

func key(t testing.TB, b byte) (*cell.Key, []byte) {
	cek := bytes.Repeat([]byte{b}, 32)
	k, err := cell.NewKey(cek)
	if err != nil {
		t.Fatal(err)
	}
	return k, cek
}

func TestRoundTrip(t *testing.T) {
	k, _ := key(t, 1)
	for _, n := range []int{0, 1, 15, 16, 17, 100, 4096} {
		pt := make([]byte, n)
		rand.Read(pt)
		for _, det := range []bool{true, false} {
			c, err := k.Encrypt(pt, det, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(c) != 1+32+16+(n/16+1)*16 {
				t.Errorf("%d bytes: cell of %d bytes", n, len(c))
			}
			got, err := k.Decrypt(c)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("%d bytes, det %v: %v", n, det, err)
			}
			c2, _ := k.Encrypt(pt, det, nil)
			if bytes.Equal(c, c2) != det {
				t.Errorf("deterministic %v, but equal cells: %v", det, bytes.Equal(c, c2))
			}
		}
	}
}

func TestTamperAndWrongKey(t *testing.T) {
	k, _ := key(t, 1)
	other, _ := key(t, 2)
	c, _ := k.Encrypt([]byte("patient 42"), true, nil)
	for i := range c {
		d := bytes.Clone(c)
		d[i] ^= 0x80
		if _, err := k.Decrypt(d); !errors.Is(err, cell.ErrMAC) && !errors.Is(err, cell.ErrFormat) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	if _, err := other.Decrypt(c); !errors.Is(err, cell.ErrMAC) {
		t.Errorf("other key: %v", err)
	}
	for _, bad := range [][]byte{nil, c[:len(c)-1], c[:cell.Overhead-1], append(bytes.Clone(c), 0)} {
		if _, err := k.Decrypt(bad); !errors.Is(err, cell.ErrFormat) {
			t.Errorf("%d bytes: %v", len(bad), err)
		}
	}
	if _, err := cell.NewKey(make([]byte, 16)); err == nil {
		t.Error("a 16-byte CEK was accepted")
	}
}

// TestTedious checks both directions against tedious, an independent
// implementation (npm), driven by node.
func TestTedious(t *testing.T) {
	k, cek := key(t, 7)
	pts := [][]byte{{}, []byte("x"), []byte("0123456789abcdef"), bytes.Repeat([]byte("confide "), 40), {0, 0, 0, 0, 0, 0, 0, 1}}
	var reqs []nodetest.Request
	var ours [][]byte
	for _, pt := range pts {
		for _, det := range []bool{true, false} {
			reqs = append(reqs, nodetest.Request{Op: "cell-encrypt", CEK: hex.EncodeToString(cek), Deterministic: det, Data: hex.EncodeToString(pt)})
			c, err := k.Encrypt(pt, det, nil)
			if err != nil {
				t.Fatal(err)
			}
			ours = append(ours, c)
			reqs = append(reqs, nodetest.Request{Op: "cell-decrypt", CEK: hex.EncodeToString(cek), Data: hex.EncodeToString(c)})
		}
	}
	tampered := bytes.Clone(ours[0])
	tampered[len(tampered)-1] ^= 1
	reqs = append(reqs, nodetest.Request{Op: "cell-decrypt", CEK: hex.EncodeToString(cek), Data: hex.EncodeToString(tampered)})
	res := nodetest.Run(t, reqs)
	for i := 0; i < len(ours); i++ {
		pt := pts[i/2]
		det := i%2 == 0
		enc, dec := res[2*i], res[2*i+1]
		if enc.Error != "" || dec.Error != "" {
			t.Fatalf("tedious: %s %s", enc.Error, dec.Error)
		}
		// tedious → confide
		theirs, _ := hex.DecodeString(enc.Data)
		got, err := k.Decrypt(theirs)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("tedious's cell of %q: %v", pt, err)
		}
		if det && !bytes.Equal(theirs, ours[i]) {
			t.Errorf("deterministic cells of %q differ:\n tedious %x\n confide %x", pt, theirs, ours[i])
		}
		// confide → tedious
		if dec.Data != hex.EncodeToString(pt) {
			t.Errorf("tedious decrypted our cell of %q to %s", pt, dec.Data)
		}
	}
	if last := res[len(res)-1]; last.Error == "" {
		t.Error("tedious accepted a tampered cell: the harness cannot fail")
	}
}

// FuzzDecrypt: arbitrary cells never crash decryption, and what decrypts
// re-encrypts (deterministically) to the same cell. Seeds:
// testdata/fuzz/FuzzDecrypt.
func FuzzDecrypt(f *testing.F) {
	k, _ := key(f, 3)
	for _, s := range []string{"", "a", "patient 42 — diagnosis withheld"} {
		c, _ := k.Encrypt([]byte(s), true, nil)
		f.Add(c)
	}
	f.Add(make([]byte, cell.Overhead))
	f.Fuzz(func(t *testing.T, c []byte) {
		pt, err := k.Decrypt(c)
		if err != nil {
			return
		}
		again, _ := k.Encrypt(pt, true, nil)
		if !bytes.Equal(again, c) {
			// Only randomized cells may differ; their plaintext must
			// still round-trip.
			if back, err := k.Decrypt(again); err != nil || !bytes.Equal(back, pt) {
				t.Fatalf("round trip of %x", c)
			}
		}
	})
}

// BenchmarkCell measures one SSN-sized cell (11 bytes): deterministic and
// randomized encryption, and decryption.
func BenchmarkCell(b *testing.B) {
	k, _ := key(b, 7)
	pt := []byte("123-45-6789")
	b.Run("encrypt-det", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.Encrypt(pt, true, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encrypt-rand", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.Encrypt(pt, false, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	c, err := k.Encrypt(pt, true, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decrypt", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.Decrypt(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
