package eth

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/trie"

	"github.com/confide/confide/ledger/kv"
)

// chain is a store with a genesis, applying transactions one ledger
// transaction each, as the primary does.
type chain struct {
	t     *testing.T
	s     *kv.Store
	seq   uint64
	keys  []*ecdsa.PrivateKey
	addrs []common.Address
	now   time.Time
	user  string
}

func newChain(t *testing.T, mode string) *chain {
	c := &chain{t: t, s: kv.New(), now: time.Unix(1_800_000_000, 0), user: "u0"}
	g := Genesis{Config: Config{Mode: mode, BaseFee: params.GWei}, Alloc: map[common.Address]*big.Int{}, Links: map[common.Address]string{}}
	for range 3 {
		k, _ := crypto.GenerateKey()
		c.keys = append(c.keys, k)
		a := crypto.PubkeyToAddress(k.PublicKey)
		c.addrs = append(c.addrs, a)
		g.Alloc[a] = new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether))
		g.Links[a] = "u0"
	}
	c.run(func(tx *kv.Tx) error { return WriteGenesis(tx, g, c.seq+1) })
	return c
}

func (c *chain) run(fn func(tx *kv.Tx) error) error {
	tx := c.s.Begin()
	if err := fn(tx); err != nil {
		return err
	}
	c.seq++
	if err := c.s.Apply(c.seq, [32]byte{byte(c.seq)}, tx.WriteSet()); err != nil {
		c.t.Fatal(err)
	}
	c.s.Commit(c.seq)
	return nil
}

func (c *chain) sign(from int, inner types.TxData) *types.Transaction {
	tx, err := types.SignNewTx(c.keys[from], types.LatestSignerForChainID(big.NewInt(DefaultChainID)), inner)
	if err != nil {
		c.t.Fatal(err)
	}
	return tx
}

func (c *chain) apply(tx *types.Transaction) (*Result, error) {
	cfg, _ := ReadConfig(c.s)
	raw, _ := tx.MarshalBinary()
	dec, from, err := Decode(cfg, raw)
	if err != nil {
		return nil, err
	}
	var res *Result
	err = c.run(func(w *kv.Tx) (err error) {
		res, err = Apply(w, dec, from, c.user, c.now, 50*time.Millisecond, c.seq+1, fmt.Sprintf("2.%d", c.seq+1))
		return err
	})
	if errors.Is(err, ErrCloseFirst) {
		c.run(func(w *kv.Tx) (err error) {
			_, err = CloseDue(w, c.now, 0, c.seq+1)
			return err
		})
		return c.apply(tx)
	}
	return res, err
}

func (c *chain) close() *types.Header {
	var h *types.Header
	c.now = c.now.Add(time.Second)
	c.run(func(w *kv.Tx) (err error) {
		h, err = CloseDue(w, c.now, 50*time.Millisecond, c.seq+1)
		return err
	})
	return h
}

