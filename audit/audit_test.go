package audit_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/audit"
	"github.com/confide/confide/kvstore"
)

func openLog(t testing.TB) (*kvstore.Bolt, *audit.Log) {
	st, err := kvstore.OpenBolt(filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return st, &audit.Log{Bucket: "audit", MACKey: bytes.Repeat([]byte{7}, 32), Now: func() time.Time { return at }}
}

func appendN(t testing.TB, st kvstore.Store, l *audit.Log, n int) audit.Head {
	var h audit.Head
	for i := 0; i < n; i++ {
		if err := st.Update(func(tx kvstore.Tx) error {
			var err error
			h, err = l.Append(tx, audit.Record{Actor: "owner", Op: "create", Target: "key/k", Outcome: audit.OK})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func TestChain(t *testing.T) {
	st, l := openLog(t)
	head := appendN(t, st, l, 3)
	var buf bytes.Buffer
	if err := st.View(func(tx kvstore.Tx) error {
		h, err := l.Export(tx, &buf)
		if h != head {
			t.Errorf("export head %v, append head %v", h, head)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	exported := buf.String()
	h, recs, err := audit.Verify(strings.NewReader(exported))
	if err != nil || h != head || len(recs) != 3 || recs[0].Prev != audit.Genesis || recs[2].Seq != 3 {
		t.Fatalf("verify: %v %v %+v", err, h, recs)
	}
	lines := strings.SplitAfter(exported, "\n")
	for name, edited := range map[string]string{
		"record removed":   lines[0] + lines[2],
		"records swapped":  lines[1] + lines[0] + lines[2],
		"record edited":    strings.Replace(exported, `"actor":"owner"`, `"actor":"other"`, 1),
		"not canonical":    strings.Replace(exported, `{"v":1,`, `{ "v":1,`, 1),
		"unknown field":    strings.Replace(exported, `{"v":1,`, `{"x":0,"v":1,`, 1),
		"other version":    strings.Replace(exported, `{"v":1,`, `{"v":2,`, 1),
		"first not linked": lines[1] + lines[2],
	} {
		if _, _, err := audit.Verify(strings.NewReader(edited)); !errors.Is(err, audit.ErrBroken) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A truncated export verifies, but to another head: verifiers compare
	// heads.
	if h, _, err := audit.Verify(strings.NewReader(lines[0] + lines[1])); err != nil || h == head {
		t.Errorf("truncated: %v %v", h, err)
	}
}

func TestStoredTampering(t *testing.T) {
	for name, tamper := range map[string]func(tx kvstore.Tx) error{
		"record edited": func(tx kvstore.Tx) error {
			k := []byte{0, 0, 0, 0, 0, 0, 0, 2}
			return tx.Put("audit", k, bytes.Replace(tx.Get("audit", k), []byte("owner"), []byte("other"), 1))
		},
		"last record removed": func(tx kvstore.Tx) error { return tx.Delete("audit", []byte{0, 0, 0, 0, 0, 0, 0, 3}) },
		"head removed":        func(tx kvstore.Tx) error { return tx.Delete("audit.head", []byte("head")) },
		"head rewritten": func(tx kvstore.Tx) error {
			return tx.Put("audit.head", []byte("head"), bytes.Replace(tx.Get("audit.head", []byte("head")), []byte(`"seq":3`), []byte(`"seq":2`), 1))
		},
	} {
		t.Run(name, func(t *testing.T) {
			st, l := openLog(t)
			appendN(t, st, l, 3)
			if err := st.Update(tamper); err != nil {
				t.Fatal(err)
			}
			err := st.View(func(tx kvstore.Tx) error { _, err := l.Check(tx); return err })
			if !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("check: %v", err)
			}
			err = st.Update(func(tx kvstore.Tx) error {
				_, err := l.Append(tx, audit.Record{Actor: "x", Op: "y", Outcome: audit.OK})
				return err
			})
			if name != "record edited" && name != "last record removed" && !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("append over a broken head: %v", err)
			}
		})
	}
	// Another MAC key cannot vouch for the head.
	st, l := openLog(t)
	appendN(t, st, l, 1)
	l2 := *l
	l2.MACKey = bytes.Repeat([]byte{8}, 32)
	if err := st.View(func(tx kvstore.Tx) error { _, err := l2.Check(tx); return err }); !errors.Is(err, audit.ErrBroken) {
		t.Fatalf("foreign MAC key: %v", err)
	}
}

// FuzzVerify: arbitrary exports never crash the verifier, and whatever it
// accepts re-encodes to the same bytes. Seeds: testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	st, l := openLog(f)
	appendN(f, st, l, 2)
	var buf bytes.Buffer
	st.View(func(tx kvstore.Tx) error { _, err := l.Export(tx, &buf); return err })
	f.Add(buf.Bytes())
	f.Add([]byte(`{"v":1,"seq":1,"time":"","actor":"","op":"","outcome":"","prev":"00"}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, recs, err := audit.Verify(bytes.NewReader(b))
		if err != nil {
			return
		}
		for i, r := range recs {
			if r.Seq != uint64(i+1) {
				t.Fatalf("accepted record %d with seq %d", i, r.Seq)
			}
		}
	})
}
