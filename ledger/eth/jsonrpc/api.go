package jsonrpc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/confide/confide/ledger/eth"
)

// ClientVersion is web3_clientVersion's answer.
const ClientVersion = "confide/ledger-eth/go-ethereum-evm-v1.17.10"

type web3API struct{}

func (web3API) ClientVersion() string { return ClientVersion }

func (web3API) Sha3(b hexutil.Bytes) hexutil.Bytes { return crypto.Keccak256(b) }

type netAPI struct{ a *App }

func (n *netAPI) Version() (string, error) {
	cfg, err := n.a.config()
	if err != nil {
		return "", err
	}
	return strconv.FormatUint(cfg.ChainID, 10), nil
}

func (n *netAPI) Listening() bool { return true }

func (n *netAPI) PeerCount() hexutil.Uint { return 0 }

func (a *App) config() (eth.Config, error) {
	cfg, ok := eth.ReadConfig(a.store())
	if !ok {
		return cfg, eth.ErrNoChain
	}
	return cfg, nil
}

type ethAPI struct {
	a     *App
	fixed string // the user of a WebSocket connection
}

// user is the caller's user ID: from the HTTP request's context, or the
// connection's for a WebSocket (whose calls run on the connection's
// context, not the upgrade request's).
func (e *ethAPI) user(ctx context.Context) string {
	if e.fixed != "" {
		return e.fixed
	}
	return userOf(ctx).ID
}

func (e *ethAPI) ChainId() (hexutil.Uint64, error) {
	cfg, err := e.a.config()
	return hexutil.Uint64(cfg.ChainID), err
}

func (e *ethAPI) BlockNumber() (hexutil.Uint64, error) {
	if _, err := e.a.config(); err != nil {
		return 0, err
	}
	return hexutil.Uint64(e.a.Head()), nil
}

func (e *ethAPI) Syncing() bool { return false }

// Accounts: the node holds no keys (wallets sign).
func (e *ethAPI) Accounts() []common.Address { return []common.Address{} }

func (e *ethAPI) GasPrice() (*hexutil.Big, error) {
	cfg, err := e.a.config()
	return (*hexutil.Big)(new(big.Int).SetUint64(cfg.BaseFee)), err
}

// MaxPriorityFeePerGas is 0: there is no fee market, and tips buy
// nothing (spec/ledger-eth.md).
func (e *ethAPI) MaxPriorityFeePerGas() *hexutil.Big { return (*hexutil.Big)(new(big.Int)) }

type feeHistory struct {
	OldestBlock      *hexutil.Big     `json:"oldestBlock"`
	Reward           [][]*hexutil.Big `json:"reward,omitempty"`
	BaseFee          []*hexutil.Big   `json:"baseFeePerGas,omitempty"`
	GasUsedRatio     []float64        `json:"gasUsedRatio"`
	BlobBaseFee      []*hexutil.Big   `json:"baseFeePerBlobGas,omitempty"`
	BlobGasUsedRatio []float64        `json:"blobGasUsedRatio,omitempty"`
}

// FeeHistory reports the fixed base fee truthfully, with zero rewards.
func (e *ethAPI) FeeHistory(count math.HexOrDecimal64, last gethrpc.BlockNumber, percentiles []float64) (*feeHistory, error) {
	if _, err := e.a.config(); err != nil {
		return nil, err
	}
	if count > 1024 {
		count = 1024
	}
	newest, err := e.a.number(last)
	if err != nil {
		return nil, err
	}
	if uint64(count) > newest+1 {
		count = math.HexOrDecimal64(newest + 1)
	}
	out := &feeHistory{OldestBlock: (*hexutil.Big)(new(big.Int).SetUint64(newest + 1 - uint64(count)))}
	for n := newest + 1 - uint64(count); n <= newest && count > 0; n++ {
		b, ok := eth.ReadBlock(e.a.store(), n)
		if !ok {
			return nil, fmt.Errorf("block %d is missing", n)
		}
		out.BaseFee = append(out.BaseFee, (*hexutil.Big)(b.Header.BaseFee))
		out.GasUsedRatio = append(out.GasUsedRatio, float64(b.Header.GasUsed)/float64(b.Header.GasLimit))
		if len(percentiles) > 0 {
			r := make([]*hexutil.Big, len(percentiles))
			for i := range r {
				r[i] = (*hexutil.Big)(new(big.Int))
			}
			out.Reward = append(out.Reward, r)
		}
	}
	if count > 0 {
		// The next block's base fee, as geth appends it.
		out.BaseFee = append(out.BaseFee, out.BaseFee[len(out.BaseFee)-1])
	}
	return out, nil
}

