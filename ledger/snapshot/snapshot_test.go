package snapshot_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/merkle"
	"github.com/confide/confide/ledger/snapshot"
)

var secret, _ = entry.NewSecret(bytes.Repeat([]byte{5}, 32))

func sample() *snapshot.Snapshot {
	s := &snapshot.Snapshot{Seqno: 9, View: 3, Voters: []uint64{1, 2, 3}, Sigs: []uint64{5, 8},
		Views: []uint64{1, 1, 1, 2, 2, 3, 3, 3, 3},
		State: entry.WriteSet{
			"public:log": {{Key: []byte("a"), Value: []byte("1")}},
			"records":    {{Key: []byte("k1"), Value: []byte("secret")}, {Key: []byte("k2"), Value: []byte("")}},
		}}
	for i := range 9 {
		s.Leaves = append(s.Leaves, merkle.LeafHash([]byte{byte(i)}))
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	s := sample()
	b, err := snapshot.Encode(s, secret)
	if err != nil {
		t.Fatal(err)
	}
	// The same state encodes to the same bytes (every node computes them).
	s2 := sample()
	s2.State["records"][0], s2.State["records"][1] = s2.State["records"][1], s2.State["records"][0]
	if b2, _ := snapshot.Encode(s2, secret); !bytes.Equal(b, b2) {
		t.Fatal("the encoding depends on write order")
	}
	if bytes.Contains(b, []byte("secret")) {
		t.Fatal("a private value is in clear")
	}
	got, err := snapshot.Decode(b, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seqno != 9 || got.View != 3 || !reflect.DeepEqual(got.Views, s.Views) || !reflect.DeepEqual(got.Sigs, s.Sigs) ||
		!reflect.DeepEqual(got.Leaves, s.Leaves) || !reflect.DeepEqual(got.Voters, s.Voters) {
		t.Fatalf("decoded %+v", got)
	}
	if v := got.State["records"]; len(v) != 2 || string(v[0].Value) != "secret" {
		t.Fatalf("state %v", got.State)
	}
	// Any flipped byte fails (the header is bound as additional data).
	for i := 0; i < len(b); i += 7 {
		c := bytes.Clone(b)
		c[i] ^= 1
		if _, err := snapshot.Decode(c, secret); err == nil {
			t.Fatalf("byte %d flipped: decoded", i)
		}
	}
	other, _ := entry.NewSecret(bytes.Repeat([]byte{6}, 32))
	if _, err := snapshot.Decode(b, other); !errors.Is(err, entry.ErrAuth) {
		t.Fatalf("another secret: %v", err)
	}
	if os.Getenv("CONFIDE_WRITE_SEEDS") != "" {
		os.WriteFile(filepath.Join("testdata/fuzz/FuzzDecode", "sample"), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)), 0o644)
	}
}

func FuzzDecode(f *testing.F) {
	if seeds, _ := filepath.Glob("testdata/fuzz/FuzzDecode/*"); len(seeds) == 0 {
		f.Fatal("the seed corpus is missing")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := snapshot.Decode(b, secret)
		if err != nil {
			return
		}
		// What decodes encodes back to the same bytes.
		if b2, err := snapshot.Encode(s, secret); err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("does not round-trip: %v", err)
		}
	})
}
