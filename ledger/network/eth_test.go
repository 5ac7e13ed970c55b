package network_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"

	"github.com/confide/confide/ledger/app"
	"github.com/confide/confide/ledger/eth"
	"github.com/confide/confide/ledger/eth/contracts"
	"github.com/confide/confide/ledger/eth/jsonrpc"
	"github.com/confide/confide/ledger/gov"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/node"
	"github.com/confide/confide/ledger/receipt"
	"github.com/confide/confide/ledger/sandbox"
)

// ethNet is a network with the Ethereum app and go-ethereum's client on
// each node, as user0.
type ethNet struct {
	*testNet
	keys    []*ecdsa.PrivateKey
	clients map[uint64]*ethclient.Client
	rpcs    map[uint64]*rpc.Client
}

func startEth(t *testing.T, nodes int, private bool) *ethNet {
	tn := startOpts(t, sandbox.Options{Nodes: nodes, SignIntervalMS: 10, Eth: &sandbox.EthOptions{Private: private}})
	en := &ethNet{testNet: tn, clients: map[uint64]*ethclient.Client{}, rpcs: map[uint64]*rpc.Client{}}
	b, err := os.ReadFile(filepath.Join(tn.dir, sandbox.EthAccountsFile))
	if err != nil {
		t.Fatal(err)
	}
	var accts []sandbox.EthAccount
	json.Unmarshal(b, &accts)
	for _, a := range accts {
		k, err := crypto.HexToECDSA(strings.TrimPrefix(a.PrivateKey, "0x"))
		if err != nil {
			t.Fatal(err)
		}
		en.keys = append(en.keys, k)
	}
	svc, _ := os.ReadFile(filepath.Join(tn.dir, sandbox.ServiceCert))
	hc := client(t, tn.dir, "user0", svc)
	for id, r := range tn.running {
		c, err := rpc.DialOptions(context.Background(), "https://"+r.RPCAddr+jsonrpc.Path, rpc.WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		en.rpcs[id] = c
		en.clients[id] = ethclient.NewClient(c)
		t.Cleanup(c.Close)
	}
	// The chain's genesis is written once a primary is elected.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := en.clients[1].ChainID(context.Background()); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return en
}

func (en *ethNet) addr(i int) common.Address { return crypto.PubkeyToAddress(en.keys[i].PublicKey) }

func (en *ethNet) send(t *testing.T, c *ethclient.Client, from int, nonce uint64, to *common.Address, value *big.Int, data []byte, gas uint64) *types.Transaction {
	t.Helper()
	tx, err := types.SignNewTx(en.keys[from], types.LatestSignerForChainID(big.NewInt(1337)), &types.DynamicFeeTx{
		ChainID: big.NewInt(1337), Nonce: nonce, GasTipCap: big.NewInt(0), GasFeeCap: big.NewInt(2 * params.GWei),
		Gas: gas, To: to, Value: value, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendTransaction(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	return tx
}

func waitReceipt(t *testing.T, c *ethclient.Client, h common.Hash) *types.Receipt {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := c.TransactionReceipt(context.Background(), h)
		if err == nil {
			return r
		}
		if !errors.Is(err, ethereum.NotFound) || time.Now().After(deadline) {
			t.Fatalf("receipt of %s: %v", h, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEthClient(t *testing.T) {
	en := startEth(t, 3, false)
	ctx := context.Background()
	c := en.clients[2]
	id, err := c.ChainID(ctx)
	if err != nil || id.Uint64() != 1337 {
		t.Fatal(id, err)
	}
	bal, err := c.BalanceAt(ctx, en.addr(0), nil)
	want := new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(params.Ether))
	if err != nil || bal.Cmp(want) != 0 {
		t.Fatal(bal, err)
	}
	// A transfer through a backup or the primary, whichever node 2 is.
	payee := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	tx := en.send(t, c, 0, 0, &payee, big.NewInt(12345), nil, 21000)
	rc := waitReceipt(t, c, tx.Hash())
	if rc.Status != types.ReceiptStatusSuccessful || rc.GasUsed != 21000 {
		t.Fatalf("receipt %+v", rc)
	}
	rc1 := rc
	// go-ethereum's client recomputes the block hash from the header it
	// gets and checks the transaction list against it.
	blk, err := c.BlockByNumber(ctx, rc.BlockNumber)
	if err != nil {
		t.Fatal(err)
	}
	if blk.Hash() != rc.BlockHash || len(blk.Transactions()) == 0 || blk.Transactions()[rc.TransactionIndex].Hash() != tx.Hash() {
		t.Fatalf("block %d: hash %s, receipt says %s", blk.NumberU64(), blk.Hash(), rc.BlockHash)
	}
	if h, err := c.HeaderByHash(ctx, rc.BlockHash); err != nil || h.Hash() != rc.BlockHash {
		t.Fatal(h, err)
	}
	got, pending, err := c.TransactionByHash(ctx, tx.Hash())
	if err != nil || pending || got.Hash() != tx.Hash() {
		t.Fatal(got, pending, err)
	}
	if b, err := c.BalanceAt(ctx, payee, nil); err != nil || b.Int64() != 12345 {
		// A backup may lag the block by an instant: read the primary's.
		t.Fatal(b, err)
	}
	var raw map[string]any
	if err := en.rpcs[2].Call(&raw, "eth_getTransactionReceipt", tx.Hash()); err != nil || raw["ledgerTransactionId"] == "" || raw["ledgerTransactionId"] == nil {
		t.Fatalf("no ledger transaction in %v (%v)", raw, err)
	}
	// The ledger transaction's own receipt proves it offline.
	svcPEM, _ := os.ReadFile(filepath.Join(en.dir, sandbox.ServiceCert))
	user := client(t, en.dir, "user0", svcPEM)
	lrURL := "https://" + en.running[2].RPCAddr + "/app/transactions/" + raw["ledgerTransactionId"].(string) + "/receipt"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, out := do(t, user, "GET", lrURL, "")
		if code == 200 {
			rb, _ := json.Marshal(out["receipt"])
			r, err := receipt.Parse(rb)
			if err != nil || r.Verify(en.svc) != nil || r.TxID != raw["ledgerTransactionId"] {
				t.Fatalf("the ledger receipt of %v does not verify: %v", raw["ledgerTransactionId"], err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger receipt: %d %v", code, out)
		}
	}

	// Nonces sent out of order: the later ones wait for the gap to fill.
	var txs []*types.Transaction
	for _, n := range []uint64{3, 2, 1} {
		txs = append(txs, en.send(t, c, 0, n, &payee, big.NewInt(1), nil, 21000))
	}
	if n, err := c.PendingNonceAt(ctx, en.addr(0)); err != nil || n != 4 {
		t.Fatalf("pending nonce %d, %v", n, err)
	}
	for _, tx := range txs {
		if rc := waitReceipt(t, c, tx.Hash()); rc.Status != 1 {
			t.Fatal(rc)
		}
	}

	// A contract: SSTORE(0, calldata word); a zero word reverts.
	runtime := []byte{0x60, 0x00, 0x35, 0x80, 0x60, 0x00, 0x55, 0x60, 0x0e, 0x57, 0x60, 0x00, 0x80, 0xfd, 0x5b, 0x00}
	init := append([]byte{0x60, byte(len(runtime)), 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, byte(len(runtime)), 0x60, 0x00, 0xf3}, runtime...)
	gas, err := c.EstimateGas(ctx, ethereum.CallMsg{From: en.addr(1), Data: init})
	if err != nil || gas < 53000 {
		t.Fatal(gas, err)
	}
	deploy := en.send(t, c, 1, 0, nil, nil, init, gas)
	rc = waitReceipt(t, c, deploy.Hash())
	if rc.Status != 1 || rc.ContractAddress != crypto.CreateAddress(en.addr(1), 0) {
		t.Fatalf("deploy %+v", rc)
	}
	code, err := c.CodeAt(ctx, rc.ContractAddress, nil)
	if err != nil || string(code) != string(runtime) {
		t.Fatalf("code %x %v", code, err)
	}
	to := rc.ContractAddress
	_, err = c.CallContract(ctx, ethereum.CallMsg{From: en.addr(1), To: &to, Data: make([]byte, 32)}, nil)
	var de rpc.DataError
	if err == nil || !errors.As(err, &de) || !strings.Contains(err.Error(), "execution reverted") {
		t.Fatalf("a reverting call: %v", err)
	}
	if _, err := c.EstimateGas(ctx, ethereum.CallMsg{From: en.addr(1), To: &to, Data: make([]byte, 32)}); err == nil || !strings.Contains(err.Error(), "execution reverted") {
		t.Fatalf("estimating a reverting call: %v", err)
	}
	word := common.BigToHash(big.NewInt(42))
	set := en.send(t, c, 1, 1, &to, nil, word[:], 100_000)
	if rc := waitReceipt(t, c, set.Hash()); rc.Status != 1 {
		t.Fatal(rc)
	}
	if v, err := c.StorageAt(ctx, to, common.Hash{}, nil); err != nil || common.BytesToHash(v) != word {
		t.Fatalf("storage %x %v", v, err)
	}
	// A reverting transaction is mined, failed, and consumes its nonce.
	bad := en.send(t, c, 1, 2, &to, nil, make([]byte, 32), 100_000)
	if rc := waitReceipt(t, c, bad.Hash()); rc.Status != 0 {
		t.Fatal(rc)
	}
	if n, err := c.NonceAt(ctx, en.addr(1), nil); err != nil || n != 3 {
		t.Fatal(n, err)
	}

	// Whichever node reports a receipt first, every other node's latest
	// includes it at once: backups catch up with the primary's commit
	// before they answer.
	for i := range 10 {
		tx := en.send(t, c, 0, uint64(4+i), &payee, big.NewInt(1), nil, 21000)
		var first uint64
		var rc *types.Receipt
		for deadline := time.Now().Add(10 * time.Second); rc == nil; {
			for id, ci := range en.clients {
				if r, err := ci.TransactionReceipt(ctx, tx.Hash()); err == nil {
					first, rc = id, r
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("no receipt")
			}
		}
		for id, ci := range en.clients {
			if id == first {
				continue
			}
			n, err := ci.BlockNumber(ctx)
			if err != nil || n < rc.BlockNumber.Uint64() {
				t.Fatalf("node %d: latest %d after node %d reported block %d (%v)", id, n, first, rc.BlockNumber, err)
			}
			if r, err := ci.TransactionReceipt(ctx, tx.Hash()); err != nil || r.BlockHash != rc.BlockHash {
				t.Fatalf("node %d: no receipt node %d reported: %v", id, first, err)
			}
		}
	}

	// A held transaction that fails when its nonce comes (it spends more
	// than the sender has) is dropped; its receipt says why, on the
	// primary that held it.
	tooMuch := new(big.Int).Mul(big.NewInt(2_000_000), big.NewInt(params.Ether))
	held := en.send(t, c, 2, 1, &payee, tooMuch, nil, 21000)
	first := en.send(t, c, 2, 0, &payee, big.NewInt(1), nil, 21000)
	waitReceipt(t, c, first.Hash())
	said := ""
	for deadline := time.Now().Add(5 * time.Second); said == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, ci := range en.clients {
			if _, err := ci.TransactionReceipt(ctx, held.Hash()); err != nil && !errors.Is(err, ethereum.NotFound) {
				said = err.Error()
			}
		}
	}
	if !strings.Contains(said, "dropped") || !strings.Contains(said, "insufficient funds") || !strings.Contains(said, "send it again") {
		t.Fatalf("a dropped transaction's receipt: %q", said)
	}
	if n, err := c.PendingNonceAt(ctx, en.addr(2)); err != nil || n != 1 {
		t.Fatalf("pending nonce after the drop: %d %v", n, err)
	}

	// State at earlier blocks: before and after the first transfer, and
	// the storage word before and after it was set.
	if b, err := c.BalanceAt(ctx, payee, new(big.Int).Sub(rc1.BlockNumber, big.NewInt(1))); err != nil || b.Sign() != 0 {
		t.Fatalf("balance before: %v %v", b, err)
	}
	if b, err := c.BalanceAt(ctx, payee, rc1.BlockNumber); err != nil || b.Int64() != 12345 {
		t.Fatalf("balance at: %v %v", b, err)
	}
	setRc, _ := c.TransactionReceipt(ctx, set.Hash())
	if v, err := c.StorageAt(ctx, to, common.Hash{}, new(big.Int).Sub(setRc.BlockNumber, big.NewInt(1))); err != nil || common.BytesToHash(v) != (common.Hash{}) {
		t.Fatalf("storage before: %x %v", v, err)
	}
	if n, err := c.NonceAt(ctx, en.addr(0), rc1.BlockNumber); err != nil || n != 1 {
		t.Fatalf("nonce at the first transfer's block: %d %v", n, err)
	}
	if _, err := c.BalanceAt(ctx, payee, big.NewInt(1_000_000)); err == nil {
		t.Fatal("a future block's state")
	}

	// Bad input: each a clear error, nothing written.
	for name, raw := range map[string][]byte{"rlp": {0xf8, 0x01, 0x02}, "garbage": []byte("hello")} {
		var h common.Hash
		if err := en.rpcs[1].Call(&h, "eth_sendRawTransaction", "0x"+common.Bytes2Hex(raw)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	low, _ := types.SignNewTx(en.keys[0], types.LatestSignerForChainID(big.NewInt(1337)), &types.LegacyTx{Nonce: 0, GasPrice: big.NewInt(params.GWei), Gas: 21000, To: &payee})
	if err := c.SendTransaction(ctx, low); err == nil || !strings.Contains(err.Error(), "nonce too low") {
		t.Errorf("nonce too low: %v", err)
	}
	wrong, _ := types.SignNewTx(en.keys[0], types.LatestSignerForChainID(big.NewInt(1)), &types.LegacyTx{Nonce: 9, GasPrice: big.NewInt(params.GWei), Gas: 21000, To: &payee})
	if err := c.SendTransaction(ctx, wrong); err == nil || !strings.Contains(err.Error(), "invalid chain id") {
		t.Errorf("wrong chain: %v", err)
	}
	// Oversized: a body above MaxBody, a batch above MaxBatch.
	huge := "0x" + strings.Repeat("00", jsonrpc.MaxBody/2+1)
	var out hexutil.Bytes
	if err := en.rpcs[1].Call(&out, "eth_call", map[string]any{"to": payee, "data": huge}, "latest"); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("an oversized request: %v", err)
	}
	batch := make([]rpc.BatchElem, jsonrpc.MaxBatch+1)
	for i := range batch {
		batch[i] = rpc.BatchElem{Method: "eth_chainId", Result: new(hexutil.Uint64)}
	}
	if err := en.rpcs[1].BatchCall(batch); err == nil && (batch[0].Error == nil || !strings.Contains(batch[0].Error.Error(), "batch too large")) {
		t.Errorf("an oversized batch: %v", batch[0].Error)
	}
	var res any
	if err := en.rpcs[1].Call(&res, "eth_noSuchMethod"); err == nil {
		t.Error("an unknown method answered")
	} else if e, ok := err.(rpc.Error); !ok || e.ErrorCode() != -32601 {
		t.Errorf("unknown method: %v", err)
	}
}

// TestEthERC20 drives an ERC-20 through go-ethereum's v2 bindings:
// deploy, transfers, balances, Transfer logs filtered, a revert's reason
// in the client, and the newest forks' opcodes.
func TestEthERC20(t *testing.T) {
	en := startEth(t, 3, false)
	ctx := context.Background()
	c := en.clients[3]
	chain := big.NewInt(1337)
	opts := bind.NewKeyedTransactor(en.keys[0], chain)
	token := contracts.NewToken()
	supply := new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1e18))
	addr, tx, err := bind.DeployContract(opts, common.FromHex(contracts.TokenMetaData.Bin), c, token.PackConstructor("Confide Token", "CFD", supply))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := bind.WaitDeployed(ctx, c, tx.Hash()); err != nil || got != addr {
		t.Fatal(got, err)
	}
	inst := token.Instance(c, addr)
	bal := func(a common.Address) *big.Int {
		t.Helper()
		v, err := bind.Call(inst, nil, token.PackBalanceOf(a), token.UnpackBalanceOf)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if b := bal(en.addr(0)); b.Cmp(supply) != 0 {
		t.Fatalf("deployer holds %v", b)
	}
	var txs []*types.Transaction
	for i, to := range []common.Address{en.addr(1), en.addr(2), en.addr(1)} {
		tx, err := bind.Transact(inst, opts, token.PackTransfer(to, big.NewInt(int64(1000*(i+1)))))
		if err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	for _, tx := range txs {
		if rc, err := bind.WaitMined(ctx, c, tx.Hash()); err != nil || rc.Status != 1 {
			t.Fatal(rc, err)
		}
	}
	if b := bal(en.addr(1)); b.Int64() != 4000 {
		t.Fatalf("payee 1 holds %v", b)
	}
	if b := bal(en.addr(2)); b.Int64() != 2000 {
		t.Fatalf("payee 2 holds %v", b)
	}
	// Transfer logs: all of them, then those paying account 1 (an indexed
	// topic).
	it, err := bind.FilterEvents(inst, &bind.FilterOpts{Start: 0, Context: ctx}, token.UnpackTransferEvent)
	if err != nil {
		t.Fatal(err)
	}
	var all []*contracts.TokenTransfer
	for it.Next() {
		all = append(all, it.Value())
	}
	if it.Error() != nil || len(all) != 4 || all[0].From != (common.Address{}) || all[0].Value.Cmp(supply) != 0 {
		t.Fatalf("transfers %d: %v", len(all), it.Error())
	}
	it, err = bind.FilterEvents(inst, &bind.FilterOpts{Start: 0, Context: ctx}, token.UnpackTransferEvent, nil, []any{en.addr(1)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.Next() {
		if it.Value().To != en.addr(1) {
			t.Fatalf("a Transfer to %s", it.Value().To)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d transfers to account 1", n)
	}
	// A revert's reason reaches the client (from gas estimation, as a
	// wallet sends).
	_, err = bind.Transact(inst, bind.NewKeyedTransactor(en.keys[2], chain), token.PackTransfer(en.addr(3), big.NewInt(1_000_000)))
	if err == nil || !strings.Contains(err.Error(), "Token: transfer amount exceeds balance") {
		t.Fatalf("an overdraft: %v", err)
	}

	// The newest forks' opcodes, custom errors, and running out of gas.
	probe := contracts.NewProbe()
	paddr, ptx, err := bind.DeployContract(opts, common.FromHex(contracts.ProbeMetaData.Bin), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bind.WaitDeployed(ctx, c, ptx.Hash()); err != nil {
		t.Fatal(err)
	}
	pi := probe.Instance(c, paddr)
	if v, err := bind.Call(pi, nil, probe.PackPush0AndTransient(big.NewInt(41)), probe.UnpackPush0AndTransient); err != nil || v.Int64() != 42 {
		t.Fatalf("transient storage: %v %v", v, err)
	}
	if v, err := bind.Call(pi, nil, probe.PackMcopy([]byte("mcopy")), probe.UnpackMcopy); err != nil || string(v) != "mcopy" {
		t.Fatalf("mcopy: %q %v", v, err)
	}
	_, err = c.CallContract(ctx, ethereum.CallMsg{From: en.addr(0), To: &paddr, Data: probe.PackFailCustom(big.NewInt(7))}, nil)
	var de rpc.DataError
	if !errors.As(err, &de) {
		t.Fatalf("custom error: %v", err)
	}
	data, _ := de.ErrorData().(string)
	if raw := common.FromHex(data); len(raw) < 4 {
		t.Fatalf("revert data %q", data)
	} else if nope, err := probe.UnpackNopeError(raw[4:]); err != nil || nope.Code.Int64() != 7 {
		t.Fatalf("Nope: %v %v", nope, err)
	}
	btx, err := bind.Transact(pi, opts, probe.PackBump())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := bind.WaitMined(ctx, c, btx.Hash())
	if err != nil || rc.Status != 1 || len(rc.Logs) != 1 {
		t.Fatal(rc, err)
	}
	if ev, err := probe.UnpackBumpedEvent(rc.Logs[0]); err != nil || ev.By != en.addr(0) || ev.Value.Int64() != 1 {
		t.Fatal(ev, err)
	}
	// Traces, as Foundry (callTracer) and Hardhat (the struct logger) ask.
	var call struct {
		Type    string `json:"type"`
		From    string `json:"from"`
		To      string `json:"to"`
		GasUsed string `json:"gasUsed"`
		Logs    []any  `json:"logs"`
	}
	if err := en.rpcs[3].Call(&call, "debug_traceTransaction", btx.Hash(), map[string]any{"tracer": "callTracer", "tracerConfig": map[string]any{"withLog": true}}); err != nil {
		t.Fatal(err)
	}
	if call.Type != "CALL" || !strings.EqualFold(call.To, paddr.Hex()) || call.GasUsed != hexutil.EncodeUint64(rc.GasUsed) || len(call.Logs) != 1 {
		t.Fatalf("call trace %+v, receipt gas %d", call, rc.GasUsed)
	}
	var steps struct {
		Gas        uint64 `json:"gas"`
		Failed     bool   `json:"failed"`
		StructLogs []struct {
			Op string `json:"op"`
		} `json:"structLogs"`
	}
	if err := en.rpcs[2].Call(&steps, "debug_traceTransaction", btx.Hash()); err != nil {
		t.Fatal(err)
	}
	sstore := false
	for _, l := range steps.StructLogs {
		sstore = sstore || l.Op == "SSTORE"
	}
	if steps.Gas != rc.GasUsed || steps.Failed || !sstore {
		t.Fatalf("struct trace: gas %d (receipt %d), %d steps, SSTORE %v", steps.Gas, rc.GasUsed, len(steps.StructLogs), sstore)
	}
	if err := en.rpcs[1].Call(&call, "debug_traceTransaction", btx.Hash(), map[string]any{"tracer": "noSuchTracer"}); err == nil {
		t.Fatal("an unknown tracer")
	}

	low := *opts
	low.GasLimit = 60_000
	otx, err := bind.Transact(pi, &low, probe.PackBurnGas(big.NewInt(1000)))
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := bind.WaitMined(ctx, c, otx.Hash()); err != nil || rc.Status != 0 || rc.GasUsed != 60_000 {
		t.Fatalf("out of gas: %+v %v", rc, err)
	}
}

// TestEthPrivate: in the private mode a second user reads none of the
// first user's receipts, logs, balances or storage, cannot send from or
// call as an address it has not linked, and sees what names its own.
func TestEthPrivate(t *testing.T) {
	en := startEth(t, 3, true)
	ctx := context.Background()
	c0 := en.clients[1]
	svc, _ := os.ReadFile(filepath.Join(en.dir, sandbox.ServiceCert))
	r1, err := rpc.DialOptions(ctx, "https://"+en.running[2].RPCAddr+jsonrpc.Path, rpc.WithHTTPClient(client(t, en.dir, "user1", svc)))
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	c1 := ethclient.NewClient(r1)
	chain := big.NewInt(1337)

	// user0 (accounts 0 and 1 linked at genesis) deploys a token and
	// pays accounts 1 and 2.
	opts := bind.NewKeyedTransactor(en.keys[0], chain)
	token := contracts.NewToken()
	addr, tx, err := bind.DeployContract(opts, common.FromHex(contracts.TokenMetaData.Bin), c0, token.PackConstructor("T", "T", big.NewInt(1_000_000)))
	if err != nil {
		t.Fatal(err)
	}
	waitReceipt(t, c0, tx.Hash())
	inst0 := token.Instance(c0, addr)
	pay1, err := bind.Transact(inst0, opts, token.PackTransfer(en.addr(1), big.NewInt(10)))
	if err != nil {
		t.Fatal(err)
	}
	pay2, err := bind.Transact(inst0, opts, token.PackTransfer(en.addr(2), big.NewInt(20)))
	if err != nil {
		t.Fatal(err)
	}
	rc2 := waitReceipt(t, c0, pay2.Hash())
	waitReceipt(t, c0, pay1.Hash())

	// user1 links account 2 with that account's signature.
	var user1 string
	if err := r1.Call(&user1, "confide_userId"); err != nil || len(user1) != 64 {
		t.Fatal(user1, err)
	}
	sign := func(k *ecdsa.PrivateKey, a common.Address) string {
		sig, err := crypto.Sign(accounts.TextHash([]byte(eth.LinkMessage(a, user1, 1337))), k)
		if err != nil {
			t.Fatal(err)
		}
		return hexutil.Encode(sig)
	}
	var ok bool
	if err := r1.Call(&ok, "confide_linkAddress", en.addr(2), sign(en.keys[3], en.addr(2))); err == nil {
		t.Fatal("a link signed by another key was accepted")
	}
	if err := r1.Call(&ok, "confide_linkAddress", en.addr(0), sign(en.keys[0], en.addr(0))); err == nil || !strings.Contains(err.Error(), "another ledger user") {
		t.Fatalf("user0's address linked to user1: %v", err)
	}
	if err := r1.Call(&ok, "confide_linkAddress", en.addr(2), sign(en.keys[2], en.addr(2))); err != nil || !ok {
		t.Fatal(ok, err)
	}
	var linked []common.Address
	deadline := time.Now().Add(5 * time.Second)
	for len(linked) == 0 && time.Now().Before(deadline) {
		r1.Call(&linked, "confide_linkedAddresses")
		time.Sleep(20 * time.Millisecond)
	}
	if len(linked) != 1 || linked[0] != en.addr(2) {
		t.Fatalf("linked %v", linked)
	}

	// What user1 may not read or do.
	refused := func(what string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", what, err)
		}
	}
	_, err = c1.TransactionReceipt(ctx, tx.Hash())
	refused("another user's receipt", err, "another ledger user")
	_, _, err = c1.TransactionByHash(ctx, pay1.Hash())
	refused("another user's transaction", err, "another ledger user")
	_, err = c1.BalanceAt(ctx, en.addr(0), nil)
	refused("another user's balance", err, "not yours")
	_, err = c1.NonceAt(ctx, en.addr(0), nil)
	refused("another user's nonce", err, "not yours")
	_, err = c1.StorageAt(ctx, addr, common.Hash{}, nil)
	refused("storage", err, "eth_getStorageAt is refused")
	_, err = c1.BlockByNumber(ctx, rc2.BlockNumber)
	refused("a block of others' transactions", err, "holds other users' transactions")
	from0 := en.addr(0)
	_, err = c1.CallContract(ctx, ethereum.CallMsg{From: from0, To: &addr, Data: token.PackBalanceOf(from0)}, nil)
	refused("a call as another's address", err, "not linked to your ledger user")
	stolen, _ := types.SignNewTx(en.keys[0], types.LatestSignerForChainID(chain), &types.DynamicFeeTx{ChainID: chain, Nonce: 3,
		GasFeeCap: big.NewInt(2 * params.GWei), Gas: 100_000, To: &addr, Data: token.PackTransfer(en.addr(2), big.NewInt(1))})
	refused("sending from another's address", c1.SendTransaction(ctx, stolen), "not linked to your ledger user")

	// What it may: the header, its balance, a call as its own address,
	// and the Transfer that pays it — not the one paying account 1.
	if h, err := c1.HeaderByNumber(ctx, rc2.BlockNumber); err != nil || h.Hash() != rc2.BlockHash || h.Bloom != (types.Bloom{}) {
		t.Fatalf("header: %v (a private block's bloom must be empty)", err)
	}
	if b, err := c1.BalanceAt(ctx, en.addr(2), nil); err != nil || b.Sign() <= 0 {
		t.Fatal(b, err)
	}
	from2 := en.addr(2)
	out, err := c1.CallContract(ctx, ethereum.CallMsg{From: from2, To: &addr, Data: token.PackBalanceOf(from2)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := token.UnpackBalanceOf(out); err != nil || v.Int64() != 20 {
		t.Fatal(v, err)
	}
	logs, err := c1.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(0), Addresses: []common.Address{addr}})
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 1 || logs[0].TxHash != pay2.Hash() {
		t.Fatalf("user1 sees %d logs", len(logs))
	}
	if logs, err := c0.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(0), Addresses: []common.Address{addr}}); err != nil || len(logs) != 3 {
		t.Fatalf("user0 sees %d logs: %v", len(logs), err)
	}
	// user1 sends from its own address.
	mine, _ := types.SignNewTx(en.keys[2], types.LatestSignerForChainID(chain), &types.DynamicFeeTx{ChainID: chain, Nonce: 0,
		GasFeeCap: big.NewInt(2 * params.GWei), Gas: 100_000, To: &addr, Data: token.PackTransfer(en.addr(1), big.NewInt(5))})
	if err := c1.SendTransaction(ctx, mine); err != nil {
		t.Fatal(err)
	}
	if rc := waitReceipt(t, c1, mine.Hash()); rc.Status != 1 {
		t.Fatal(rc)
	}
	// user0 sees the log that pays its account 1, though user1 sent it.
	if logs, err := c0.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(0), Addresses: []common.Address{addr}}); err != nil || len(logs) != 4 {
		t.Fatalf("user0 sees %d logs: %v", len(logs), err)
	}
	if _, err := c0.TransactionReceipt(ctx, mine.Hash()); err == nil {
		t.Fatal("user0 read user1's receipt")
	}
	// Traces: one's own, with the call tracer only.
	var trace map[string]any
	refused("tracing another's transaction", r1.Call(&trace, "debug_traceTransaction", pay1.Hash(), map[string]any{"tracer": "callTracer"}), "another ledger user")
	refused("a struct trace", r1.Call(&trace, "debug_traceTransaction", mine.Hash()), "only {\"tracer\": \"callTracer\"}")
	if err := r1.Call(&trace, "debug_traceTransaction", mine.Hash(), map[string]any{"tracer": "callTracer"}); err != nil || trace["type"] != "CALL" {
		t.Fatal(trace, err)
	}
}

// TestEthWebSocket: eth_subscribe over the ledger's TLS — new heads
// through go-ethereum's client and Transfer logs through the bindings'
// WatchEvents.
func TestEthWebSocket(t *testing.T) {
	en := startEth(t, 1, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, _ := os.ReadFile(filepath.Join(en.dir, sandbox.ServiceCert))
	tc := client(t, en.dir, "user0", svc).Transport.(*http.Transport).TLSClientConfig
	ws, err := rpc.DialOptions(ctx, "wss://"+en.running[1].RPCAddr+jsonrpc.Path, rpc.WithWebsocketDialer(websocket.Dialer{TLSClientConfig: tc}))
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := ethclient.NewClient(ws)
	heads := make(chan *types.Header, 16)
	hsub, err := c.SubscribeNewHead(ctx, heads)
	if err != nil {
		t.Fatal(err)
	}
	defer hsub.Unsubscribe()
	chain := big.NewInt(1337)
	opts := bind.NewKeyedTransactor(en.keys[0], chain)
	token := contracts.NewToken()
	addr, tx, err := bind.DeployContract(opts, common.FromHex(contracts.TokenMetaData.Bin), c, token.PackConstructor("T", "T", big.NewInt(100)))
	if err != nil {
		t.Fatal(err)
	}
	rc := waitReceipt(t, c, tx.Hash())
	select {
	case h := <-heads:
		if h.Number.Sign() <= 0 {
			t.Fatal(h.Number)
		}
	case err := <-hsub.Err():
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no new head")
	}
	inst := token.Instance(c, addr)
	events := make(chan *contracts.TokenTransfer, 4)
	lsub, err := bind.WatchEvents(inst, &bind.WatchOpts{Context: ctx}, token.UnpackTransferEvent, events)
	if err != nil {
		t.Fatal(err)
	}
	defer lsub.Unsubscribe()
	ttx, err := bind.Transact(inst, opts, token.PackTransfer(en.addr(1), big.NewInt(7)))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.To != en.addr(1) || ev.Value.Int64() != 7 || ev.Raw.TxHash != ttx.Hash() || ev.Raw.BlockNumber <= rc.BlockNumber.Uint64() {
			t.Fatalf("event %+v", ev)
		}
	case err := <-lsub.Err():
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no Transfer event")
	}
	// Without a client certificate the upgrade is refused.
	if _, err := rpc.DialOptions(ctx, "wss://"+en.running[1].RPCAddr+jsonrpc.Path,
		rpc.WithWebsocketDialer(websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: tc.RootCAs}})); err == nil {
		t.Fatal("a WebSocket without a user")
	}
}

// TestEthGovernance: a network without a chain gets its genesis — funded
// accounts, links, the mode — by a proposal the members pass, and a
// later proposal changes the mode.
func TestEthGovernance(t *testing.T) {
	tn := start(t, 1)
	svcPEM, _ := os.ReadFile(filepath.Join(tn.dir, sandbox.ServiceCert))
	base := "https://" + tn.config(1).RPCAddr
	mc := client(t, tn.dir, "member0", svcPEM)
	memberID := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(tn.dir, name+"_cert.pem"))
		cert, _ := identity.ParseCert(b)
		return gov.MemberID(cert)
	}
	post := func(path string, body []byte) (int, map[string]any) {
		resp, err := mc.Post(base+path+"?wait=committed", "application/cose", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	pass := func(proposal string) {
		t.Helper()
		var code int
		var out map[string]any
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			code, out = post("/gov/members/proposals:create", signAs(t, tn.dir, "member0", gov.TypeProposal, "", []byte(proposal)))
			if code == 200 || time.Now().After(deadline) {
				break
			}
		}
		if code != 200 {
			t.Fatalf("propose: %d %v", code, out)
		}
		id := out["proposalId"].(string)
		yes := []byte(`{"ballot": "export function vote(proposal, proposerId) { return true }"}`)
		for _, m := range []string{"member0", "member1"} {
			code, out = post("/gov/members/proposals/"+id+"/ballots/"+memberID(m)+":submit", signAs(t, tn.dir, m, gov.TypeBallot, id, yes))
			if code != 200 {
				t.Fatalf("vote: %d %v", code, out)
			}
		}
		if out["proposalState"] != "Accepted" {
			t.Fatalf("proposal %v", out)
		}
	}
	// Without a genesis the chain answers that it has none.
	uc := client(t, tn.dir, "user0", svcPEM)
	rc, err := rpc.DialOptions(context.Background(), base+jsonrpc.Path, rpc.WithHTTPClient(uc))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	c := ethclient.NewClient(rc)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, err := c.ChainID(context.Background())
		if err != nil && strings.Contains(err.Error(), "no chain") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("before the genesis: %v", err)
		}
	}
	key, _ := crypto.GenerateKey()
	addr := crypto.PubkeyToAddress(key.PublicKey)
	user0 := userID(t, tn.dir, "user0")
	// An invalid genesis does not pass validation.
	code, out := post("/gov/members/proposals:create", signAs(t, tn.dir, "member0", gov.TypeProposal, "",
		[]byte(`{"actions": [{"name": "set_eth_genesis", "args": {"alloc": {"0x12": "1"}}}]}`)))
	if code == 200 {
		t.Fatalf("a bad genesis was proposed: %v", out)
	}
	pass(fmt.Sprintf(`{"actions": [{"name": "set_eth_genesis", "args": {"chain_id": 4242, "mode": "public", "base_fee": 7, "alloc": {%q: "5000000000000000000"}, "links": {%q: %q}}}]}`,
		addr.Hex(), addr.Hex(), user0))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		id, err := c.ChainID(context.Background())
		if err == nil && id.Uint64() == 4242 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the genesis: %v %v", id, err)
		}
	}
	if b, err := c.BalanceAt(context.Background(), addr, nil); err != nil || b.String() != "5000000000000000000" {
		t.Fatal(b, err)
	}
	if p, err := c.SuggestGasPrice(context.Background()); err != nil || p.Int64() != 7 {
		t.Fatal(p, err)
	}
	// Public: anyone's balance; then private: only one's own.
	other := common.HexToAddress("0x00000000000000000000000000000000000000cc")
	if _, err := c.BalanceAt(context.Background(), other, nil); err != nil {
		t.Fatal(err)
	}
	pass(`{"actions": [{"name": "set_eth_config", "args": {"mode": "private"}}]}`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, err := c.BalanceAt(context.Background(), other, nil)
		if err != nil && strings.Contains(err.Error(), "private mode") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the mode change: %v", err)
		}
	}
	if _, err := c.BalanceAt(context.Background(), addr, nil); err != nil {
		t.Fatal("its own balance, linked at genesis:", err)
	}
	// A second genesis passes as a proposal but does not apply.
	pass(`{"actions": [{"name": "set_eth_genesis", "args": {"alloc": {}}}]}`)
	time.Sleep(200 * time.Millisecond)
	if id, err := c.ChainID(context.Background()); err != nil || id.Uint64() != 4242 {
		t.Fatal(id, err)
	}
}

