//go:build obltrace

package trace

import (
	"sync"
	"unsafe"
)

// Enabled reports whether this build records traces.
const Enabled = true

var (
	mu  sync.Mutex
	cur *Recorder
)

// Recorder collects events between Start and Stop.
type Recorder struct {
	Events []Event
	// objects holds the traced arrays' addresses as pointers, not
	// integers: that makes every traced array escape to the heap in this
	// build (a stack-allocated one could move when its stack grows and
	// be counted twice), and keeps it alive while recording (so its
	// address is not reused by another array).
	objects map[unsafe.Pointer]int
}

// Start begins recording into a new Recorder, replacing any current one.
func Start() *Recorder {
	r := &Recorder{objects: map[unsafe.Pointer]int{}}
	mu.Lock()
	cur = r
	mu.Unlock()
	return r
}

// Stop ends recording.
func Stop() {
	mu.Lock()
	cur = nil
	mu.Unlock()
}

func record(op Op, base unsafe.Pointer, index int, line bool) {
	mu.Lock()
	defer mu.Unlock()
	if cur == nil {
		return
	}
	id, ok := cur.objects[base]
	if !ok {
		id = len(cur.objects)
		cur.objects[base] = id
	}
	cur.Events = append(cur.Events, Event{Op: op, Object: id, Index: index, Line: line})
}

// Access records an access to element index of the array at base.
func Access(op Op, base unsafe.Pointer, index int) { record(op, base, index, false) }

// LineAccess records an access to cache line index of the array at base.
func LineAccess(op Op, base unsafe.Pointer, line int) { record(op, base, line, true) }
