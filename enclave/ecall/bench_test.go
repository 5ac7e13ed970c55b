package ecall_test

import (
	"context"
	"testing"

	"github.com/confide/confide/enclave/ecall"
)

// BenchmarkECall measures one round trip with a 64-byte input and output.
// Goal (issue 11): in process under 1 µs.
func BenchmarkECall(b *testing.B) {
	in := make([]byte, 64)
	ctx := context.Background()
	run := func(b *testing.B, c ecall.Caller) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Call(ctx, callEcho, in); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("in-process", func(b *testing.B) { run(b, ecall.NewInProcess(table(&counter{}))) })
	b.Run("out-of-process", func(b *testing.B) {
		p := startProcess(b)
		defer p.Close()
		run(b, p)
	})
}