func userID(t *testing.T, dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name+"_cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := identity.ParseCert(b)
	if err != nil {
		t.Fatal(err)
	}
	return app.UserID(cert)
}

// TestEthStepDown: transactions the primary held for an earlier nonce
// are dropped when it stops being primary; their sender's receipt query
// there says so, and elsewhere they are unknown.
func TestEthStepDown(t *testing.T) {
	en := startEth(t, 3, false)
	ctx := context.Background()
	primary := func() uint64 {
		for id, r := range en.running {
			p := false
			r.Node.With(func(c *node.Core) { p = c.IsPrimary() })
			if p {
				return id
			}
		}
		return 0
	}
	var old uint64
	for deadline := time.Now().Add(10 * time.Second); old == 0; time.Sleep(10 * time.Millisecond) {
		if old = primary(); old == 0 && time.Now().After(deadline) {
			t.Fatal("no primary")
		}
	}
	c := en.clients[old]
	payee := common.HexToAddress("0x00000000000000000000000000000000000000bb")
	held := en.send(t, c, 3, 1, &payee, big.NewInt(1), nil, 21000) // nonce 0 never comes
	next := old%3 + 1
	en.running[old].Node.With(func(c *node.Core) { c.TransferLeader(next) })
	said := ""
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(said, "stopped being primary"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the held transaction's receipt on the old primary: %q (primary now %d)", said, primary())
		}
		if _, err := c.TransactionReceipt(ctx, held.Hash()); err != nil {
			said = err.Error()
		}
	}
	if !strings.Contains(said, "send it again") {
		t.Fatalf("the reason says what to do: %q", said)
	}
	// Elsewhere: unknown, and the pending nonce is the committed one.
	nc := en.clients[next]
	if _, _, err := nc.TransactionByHash(ctx, held.Hash()); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("the dropped transaction on node %d: %v", next, err)
	}
	if n, err := nc.PendingNonceAt(ctx, en.addr(3)); err != nil || n != 0 {
		t.Fatalf("pending nonce %d %v", n, err)
	}
}