// number resolves a block tag to a committed block number.
func (a *App) number(n gethrpc.BlockNumber) (uint64, error) {
	head := a.Head()
	switch n {
	case gethrpc.LatestBlockNumber, gethrpc.PendingBlockNumber, gethrpc.SafeBlockNumber, gethrpc.FinalizedBlockNumber:
		return head, nil // finality is commit
	case gethrpc.EarliestBlockNumber:
		return 0, nil
	}
	if n < 0 || uint64(n) > head {
		return 0, errUnknownBlock
	}
	return uint64(n), nil
}

var errUnknownBlock = errors.New("header not found")

// stateAt is the state at a block: pending is this node's latest state
// (on the primary, every accepted transaction); latest and numbers are
// committed blocks, kept for eth.HistoryBlocks blocks.
func (a *App) stateAt(bnh *gethrpc.BlockNumberOrHash) (eth.Reader, error) {
	if _, err := a.config(); err != nil {
		return nil, err
	}
	if bnh == nil {
		latest := gethrpc.BlockNumberOrHashWithNumber(gethrpc.LatestBlockNumber)
		bnh = &latest
	}
	var n uint64
	if h, ok := bnh.Hash(); ok {
		num, ok := eth.BlockNumber(a.store(), h)
		if !ok || num > a.Head() {
			return nil, errUnknownBlock
		}
		n = num
	} else {
		bn, _ := bnh.Number()
		if bn == gethrpc.PendingBlockNumber {
			return a.store(), nil
		}
		num, err := a.number(bn)
		if err != nil {
			return nil, err
		}
		n = num
	}
	return eth.StateAt(a.store(), n)
}

func (e *ethAPI) GetBalance(ctx context.Context, addr common.Address, at gethrpc.BlockNumberOrHash) (*hexutil.Big, error) {
	r, err := e.a.stateAt(&at)
	if err != nil {
		return nil, err
	}
	if v, err := e.a.view(e.user(ctx)); err != nil || !v.owns(addr) {
		if err == nil {
			err = v.refuseAddr("balance", addr)
		}
		return nil, err
	}
	return (*hexutil.Big)(eth.Balance(r, addr)), nil
}

func (e *ethAPI) GetTransactionCount(ctx context.Context, addr common.Address, at gethrpc.BlockNumberOrHash) (hexutil.Uint64, error) {
	if v, err := e.a.view(e.user(ctx)); err != nil || !v.owns(addr) {
		if err == nil {
			err = v.refuseAddr("nonce", addr)
		}
		return 0, err
	}
	if n, ok := at.Number(); ok && n == gethrpc.PendingBlockNumber && !e.a.isPrimary() {
		// Only the primary knows what it accepted.
		raw, err := e.a.forward(ctx, e.user(ctx), "eth_getTransactionCount", addr, "pending")
		if err != nil {
			return 0, err
		}
		var out hexutil.Uint64
		return out, json.Unmarshal(raw, &out)
	}
	r, err := e.a.stateAt(&at)
	if err != nil {
		return 0, err
	}
	return hexutil.Uint64(eth.Nonce(r, addr)), nil
}

func (e *ethAPI) GetCode(ctx context.Context, addr common.Address, at gethrpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	r, err := e.a.stateAt(&at)
	if err != nil {
		return nil, err
	}
	return eth.Code(r, addr), nil
}

