package cek_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

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
