package files_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/files"
)

var secret, _ = entry.NewSecret(bytes.Repeat([]byte{7}, 32))

func encoded(t *testing.T, view, seqno uint64, flags uint8) []byte {
	t.Helper()
	b, err := secret.Encode(&entry.Entry{
		TxID:  entry.TxID{View: view, Seqno: seqno},
		Flags: flags,
		Writes: entry.WriteSet{
			"public:log": {{Key: []byte("k"), Value: []byte{byte(seqno)}}},
			"secrets":    {{Key: []byte("s"), Value: bytes.Repeat([]byte{byte(seqno)}, int(seqno))}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// write appends seqnos from..to, ending a chunk at every seqno in ends.
func write(t *testing.T, l *files.Ledger, view, from, to uint64, ends ...uint64) {
	t.Helper()
	for s := from; s <= to; s++ {
		var f uint8
		if slices.Contains(ends, s) {
			f = entry.FlagChunkEnd | entry.FlagSignature
		}
		if err := l.Append(encoded(t, view, s, f)); err != nil {
			t.Fatal(err)
		}
	}
}

func names(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return strings.Join(out, " ")
}

func check(t *testing.T, l *files.Ledger, view, from, to uint64) {
	t.Helper()
	for s := from; s <= to; s++ {
		b, err := l.Read(s)
		if err != nil {
			t.Fatalf("read %d: %v", s, err)
		}
		if want := encoded(t, view, s, 0); !bytes.Equal(b[6:], want[6:]) && !bytes.Equal(b, want) {
			e, err := secret.Decode(b)
			if err != nil || e.TxID.Seqno != s || e.TxID.View != view {
				t.Fatalf("entry %d reads back wrong", s)
			}
		}
	}
}

func TestChunksAndCommit(t *testing.T) {
	dir := t.TempDir()
	l, err := files.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	write(t, l, 1, 1, 12, 5, 9)
	if got := names(t, dir); got != "ledger_1 ledger_10 ledger_6" {
		t.Fatalf("files %q", got)
	}
	if err := l.Append(encoded(t, 1, 14, 0)); !errors.Is(err, files.ErrSeqno) {
		t.Fatalf("out-of-order append: %v", err)
	}
	// A commit inside a chunk renames nothing; one at its end does.
	if err := l.Commit(4); err != nil || names(t, dir) != "ledger_1 ledger_10 ledger_6" {
		t.Fatalf("commit 4: %v %q", err, names(t, dir))
	}
	if err := l.Commit(11); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); got != "ledger_1-5.committed ledger_10 ledger_6-9.committed" {
		t.Fatalf("files %q", got)
	}
	if got := l.CommittedChunks(); len(got) != 2 || filepath.Base(got[1]) != "ledger_6-9.committed" {
		t.Fatalf("committed chunks %q", got)
	}
	if err := l.Commit(13); err == nil {
		t.Error("commit beyond the last entry")
	}
	// Truncation below the commit point is refused; above it cuts the tail.
	if err := l.Truncate(10); err == nil {
		t.Error("truncated committed entries")
	}
	if err := l.Truncate(11); err != nil || l.Next() != 12 {
		t.Fatalf("truncate: %v, next %d", err, l.Next())
	}
	write(t, l, 2, 12, 13)
	check(t, l, 1, 1, 11)
	check(t, l, 2, 12, 13)
	l.Close()

	// Reopening finds the same entries and appends where it stopped.
	l, err = files.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if l.Next() != 14 || l.Committed() != 9 {
		t.Fatalf("reopened: next %d committed %d", l.Next(), l.Committed())
	}
	check(t, l, 1, 1, 11)
	write(t, l, 2, 14, 15, 15)
	write(t, l, 2, 16, 16)
	if err := l.Commit(15); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); got != "ledger_1-5.committed ledger_10-15.committed ledger_16 ledger_6-9.committed" {
		t.Fatalf("files %q", got)
	}
	// Truncating a whole chunk removes its file.
	if err := l.Truncate(15); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, err = files.Open(dir)
	if err != nil || l.Next() != 16 {
		t.Fatalf("reopen after removing the tail: %v", err)
	}
	l.Close()
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	l, _ := files.Open(dir)
	write(t, l, 1, 1, 7, 3)
	l.Close()
	tail := filepath.Join(dir, "ledger_4")
	fi, _ := os.Stat(tail)
	// A crash mid-write leaves part of the last frame: reopening cuts it.
	for _, cut := range []int64{1, 3, 5, 40} {
		if err := os.Truncate(tail, fi.Size()-cut); err != nil {
			t.Fatal(err)
		}
		l, err := files.Open(dir)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if l.Next() != 7 {
			t.Fatalf("cut %d: next %d, want 7", cut, l.Next())
		}
		write(t, l, 1, 7, 7)
		l.Close()
		fi, _ = os.Stat(tail)
	}
}

func TestCorruption(t *testing.T) {
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		l, _ := files.Open(dir)
		write(t, l, 1, 1, 6, 3)
		if err := l.Commit(4); err != nil {
			t.Fatal(err)
		}
		l.Close()
		return dir
	}
	cases := map[string]func(dir string){
		"flipped byte in a committed chunk's header": func(dir string) {
			flip(t, filepath.Join(dir, "ledger_1-3.committed"), 12)
		},
		"flipped seqno of an entry": func(dir string) {
			flip(t, filepath.Join(dir, "ledger_1-3.committed"), 13+4+21)
		},
		"committed chunk cut short": func(dir string) {
			p := filepath.Join(dir, "ledger_1-3.committed")
			fi, _ := os.Stat(p)
			os.Truncate(p, fi.Size()-2)
		},
		"name claims more entries": func(dir string) {
			os.Rename(filepath.Join(dir, "ledger_1-3.committed"), filepath.Join(dir, "ledger_1-4.committed"))
		},
		"a chunk missing": func(dir string) {
			os.Remove(filepath.Join(dir, "ledger_1-3.committed"))
		},
		"garbage appended to a committed chunk": func(dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, "ledger_1-3.committed"), os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte{0, 0, 0, 1, 9})
			f.Close()
		},
		"a frame in the tail that is not an entry": func(dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, "ledger_4"), os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte{0, 0, 0, 1, 9})
			f.Close()
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			dir := setup(t)
			damage(dir)
			if _, err := files.Open(dir); !errors.Is(err, files.ErrCorrupt) {
				t.Fatalf("opened: %v", err)
			}
		})
	}
}

func flip(t *testing.T, path string, off int) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x40
	os.WriteFile(path, b, 0o600)
}

// FuzzOpen: whatever a host puts in a chunk file, Open either refuses it
// (ErrCorrupt) or reads entries that all parse with consecutive seqnos.
func FuzzOpen(f *testing.F) {
	if seeds, _ := filepath.Glob("testdata/fuzz/FuzzOpen/*"); len(seeds) == 0 {
		f.Fatal("the seed corpus is missing")
	}
	f.Fuzz(func(t *testing.T, b []byte, committed bool) {
		dir := t.TempDir()
		name := "ledger_1"
		if committed {
			name = "ledger_1-2.committed"
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := files.Open(dir)
		if err != nil {
			if !errors.Is(err, files.ErrCorrupt) {
				t.Fatalf("not ErrCorrupt: %v", err)
			}
			return
		}
		defer l.Close()
		for s := uint64(1); s < l.Next(); s++ {
			e, err := l.Read(s)
			if err != nil {
				t.Fatalf("read %d of %d: %v", s, l.Next()-1, err)
			}
			h, err := entry.ParseHeader(e)
			if err != nil || h.TxID.Seqno != s {
				t.Fatalf("entry %d: %v", s, err)
			}
		}
	})
}