func (e *ethAPI) GetStorageAt(ctx context.Context, addr common.Address, slot string, at gethrpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	r, err := e.a.stateAt(&at)
	if err != nil {
		return nil, err
	}
	if v, err := e.a.view(e.user(ctx)); err != nil || !v.all {
		if err == nil {
			err = &eth.Error{Code: eth.CodeInvalidInput, Msg: "private mode: eth_getStorageAt is refused; contracts decide what each party reads, through eth_call"}
		}
		return nil, err
	}
	digits, ok := strings.CutPrefix(slot, "0x")
	if !ok {
		digits, ok = strings.CutPrefix(slot, "0X")
	}
	if len(digits)%2 == 1 {
		digits = "0" + digits
	}
	k, err := hex.DecodeString(digits)
	if !ok || err != nil || len(k) > 32 {
		return nil, &eth.Error{Code: eth.CodeInvalidParams, Msg: "invalid storage slot " + strconv.Quote(slot)}
	}
	v := eth.Storage(r, addr, common.BytesToHash(k))
	return v[:], nil
}

func (e *ethAPI) Call(ctx context.Context, args eth.CallArgs, at *gethrpc.BlockNumberOrHash, _ *json.RawMessage) (hexutil.Bytes, error) {
	r, err := e.a.stateAt(at)
	if err != nil {
		return nil, err
	}
	v, err := e.a.view(e.user(ctx))
	if err != nil {
		return nil, err
	}
	if err := e.a.from(v, &args); err != nil {
		return nil, err
	}
	res, err := eth.Call(r, args)
	if err != nil {
		return nil, err
	}
	if errors.Is(res.Err, vm.ErrExecutionReverted) {
		return nil, eth.RevertError(res)
	}
	if res.Err != nil {
		return nil, &eth.Error{Code: eth.CodeInvalidInput, Msg: res.Err.Error()}
	}
	return res.Return(), nil
}

func (e *ethAPI) EstimateGas(ctx context.Context, args eth.CallArgs, at *gethrpc.BlockNumberOrHash, _ *json.RawMessage) (hexutil.Uint64, error) {
	r, err := e.a.stateAt(at)
	if err != nil {
		return 0, err
	}
	v, err := e.a.view(e.user(ctx))
	if err != nil {
		return 0, err
	}
	if err := e.a.from(v, &args); err != nil {
		return 0, err
	}
	g, err := eth.EstimateGas(r, args)
	return hexutil.Uint64(g), err
}

func (e *ethAPI) SendRawTransaction(ctx context.Context, raw hexutil.Bytes) (common.Hash, error) {
	cfg, err := e.a.config()
	if err != nil {
		return common.Hash{}, err
	}
	tx, from, err := eth.Decode(cfg, raw)
	if err != nil {
		return common.Hash{}, err
	}
	user := e.user(ctx)
	if err := eth.CheckSender(e.a.store(), cfg, from, user); err != nil {
		return common.Hash{}, err
	}
	if !e.a.isPrimary() {
		out, err := e.a.forward(ctx, e.user(ctx), "eth_sendRawTransaction", raw)
		if err != nil {
			return common.Hash{}, err
		}
		var h common.Hash
		return h, json.Unmarshal(out, &h)
	}
	return tx.Hash(), e.a.submit(ctx, tx, from, user)
}

func (e *ethAPI) GetTransactionByHash(ctx context.Context, h common.Hash) (map[string]any, error) {
	v, err := e.a.view(e.user(ctx))
	if err != nil {
		return nil, err
	}
	t, ok := eth.ReadTx(e.a.store(), h)
	if !ok {
		if held := e.a.isHeld(h, v.user); held != nil {
			return txJSON(held, nil, common.Address{}, false), nil
		}
		return nil, nil
	}
	if !v.sees(t) {
		return nil, refuseTx(h)
	}
	return txJSON(t.Tx, t.Receipt, t.From, e.a.mined(t)), nil
}

