package eth

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
)

// Seqno is the ledger seqno of a transaction ID "view.seqno".
func Seqno(ledgerTx string) (uint64, error) {
	_, s, ok := strings.Cut(ledgerTx, ".")
	n, err := strconv.ParseUint(s, 10, 64)
	if !ok || err != nil {
		return 0, fmt.Errorf("eth: a ledger transaction ID %q", ledgerTx)
	}
	return n, nil
}

// Trace executes a mined transaction again, on the state just before
// it (the state after its ledger transaction's predecessor, which s
// must still keep), in its block's context, with a tracer's hooks.
func Trace(s Historian, t *Tx, hooks *tracing.Hooks) error {
	seqno, err := Seqno(t.LedgerTx)
	if err != nil {
		return err
	}
	if floor, ok := s.HistoryFloor(); !ok || seqno-1 < floor {
		return invalid("the state before transaction %s is no longer kept by this node", t.Tx.Hash())
	}
	r := At{S: s, Seqno: seqno - 1}
	cfg, ok := ReadConfig(r)
	if !ok {
		return ErrNoChain
	}
	b, ok := ReadBlock(r, t.Receipt.BlockNumber.Uint64())
	if !ok {
		return invalid("transaction %s is not mined", t.Tx.Hash())
	}
	st := NewStateDB(r)
	st.hooks = hooks
	evm := vm.NewEVM(blockContext(r, cfg, &openBlock{Number: b.Header.Number.Uint64(), Time: b.Header.Time}), st, cfg.ChainConfig(), vm.Config{Tracer: hooks})
	msg, err := core.TransactionToMessage(t.Tx, types.LatestSignerForChainID(t.Tx.ChainId()), new(big.Int).SetUint64(cfg.BaseFee))
	if err != nil {
		return err
	}
	st.SetTxContext(t.Tx.Hash(), int(t.Receipt.TransactionIndex), 0)
	if hooks.OnTxStart != nil {
		hooks.OnTxStart(evm.GetVMContext(), t.Tx, msg.From)
	}
	res, err := core.ApplyMessage(evm, msg, core.NewGasPool(cfg.GasLimit))
	if err != nil {
		return fmt.Errorf("eth: tracing %s: %w", t.Tx.Hash(), err)
	}
	if hooks.OnTxEnd != nil {
		hooks.OnTxEnd(&types.Receipt{GasUsed: res.UsedGas, Status: t.Receipt.Status, TxHash: t.Tx.Hash(), ContractAddress: t.Receipt.ContractAddress, Logs: st.Logs()}, nil)
	}
	if res.UsedGas != t.Receipt.GasUsed {
		// The same transaction on the same state must use the same gas.
		return fmt.Errorf("eth: tracing %s used %d gas, the receipt says %d", t.Tx.Hash(), res.UsedGas, t.Receipt.GasUsed)
	}
	return nil
}
