package spec_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/audit"
	"github.com/confide/confide/kvstore"
)

// auditVectors is testdata/audit-log.json: records as the log stores them
// and the authenticated head, for a fixed MAC key and clock.
type auditVectors struct {
	fileHeader
	MACKey  string   `json:"mac_key"`
	Records []string `json:"records"`
	Head    struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
		MAC  string `json:"mac"`
	} `json:"head"`
}

// TestAuditLogPackage checks that package audit, given the vectors' key,
// clock and events, writes exactly the vectors' bytes (with -update, it
// writes the vectors).
func TestAuditLogPackage(t *testing.T) {
	path := filepath.Join("testdata", "audit-log.json")
	key := bytes.Repeat([]byte{0x42}, 32)
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	events := []audit.Record{
		{Actor: "owner", Op: "create", Target: "key/k1/1", Outcome: audit.OK, Detail: "oct"},
		{Actor: "enclave:5ca367000000aaaa/18a5aaabba3f8dfb", Op: "release", Target: "key/k1/1", Outcome: audit.Denied, Detail: "release policy: policy not satisfied"},
		{Actor: "sql", Op: "unwrapkey", Target: "key/cmk/1", Outcome: audit.OK, Detail: "RSA-OAEP"},
	}
	st, err := kvstore.OpenBolt(filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := &audit.Log{Bucket: "audit", MACKey: key, Now: func() time.Time { return at }}
	for _, e := range events {
		if err := st.Update(func(tx kvstore.Tx) error { _, err := l.Append(tx, e); return err }); err != nil {
			t.Fatal(err)
		}
	}
	var got auditVectors
	got.fileHeader = fileHeader{Kind: "audit-log", Spec: "audit-log.md",
		Comment: "three records appended by package audit with the MAC key below at 2026-11-25T12:00:00Z, and the stored head"}
	got.MACKey = hex.EncodeToString(key)
	var export bytes.Buffer
	st.View(func(tx kvstore.Tx) error {
		if _, err := l.Export(tx, &export); err != nil {
			t.Fatal(err)
		}
		var head struct {
			Seq       uint64
			Hash, MAC string
		}
		json.Unmarshal(tx.Get("audit.head", []byte("head")), &head)
		got.Head.Seq, got.Head.Hash, got.Head.MAC = head.Seq, head.Hash, head.MAC
		return nil
	})
	got.Records = strings.Split(strings.TrimSuffix(export.String(), "\n"), "\n")
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want auditVectors
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if gb, _ := json.Marshal(got); !bytes.Equal(gb, mustJSON(t, want)) {
		t.Errorf("package audit writes other bytes than the vectors:\n%s\n%s", gb, mustJSON(t, want))
	}
}

// runAuditLog checks the vectors against audit-log.md, derived here
// independently of package audit, and audit.Verify accepts them.
func runAuditLog(t *testing.T, b []byte) int {
	var want auditVectors
	decodeStrict(t, b, &want)
	want.fileHeader.check(t)
	// The document's derivation: hash chain over the line bytes, and the
	// head MAC.
	prev := strings.Repeat("0", 64)
	for i, line := range want.Records {
		if !strings.Contains(line, `"prev":"`+prev+`"`) || !strings.HasPrefix(line, `{"v":1,"seq":`) {
			t.Fatalf("record %d does not link to %s: %s", i+1, prev, line)
		}
		h := sha256.Sum256([]byte(line))
		prev = hex.EncodeToString(h[:])
	}
	if prev != want.Head.Hash || want.Head.Seq != uint64(len(want.Records)) {
		t.Errorf("head %d %s, chain ends at %d %s", want.Head.Seq, want.Head.Hash, len(want.Records), prev)
	}
	k, _ := hex.DecodeString(want.MACKey)
	m := hmac.New(sha256.New, k)
	m.Write([]byte("confide audit head v1\x00"))
	m.Write(binary.BigEndian.AppendUint64(nil, want.Head.Seq))
	m.Write([]byte(want.Head.Hash))
	if hex.EncodeToString(m.Sum(nil)) != want.Head.MAC {
		t.Error("the head MAC does not follow audit-log.md")
	}
	h, _, err := audit.Verify(strings.NewReader(strings.Join(want.Records, "\n") + "\n"))
	if err != nil || h.Hash != want.Head.Hash {
		t.Errorf("audit.Verify: %v %v", h, err)
	}
	return len(want.Records)
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