// mined: the transaction's block is closed and committed here.
func (a *App) mined(t *eth.Tx) bool {
	return t.Receipt.BlockNumber.Uint64() <= a.Head()
}

func (e *ethAPI) GetTransactionReceipt(ctx context.Context, h common.Hash) (map[string]any, error) {
	v, err := e.a.view(e.user(ctx))
	if err != nil {
		return nil, err
	}
	t, ok := eth.ReadTx(e.a.store(), h)
	if !ok {
		if why := e.a.whyDropped(h, v.user); why != "" {
			// A wallet waiting for this receipt stops and resends.
			return nil, &eth.Error{Code: eth.CodeInvalidInput, Msg: why}
		}
		return nil, nil
	}
	if !e.a.mined(t) {
		return nil, nil
	}
	if !v.sees(t) {
		return nil, refuseTx(h)
	}
	return receiptJSON(t), nil
}

func (e *ethAPI) GetBlockByNumber(ctx context.Context, n gethrpc.BlockNumber, full bool) (map[string]any, error) {
	num, err := e.a.number(n)
	if errors.Is(err, errUnknownBlock) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := e.a.view(e.user(ctx))
	if err != nil {
		return nil, err
	}
	return e.a.blockJSON(v, num, full)
}

func (e *ethAPI) GetBlockByHash(ctx context.Context, h common.Hash, full bool) (map[string]any, error) {
	n, ok := eth.BlockNumber(e.a.store(), h)
	if !ok || n > e.a.Head() {
		return nil, nil
	}
	v, err := e.a.view(e.user(ctx))
	if err != nil {
		return nil, err
	}
	return e.a.blockJSON(v, n, full)
}

func (e *ethAPI) GetBlockTransactionCountByNumber(n gethrpc.BlockNumber) (*hexutil.Uint, error) {
	num, err := e.a.number(n)
	if err != nil {
		return nil, nil
	}
	b, ok := eth.ReadBlock(e.a.store(), num)
	if !ok {
		return nil, nil
	}
	c := hexutil.Uint(b.Count)
	return &c, nil
}

func (e *ethAPI) GetBlockReceipts(ctx context.Context, at gethrpc.BlockNumberOrHash) ([]map[string]any, error) {
	var num uint64
	if h, ok := at.Hash(); ok {
		n, ok := eth.BlockNumber(e.a.store(), h)
		if !ok || n > e.a.Head() {
			return nil, nil
		}
		num = n
	} else {
		bn, _ := at.Number()
		n, err := e.a.number(bn)
		if err != nil {
			return nil, nil
		}
		num = n
	}
	b, ok := eth.ReadBlock(e.a.store(), num)
	if !ok {
		return nil, nil
	}
	v, err := e.a.view(e.user(ctx))
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, h := range eth.BlockTxs(e.a.store(), num, b.Count) {
		t, ok := eth.ReadTx(e.a.store(), h)
		if !ok {
			return nil, fmt.Errorf("block %d lost a transaction", num)
		}
		if !v.sees(t) {
			return nil, refuseBlock(num)
		}
		out = append(out, receiptJSON(t))
	}
	return out, nil
}

// blockJSON is a block as geth marshals it. In the private mode a full
// block goes only to a viewer entitled to every transaction in it
// (go-ethereum's client rejects a list that contradicts the header);
// hashes only are the viewer's own.
func (a *App) blockJSON(v *view, n uint64, full bool) (map[string]any, error) {
	b, ok := eth.ReadBlock(a.store(), n)
	if !ok {
		return nil, nil
	}
	out := headerJSON(b.Header)
	hashes := eth.BlockTxs(a.store(), n, b.Count)
	txs := make([]map[string]any, 0, len(hashes))
	own := make([]common.Hash, 0, len(hashes))
	for _, h := range hashes {
		if v.all && !full {
			own = append(own, h)
			continue
		}
		t, ok := eth.ReadTx(a.store(), h)
		if !ok {
			return nil, fmt.Errorf("block %d lost a transaction", n)
		}
		if !v.sees(t) {
			if full {
				return nil, refuseBlock(n)
			}
			continue
		}
		own = append(own, h)
		txs = append(txs, txJSON(t.Tx, t.Receipt, t.From, true))
	}
	if full {
		out["transactions"] = txs
	} else {
		out["transactions"] = own
	}
	return out, nil
}

