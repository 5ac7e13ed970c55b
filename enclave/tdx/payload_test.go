package tdx

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/dcap"
)

// Offsets into the captured quote, for building malformed variants.
type quoteOffsets struct {
	sigLen, certType, certLen, qe, authLen, pckType, pckLen, chain int
}

func offsetsOf(t testing.TB, q []byte) quoteOffsets {
	t.Helper()
	o := quoteOffsets{sigLen: sigDataLenOff, certType: sigDataOff + sdCertTypeOff, certLen: sigDataOff + sdCertLenOff, qe: sigDataOff + sdCertDataOff}
	o.authLen = o.qe + qeAuthLenOff
	o.pckType = o.qe + qeAuthDataOff + int(binary.LittleEndian.Uint16(q[o.authLen:]))
	o.pckLen = o.pckType + 2
	o.chain = o.pckType + pckHeaderLen
	return o
}

// growChain appends extra to the PCK chain and fixes the three lengths
// that enclose it, so that only the chain's content is wrong.
func growChain(t testing.TB, q []byte, extra []byte) []byte {
	t.Helper()
	o := offsetsOf(t, q)
	q = append(bytes.Clone(q), extra...)
	for _, off := range []int{o.sigLen, o.certLen, o.pckLen} {
		binary.LittleEndian.PutUint32(q[off:], binary.LittleEndian.Uint32(q[off:])+uint32(len(extra)))
	}
	return q
}

// replaceChain swaps the whole PCK chain and fixes the enclosing lengths.
func replaceChain(t testing.TB, q []byte, chain []byte) []byte {
	t.Helper()
	o := offsetsOf(t, q)
	old := len(q) - o.chain
	out := append(bytes.Clone(q[:o.chain]), chain...)
	for _, off := range []int{o.sigLen, o.certLen, o.pckLen} {
		binary.LittleEndian.PutUint32(out[off:], uint32(int(binary.LittleEndian.Uint32(out[off:]))-old+len(chain)))
	}
	return out
}

func TestParsePayload(t *testing.T) {
	quote := capturedQuote(t)
	o := offsetsOf(t, quote)
	chain := quote[o.chain:]
	edit := func(f func(q []byte)) []byte {
		q := bytes.Clone(quote)
		f(q)
		return append([]byte{payloadV1}, q...)
	}
	put16 := func(off int, v uint16) []byte {
		return edit(func(q []byte) { binary.LittleEndian.PutUint16(q[off:], v) })
	}
	put32 := func(off int, v uint32) []byte {
		return edit(func(q []byte) { binary.LittleEndian.PutUint32(q[off:], v) })
	}
	withChain := func(c []byte) []byte { return append([]byte{payloadV1}, replaceChain(t, quote, c)...) }
	le32 := func(off int) uint32 { return binary.LittleEndian.Uint32(quote[off:]) }

	good := map[string][]byte{
		"captured":                 append([]byte{payloadV1}, quote...),
		"chain with one final NUL": append([]byte{payloadV1}, growChain(t, quote, []byte{0})...),
	}
	bad := map[string][]byte{
		"empty":                      {},
		"version only":               {payloadV1},
		"version 0":                  append([]byte{0}, quote...),
		"version 2":                  append([]byte{2}, quote...),
		"short quote":                append([]byte{payloadV1}, quote[:sigDataOff-1]...),
		"header only":                append([]byte{payloadV1}, quote[:sigDataOff]...),
		"trailing byte":              append(append([]byte{payloadV1}, quote...), 0),
		"truncated":                  append([]byte{payloadV1}, quote[:len(quote)-1]...),
		"quote version 3":            put16(0, 3),
		"quote version 5":            put16(0, 5),
		"attestation key type 3":     put16(2, 3),
		"SGX TEE type":               put32(4, 0),
		"signed data length + 1":     put32(o.sigLen, le32(o.sigLen)+1),
		"signed data length - 1":     put32(o.sigLen, le32(o.sigLen)-1),
		"signed data length huge":    put32(o.sigLen, 0xFFFFFFFF),
		"certification data type 5":  put16(o.certType, 5),
		"certification length + 1":   put32(o.certLen, le32(o.certLen)+1),
		"certification length - 1":   put32(o.certLen, le32(o.certLen)-1),
		"QE report reserved1":        edit(func(q []byte) { q[o.qe+0x14] = 1 }),
		"QE report reserved4":        edit(func(q []byte) { q[o.qe+0x13F] = 0x80 }),
		"QE auth data overruns":      put16(o.authLen, 0xFFFF),
		"QE auth data + 1":           put16(o.authLen, binary.LittleEndian.Uint16(quote[o.authLen:])+1),
		"PCK certification type 6":   put16(o.pckType, 6),
		"PCK chain length + 1":       put32(o.pckLen, le32(o.pckLen)+1),
		"chain with two NULs":        append([]byte{payloadV1}, growChain(t, quote, []byte{0, 0})...),
		"chain with final newline":   append([]byte{payloadV1}, growChain(t, quote, []byte{'\n'})...),
		"chain with CRLF":            withChain(bytes.ReplaceAll(chain, []byte("\n"), []byte("\r\n"))),
		"chain with leading text":    withChain(append([]byte("chain:\n"), chain...)),
		"chain of two certificates":  withChain(chain[bytes.Index(chain[1:], []byte("-----BEGIN"))+1:]),
		"chain of four certificates": withChain(append(bytes.Clone(chain), chain[bytes.LastIndex(chain, []byte("-----BEGIN")):]...)),
		"chain with a PEM header":    withChain(bytes.Replace(chain, []byte("-----\n"), []byte("-----\nX: y\n\n"), 1)),
		"chain with a key block":     withChain(bytes.Replace(chain, []byte("CERTIFICATE"), []byte("PUBLIC KEY"), 2)),
		"empty chain":                withChain(nil),
	}
	for name, b := range good {
		t.Run(name, func(t *testing.T) {
			q, raw, err := parsePayload(b)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, b[1:]) {
				t.Fatal("raw quote is not the payload's quote")
			}
			out, err := marshalPayload(q)
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("marshalPayload does not round-trip: %v", err)
			}
		})
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			if _, _, err := parsePayload(b); !errors.Is(err, enclave.ErrMalformedEvidence) {
				t.Fatalf("parsePayload = %v; want ErrMalformedEvidence", err)
			}
		})
	}
}

