package dataset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func sample(t testing.TB) *Dataset {
	d, err := ReadCSV(strings.NewReader("a,y,b\n1,0,2.5\n-3e2,1,4\n0.1,1,-2e-07\n"), "t.csv", "y")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A table read back from its binary form is the table, and Read tells
// the two forms apart.
func TestTableRoundTrip(t *testing.T) {
	d := sample(t)
	b := d.Table()
	for name, in := range map[string][]byte{"binary": b, "csv": d.CSV()} {
		got, err := Read(in, "t", "y")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got.Features, d.Features) || !reflect.DeepEqual(got.Y, d.Y) || !reflect.DeepEqual(got.X, d.X) {
			t.Fatalf("%s: %+v, want %+v", name, got, d)
		}
	}
	// Without a label, the label column is one more feature.
	got, err := ReadTable(b, "t", "")
	if err != nil || strings.Join(got.Features, ",") != "a,b,y" || got.Y != nil || got.X[1][2] != 1 {
		t.Fatalf("%+v %v", got, err)
	}
}

// Every malformed table is an error naming the input; none allocates
// what its header claims before the bytes are there.
func TestTableBadInput(t *testing.T) {
	good := sample(t).Table()
	head := len(TableMagic) + 13
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	nan := edit(func(b []byte) []byte {
		binary.LittleEndian.PutUint64(b[len(b)-8:], math.Float64bits(math.NaN()))
		return b
	})
	inf := edit(func(b []byte) []byte {
		binary.LittleEndian.PutUint64(b[len(b)-16:], math.Float64bits(math.Inf(-1)))
		return b
	})
	for name, c := range map[string]struct {
		b    []byte
		want string
	}{
		"no magic":    {[]byte("\x00CFMLTAX"), "no magic"},
		"cut header":  {good[:head-1], "header cut short"},
		"version":     {edit(func(b []byte) []byte { b[len(TableMagic)] = 2; return b }), "version 2"},
		"cut cells":   {good[:len(good)-1], "need"},
		"trailing":    {append(bytes.Clone(good), 0), "need"},
		"NaN":         {nan, `data row 3, column "y"`},
		"infinite":    {inf, `data row 3, column "b"`},
		"many rows":   {edit(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[len(TableMagic)+5:], 1<<62); return b }), "need"},
		"many cols":   {edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[len(TableMagic)+1:], 1<<31); return b }), "columns in"},
		"no rows":     {edit(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[len(TableMagic)+5:], 0); return b[:head+3*3] }), "no rows"},
		"duplicate":   {edit(func(b []byte) []byte { b[head+5] = 'a'; return b }), `column "a" appears twice`},
		"empty name":  {edit(func(b []byte) []byte { b[head], b[head+1] = 0, 0; return b }), "column 1's name is empty"},
		"NUL in name": {edit(func(b []byte) []byte { b[head+2] = 0; return b }), "not clean"},
	} {
		_, err := ReadTable(c.b, "t.bin", "y")
		if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "t.bin") {
			t.Errorf("%s: %v (want %q)", name, err, c.want)
		}
	}
	// Read whole, a bad cell is found without being placed.
	for _, b := range [][]byte{nan, inf} {
		if _, err := ReadTableWhole(b, "t.bin", "y"); err == nil || !strings.Contains(err.Error(), "t.bin: a cell is not a finite number") {
			t.Errorf("whole: %v", err)
		}
	}
	if d, err := ReadTableWhole(good, "t.bin", "y"); err != nil || d.Rows() != 3 {
		t.Errorf("whole, good: %v", err)
	}
	if _, err := ReadTable(good, "t.bin", "z"); err == nil || !strings.Contains(err.Error(), `no label column "z"`) {
		t.Errorf("no label: %v", err)
	}
	// A CSV cannot pass for a binary table: no name holds NUL.
	if _, err := ReadCSV(strings.NewReader("\x00a,y\n1,0\n"), "t.csv", "y"); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("NUL in a CSV name: %v", err)
	}
}

func FuzzReadTable(f *testing.F) {
	f.Add(sample(f).Table(), "y")
	f.Add(sample(f).Table(), "")
	f.Add([]byte(TableMagic+"\x01\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00a\x00\x00\x00\x00\x00\x00\xf0\x3f"), "")
	f.Fuzz(func(t *testing.T, b []byte, label string) {
		d, err := ReadTable(b, "f.bin", label)
		if err != nil {
			return
		}
		if d.Rows() == 0 || len(d.Features) == 0 || label != "" && len(d.Y) != d.Rows() {
			t.Fatalf("a table read with %d rows, %d features, %d labels", d.Rows(), len(d.Features), len(d.Y))
		}
		// Read back from its own encoding, it is the same table.
		again, err := ReadTable(d.Table(), "again", label)
		if err != nil || !reflect.DeepEqual(again.X, d.X) || !reflect.DeepEqual(again.Y, d.Y) || !reflect.DeepEqual(again.Features, d.Features) {
			t.Fatalf("re-encoded: %v", err)
		}
	})
}