// headerJSON is a header as geth's RPC marshals it.
func headerJSON(h *types.Header) map[string]any {
	rlpSize, _ := headerSize(h)
	return map[string]any{
		"number":           (*hexutil.Big)(h.Number),
		"hash":             h.Hash(),
		"parentHash":       h.ParentHash,
		"nonce":            h.Nonce,
		"mixHash":          h.MixDigest,
		"sha3Uncles":       h.UncleHash,
		"logsBloom":        h.Bloom,
		"stateRoot":        h.Root,
		"miner":            h.Coinbase,
		"difficulty":       (*hexutil.Big)(h.Difficulty),
		"totalDifficulty":  (*hexutil.Big)(new(big.Int)),
		"extraData":        hexutil.Bytes(h.Extra),
		"size":             hexutil.Uint64(rlpSize),
		"gasLimit":         hexutil.Uint64(h.GasLimit),
		"gasUsed":          hexutil.Uint64(h.GasUsed),
		"timestamp":        hexutil.Uint64(h.Time),
		"transactionsRoot": h.TxHash,
		"receiptsRoot":     h.ReceiptHash,
		"baseFeePerGas":    (*hexutil.Big)(h.BaseFee),
		"uncles":           []common.Hash{},
	}
}

func headerSize(h *types.Header) (uint64, error) {
	return uint64(h.Size()), nil
}

// txJSON is a transaction as geth's RPC marshals it; block fields are
// null until it is mined.
func txJSON(tx *types.Transaction, rc *types.Receipt, from common.Address, mined bool) map[string]any {
	b, _ := tx.MarshalJSON()
	var out map[string]any
	json.Unmarshal(b, &out)
	if rc == nil {
		signer := types.LatestSignerForChainID(tx.ChainId())
		from, _ = types.Sender(signer, tx)
	}
	out["from"] = from
	out["blockHash"], out["blockNumber"], out["transactionIndex"] = nil, nil, nil
	if mined && rc != nil {
		out["blockHash"] = rc.BlockHash
		out["blockNumber"] = (*hexutil.Big)(rc.BlockNumber)
		out["transactionIndex"] = hexutil.Uint64(rc.TransactionIndex)
		if tx.Type() != types.LegacyTxType && tx.Type() != types.AccessListTxType {
			out["gasPrice"] = (*hexutil.Big)(rc.EffectiveGasPrice)
		}
	}
	return out
}

// receiptJSON is a receipt as geth's RPC marshals it, with the ledger
// transaction that executed it.
func receiptJSON(t *eth.Tx) map[string]any {
	rc := t.Receipt
	logs := rc.Logs
	if logs == nil {
		logs = []*types.Log{}
	}

	out := map[string]any{
		"blockHash":           rc.BlockHash,
		"blockNumber":         (*hexutil.Big)(rc.BlockNumber),
		"transactionHash":     rc.TxHash,
		"transactionIndex":    hexutil.Uint64(rc.TransactionIndex),
		"from":                t.From,
		"to":                  t.Tx.To(),
		"gasUsed":             hexutil.Uint64(rc.GasUsed),
		"cumulativeGasUsed":   hexutil.Uint64(rc.CumulativeGasUsed),
		"contractAddress":     nil,
		"logs":                logs,
		"logsBloom":           rc.Bloom,
		"type":                hexutil.Uint(t.Tx.Type()),
		"effectiveGasPrice":   (*hexutil.Big)(rc.EffectiveGasPrice),
		"status":              hexutil.Uint(rc.Status),
		"ledgerTransactionId": t.LedgerTx,
	}
	if rc.ContractAddress != (common.Address{}) {
		out["contractAddress"] = rc.ContractAddress
	}
	return out
}