func TestTrimQuote(t *testing.T) {
	quote := capturedQuote(t)
	padded := append(bytes.Clone(quote), make([]byte, 100)...)
	if !bytes.Equal(dcap.TrimPadding(padded), quote) {
		t.Fatal("zero padding not trimmed")
	}
	for _, b := range [][]byte{quote, append(bytes.Clone(quote), 0, 1), quote[:10], quote[:len(quote)-1]} {
		if !bytes.Equal(dcap.TrimPadding(b), b) {
			t.Fatalf("TrimPadding changed a quote of %d bytes", len(b))
		}
	}
}

// FuzzParsePayload: nothing panics, and whatever parses serialises back to
// exactly the bytes it was parsed from.
func FuzzParsePayload(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		q, raw, err := parsePayload(b)
		if err != nil {
			if !errors.Is(err, enclave.ErrMalformedEvidence) {
				t.Fatalf("error %v does not wrap ErrMalformedEvidence", err)
			}
			return
		}
		if !bytes.Equal(raw, b[1:]) {
			t.Fatal("raw quote is not the payload's quote")
		}
		out, err := marshalPayload(q)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("round trip: %v", err)
		}
		c := claimsOf(q, "")
		if len(c.UniqueID) != 48 || len(c.ConfigID) != 48 || len(c.SignerID) != 48 {
			t.Fatal("claims of the wrong size")
		}
	})
}

const fuzzSeedDir = "testdata/fuzz/FuzzParsePayload"

// fuzzSeeds are the committed seeds: the captured quote, its variant with a
// NUL-terminated chain, and malformed payloads next to the valid ones.
func fuzzSeeds(t testing.TB) map[string][]byte {
	quote := capturedQuote(t)
	o := offsetsOf(t, quote)
	bad := func(f func(q []byte)) []byte {
		q := bytes.Clone(quote)
		f(q)
		return append([]byte{payloadV1}, q...)
	}
	return map[string][]byte{
		"captured":            append([]byte{payloadV1}, quote...),
		"captured-nul":        append([]byte{payloadV1}, growChain(t, quote, []byte{0})...),
		"empty":               {},
		"version-only":        {payloadV1},
		"header-only":         append([]byte{payloadV1}, quote[:sigDataOff]...),
		"auth-data-overruns":  bad(func(q []byte) { binary.LittleEndian.PutUint16(q[o.authLen:], 0xFFFF) }),
		"signed-data-short":   bad(func(q []byte) { binary.LittleEndian.PutUint32(q[o.sigLen:], 0x10) }),
		"chain-crlf":          append([]byte{payloadV1}, replaceChain(t, quote, bytes.ReplaceAll(quote[o.chain:], []byte("\n"), []byte("\r\n")))...),
		"go-tdx-guest-extras": append([]byte{payloadV1}, append(bytes.Clone(quote), "\nextra bytes(only for testing purpose)\n"...)...),
	}
}

// TestFuzzSeeds checks that the seed corpus is on disk in Go's corpus
// format and is what fuzzSeeds says, so that the fuzzer cannot silently
// lose it. With -update it rewrites the corpus.
func TestFuzzSeeds(t *testing.T) {
	seeds := fuzzSeeds(t)
	if *update {
		if err := os.MkdirAll(fuzzSeedDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(fuzzSeedDir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(fuzzSeedDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < len(seeds) {
		t.Fatalf("%d seed files in %s, want at least %d", len(entries), fuzzSeedDir, len(seeds))
	}
	for name, want := range seeds {
		got := readCorpusFile(t, filepath.Join(fuzzSeedDir, name))
		if !bytes.Equal(got, want) {
			t.Errorf("seed %s differs; run with -update", name)
		}
	}
	if _, _, err := parsePayload(readCorpusFile(t, filepath.Join(fuzzSeedDir, "captured"))); err != nil {
		t.Fatalf("captured seed does not parse: %v", err)
	}
}

// readCorpusFile reads a one-value []byte corpus file.
func readCorpusFile(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<22)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
		!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		t.Fatalf("%s is not a go test fuzz v1 file of one []byte", name)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}
