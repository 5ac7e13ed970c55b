package eth

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/holiman/uint256"
)

// Maps beside the state (all private but the configuration).
const (
	// MapConfig holds the chain's Config under key "config" (JSON),
	// set at genesis and by governance.
	MapConfig = "public:eth.config"
	// MapTxs: key the transaction hash, value a txRecord (RLP): the
	// signed transaction, its block and index, and its receipt.
	MapTxs = "eth.txs"
	// MapBlocks: key the block number (8 bytes, big-endian), value a
	// blockRecord (RLP).
	MapBlocks = "eth.blocks"
	// MapBlockHashes: key the block hash, value its number.
	MapBlockHashes = "eth.block_hashes"
	// MapBlockTxs: key number ‖ index (16 bytes), value the hash of the
	// block's transaction at that index.
	MapBlockTxs = "eth.block_txs"
	// MapHead: key "open", the block being filled (an openBlock, RLP).
	MapHead = "eth.head"
)

// Maps are every map the Ethereum app writes.
var Maps = []string{MapConfig, MapAccounts, MapStorage, MapCode, MapTxs, MapBlocks, MapBlockHashes, MapBlockTxs, MapHead, MapLinks, MapUserAddresses}

// Modes.
const (
	Public  = "public"
	Private = "private"
)

// Config is the chain's configuration, governance's to change.
type Config struct {
	ChainID uint64 `json:"chain_id"`
	// Mode is "public" (every Reader sees everything) or "private".
	Mode string `json:"mode"`
	// BaseFee is fixed (wei per gas): there is no fee market.
	BaseFee uint64 `json:"base_fee"`
	// GasLimit is each block's.
	GasLimit uint64 `json:"gas_limit"`
}

// Defaults.
const (
	DefaultChainID  = 1337 // as geth --dev
	DefaultGasLimit = 30_000_000
	DefaultBaseFee  = params.GWei
)

func (c *Config) defaults() {
	if c.ChainID == 0 {
		c.ChainID = DefaultChainID
	}
	if c.Mode == "" {
		c.Mode = Private
	}
	if c.GasLimit == 0 {
		c.GasLimit = DefaultGasLimit
	}
}

// Validate checks a configuration.
func (c *Config) Validate() error {
	if c.Mode != Public && c.Mode != Private {
		return fmt.Errorf("eth: mode %q (public or private)", c.Mode)
	}
	if c.GasLimit < params.TxGas {
		return fmt.Errorf("eth: a block gas limit of %d is below one transfer", c.GasLimit)
	}
	return nil
}

// ReadConfig reads the chain's configuration; ok is false when the
// chain has no genesis yet.
func ReadConfig(r Reader) (Config, bool) {
	var c Config
	b, ok := r.Get(MapConfig, []byte("config"))
	if !ok || json.Unmarshal(b, &c) != nil {
		return c, false
	}
	return c, true
}

// ChainConfig is go-ethereum's view: every fork geth --dev runs, from
// genesis, with the ledger's chain ID.
func (c Config) ChainConfig() *params.ChainConfig {
	cc := *params.AllDevChainProtocolChanges
	cc.ChainID = new(big.Int).SetUint64(c.ChainID)
	return &cc
}

// Genesis is a new chain: its configuration and funded accounts.
type Genesis struct {
	Config Config                      `json:"config"`
	Alloc  map[common.Address]*big.Int `json:"alloc"`
	// Time is block 0's timestamp (seconds).
	Time uint64 `json:"timestamp"`
	// Links link addresses to ledger users (user IDs) from the start.
	Links map[common.Address]string `json:"links,omitempty"`
}

// blockRecord is a MapBlocks value.
type blockRecord struct {
	Header []byte // RLP of the types.Header
	Count  uint64 // transactions
	// Seqno is the ledger transaction that closed the block: the block
	// is final once that is committed.
	Seqno uint64
}

