package dataset

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// TableMagic starts a binary table (spec/ml-data.md, "Binary tables").
// Its first byte is NUL, which no CSV header this package reads can
// start with, so a reader tells the two forms apart by their first
// bytes.
const TableMagic = "\x00CFMLTAB"

const tableVersion = 1

// Table encodes the table in the binary form: what `confide ml encrypt`
// seals, so that the trainer decodes numbers instead of parsing text
// (parsing was most of the protocol's cost over local training).
func (d *Dataset) Table() []byte {
	cols := slices.Clone(d.Features)
	if d.Y != nil {
		cols = append(cols, d.Label)
	}
	size := len(TableMagic) + 1 + 4 + 8
	for _, c := range cols {
		size += 2 + len(c)
	}
	size += 8 * len(cols) * d.Rows()
	b := make([]byte, 0, size)
	b = append(b, TableMagic...)
	b = append(b, tableVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(cols)))
	b = binary.LittleEndian.AppendUint64(b, uint64(d.Rows()))
	for _, c := range cols {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(c)))
		b = append(b, c...)
	}
	for i, x := range d.X {
		for _, v := range x {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		if d.Y != nil {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(d.Y[i]))
		}
	}
	return b
}

// Read reads a table in either form, the binary one (Table) or CSV.
func Read(b []byte, name, label string) (*Dataset, error) {
	if bytes.HasPrefix(b, []byte(TableMagic)) {
		return ReadTable(b, name, label)
	}
	return ReadCSV(bytes.NewReader(b), name, label)
}

// ReadTable decodes a binary table, with the checks ReadCSV makes: named,
// distinct columns, the label present, at least one row, every cell a
// finite number (the first that is not is named by row and column). The
// rows share one backing array.
func ReadTable(b []byte, name, label string) (*Dataset, error) {
	return readTable(b, name, label, true)
}

// ReadTableWhole is ReadTable for data-oblivious readers: it checks every
// cell without a branch on its value and, if any is not finite, says so
// without saying which (the position would depend on the data).
func ReadTableWhole(b []byte, name, label string) (*Dataset, error) {
	return readTable(b, name, label, false)
}

func readTable(b []byte, name, label string, nameCell bool) (*Dataset, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: binary table: %s", ErrFormat, name, fmt.Sprintf(format, args...))
	}
	if !bytes.HasPrefix(b, []byte(TableMagic)) {
		return nil, bad("no magic")
	}
	b = b[len(TableMagic):]
	if len(b) < 13 {
		return nil, bad("header cut short")
	}
	if b[0] != tableVersion {
		return nil, bad("version %d (this reader knows %d)", b[0], tableVersion)
	}
	ncol := binary.LittleEndian.Uint32(b[1:])
	nrow := binary.LittleEndian.Uint64(b[5:])
	b = b[13:]
	if ncol < 2 && label != "" || ncol < 1 {
		return nil, bad("%d columns", ncol)
	}
	// Each column's name takes at least 3 bytes: a bound on ncol before
	// anything is allocated for it.
	if uint64(ncol) > uint64(len(b))/3 {
		return nil, bad("%d columns in %d bytes", ncol, len(b))
	}
	cols := make([]string, ncol)
	seen := map[string]bool{}
	li := -1
	for i := range cols {
		if len(b) < 2 {
			return nil, bad("column %d's name cut short", i+1)
		}
		n := int(binary.LittleEndian.Uint16(b))
		if n == 0 || len(b) < 2+n {
			return nil, bad("column %d's name is empty or cut short", i+1)
		}
		c := string(b[2 : 2+n])
		b = b[2+n:]
		if !utf8.ValidString(c) || strings.ContainsRune(c, 0) || strings.TrimSpace(c) != c {
			return nil, bad("column %d's name %q is not clean UTF-8", i+1, c)
		}
		if seen[c] {
			return nil, bad("column %q appears twice", c)
		}
		seen[c] = true
		cols[i] = c
		if c == label {
			li = i
		}
	}
	if label != "" && li < 0 {
		return nil, fmt.Errorf("%w: %s: no label column %q (columns: %s)", ErrFormat, name, label, strings.Join(cols, ", "))
	}
	if nrow == 0 {
		return nil, fmt.Errorf("%w: %s: no rows", ErrFormat, name)
	}
	if nrow > uint64(len(b))/8/uint64(ncol) || nrow*uint64(ncol)*8 != uint64(len(b)) {
		return nil, bad("%d rows of %d columns need %d bytes of cells, there are %d", nrow, ncol, nrow*uint64(ncol)*8, len(b))
	}
	nf := int(ncol)
	d := &Dataset{Label: label}
	for i, c := range cols {
		if i != li {
			d.Features = append(d.Features, c)
		}
	}
	if li >= 0 {
		nf--
		d.Y = make([]float64, nrow)
	}
	cells := make([]float64, int(nrow)*nf)
	d.X = make([][]float64, nrow)
	off := 0
	// NaN and ±Inf are the values whose exponent bits are all ones.
	const exp = 0x7ff0000000000000
	var nonFinite uint64 // 1 once a cell is not finite (ReadTableWhole)
	for r := range d.X {
		x := cells[r*nf : (r+1)*nf : (r+1)*nf]
		k := 0
		for c := range int(ncol) {
			bits := binary.LittleEndian.Uint64(b[off:])
			v := math.Float64frombits(bits)
			off += 8
			if nameCell && bits&exp == exp {
				return nil, fmt.Errorf("%w: %s: data row %d, column %q: %v is not a finite number", ErrFormat, name, r+1, cols[c], v)
			}
			e := bits&exp ^ exp // 0 exactly when not finite
			nonFinite |= ((e | -e) >> 63) ^ 1
			if c == li {
				d.Y[r] = v
				continue
			}
			x[k] = v
			k++
		}
		d.X[r] = x
	}
	if nonFinite != 0 {
		return nil, fmt.Errorf("%w: %s: a cell is not a finite number", ErrFormat, name)
	}
	return d, nil
}
