package kvstore_test

import (
	"path/filepath"
	"testing"

	"github.com/confide/confide/kvstore"
)

func TestBackup(t *testing.T) {
	dir := t.TempDir()
	st, err := kvstore.OpenBolt(filepath.Join(dir, "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Update(func(tx kvstore.Tx) error { return tx.Put("b", []byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, "copy.db")
	if err := st.Backup(copyPath); err != nil {
		t.Fatal(err)
	}
	// The original stays writable, and the copy does not follow it.
	if err := st.Update(func(tx kvstore.Tx) error { return tx.Put("b", []byte("k"), []byte("w")) }); err != nil {
		t.Fatal(err)
	}
	cp, err := kvstore.OpenBolt(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	var got string
	cp.View(func(tx kvstore.Tx) error { got = string(tx.Get("b", []byte("k"))); return nil })
	if got != "v" {
		t.Fatalf("the copy holds %q, want %q", got, "v")
	}
	if err := st.Backup(copyPath); err == nil {
		t.Fatal("a backup overwrote an existing file")
	}
}