// openBlock is the block transactions currently join.
type openBlock struct {
	Number  uint64
	Time    uint64
	Started uint64 // unix milliseconds: blocks close after an interval
	Parent  common.Hash
	Root    common.Hash // the parent's state root
	Acc     common.Hash // the chained state digests of its transactions
	GasUsed uint64
	Count   uint64
	Logs    uint64 // logs so far: the next log's index in the block
	// Idle: unix milliseconds at which the block before, which held
	// transactions, closed; 0 once a trailing empty block has followed.
	Idle uint64 `rlp:"optional"`
}

// txRecord is a MapTxs value.
type txRecord struct {
	Raw      []byte
	From     common.Address
	Block    uint64
	Index    uint64
	Status   uint64
	CumGas   uint64
	GasUsed  uint64
	Contract common.Address
	Logs     []*types.Log
	Price    *big.Int // effective gas price
	LedgerTx string
	LogBase  uint64 // the block-wide index of its first log
}

func u64key(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func blockTxKey(n, i uint64) []byte { return binary.BigEndian.AppendUint64(u64key(n), i) }

// WriteGenesis starts a chain: its configuration, the funded accounts
// and block 0, in the ledger transaction seqno. It fails on a chain
// that has one.
func WriteGenesis(w Writer, g Genesis, seqno uint64) error {
	if _, ok := ReadConfig(w); ok {
		return errors.New("eth: the chain has a genesis already")
	}
	g.Config.defaults()
	if err := g.Config.Validate(); err != nil {
		return err
	}
	cb, _ := json.Marshal(g.Config)
	w.Put(MapConfig, []byte("config"), cb)
	s := NewStateDB(w)
	for a, v := range g.Alloc {
		bal, overflow := uint256.FromBig(v)
		if overflow || v.Sign() < 0 {
			return fmt.Errorf("eth: genesis balance of %s out of range", a)
		}
		s.AddBalance(a, bal, 0)
	}
	root := crypto.Keccak256Hash([]byte("confide eth genesis"), s.Commit(w).Bytes())
	for a, u := range g.Links {
		if err := Link(w, a, u); err != nil {
			return err
		}
	}
	h := &types.Header{ParentHash: common.Hash{}, UncleHash: types.EmptyUncleHash, Root: root,
		TxHash: types.EmptyTxsHash, ReceiptHash: types.EmptyReceiptsHash, Difficulty: new(big.Int),
		Number: new(big.Int), GasLimit: g.Config.GasLimit, Time: g.Time, BaseFee: new(big.Int).SetUint64(g.Config.BaseFee)}
	writeBlock(w, h, 0, seqno)
	return writeOpen(w, &openBlock{Number: 1, Parent: h.Hash(), Root: root, Time: g.Time})
}

func writeBlock(w Writer, h *types.Header, count, seqno uint64) {
	hb, _ := rlp.EncodeToBytes(h)
	rec, _ := rlp.EncodeToBytes(&blockRecord{Header: hb, Count: count, Seqno: seqno})
	w.Put(MapBlocks, u64key(h.Number.Uint64()), rec)
	hash := h.Hash()
	w.Put(MapBlockHashes, hash[:], u64key(h.Number.Uint64()))
}

func writeOpen(w Writer, o *openBlock) error {
	b, err := rlp.EncodeToBytes(o)
	if err != nil {
		return err
	}
	w.Put(MapHead, []byte("open"), b)
	return nil
}

func readOpen(r Reader) (*openBlock, error) {
	b, ok := r.Get(MapHead, []byte("open"))
	if !ok {
		return nil, ErrNoChain
	}
	var o openBlock
	if err := rlp.DecodeBytes(b, &o); err != nil {
		return nil, fmt.Errorf("eth: the open block record: %w", err)
	}
	return &o, nil
}

// ErrNoChain: the ledger has no Ethereum genesis.
var ErrNoChain = errors.New("eth: no chain: the network has no Ethereum genesis (confide ledger sandbox --eth, or governance's set_eth_genesis)")

// Block is a stored block.
type Block struct {
	Header *types.Header
	Count  uint64
	Seqno  uint64
}

// ReadBlock reads block n.
func ReadBlock(r Reader, n uint64) (*Block, bool) {
	b, ok := r.Get(MapBlocks, u64key(n))
	if !ok {
		return nil, false
	}
	var rec blockRecord
	var h types.Header
	if rlp.DecodeBytes(b, &rec) != nil || rlp.DecodeBytes(rec.Header, &h) != nil {
		return nil, false
	}
	return &Block{Header: &h, Count: rec.Count, Seqno: rec.Seqno}, true
}

// BlockNumber finds a block by hash.
func BlockNumber(r Reader, h common.Hash) (uint64, bool) {
	b, ok := r.Get(MapBlockHashes, h[:])
	if !ok || len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// BlockTxs are the hashes of block n's transactions.
func BlockTxs(r Reader, n, count uint64) []common.Hash {
	out := make([]common.Hash, 0, count)
	for i := range count {
		b, _ := r.Get(MapBlockTxs, blockTxKey(n, i))
		out = append(out, common.BytesToHash(b))
	}
	return out
}

// Tx is a stored transaction with its receipt.
type Tx struct {
	Tx      *types.Transaction
	Receipt *types.Receipt
	From    common.Address
	// LedgerTx is the ledger transaction that executed it.
	LedgerTx string
}

// ReadTx reads a transaction by hash; the receipt's block hash is
// filled in only for a closed block.
func ReadTx(r Reader, h common.Hash) (*Tx, bool) {
	b, ok := r.Get(MapTxs, h[:])
	if !ok {
		return nil, false
	}
	var rec txRecord
	if err := rlp.DecodeBytes(b, &rec); err != nil {
		return nil, false
	}
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(rec.Raw); err != nil {
		return nil, false
	}
	rc := &types.Receipt{Type: tx.Type(), Status: rec.Status, CumulativeGasUsed: rec.CumGas, Logs: rec.Logs,
		TxHash: h, ContractAddress: rec.Contract, GasUsed: rec.GasUsed, EffectiveGasPrice: rec.Price,
		BlockNumber: new(big.Int).SetUint64(rec.Block), TransactionIndex: uint(rec.Index)}
	if blk, ok := ReadBlock(r, rec.Block); ok {
		rc.BlockHash = blk.Header.Hash()
	}
	for i, l := range rc.Logs {
		l.BlockNumber, l.TxHash, l.TxIndex, l.BlockHash = rec.Block, h, uint(rec.Index), rc.BlockHash
		l.Index = uint(rec.LogBase) + uint(i)
	}
	rc.Bloom = types.CreateBloom(rc)
	return &Tx{Tx: tx, Receipt: rc, From: rec.From, LedgerTx: rec.LedgerTx}, true
}

// Error is an error a JSON-RPC client sees with its code (and data).
type Error struct {
	Code int
	Msg  string
	Data any
	Err  error // what it wraps, for errors.Is (core.ErrNonceTooHigh…)
}

func (e *Error) Error() string  { return e.Msg }
func (e *Error) Unwrap() error  { return e.Err }
func (e *Error) ErrorCode() int { return e.Code }
func (e *Error) ErrorData() any { return e.Data }

// JSON-RPC codes as geth answers them.
const (
	CodeInvalidInput  = -32000
	CodeInvalidParams = -32602
	CodeRevert        = 3
)

func invalid(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidInput, Msg: fmt.Sprintf(format, args...)}
}

func wrap(err error) *Error { return &Error{Code: CodeInvalidInput, Msg: err.Error(), Err: err} }

// Decode parses and checks a raw signed transaction against the chain:
// its type, chain ID and signature. It reads no state.
func Decode(cfg Config, raw []byte) (*types.Transaction, common.Address, error) {
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(raw); err != nil {
		return nil, common.Address{}, &Error{Code: CodeInvalidParams, Msg: "rlp: " + err.Error()}
	}
	switch tx.Type() {
	case types.BlobTxType:
		return nil, common.Address{}, invalid("blob transactions are not supported: the ledger has no blobs")
	case types.LegacyTxType:
		if !tx.Protected() {
			return nil, common.Address{}, invalid("only replay-protected (EIP-155) transactions allowed")
		}
	}
	if tx.ChainId().Cmp(new(big.Int).SetUint64(cfg.ChainID)) != 0 {
		return nil, common.Address{}, invalid("invalid chain id: have %v, want %d", tx.ChainId(), cfg.ChainID)
	}
	from, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx)
	if err != nil {
		return nil, common.Address{}, invalid("invalid sender: %v", err)
	}
	if tx.Gas() > cfg.GasLimit {
		return nil, common.Address{}, invalid("exceeds block gas limit: gas %d, limit %d", tx.Gas(), cfg.GasLimit)
	}
	return tx, from, nil
}

