package cek_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/confide/confide/internal/nodetest"
	"github.com/confide/confide/sql/cek"
)

func TestRoundTripAndTamper(t *testing.T) {
	ctx := context.Background()
	cmk, _, err := cek.NewKeyFile(2048)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	v, err := cek.Encrypt(ctx, cmk, "/Keys/CMK1.pem", key, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cek.Parse(v)
	if err != nil || p.Path != "/keys/cmk1.pem" || len(p.Ciphertext) != 256 || len(p.Signature) != 256 {
		t.Fatalf("parse: %+v %v", p, err)
	}
	got, err := cek.Decrypt(ctx, cmk, "/keys/cmk1.pem", v)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatal(err)
	}
	// Any flipped byte is caught: a malformed value or a bad signature.
	for i := range v {
		d := bytes.Clone(v)
		d[i] ^= 1
		if _, err := cek.Decrypt(ctx, cmk, "/keys/cmk1.pem", d); !errors.Is(err, cek.ErrFormat) && !errors.Is(err, cek.ErrSignature) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	other, _, _ := cek.NewKeyFile(2048)
	if _, err := cek.Decrypt(ctx, other, "/keys/cmk1.pem", v); !errors.Is(err, cek.ErrSignature) {
		t.Errorf("another CMK: %v", err)
	}
}

func TestTedious(t *testing.T) {
	ctx := context.Background()
	cmk, pem, err := cek.NewKeyFile(2048)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	ours, err := cek.Encrypt(ctx, cmk, "https://kms/v1/keys/CMK", key, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(ours)
	bad[10] ^= 1
	res := nodetest.Run(t, []nodetest.Request{
		{Op: "cek-decrypt", PEM: string(pem), Path: "https://kms/v1/keys/CMK", Data: hex.EncodeToString(ours)},
		{Op: "cek-encrypt", PEM: string(pem), Path: "https://kms/v1/keys/CMK", Data: hex.EncodeToString(key)},
		{Op: "cek-decrypt", PEM: string(pem), Path: "https://kms/v1/keys/CMK", Data: hex.EncodeToString(bad)},
	})
	if res[0].Error != "" || res[0].Data != hex.EncodeToString(key) {
		t.Errorf("tedious on our value: %q %s", res[0].Error, res[0].Data)
	}
	if res[1].Error != "" {
		t.Fatal(res[1].Error)
	}
	theirs, _ := hex.DecodeString(res[1].Data)
	got, err := cek.Decrypt(ctx, cmk, "https://kms/v1/keys/CMK", theirs)
	if err != nil || !bytes.Equal(got, key) {
		t.Errorf("our decryption of tedious's value: %v", err)
	}
	if res[2].Error == "" {
		t.Error("tedious accepted a tampered value: the harness cannot fail")
	}
}

// FuzzParse: arbitrary values never crash the parser. Seeds:
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	cmk, _, _ := cek.NewKeyFile(2048)
	v, _ := cek.Encrypt(context.Background(), cmk, "k", make([]byte, 32), nil)
	f.Add(v)
	f.Add([]byte{1, 2, 0, 1, 0, 'k', 0, 9, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := cek.Parse(b)
		if err == nil && (len(p.Signature) != len(p.Ciphertext) || len(p.Digest()) != 32) {
			t.Fatalf("accepted %x", b)
		}
	})
}

// countingCMK counts unwraps.
type countingCMK struct {
	cek.CMK
	n int
}

func (c *countingCMK) Unwrap(ctx context.Context, ct []byte) ([]byte, error) {
	c.n++
	return c.CMK.Unwrap(ctx, ct)
}

type oneKey struct{ cmk *countingCMK }

func (oneKey) Name() string                                    { return "TEST" }
func (o oneKey) Open(context.Context, string) (cek.CMK, error) { return o.cmk, nil }

func TestCache(t *testing.T) {
	ctx := context.Background()
	kf, _, _ := cek.NewKeyFile(2048)
	cmk := &countingCMK{CMK: kf}
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	v1, _ := cek.Encrypt(ctx, kf, "cmk", k1, nil)
	v2, _ := cek.Encrypt(ctx, kf, "cmk", k2, nil)
	now := time.Now()
	c := &cek.Cache{Providers: []cek.Provider{oneKey{cmk}}, Trusted: []string{"CMK"}, TTL: time.Minute, Now: func() time.Time { return now }}
	for i := 0; i < 3; i++ {
		if got, err := c.Decrypt(ctx, "test", "cmk", v1); err != nil || !bytes.Equal(got, k1) {
			t.Fatal(err)
		}
	}
	if cmk.n != 1 {
		t.Errorf("%d unwraps for one value, want 1", cmk.n)
	}
	// Another value under the same path is another cache entry.
	if got, err := c.Decrypt(ctx, "test", "cmk", v2); err != nil || !bytes.Equal(got, k2) || cmk.n != 2 {
		t.Fatalf("second value: %v, %d unwraps", err, cmk.n)
	}
	now = now.Add(2 * time.Minute)
	c.Decrypt(ctx, "test", "cmk", v1)
	if cmk.n != 3 {
		t.Errorf("expired entry not refreshed: %d unwraps", cmk.n)
	}
	var u *cek.ErrUntrusted
	if _, err := c.Decrypt(ctx, "test", "/etc/other.pem", v1); !errors.As(err, &u) {
		t.Errorf("untrusted path: %v", err)
	}
	if _, err := c.Decrypt(ctx, "nope", "cmk", v1); err == nil {
		t.Error("unknown provider accepted")
	}
}
