package jsonrpc

import (
	"encoding/json"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// FuzzQuery feeds log filter objects (eth_getLogs, eth_newFilter,
// eth_subscribe "logs") to the decoder and the matcher.
func FuzzQuery(f *testing.F) {
	f.Add([]byte(`{"fromBlock":"0x0","toBlock":"latest","address":"0x00000000000000000000000000000000000000aa","topics":["0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",null,["0x0000000000000000000000000000000000000000000000000000000000000001",null]]}`))
	f.Add([]byte(`{"blockHash":"0x0000000000000000000000000000000000000000000000000000000000000001"}`))
	f.Add([]byte(`{"blockHash":"0x0000000000000000000000000000000000000000000000000000000000000001","fromBlock":"0x1"}`))
	f.Add([]byte(`{"address":["0x00000000000000000000000000000000000000aa","0x00000000000000000000000000000000000000bb"],"topics":[[],[null]]}`))
	f.Add([]byte(`{"topics":[null,null,null,null,null]}`))
	f.Add([]byte(`{"fromBlock":"earliest","toBlock":"pending","address":null}`))
	l := &types.Log{Address: common.HexToAddress("0xaa"), Topics: []common.Hash{{1}, {2}}}
	f.Fuzz(func(t *testing.T, b []byte) {
		var q Query
		if json.Unmarshal(b, &q) != nil {
			return
		}
		if len(q.Topics) > maxTopics || len(q.Addresses) > maxAlternates {
			t.Fatalf("accepted %d topics, %d addresses", len(q.Topics), len(q.Addresses))
		}
		q.match(l)
	})
}
