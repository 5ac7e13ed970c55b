package trace

import "unsafe"

// Traced containers: the ML trainers keep their training data and their
// histograms in these, so that every access to them is recorded in
// obltrace builds (and costs nothing more than a slice access in others).

// Vec is a vector of float64 whose element reads and writes are recorded.
type Vec []float64

func (v Vec) base() unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(v)) }

// At reads element i.
func (v Vec) At(i int) float64 {
	Access(OpRead, v.base(), i)
	return v[i]
}

// Set writes element i.
func (v Vec) Set(i int, x float64) {
	Access(OpWrite, v.base(), i)
	v[i] = x
}

// Add adds x to element i (a read and a write).
func (v Vec) Add(i int, x float64) {
	Access(OpRead, v.base(), i)
	Access(OpWrite, v.base(), i)
	v[i] += x
}

// Table is a row-major table of float64 whose row reads and writes are
// recorded, a row at a time: code that takes a row reads or writes all
// of it, in the same order whatever the data.
type Table struct {
	Cells []float64 //confide:secret
	Cols  int       // public: the shape is a public parameter
}

// NewTable makes a rows × cols table of zeros.
func NewTable(rows, cols int) Table { return Table{Cells: make([]float64, rows*cols), Cols: cols} }

// Rows is the number of rows.
func (t Table) Rows() int {
	if t.Cols == 0 {
		return 0
	}
	return len(t.Cells) / t.Cols
}

func (t Table) base() unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(t.Cells)) }

// Row returns row i to read.
func (t Table) Row(i int) []float64 {
	Access(OpRead, t.base(), i)
	return t.Cells[i*t.Cols : (i+1)*t.Cols : (i+1)*t.Cols]
}

// RowW returns row i to write (and read).
func (t Table) RowW(i int) []float64 {
	Access(OpWrite, t.base(), i)
	return t.Cells[i*t.Cols : (i+1)*t.Cols : (i+1)*t.Cols]
}

// Bytes is a row-major table of bytes (bin indexes) whose row reads are
// recorded, a row at a time.
type Bytes struct {
	Cells []uint8 //confide:secret
	Cols  int     // public
}

// NewBytes makes a rows × cols table of zeros.
func NewBytes(rows, cols int) Bytes { return Bytes{Cells: make([]uint8, rows*cols), Cols: cols} }

func (t Bytes) base() unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(t.Cells)) }

// Row returns row i to read.
func (t Bytes) Row(i int) []uint8 {
	Access(OpRead, t.base(), i)
	return t.Cells[i*t.Cols : (i+1)*t.Cols : (i+1)*t.Cols]
}

// RowW returns row i to write (and read).
func (t Bytes) RowW(i int) []uint8 {
	Access(OpWrite, t.base(), i)
	return t.Cells[i*t.Cols : (i+1)*t.Cols : (i+1)*t.Cols]
}

// Words is a row-major table of 64-bit words (records of packed fields)
// whose row reads and writes are recorded, a row at a time.
type Words struct {
	Cells []uint64 //confide:secret
	Cols  int      // public
}

// NewWords makes a rows × cols table of zeros.
func NewWords(rows, cols int) Words { return Words{Cells: make([]uint64, rows*cols), Cols: cols} }

func (t Words) base() unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(t.Cells)) }

// Rows is the number of rows.
func (t Words) Rows() int {
	if t.Cols == 0 {
		return 0
	}
	return len(t.Cells) / t.Cols
}

// Row returns row i to read.
func (t Words) Row(i int) []uint64 {
	Access(OpRead, t.base(), i)
	return t.Cells[i*t.Cols : (i+1)*t.Cols : (i+1)*t.Cols]
}

// RowW returns row i to write (and read).
func (t Words) RowW(i int) []uint64 {
	Access(OpWrite, t.base(), i)
	return t.Cells[i*t.Cols : (i+1)*t.Cols : (i+1)*t.Cols]
}
