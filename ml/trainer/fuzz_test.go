package trainer

import (
	"bytes"
	"testing"

	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/encfile"
	"github.com/confide/confide/ml/manifest"
)

// FuzzDecode seals arbitrary plaintext as a party's file (so that it
// passes authentication: mutated ciphertext is encfile's fuzz target) and
// runs it through decryption in place, decoding and the schema check: an
// error or a table of the schema's columns, never a panic.
func FuzzDecode(f *testing.F) {
	key := bytes.Repeat([]byte{9}, encfile.KeySize)
	d, _ := dataset.ReadCSV(bytes.NewReader([]byte("a,b,y\n1,2,0\n3,4,1\n")), "seed", "y")
	for _, plain := range [][]byte{d.Table(), d.CSV(), []byte("b,a,y\n1,2,0\n"), {}} {
		f.Add(plain)
	}
	schema := manifest.Schema{Features: []string{"a", "b"}, Label: "y"}
	f.Fuzz(func(t *testing.T, plain []byte) {
		file, err := encfile.Encrypt(plain, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decode(file, manifest.Party{Name: "p"}, key, schema, len(plain)%2 == 0)
		if err != nil {
			return
		}
		if got.Rows() == 0 || len(got.Features) != 2 || got.Features[0] != "a" || len(got.Y) != got.Rows() {
			t.Fatalf("decoded %d rows of %v", got.Rows(), got.Features)
		}
		for _, r := range got.X {
			if len(r) != 2 {
				t.Fatalf("a row of %d", len(r))
			}
		}
	})
}
