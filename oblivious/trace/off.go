//go:build !obltrace

package trace

import "unsafe"

// Enabled reports whether this build records traces.
const Enabled = false

// Recorder collects events between Start and Stop; without the obltrace
// tag it stays empty.
type Recorder struct{ Events []Event }

// Start returns an empty Recorder: this build records nothing.
func Start() *Recorder { return &Recorder{} }

// Stop ends recording.
func Stop() {}

// Access records an access to element index of the array at base.
func Access(op Op, base unsafe.Pointer, index int) {}

// LineAccess records an access to cache line index of the array at base.
func LineAccess(op Op, base unsafe.Pointer, line int) {}
