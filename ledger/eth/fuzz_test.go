package eth

import (
	"bytes"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
)

// FuzzDecode feeds raw transactions (eth_sendRawTransaction's input) to
// Decode: it must answer an error or a transaction that re-encodes to
// the same bytes, signed by the sender it names, never panic.
func FuzzDecode(f *testing.F) {
	key, _ := crypto.HexToECDSA("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	signer := types.LatestSignerForChainID(big.NewInt(DefaultChainID))
	to := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	for _, inner := range []types.TxData{
		&types.LegacyTx{Nonce: 1, GasPrice: big.NewInt(params.GWei), Gas: 21000, To: &to, Value: big.NewInt(1)},
		&types.AccessListTx{ChainID: big.NewInt(DefaultChainID), Nonce: 2, GasPrice: big.NewInt(params.GWei), Gas: 30000, To: &to,
			AccessList: types.AccessList{{Address: to, StorageKeys: []common.Hash{{1}}}}},
		&types.DynamicFeeTx{ChainID: big.NewInt(DefaultChainID), Nonce: 3, GasTipCap: big.NewInt(1), GasFeeCap: big.NewInt(params.GWei), Gas: 50000, Data: []byte{0x60, 0x00}},
	} {
		tx, _ := types.SignNewTx(key, signer, inner)
		b, _ := tx.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{0xf8, 0x01})
	f.Add([]byte{0x03, 0xc0})
	f.Add([]byte{0x04})
	cfg := Config{ChainID: DefaultChainID, Mode: Public, BaseFee: params.GWei, GasLimit: DefaultGasLimit}
	f.Fuzz(func(t *testing.T, raw []byte) {
		tx, from, err := Decode(cfg, raw)
		if err != nil {
			return
		}
		again, err := tx.MarshalBinary()
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("accepted %x, re-encodes as %x (%v)", raw, again, err)
		}
		if s, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx); err != nil || s != from {
			t.Fatalf("sender %s, recovered %s (%v)", from, s, err)
		}
		if tx.Type() == types.BlobTxType || tx.ChainId().Uint64() != DefaultChainID || tx.Gas() > cfg.GasLimit {
			t.Fatalf("accepted a transaction Decode must refuse: %x", raw)
		}
	})
}

// FuzzCallArgs feeds eth_call's transaction object to the message
// builder.
func FuzzCallArgs(f *testing.F) {
	f.Add([]byte(`{"from":"0x00000000000000000000000000000000000000aa","to":"0x00000000000000000000000000000000000000bb","data":"0x70a08231","gas":"0x5208"}`))
	f.Add([]byte(`{"gasPrice":"0x1","maxFeePerGas":"0x2"}`))
	f.Add([]byte(`{"input":"0x00","data":"0x01"}`))
	f.Add([]byte(`{"value":"0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"}`))
	f.Add([]byte(`{"maxFeePerGas":"0x10","maxPriorityFeePerGas":"0x20","accessList":[{"address":"0x00000000000000000000000000000000000000aa","storageKeys":[]}]}`))
	cfg := Config{ChainID: DefaultChainID, Mode: Public, BaseFee: params.GWei, GasLimit: DefaultGasLimit}
	f.Fuzz(func(t *testing.T, b []byte) {
		var a CallArgs
		if json.Unmarshal(b, &a) != nil {
			return
		}
		m, _, err := a.message(cfg, 100_000)
		if err == nil && (m.Value == nil || m.GasPrice == nil || m.GasFeeCap == nil || m.GasTipCap == nil) {
			t.Fatalf("a message with nil amounts from %s", b)
		}
	})
}

// FuzzVerifyLink: link signatures of any shape fail cleanly.
func FuzzVerifyLink(f *testing.F) {
	key, _ := crypto.HexToECDSA("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	addr := crypto.PubkeyToAddress(key.PublicKey)
	user := "ab"
	good, _ := crypto.Sign(crypto.Keccak256([]byte("\x19Ethereum Signed Message:\n"+itoa(len(LinkMessage(addr, user, DefaultChainID)))+LinkMessage(addr, user, DefaultChainID))), key)
	f.Add(good, user)
	f.Add(make([]byte, 65), user)
	f.Add([]byte{1, 2, 3}, "")
	f.Fuzz(func(t *testing.T, sig []byte, u string) {
		err := VerifyLink(addr, u, DefaultChainID, sig)
		if err == nil && (u != user || len(sig) != 65) {
			t.Fatalf("a link by %q with %x verified", u, sig)
		}
	})
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }
