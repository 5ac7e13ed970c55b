package party

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	k, err := Generate("h1")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := k.Save(dir); err == nil || !strings.Contains(err.Error(), "not overwritten") {
		t.Fatalf("overwrote keys: %v", err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "h1.keys.pem"))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys file mode %v", fi.Mode())
	}
	l, err := Load(dir, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if !l.Sign.Equal(k.Sign) || !l.Out.Equal(k.Out) || !bytes.Equal(l.Data, k.Data) {
		t.Fatal("keys differ after a round trip")
	}
	p, err := ReadPublic(filepath.Join(dir, "h1.pub.json"))
	if err != nil || p != k.Public() {
		t.Fatalf("public %+v %v", p, err)
	}
	os.WriteFile(filepath.Join(dir, "bad.keys.pem"), []byte("-----BEGIN CONFIDE ML DATA KEY-----\nAAAA\n-----END CONFIDE ML DATA KEY-----\n"), 0o600)
	if _, err := Load(dir, "bad"); err == nil {
		t.Fatal("a short data key loaded")
	}
}

func FuzzParseKeys(f *testing.F) {
	k, _ := Generate("h1")
	dir := f.TempDir()
	k.Save(dir)
	b, _ := os.ReadFile(filepath.Join(dir, "h1.keys.pem"))
	f.Add(b)
	f.Add([]byte("-----BEGIN CONFIDE ML OUTPUT KEY-----\nAAAA\n-----END CONFIDE ML OUTPUT KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parseKeys(b, "fuzz", "x")
		if err != nil {
			return
		}
		if k.Sign == nil || k.Out == nil || len(k.Data) != 32 {
			t.Fatal("incomplete keys accepted")
		}
		parsePublic(b, "fuzz")
	})
}
