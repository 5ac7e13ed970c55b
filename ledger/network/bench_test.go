package network_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confide/confide/ledger/sandbox"
)

// BenchmarkCommittedWrites: 3 nodes in this process, b.N writes of 256
// bytes from 16 clients through the primary, each waiting for its
// commit. For profiles; bench/ledger.sh is the comparison with etcd.
func BenchmarkCommittedWrites(b *testing.B) {
	tn := startB(b, 3)
	svcPEM, _ := os.ReadFile(filepath.Join(tn.dir, sandbox.ServiceCert))
	var primary string
	deadline := time.Now().Add(10 * time.Second)
	cl := clientB(b, tn.dir, "user0", svcPEM)
	for primary == "" && time.Now().Before(deadline) {
		for id := uint64(1); id <= 3; id++ {
			addr := "https://" + tn.config(id).RPCAddr
			resp, err := cl.Get(addr + "/node/state")
			if err == nil {
				var ok bool
				b := make([]byte, 512)
				n, _ := resp.Body.Read(b)
				ok = strings.Contains(string(b[:n]), `"primary":true`)
				resp.Body.Close()
				if ok && resp.StatusCode == 200 {
					primary = addr
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	body := `{"contents":"` + strings.Repeat("x", 256) + `"}`
	var failed atomic.Int64
	b.SetParallelism(8) // 16 clients on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := cl.Post(primary+"/app/transactions?wait=committed", "application/json", strings.NewReader(body))
			if err != nil || resp.StatusCode != http.StatusOK {
				failed.Add(1)
			}
			if resp != nil {
				io.Copy(io.Discard, resp.Body) // so that the connection is reused
				resp.Body.Close()
			}
		}
	})
	if failed.Load() > 0 {
		b.Fatalf("%d writes failed", failed.Load())
	}
}
