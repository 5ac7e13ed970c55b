package audit_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/ledger/audit"
	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/kv"
	"github.com/confide/confide/ledger/merkle"
	"github.com/confide/confide/ledger/node"
)

// ledger writes a one-node ledger of n transactions, signed every 10,
// with chunks of about 2 KiB, and returns its ledger directory.
func ledger(t *testing.T, n int) (string, *identity.Identity) {
	svc, _ := identity.NewService("audit")
	id, _ := identity.NewNode(svc)
	sec, _ := entry.NewSecret(bytes.Repeat([]byte{1}, 32))
	dir := t.TempDir()
	c, err := node.Open(node.Config{ID: 1, Dir: dir, Secret: sec, Node: id, Service: svc.Cert, Bootstrap: []uint64{1},
		SignEvery: 1 << 30, SignInterval: time.Hour, ChunkBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Process(); err != nil {
		t.Fatal(err)
	}
	if err := c.Campaign(); err != nil {
		t.Fatal(err)
	}
	if err := c.Process(); err != nil || !c.IsPrimary() {
		t.Fatalf("not primary: %v", err)
	}
	for i := range n {
		_, err := c.Execute(func(tx *kv.Tx, _ entry.TxID) (*merkle.Hash, error) {
			tx.Put("secret", []byte(fmt.Sprint(i)), bytes.Repeat([]byte("x"), 100))
			tx.Put("public:log", []byte(fmt.Sprint(i)), []byte("y"))
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			if err := c.Sign(time.Unix(int64(i), 0)); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Process(); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "ledger"), svc
}

func TestAudit(t *testing.T) {
	dir, svc := ledger(t, 95)
	r, err := audit.Dir(dir, svc.Cert)
	if err != nil || r.Corrupt != nil {
		t.Fatalf("clean ledger: %v %v", err, r.Corrupt)
	}
	if r.Signatures != 9 || r.Unsigned != 5 || r.Transactions != r.LastSigned+5 {
		t.Fatalf("report %+v", r)
	}
	// Another service's certificate: the first signature fails.
	other, _ := identity.NewService("other")
	if r, _ := audit.Dir(dir, other.Cert); r.Corrupt == nil || !strings.Contains(r.Corrupt.Reason, "endorsed") {
		t.Fatalf("other service: %+v", r.Corrupt)
	}
}

// fixCRC recomputes the checksum of the frame at off.
func fixCRC(b []byte, off int) []byte {
	n := int(binary.BigEndian.Uint32(b[off:]))
	binary.BigEndian.PutUint32(b[off+4:], crc32.Checksum(b[off+8:off+8+n], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func TestAuditFindsDamage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(path string, b []byte) []byte
		reason string
	}{
		{"flipped byte", func(_ string, b []byte) []byte { b[13+8+40] ^= 1; return b }, "checksum"},
		// A tamperer who fixes the frame's checksum is caught by the
		// Merkle tree and the signatures.
		{"byte in a sealed write set, checksum fixed", func(_ string, b []byte) []byte {
			// The last bytes of the first entry: its GCM tag.
			end := 13 + 8 + int(binary.BigEndian.Uint32(b[13:]))
			b[end-3] ^= 1
			return fixCRC(b, 13)
		}, "signed root"},
		{"byte in a header, checksum fixed", func(_ string, b []byte) []byte { b[13+8+5] ^= 0x80; return fixCRC(b, 13) }, "flags"},
		{"cut short", func(_ string, b []byte) []byte { return b[:len(b)-7] }, "past the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, svc := ledger(t, 95)
			es, _ := os.ReadDir(dir)
			p := filepath.Join(dir, es[0].Name())
			b, _ := os.ReadFile(p)
			os.WriteFile(p, tc.damage(p, b), 0o600)
			r, err := audit.Dir(dir, svc.Cert)
			if err != nil {
				t.Fatal(err)
			}
			if r.Corrupt == nil || !strings.Contains(r.Corrupt.Reason, tc.reason) {
				t.Fatalf("damage not found: %+v", r.Corrupt)
			}
			if r.Corrupt.File != es[0].Name() || r.Corrupt.Start > int64(len(b)) || r.Corrupt.Seqno == 0 {
				t.Fatalf("located at %s", r.Corrupt)
			}
		})
	}
}
