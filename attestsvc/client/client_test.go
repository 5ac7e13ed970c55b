package client

import "testing"

// FuzzParseHead: arbitrary header values never crash the parser. Seeds:
// testdata/fuzz/FuzzParseHead.
func FuzzParseHead(f *testing.F) {
	f.Add("3 " + "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12")
	f.Add("x y")
	f.Fuzz(func(t *testing.T, v string) {
		h, err := ParseHead(v)
		if err == nil && len(h.Hash) != 64 {
			t.Fatalf("accepted %q", v)
		}
	})
}
