package files_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
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
	// A crash mid-write leaves part of the last frame: its end never
	// reached the disk, either cut off (no space reserved) or, in the
	// reserved space, zeros from a sector boundary on. Reopening cuts the
	// frame.
	for i, cut := range []int{1, 3, 5, 40} {
		b, _ := os.ReadFile(tail)
		end := dataEnd(b)
		if i%2 == 0 {
			b = b[:end-cut]
		} else {
			clear(b[max(lastFrame(b), (end-1)/512*512):end])
		}
		if err := os.WriteFile(tail, b, 0o600); err != nil {
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
	}
}

// TestTornWrite: a frame whose page was never written (zeros where the
// entry should be) at the end of the tail is a torn write, cut off; the
// same frame with its bytes changed otherwise is damage.
func TestTornWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		fill byte
		torn bool
	}{{"zeros", 0, true}, {"garbage", 0x5a, false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := files.Open(dir)
			write(t, l, 1, 1, 3)
			big, _ := secret.Encode(&entry.Entry{TxID: entry.TxID{View: 1, Seqno: 4},
				Writes: entry.WriteSet{"public:x": {{Key: []byte("k"), Value: bytes.Repeat([]byte{1}, 3000)}}}})
			if err := l.Append(big); err != nil {
				t.Fatal(err)
			}
			l.Close()
			p := filepath.Join(dir, "ledger_1")
			b, _ := os.ReadFile(p)
			end := dataEnd(b)
			// The last frame's middle: a sector that never reached the disk.
			for i := end - 2048; i < end-1024; i++ {
				b[i] = tc.fill
			}
			os.WriteFile(p, b, 0o600)
			l, err := files.Open(dir)
			if !tc.torn {
				if !errors.Is(err, files.ErrCorrupt) {
					t.Fatalf("damage taken for a torn write: %v", err)
				}
				return
			}
			if err != nil || l.Next() != 4 {
				t.Fatalf("torn write not cut: %v", err)
			}
			l.Close()
		})
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
			flip(t, filepath.Join(dir, "ledger_1-3.committed"), 13+8+21)
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
		"a whole frame in the tail that is not an entry": func(dir string) {
			p := filepath.Join(dir, "ledger_4")
			b, _ := os.ReadFile(p)
			frame := binary.BigEndian.AppendUint32([]byte{0, 0, 0, 1}, crc32.Checksum([]byte{9}, crc32.MakeTable(crc32.Castagnoli)))
			copy(b[dataEnd(b):], append(frame, 9))
			os.WriteFile(p, b, 0o600)
		},
		"a flipped byte in the tail's first entry": func(dir string) {
			flip(t, filepath.Join(dir, "ledger_4"), 13+8+40)
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

func dataEnd(b []byte) int { _, end := files.FrameOffsets(b); return int(end) }

func lastFrame(b []byte) int { offs, _ := files.FrameOffsets(b); return int(offs[len(offs)-1]) }

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
