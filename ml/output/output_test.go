package output

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	a, _ := ecdh.X25519().GenerateKey(rand.Reader)
	b, _ := ecdh.X25519().GenerateKey(rand.Reader)
	job := [32]byte{1}
	env, err := Seal(a.PublicKey(), job, "h1", "model", []byte("the model"))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(env)
	env2, err := Parse(js)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Open(a, job, "h1", env2); err != nil || string(got) != "the model" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := Open(b, job, "h1", env); !errors.Is(err, ErrOpen) {
		t.Errorf("another party's key: %v", err)
	}
	if _, err := Open(a, [32]byte{2}, "h1", env); err == nil {
		t.Error("another job's")
	}
	// The envelope relabelled for another job or recipient still does
	// not open: the info string binds them.
	forged := *env
	forged.Manifest = "02" + env.Manifest[2:]
	if _, err := Open(a, [32]byte{2}, "h1", &forged); err == nil {
		t.Error("a relabelled job opened")
	}
	forged = *env
	forged.Recipient = "h2"
	if _, err := Open(a, job, "h2", &forged); !errors.Is(err, ErrOpen) {
		t.Errorf("a relabelled recipient: %v", err)
	}
	forged = *env
	forged.What = "report"
	if _, err := Open(a, job, "h1", &forged); !errors.Is(err, ErrOpen) {
		t.Errorf("a model relabelled a report: %v", err)
	}
	tampered := *env
	tampered.Ciphertext = append([]byte(nil), env.Ciphertext...)
	tampered.Ciphertext[len(tampered.Ciphertext)-1] ^= 1
	if _, err := Open(a, job, "h1", &tampered); !errors.Is(err, ErrOpen) {
		t.Errorf("tampered: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"recipient":"h1","what":"model","manifest_sha256":"00","ciphertext":"AAAA"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			return
		}
		k, _ := ecdh.X25519().GenerateKey(rand.Reader)
		Open(k, [32]byte{}, e.Recipient, e) // must not panic
	})
}