func TestTransferAndBlock(t *testing.T) {
	c := newChain(t, Public)
	to := c.addrs[1]
	value := big.NewInt(params.Ether)
	tx := c.sign(0, &types.DynamicFeeTx{ChainID: big.NewInt(DefaultChainID), Nonce: 0, GasTipCap: big.NewInt(0),
		GasFeeCap: big.NewInt(2 * params.GWei), Gas: 21000, To: &to, Value: value})
	res, err := c.apply(tx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 1 || res.GasUsed != 21000 || res.Block != 1 {
		t.Fatalf("result %+v", res)
	}
	// The same transaction again: known; the nonce is used.
	if _, err := c.apply(tx); err == nil || !strings.Contains(err.Error(), "already known") {
		t.Fatalf("replayed: %v", err)
	}
	h := c.close()
	if h == nil || h.Number.Uint64() != 1 || h.GasUsed != 21000 {
		t.Fatalf("header %+v", h)
	}
	st := NewStateDB(c.s)
	want := new(big.Int).Mul(big.NewInt(1001), big.NewInt(params.Ether))
	if got := st.GetBalance(to).ToBig(); got.Cmp(want) != 0 {
		t.Fatalf("payee balance %v, want %v", got, want)
	}
	fee := new(big.Int).Mul(big.NewInt(21000), big.NewInt(params.GWei))
	want = new(big.Int).Sub(new(big.Int).Mul(big.NewInt(999), big.NewInt(params.Ether)), fee)
	if got := st.GetBalance(c.addrs[0]).ToBig(); got.Cmp(want) != 0 {
		t.Fatalf("payer balance %v, want %v", got, want)
	}
	if st.GetNonce(c.addrs[0]) != 1 {
		t.Fatal("nonce not bumped")
	}
	got, ok := ReadTx(c.s, tx.Hash())
	if !ok || got.Receipt.BlockHash != h.Hash() || got.From != c.addrs[0] || got.Receipt.EffectiveGasPrice.Cmp(big.NewInt(params.GWei)) != 0 {
		t.Fatalf("stored %+v", got)
	}
	// The header's transactions root is Ethereum's for that list.
	if b, ok := ReadBlock(c.s, 1); !ok || b.Header.TxHash != types.DeriveSha(types.Transactions{tx}, trie.NewStackTrie(nil)) {
		t.Fatal("transactions root")
	}
	if n, ok := BlockNumber(c.s, h.Hash()); !ok || n != 1 {
		t.Fatal("block by hash")
	}
	// A second after a block with transactions, one empty block
	// follows (TrailAfter), not sooner and not more.
	c.now = c.now.Add(TrailAfter - time.Second - time.Millisecond)
	if h := c.close(); h != nil {
		t.Fatalf("a trailing block before TrailAfter: %v", h.Number)
	}
	c.now = c.now.Add(-time.Second + time.Millisecond)
	e := c.close()
	if e == nil || e.Number.Uint64() != 2 || e.GasUsed != 0 || e.ParentHash != h.Hash() || e.TxHash != types.EmptyTxsHash || e.Root != h.Root {
		t.Fatalf("trailing block %+v", e)
	}
	if h := c.close(); h != nil {
		t.Fatalf("a second empty block closed: %v", h.Number)
	}
}

func TestRefusals(t *testing.T) {
	c := newChain(t, Private)
	to := c.addrs[1]
	cases := []struct {
		name string
		tx   *types.Transaction
		want string
	}{
		{"nonce too low", c.sign(0, &types.LegacyTx{Nonce: 0, GasPrice: big.NewInt(params.GWei), Gas: 21000, To: &to, Value: big.NewInt(5)}), "nonce too low"},
		{"nonce too high", c.sign(0, &types.LegacyTx{Nonce: 5, GasPrice: big.NewInt(params.GWei), Gas: 21000, To: &to}), "nonce too high"},
		{"insufficient funds", c.sign(0, &types.LegacyTx{Nonce: 1, GasPrice: big.NewInt(params.GWei), Gas: 21000, To: &to,
			Value: new(big.Int).Mul(big.NewInt(10_000), big.NewInt(params.Ether))}), "insufficient funds"},
		{"fee cap below base fee", c.sign(0, &types.DynamicFeeTx{ChainID: big.NewInt(DefaultChainID), Nonce: 1, GasFeeCap: big.NewInt(1), GasTipCap: big.NewInt(1), Gas: 21000, To: &to}), "max fee per gas less than block base fee"},
		{"intrinsic gas", c.sign(0, &types.LegacyTx{Nonce: 1, GasPrice: big.NewInt(params.GWei), Gas: 20000, To: &to}), "intrinsic gas too low"},
		{"above the block gas limit", c.sign(0, &types.LegacyTx{Nonce: 0, GasPrice: big.NewInt(params.GWei), Gas: DefaultGasLimit + 1, To: &to}), "exceeds block gas limit"},
	}
	if _, err := c.apply(c.sign(0, &types.LegacyTx{Nonce: 0, GasPrice: big.NewInt(params.GWei), Gas: 21000, To: &to})); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		before := c.s.Last()
		_, err := c.apply(tc.tx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if c.s.Last() != before {
			t.Errorf("%s: a refused transaction wrote", tc.name)
		}
	}
	// Wrong chain, unprotected, blob, garbage.
	other, _ := types.SignNewTx(c.keys[0], types.LatestSignerForChainID(big.NewInt(1)), &types.LegacyTx{GasPrice: big.NewInt(params.GWei), Gas: 21000, To: &to})
	unprotected, _ := types.SignNewTx(c.keys[0], types.HomesteadSigner{}, &types.LegacyTx{GasPrice: big.NewInt(params.GWei), Gas: 21000, To: &to})
	blob := c.sign(0, &types.BlobTx{})
	cfg, _ := ReadConfig(c.s)
	for name, tx := range map[string]*types.Transaction{"invalid chain id": other, "replay-protected": unprotected, "blob": blob} {
		raw, _ := tx.MarshalBinary()
		if _, _, err := Decode(cfg, raw); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A signature that recovers no key (r = s = 0), and one whose s is
	// in the upper half (EIP-2: malleable).
	signer := types.LatestSignerForChainID(big.NewInt(DefaultChainID))
	good := c.sign(0, &types.LegacyTx{Nonce: 1, GasPrice: big.NewInt(params.GWei), Gas: 21000, To: &to})
	zero, _ := good.WithSignature(signer, make([]byte, 65))
	v, r, sv := good.RawSignatureValues()
	high := make([]byte, 65)
	r.FillBytes(high[:32])
	new(big.Int).Sub(crypto.S256().Params().N, sv).FillBytes(high[32:64])
	high[64] = byte(1 - (v.Uint64()-35-2*DefaultChainID)%2)
	malleable, _ := good.WithSignature(signer, high)
	for name, tx := range map[string]*types.Transaction{"zero signature": zero, "high s": malleable} {
		raw, _ := tx.MarshalBinary()
		if _, _, err := Decode(cfg, raw); err == nil || !strings.Contains(err.Error(), "signature") && !strings.Contains(err.Error(), "v, r, s") {
			t.Errorf("%s: %v", name, err)
		}
	}
	var e *Error
	if _, _, err := Decode(cfg, []byte{0xf8, 0x01}); !errors.As(err, &e) || e.Code != CodeInvalidParams {
		t.Errorf("garbage: %v", err)
	}
}

func TestContractRevertAndOutOfGas(t *testing.T) {
	c := newChain(t, Public)
	// Runtime: SSTORE(0, CALLDATALOAD(0)); if calldata[0:32] == 0, REVERT.
	// 600035 8060005 5 ... written out as bytes below.
	runtime := []byte{
		0x60, 0x00, 0x35, // PUSH1 0 CALLDATALOAD
		0x80,             // DUP1
		0x60, 0x00, 0x55, // PUSH1 0 SSTORE
		0x60, 0x0e, 0x57, // PUSH1 14 JUMPI (non-zero: jump to STOP)
		0x60, 0x00, 0x80, 0xfd, // PUSH1 0 DUP1 REVERT
		0x5b, 0x00, // JUMPDEST STOP
	}
	// Init code: copy runtime to memory, return it.
	init := append([]byte{0x60, byte(len(runtime)), 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, byte(len(runtime)), 0x60, 0x00, 0xf3}, runtime...)
	deploy := c.sign(0, &types.LegacyTx{Nonce: 0, GasPrice: big.NewInt(params.GWei), Gas: 200_000, Data: init})
	res, err := c.apply(deploy)
	if err != nil || res.Status != 1 {
		t.Fatal(res, err)
	}
	addr := crypto.CreateAddress(c.addrs[0], 0)
	st := NewStateDB(c.s)
	if string(st.GetCode(addr)) != string(runtime) {
		t.Fatalf("code %x", st.GetCode(addr))
	}
	word := common.BigToHash(big.NewInt(7))
	ok := c.sign(0, &types.LegacyTx{Nonce: 1, GasPrice: big.NewInt(params.GWei), Gas: 100_000, To: &addr, Data: word[:]})
	if res, err := c.apply(ok); err != nil || res.Status != 1 {
		t.Fatal(res, err)
	}
	if NewStateDB(c.s).GetState(addr, common.Hash{}) != word {
		t.Fatal("storage not written")
	}
	// A revert keeps the earlier value, consumes the nonce and gas, and is
	// recorded failed.
	rev := c.sign(0, &types.LegacyTx{Nonce: 2, GasPrice: big.NewInt(params.GWei), Gas: 100_000, To: &addr, Data: make([]byte, 32)})
	res, err = c.apply(rev)
	if err != nil || res.Status != 0 {
		t.Fatal(res, err)
	}
	st = NewStateDB(c.s)
	if st.GetState(addr, common.Hash{}) != word || st.GetNonce(c.addrs[0]) != 3 {
		t.Fatal("a reverted transaction changed state or kept the nonce")
	}
	// Out of gas: the same.
	oog := c.sign(0, &types.LegacyTx{Nonce: 3, GasPrice: big.NewInt(params.GWei), Gas: 22_000 + 600, To: &addr, Data: common.BigToHash(big.NewInt(9)).Bytes()})
	res, err = c.apply(oog)
	if err != nil || res.Status != 0 || res.GasUsed != 22_600 {
		t.Fatal(res, err)
	}
	if NewStateDB(c.s).GetState(addr, common.Hash{}) != word {
		t.Fatal("an out-of-gas transaction wrote storage")
	}
	h := c.close()
	if h.GasUsed != res.GasUsed+tx0gas(t, c, ok)+tx0gas(t, c, rev)+tx0gas(t, c, deploy) {
		t.Fatalf("block gas %d", h.GasUsed)
	}
	tx, _ := ReadTx(c.s, rev.Hash())
	if tx.Receipt.CumulativeGasUsed <= tx.Receipt.GasUsed || tx.Receipt.TransactionIndex != 2 {
		t.Fatalf("receipt %+v", tx.Receipt)
	}
}

func tx0gas(t *testing.T, c *chain, tx *types.Transaction) uint64 {
	got, ok := ReadTx(c.s, tx.Hash())
	if !ok {
		t.Fatal("unknown", tx.Hash())
	}
	return got.Receipt.GasUsed
}
