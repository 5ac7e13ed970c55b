// Package trace records the memory accesses of data-oblivious code, so
// that tests can check that two runs on different secrets touch the same
// places in the same order.
//
// Go cannot record every memory access without compiler support. Instead,
// the primitives of package oblivious (and the SQL and ML enclaves built on
// them) report each access to secret data here: the operation, the object
// (the backing array, numbered in order of first access) and the element
// or 64-byte cache-line index. Built without the obltrace tag, every hook
// is an empty function that the compiler removes; with it, accesses go to
// the Recorder started by Start.
//
// Recording is process-wide (one Recorder at a time) and meant for tests
// only: run traced tests sequentially.
package trace

// Op is an access kind.
type Op uint8

const (
	OpRead Op = iota + 1
	OpWrite
	// OpSwap is a conditional swap of two elements: both are read and
	// written whatever the condition.
	OpSwap
)

func (o Op) String() string {
	switch o {
	case OpRead:
		return "R"
	case OpWrite:
		return "W"
	case OpSwap:
		return "S"
	}
	return "?"
}

// Event is one recorded access. Index is an element index, or a cache
// line index for code that declares cache-line granularity (Line true).
type Event struct {
	Op     Op
	Object int
	Index  int
	Line   bool
}