// blockContext is the EVM's view of the open block.
func blockContext(r Reader, cfg Config, o *openBlock) vm.BlockContext {
	random := common.Hash{}
	return vm.BlockContext{
		CanTransfer: core.CanTransfer,
		Transfer:    core.Transfer,
		GetHash: func(n uint64) common.Hash {
			if b, ok := ReadBlock(r, n); ok {
				return b.Header.Hash()
			}
			return common.Hash{}
		},
		Coinbase:    common.Address{},
		GasLimit:    cfg.GasLimit,
		BlockNumber: new(big.Int).SetUint64(o.Number),
		Time:        o.Time,
		Difficulty:  new(big.Int),
		BaseFee:     new(big.Int).SetUint64(cfg.BaseFee),
		BlobBaseFee: big.NewInt(1),
		Random:      &random,
	}
}

// Result is an executed transaction.
type Result struct {
	Hash    common.Hash
	Block   uint64
	Index   uint64
	Status  uint64
	GasUsed uint64
}

// ErrCloseFirst: the open block must close (Close) before the
// transaction can join the next.
var ErrCloseFirst = errors.New("eth: the open block must close first")

// Apply executes a signed transaction in the open block: it closes the
// block first if the transaction would pass its gas limit or the block
// is older than interval, runs the EVM, and writes the state, the
// transaction and its receipt. A transaction that cannot be included
// (nonce, funds, fee cap…) returns an error and writes nothing; one that
// runs and fails (REVERT, out of gas) is included with status 0.
//
// user is the ledger user sending it: in the private mode the sender's
// address must be linked to it.
func Apply(w Writer, tx *types.Transaction, from common.Address, user string, now time.Time, interval time.Duration, seqno uint64, ledgerTx string) (*Result, error) {
	cfg, ok := ReadConfig(w)
	if !ok {
		return nil, ErrNoChain
	}
	if err := CheckSender(w, cfg, from, user); err != nil {
		return nil, err
	}
	if _, ok := w.Get(MapTxs, tx.Hash().Bytes()); ok {
		return nil, invalid("already known")
	}
	o, err := readOpen(w)
	if err != nil {
		return nil, err
	}
	res := &Result{Hash: tx.Hash()}
	ms := uint64(now.UnixMilli())
	if o.Count > 0 && (o.GasUsed+tx.Gas() > cfg.GasLimit || ms >= o.Started+uint64(interval.Milliseconds())) {
		// The block closes in a ledger transaction of its own, so that
		// each block's state is the state after one seqno.
		return nil, ErrCloseFirst
	}
	if o.Count == 0 {
		o.Started = ms
		if t := uint64(now.Unix()); t > o.Time {
			o.Time = t
		}
	}
	st := NewStateDB(w)
	evm := vm.NewEVM(blockContext(w, cfg, o), st, cfg.ChainConfig(), vm.Config{})
	signer := types.LatestSignerForChainID(tx.ChainId())
	msg, err := core.TransactionToMessage(tx, signer, new(big.Int).SetUint64(cfg.BaseFee))
	if err != nil {
		return nil, wrap(err)
	}
	st.SetTxContext(tx.Hash(), int(o.Count), 0)
	gp := core.NewGasPool(cfg.GasLimit - o.GasUsed)
	out, err := core.ApplyMessage(evm, msg, gp)
	if err != nil {
		return nil, wrap(err)
	}
	digest := st.Commit(w)
	o.Acc = crypto.Keccak256Hash(o.Acc[:], tx.Hash().Bytes(), digest[:])
	o.GasUsed += out.UsedGas
	rec := &txRecord{Raw: mustBinary(tx), From: from, Block: o.Number, Index: o.Count, Status: types.ReceiptStatusSuccessful,
		CumGas: o.GasUsed, GasUsed: out.UsedGas, Logs: st.Logs(), LedgerTx: ledgerTx,
		Price: effectivePrice(tx, cfg.BaseFee), LogBase: o.Logs}
	if out.Failed() {
		rec.Status = types.ReceiptStatusFailed
	}
	if tx.To() == nil {
		rec.Contract = crypto.CreateAddress(from, tx.Nonce())
	}
	if rec.Logs == nil {
		rec.Logs = []*types.Log{}
	}
	b, err := rlp.EncodeToBytes(rec)
	if err != nil {
		return nil, err
	}
	w.Put(MapTxs, tx.Hash().Bytes(), b)
	w.Put(MapBlockTxs, blockTxKey(o.Number, o.Count), tx.Hash().Bytes())
	res.Block, res.Index, res.Status, res.GasUsed = o.Number, o.Count, rec.Status, out.UsedGas
	o.Count++
	o.Logs += uint64(len(rec.Logs))
	return res, writeOpen(w, o)
}

