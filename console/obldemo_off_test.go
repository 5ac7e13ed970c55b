//go:build !obltrace

package console_test

import (
	"testing"

	"github.com/confide/confide/console"
)

// Without the recorder the demo is not offered (rather than offered and
// failing).
func TestNoObliviousDemo(t *testing.T) {
	if _, ok := console.ObliviousDemo(); ok {
		t.Fatal("a build without obltrace offers the oblivious demo")
	}
}
