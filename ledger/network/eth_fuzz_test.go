package network_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confide/confide/ledger/eth/jsonrpc"
	"github.com/confide/confide/ledger/sandbox"
)

// FuzzEthRPC sends arbitrary JSON-RPC bodies, single and batched, to a
// node of a running network: every answer is JSON (or a clear HTTP
// error), the node keeps serving, and a state-changing call from
// garbage never succeeds.
func FuzzEthRPC(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}`,
		`[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"method":"eth_getBlockByNumber","params":["latest",true]}]`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0xf86c"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"fromBlock":"0x0","toBlock":"0xffffffff"}]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":"0x00000000000000000000000000000000000000aa","data":"0x"},"latest"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getStorageAt","params":["0x00000000000000000000000000000000000000aa","0x0000000000000000000000000000000000000000000000000000000000000000000","latest"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"debug_traceTransaction","params":["0x00"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"confide_linkAddress","params":["0x00000000000000000000000000000000000000aa","0x00"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_feeHistory","params":["0x400","latest",[50]]}`,
		`[]`, `{`, `null`, `[1,2,3]`,
	} {
		f.Add([]byte(s))
	}
	tn := startOpts(f, sandbox.Options{Nodes: 1, SignIntervalMS: 10, Eth: &sandbox.EthOptions{}})
	svc, _ := os.ReadFile(filepath.Join(tn.dir, sandbox.ServiceCert))
	c := clientB(f, tn.dir, "user0", svc)
	url := "https://" + tn.running[1].RPCAddr + jsonrpc.Path
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := c.Post(url, "application/json", bytes.NewReader([]byte(`{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}`)))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && bytes.Contains(b, []byte(`"result"`)) {
				break
			}
		}
		if time.Now().After(deadline) {
			f.Fatal("the chain did not start")
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := c.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && len(b) > 0 && !json.Valid(b) {
			t.Fatalf("%s answered %q", body, b)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("%s: %s %s", body, resp.Status, b)
		}
		// Still serving.
		ok, err := c.Post(url, "application/json", bytes.NewReader([]byte(`{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}`)))
		if err != nil || ok.StatusCode != http.StatusOK {
			t.Fatalf("the node stopped answering after %s: %v", body, err)
		}
		ok.Body.Close()
	})
}