func mustBinary(tx *types.Transaction) []byte {
	b, err := tx.MarshalBinary()
	if err != nil {
		panic(err) // a decoded transaction re-encodes
	}
	return b
}

func effectivePrice(tx *types.Transaction, baseFee uint64) *big.Int {
	bf := new(big.Int).SetUint64(baseFee)
	tip := tx.EffectiveGasTipValue(bf)
	if tip.Sign() < 0 {
		tip.SetInt64(0)
	}
	return tip.Add(tip, bf)
}

// TrailAfter is how long after a block with transactions, when none
// has come since, an empty block closes. Clients that wait for a
// receipt by watching for new blocks (ethers' tx.wait) read the receipt
// on each new block; one that saw no receipt just before the block with
// its transaction closed, and then took that block as its starting
// point, would otherwise wait until the next transaction from anyone.
// geth --dev --dev.period and Besu's empty-block period serve the same
// purpose, at one block per period for ever; one trailing block per
// burst is enough here.
const TrailAfter = time.Second

// CloseDue closes the open block if it holds transactions and is older
// than interval (any age with interval 0), or if it is empty and a
// trailing block is due (TrailAfter); it returns the closed header, or
// nil. seqno is the ledger transaction's.
func CloseDue(w Writer, now time.Time, interval time.Duration, seqno uint64) (*types.Header, error) {
	cfg, ok := ReadConfig(w)
	if !ok {
		return nil, nil
	}
	o, err := readOpen(w)
	if err != nil {
		return nil, err
	}
	ms := uint64(now.UnixMilli())
	if o.Count == 0 && (o.Idle == 0 || ms < o.Idle+uint64(TrailAfter.Milliseconds())) ||
		o.Count > 0 && interval > 0 && ms < o.Started+uint64(interval.Milliseconds()) {
		return nil, nil
	}
	if t := uint64(now.Unix()); o.Count == 0 && t > o.Time {
		o.Time = t
	}
	h, next, err := closeBlock(w, cfg, o, seqno)
	if err != nil {
		return nil, err
	}
	if o.Count > 0 {
		next.Idle = ms
	}
	return h, writeOpen(w, next)
}

