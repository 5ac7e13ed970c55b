package mpdemo

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confide/confide/ml/data"
	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/encfile"
)

// The host check finds a plaintext record, and passes ciphertext.
func TestCheckHost(t *testing.T) {
	d, _ := dataset.ReadCSV(bytes.NewReader(data.BreastCancerCSV), "bc", "malignant")
	dir := t.TempDir()
	plain := d.Subset([]int{7, 8}).CSV()
	enc, _ := encfile.Encrypt(plain, encfile.NewKey())
	os.WriteFile(filepath.Join(dir, "a.enc"), enc, 0o644)
	if n, err := checkHost(dir, d); err != nil || n != 1 {
		t.Fatalf("ciphertext: %d %v", n, err)
	}
	os.WriteFile(filepath.Join(dir, "leak.csv"), plain, 0o644)
	if _, err := checkHost(dir, d); err == nil || !strings.Contains(err.Error(), "leak.csv holds a plaintext record") {
		t.Fatalf("a plaintext file: %v", err)
	}
	os.Remove(filepath.Join(dir, "leak.csv"))
	os.WriteFile(filepath.Join(dir, "leak.bin"), d.Subset([]int{9}).Table(), 0o644)
	if _, err := checkHost(dir, d); err == nil || !strings.Contains(err.Error(), "leak.bin holds a plaintext record") {
		t.Fatalf("a plaintext binary table: %v", err)
	}
}
