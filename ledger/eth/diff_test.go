package eth

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"

	"github.com/confide/confide/ledger/eth/contracts"
)

// TestAgainstGethState runs the same transactions through go-ethereum's
// own state.StateDB and through ours, under the same rules, and requires
// the same gas, status, return data, logs, balances and storage: our
// StateDB must be indistinguishable to the EVM.
func TestAgainstGethState(t *testing.T) {
	geth, err := state.New(types.EmptyRootHash, state.NewDatabaseForTesting())
	if err != nil {
		t.Fatal(err)
	}
	c := newChain(t, Public)
	cfg, _ := ReadConfig(c.s)
	for _, a := range c.addrs {
		geth.AddBalance(a, uint256.MustFromBig(new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether))), tracing.BalanceChangeUnspecified)
	}
	o0, _ := readOpen(c.s)
	rulesNow := cfg.ChainConfig().Rules(new(big.Int).SetUint64(o0.Number), true, o0.Time)
	geth.Finalise(rulesNow)
	token := contracts.NewToken()
	probe := contracts.NewProbe()
	tokenAddr := crypto.CreateAddress(c.addrs[0], 0)
	probeAddr := crypto.CreateAddress(c.addrs[0], 1)
	type step struct {
		from int
		to   *common.Address
		data []byte
		gas  uint64
		kind byte // a transaction type: 0 dynamic fee (EIP-1559) unless set
	}
	const legacy, accessList, setCode = 1, 2, 3
	steps := []step{
		{0, nil, append(common.FromHex(contracts.TokenMetaData.Bin), token.PackConstructor("T", "T", big.NewInt(1_000_000))...), 3_000_000, 0},
		{0, nil, common.FromHex(contracts.ProbeMetaData.Bin), 3_000_000, 0},
		{0, &tokenAddr, token.PackTransfer(c.addrs[1], big.NewInt(10)), 300_000, 0}, // a new slot
		{0, &tokenAddr, token.PackTransfer(c.addrs[1], big.NewInt(5)), 300_000, 0},  // an existing one
		{1, &tokenAddr, token.PackTransfer(c.addrs[0], big.NewInt(15)), 300_000, 0}, // back to zero: a refund
		{1, &tokenAddr, token.PackTransfer(c.addrs[0], big.NewInt(1)), 300_000, 0},  // reverts
		{2, &probeAddr, probe.PackBump(), 300_000, 0},                               // a log
		{2, &probeAddr, probe.PackPush0AndTransient(big.NewInt(3)), 300_000, 0},     // transient storage
		{2, &probeAddr, probe.PackBurnGas(big.NewInt(100)), 100_000, 0},             // out of gas
		{2, &probeAddr, probe.PackFailCustom(big.NewInt(9)), 300_000, 0},            // a custom error
		{0, &c.addrs[2], nil, 21_000, 0},                                            // a plain transfer
		{0, &tokenAddr, token.PackTransfer(c.addrs[2], big.NewInt(1)), 300_000, legacy},
		{0, &tokenAddr, token.PackTransfer(c.addrs[2], big.NewInt(1)), 300_000, accessList},
		// EIP-7702: addrs[2] delegates to the probe (sent by addrs[0],
		// calling it at once), then a call to addrs[2] runs the probe's
		// code in addrs[2]'s storage again.
		{0, &c.addrs[2], probe.PackBump(), 300_000, setCode},
		{1, &c.addrs[2], probe.PackBump(), 300_000, 0},
	}
	rules := cfg.ChainConfig()
	for i, s := range steps {
		nonce := Nonce(c.s, c.addrs[s.from])
		value := new(big.Int) // the contracts' functions are not payable
		if s.data == nil {
			value.SetInt64(int64(i))
		}
		var inner types.TxData
		switch s.kind {
		case legacy:
			inner = &types.LegacyTx{Nonce: nonce, GasPrice: big.NewInt(2 * params.GWei), Gas: s.gas, To: s.to, Value: value, Data: s.data}
		case accessList:
			inner = &types.AccessListTx{ChainID: big.NewInt(DefaultChainID), Nonce: nonce, GasPrice: big.NewInt(2 * params.GWei), Gas: s.gas,
				To: s.to, Value: value, Data: s.data, AccessList: types.AccessList{{Address: tokenAddr, StorageKeys: []common.Hash{{}}}}}
		case setCode:
			auth, err := types.SignSetCode(c.keys[2], types.SetCodeAuthorization{ChainID: *uint256.NewInt(DefaultChainID),
				Address: probeAddr, Nonce: Nonce(c.s, c.addrs[2])})
			if err != nil {
				t.Fatal(err)
			}
			inner = &types.SetCodeTx{ChainID: uint256.NewInt(DefaultChainID), Nonce: nonce, GasTipCap: uint256.NewInt(1),
				GasFeeCap: uint256.NewInt(3 * params.GWei), Gas: s.gas, To: *s.to, Value: uint256.MustFromBig(value), Data: s.data,
				AuthList: []types.SetCodeAuthorization{auth}}
		default:
			inner = &types.DynamicFeeTx{ChainID: big.NewInt(DefaultChainID), Nonce: nonce, GasTipCap: big.NewInt(1),
				GasFeeCap: big.NewInt(3 * params.GWei), Gas: s.gas, To: s.to, Value: value, Data: s.data}
		}
		tx := c.sign(s.from, inner)
		res, err := c.apply(tx)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		// Each step does what it says: only the revert, the out-of-gas
		// and the custom error fail.
		if fail := i == 5 || i == 8 || i == 9; (res.Status == 0) != fail {
			t.Errorf("step %d: status %d", i, res.Status)
		}
		o, _ := readOpen(c.s)
		msg, _ := core.TransactionToMessage(tx, types.LatestSignerForChainID(tx.ChainId()), new(big.Int).SetUint64(cfg.BaseFee))
		geth.SetTxContext(tx.Hash(), i, 0)
		evm := vm.NewEVM(blockContext(c.s, cfg, o), geth, rules, vm.Config{})
		out, err := core.ApplyMessage(evm, msg, core.NewGasPool(cfg.GasLimit))
		if err != nil {
			t.Fatalf("step %d in geth's state: %v", i, err)
		}
		geth.Finalise(rulesNow)
		status := uint64(1)
		if out.Failed() {
			status = 0
		}
		if out.UsedGas != res.GasUsed || status != res.Status {
			t.Errorf("step %d: gas %d status %d here, %d and %d in geth's state", i, res.GasUsed, res.Status, out.UsedGas, status)
		}
		ours, _ := ReadTx(c.s, tx.Hash())
		theirs := geth.GetLogs(tx.Hash(), 0, common.Hash{}, 0)
		if len(ours.Receipt.Logs) != len(theirs) {
			t.Errorf("step %d: %d logs here, %d in geth's state", i, len(ours.Receipt.Logs), len(theirs))
		}
		for j := range min(len(theirs), len(ours.Receipt.Logs)) {
			a, b := ours.Receipt.Logs[j], theirs[j]
			if a.Address != b.Address || string(a.Data) != string(b.Data) || len(a.Topics) != len(b.Topics) {
				t.Errorf("step %d log %d differs", i, j)
			}
		}
	}
	st := NewStateDB(c.s)
	if code := st.GetCode(c.addrs[2]); string(code) != string(types.AddressToDelegation(probeAddr)) {
		t.Errorf("addrs[2]'s code after EIP-7702: %x", code)
	}
	// Probe's counter is slot 0: bumped twice in addrs[2]'s storage.
	if got := st.GetState(c.addrs[2], common.Hash{}); got != common.BigToHash(big.NewInt(2)) {
		t.Errorf("addrs[2]'s counter %x: the delegated calls did not run the probe's code there", got)
	}
	for _, a := range append(c.addrs, tokenAddr, probeAddr, common.Address{}) {
		if st.GetBalance(a).Cmp(geth.GetBalance(a)) != 0 || st.GetNonce(a) != geth.GetNonce(a) || st.GetCodeHash(a) != geth.GetCodeHash(a) && geth.Exist(a) {
			t.Errorf("%s: balance %v nonce %d here, %v %d in geth's state", a, st.GetBalance(a), st.GetNonce(a), geth.GetBalance(a), geth.GetNonce(a))
		}
		for k := range 8 {
			slot := common.BigToHash(big.NewInt(int64(k)))
			if st.GetState(a, slot) != geth.GetState(a, slot) {
				t.Errorf("%s slot %d differs", a, k)
			}
		}
	}
}