// closeBlock writes the open block's header and returns the next open
// block.
func closeBlock(w Writer, cfg Config, o *openBlock, seqno uint64) (*types.Header, *openBlock, error) {
	txs := make(types.Transactions, 0, o.Count)
	rcs := make(types.Receipts, 0, o.Count)
	for _, h := range BlockTxs(w, o.Number, o.Count) {
		t, ok := ReadTx(w, h)
		if !ok {
			return nil, nil, fmt.Errorf("eth: block %d lost transaction %s", o.Number, h)
		}
		txs = append(txs, t.Tx)
		rcs = append(rcs, t.Receipt)
	}
	if o.Count > 0 {
		// An empty block changes no state: it keeps its parent's root.
		o.Root = crypto.Keccak256Hash(o.Root[:], o.Acc[:])
	}
	h := &types.Header{ParentHash: o.Parent, UncleHash: types.EmptyUncleHash,
		Root:   o.Root,
		TxHash: types.DeriveSha(txs, trie.NewStackTrie(nil)), ReceiptHash: types.DeriveSha(rcs, trie.NewStackTrie(nil)),
		Difficulty: new(big.Int), Number: new(big.Int).SetUint64(o.Number), GasLimit: cfg.GasLimit, GasUsed: o.GasUsed,
		Time: o.Time, BaseFee: new(big.Int).SetUint64(cfg.BaseFee)}
	if cfg.Mode == Public {
		// In private mode the bloom would tell who was paid.
		h.Bloom = types.MergeBloom(rcs)
	}
	writeBlock(w, h, o.Count, seqno)
	return h, &openBlock{Number: o.Number + 1, Parent: h.Hash(), Root: h.Root, Time: o.Time}, nil
}

