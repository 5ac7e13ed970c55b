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

// Grid is a row-major table whose row reads and writes are recorded, a
// row at a time: code that takes a row reads or writes all of it, in the
// same order whatever the data.
type Grid[T float64 | uint8 | uint64] struct {
	Cells []T //confide:secret
	Cols  int // public: the shape is a public parameter
}

// Table is a grid of float64 (training data, histograms), Bytes of bytes
// (bin indexes), Words of 64-bit words (records of packed fields).
type (
	Table = Grid[float64]
	Bytes = Grid[uint8]
	Words = Grid[uint64]
)

// NewTable, NewBytes and NewWords make rows × cols grids of zeros.
func NewTable(rows, cols int) Table { return newGrid[float64](rows, cols) }
func NewBytes(rows, cols int) Bytes { return newGrid[uint8](rows, cols) }
func NewWords(rows, cols int) Words { return newGrid[uint64](rows, cols) }

func newGrid[T float64 | uint8 | uint64](rows, cols int) Grid[T] {
	return Grid[T]{Cells: make([]T, rows*cols), Cols: cols}
}

// Rows is the number of rows.
func (t Grid[T]) Rows() int {
	if t.Cols == 0 {
		return 0
	}
	return len(t.Cells) / t.Cols
}

func (t Grid[T]) base() unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(t.Cells)) }

// Row returns row i to read.
func (t Grid[T]) Row(i int) []T {
	Access(OpRead, t.base(), i)
	return t.Cells[i*t.Cols : (i+1)*t.Cols : (i+1)*t.Cols]
}

// RowW returns row i to write (and read).
func (t Grid[T]) RowW(i int) []T {
	Access(OpWrite, t.base(), i)
	return t.Cells[i*t.Cols : (i+1)*t.Cols : (i+1)*t.Cols]
}
