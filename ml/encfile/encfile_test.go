package encfile

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	key := NewKey()
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3 * ChunkSize, 3*ChunkSize + 17} {
		plain := make([]byte, n)
		rand.Read(plain)
		enc, err := Encrypt(plain, key)
		if err != nil {
			t.Fatal(err)
		}
		chunks := max(1, (n+ChunkSize-1)/ChunkSize)
		if n > 0 && n%ChunkSize == 0 {
			chunks = n / ChunkSize
		}
		if want := HeaderSize + n + chunks*tagSize; len(enc) != want {
			t.Errorf("%d bytes: %d encrypted, want %d", n, len(enc), want)
		}
		got, err := Decrypt(enc, key)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if got, err := OpenInPlace(bytes.Clone(enc), key); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes in place: %v", n, err)
		}
		// Written in odd pieces, read in odd pieces: the same.
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, key)
		for p := plain; len(p) > 0; {
			k := min(len(p), 1000)
			w.Write(p[:k])
			p = p[k:]
		}
		w.Close()
		r, err := NewReader(&buf, key)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		small := make([]byte, 777)
		for {
			k, err := r.Read(small)
			out.Write(small[:k])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(out.Bytes(), plain) {
			t.Fatalf("%d bytes streamed differ", n)
		}
	}
}

func TestBadFiles(t *testing.T) {
	key := NewKey()
	plain := make([]byte, 2*ChunkSize+100)
	rand.Read(plain)
	enc, _ := Encrypt(plain, key)
	other, _ := Encrypt(plain, key)
	c1 := HeaderSize + ChunkSize + tagSize // end of chunk 0
	flip := func(i int) []byte {
		b := bytes.Clone(enc)
		b[i] ^= 1
		return b
	}
	swapped := bytes.Clone(enc)
	copy(swapped[HeaderSize:c1], enc[c1:2*c1-HeaderSize])
	copy(swapped[c1:2*c1-HeaderSize], enc[HeaderSize:c1])
	moved := append(bytes.Clone(other[:HeaderSize]), enc[HeaderSize:]...) // chunks under another file's ID
	for name, c := range map[string]struct {
		file []byte
		key  []byte
		want error
	}{
		"header bit":        {flip(HeaderSize - 1), key, ErrAuth},
		"chunk bit":         {flip(c1 + 5), key, ErrAuth},
		"tag bit":           {flip(len(enc) - 1), key, ErrAuth},
		"wrong key":         {enc, NewKey(), ErrAuth},
		"chunks swapped":    {swapped, key, ErrAuth},
		"another file's ID": {moved, key, ErrAuth},
		"cut at a chunk":    {enc[:2*c1-HeaderSize], key, ErrCut},
		"cut mid-chunk":     {enc[:c1+100], key, ErrAuth},
		"header only":       {enc[:HeaderSize], key, ErrCut},
		"short header":      {enc[:10], key, ErrFormat},
		"not ours":          {[]byte("id,age\n1,2\n" + string(make([]byte, 40))), key, ErrFormat},
	} {
		got, err := Decrypt(c.file, c.key)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		if _, err := OpenInPlace(bytes.Clone(c.file), c.key); !errors.Is(err, c.want) {
			t.Errorf("%s in place: %v, want %v", name, err, c.want)
		}
		if got != nil && len(got) > 0 && err != nil {
			// Plaintext handed out before the error is only ever from
			// chunks that authenticated.
			if !bytes.Equal(got, plain[:len(got)]) {
				t.Errorf("%s: unauthenticated plaintext", name)
			}
		}
	}
	if _, err := Encrypt(plain, key[:5]); err == nil {
		t.Error("a short key accepted")
	}
}

func FuzzDecrypt(f *testing.F) {
	key := bytes.Repeat([]byte{7}, KeySize)
	for _, n := range []int{0, 10, ChunkSize + 3} {
		enc, _ := Encrypt(make([]byte, n), key)
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Decrypt(b, key)
		// Opened in place, the same file gives the same answer.
		inPlace, err2 := OpenInPlace(bytes.Clone(b), key)
		if (err == nil) != (err2 == nil) || err == nil && !bytes.Equal(got, inPlace) ||
			err != nil && (errors.Is(err, ErrCut) != errors.Is(err2, ErrCut) || errors.Is(err, ErrAuth) != errors.Is(err2, ErrAuth)) {
			t.Fatalf("streamed: %v; in place: %v", err, err2)
		}
		if err == nil {
			// Whatever opens re-encrypts to a file of the same length.
			again, _ := Encrypt(got, key)
			if len(again) != len(b) {
				t.Fatalf("%d bytes opened from %d, re-encrypted to %d", len(got), len(b), len(again))
			}
		}
	})
}