// HistoryMaps are the maps whose earlier values nodes keep, so that
// state can be read at a recent block (kv.Store.KeepHistory).
var HistoryMaps = []string{MapAccounts, MapStorage, MapCode}

// HistoryBlocks is how many blocks back state stays readable.
const HistoryBlocks = 10_000

// Historian is a store that keeps history.
type Historian interface {
	Reader
	GetAt(m string, k []byte, seqno uint64) ([]byte, bool, error)
	HistoryFloor() (uint64, bool)
}

// At is the state after ledger seqno: the history maps as they were
// then, the others (immutable records) as they are.
type At struct {
	S     Historian
	Seqno uint64
}

// Get reads a key; a read below the history kept (checked with
// StateAt before) finds nothing.
func (a At) Get(m string, k []byte) ([]byte, bool) {
	for _, h := range HistoryMaps {
		if m == h {
			v, ok, err := a.S.GetAt(m, k, a.Seqno)
			if err != nil {
				return nil, false
			}
			return v, ok
		}
	}
	return a.S.Get(m, k)
}

// StateAt is the state after block n, if this store still keeps it.
func StateAt(s Historian, n uint64) (Reader, error) {
	b, ok := ReadBlock(s, n)
	if !ok {
		return nil, fmt.Errorf("eth: block %d is unknown", n)
	}
	if floor, ok := s.HistoryFloor(); !ok || b.Seqno < floor {
		return nil, invalid("state at block %d is no longer kept by this node (it keeps the last %d blocks since it started)", n, HistoryBlocks)
	}
	return At{S: s, Seqno: b.Seqno}, nil
}

// ConfigChange is a governance change of the configuration: the fields
// set replace the current ones.
type ConfigChange struct {
	Mode     *string `json:"mode"`
	BaseFee  *uint64 `json:"base_fee"`
	GasLimit *uint64 `json:"gas_limit"`
}

// ChangeConfig applies a configuration change.
func ChangeConfig(w Writer, ch ConfigChange) error {
	cfg, ok := ReadConfig(w)
	if !ok {
		return ErrNoChain
	}
	if ch.Mode != nil {
		cfg.Mode = *ch.Mode
	}
	if ch.BaseFee != nil {
		cfg.BaseFee = *ch.BaseFee
	}
	if ch.GasLimit != nil {
		cfg.GasLimit = *ch.GasLimit
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	b, _ := json.Marshal(cfg)
	w.Put(MapConfig, []byte("config"), b)
	return nil
}
