package acl_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/confide/confide/ledger/acl"
)

func TestParsePost(t *testing.T) {
	for body, ok := range map[string]bool{
		`{"contents":"x"}`:                  true,
		`{"contents":""}`:                   true,
		`{"contents":"x"} {}`:               false,
		`{"contents":null}`:                 false,
		`{"contents":1}`:                    false,
		`{"contents":"x","extra":1}`:        false,
		`{}`:                                false,
		`[]`:                                false,
		``:                                  false,
		`{"contents":"\u00e9\ud83d\ude00"}`: true,
	} {
		if _, err := acl.ParsePost([]byte(body)); (err == nil) != ok {
			t.Errorf("%s: %v", body, err)
		}
	}
}

func FuzzParsePost(f *testing.F) {
	if seeds, _ := filepath.Glob("testdata/fuzz/FuzzParsePost/*"); len(seeds) == 0 {
		f.Fatal("the seed corpus is missing")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := acl.ParsePost(b)
		if err != nil {
			return
		}
		// What is accepted is one object whose contents round-trip.
		out, _ := json.Marshal(map[string]string{"contents": c})
		if c2, err := acl.ParsePost(out); err != nil || c2 != c {
			t.Fatalf("%q accepted as %q, which does not round-trip", b, c)
		}
	})
}
