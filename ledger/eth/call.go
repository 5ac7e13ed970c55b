package eth

import (
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
)

// CallArgs are eth_call's and eth_estimateGas's transaction object.
type CallArgs struct {
	From                 *common.Address   `json:"from"`
	To                   *common.Address   `json:"to"`
	Gas                  *hexutil.Uint64   `json:"gas"`
	GasPrice             *hexutil.Big      `json:"gasPrice"`
	MaxFeePerGas         *hexutil.Big      `json:"maxFeePerGas"`
	MaxPriorityFeePerGas *hexutil.Big      `json:"maxPriorityFeePerGas"`
	Value                *hexutil.Big      `json:"value"`
	Nonce                *hexutil.Uint64   `json:"nonce"`
	Data                 *hexutil.Bytes    `json:"data"`
	Input                *hexutil.Bytes    `json:"input"`
	AccessList           *types.AccessList `json:"accessList"`
	ChainID              *hexutil.Big      `json:"chainId"`
	Type                 *hexutil.Uint64   `json:"type"`
}

func (a *CallArgs) data() []byte {
	if a.Input != nil {
		return *a.Input
	}
	if a.Data != nil {
		return *a.Data
	}
	return nil
}

// message builds the EVM message; with no fee given the call runs
// without the base fee check (as geth's eth_call).
func (a *CallArgs) message(cfg Config, gas uint64) (*core.Message, bool, error) {
	if a.Input != nil && a.Data != nil && string(*a.Input) != string(*a.Data) {
		return nil, false, &Error{Code: CodeInvalidParams, Msg: `both "data" and "input" are set and not equal`}
	}
	if a.GasPrice != nil && (a.MaxFeePerGas != nil || a.MaxPriorityFeePerGas != nil) {
		return nil, false, &Error{Code: CodeInvalidParams, Msg: "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified"}
	}
	m := &core.Message{Value: new(uint256.Int), GasLimit: gas, Data: a.data(),
		GasPrice: new(uint256.Int), GasFeeCap: new(uint256.Int), GasTipCap: new(uint256.Int)}
	if a.From != nil {
		m.From = *a.From
	}
	m.To = a.To
	if a.Value != nil {
		v, overflow := uint256.FromBig((*big.Int)(a.Value))
		if overflow || (*big.Int)(a.Value).Sign() < 0 {
			return nil, false, &Error{Code: CodeInvalidParams, Msg: "value out of range"}
		}
		m.Value = v
	}
	if a.AccessList != nil {
		m.AccessList = *a.AccessList
	}
	noFee := true
	set := func(dst *uint256.Int, v *hexutil.Big) error {
		if v == nil {
			return nil
		}
		x, overflow := uint256.FromBig((*big.Int)(v))
		if overflow || (*big.Int)(v).Sign() < 0 {
			return &Error{Code: CodeInvalidParams, Msg: "fee out of range"}
		}
		dst.Set(x)
		noFee = false
		return nil
	}
	if err := set(m.GasPrice, a.GasPrice); err != nil {
		return nil, false, err
	}
	if a.GasPrice != nil {
		m.GasFeeCap.Set(m.GasPrice)
		m.GasTipCap.Set(m.GasPrice)
	}
	if err := set(m.GasFeeCap, a.MaxFeePerGas); err != nil {
		return nil, false, err
	}
	if err := set(m.GasTipCap, a.MaxPriorityFeePerGas); err != nil {
		return nil, false, err
	}
	if !noFee && a.GasPrice == nil {
		// Effective price: min(tip + base fee, fee cap).
		p := new(uint256.Int).Add(m.GasTipCap, uint256.NewInt(cfg.BaseFee))
		if p.Gt(m.GasFeeCap) {
			p.Set(m.GasFeeCap)
		}
		m.GasPrice = p
	}
	m.SkipNonceCheck().SkipGasLimitCapCheck()
	return m, noFee, nil
}

// Call runs a message against the latest state of r, changing nothing.
// The error of a call that cannot run (funds, fees) is returned;
// execution failures are in the result.
func Call(r Reader, args CallArgs) (*core.ExecutionResult, error) {
	cfg, ok := ReadConfig(r)
	if !ok {
		return nil, ErrNoChain
	}
	gas := cfg.GasLimit
	if args.Gas != nil {
		gas = uint64(*args.Gas)
	}
	return call(r, cfg, args, gas)
}

func call(r Reader, cfg Config, args CallArgs, gas uint64) (*core.ExecutionResult, error) {
	o, err := readOpen(r)
	if err != nil {
		return nil, err
	}
	msg, noFee, err := args.message(cfg, gas)
	if err != nil {
		return nil, err
	}
	st := NewStateDB(r)
	evm := vm.NewEVM(blockContext(r, cfg, o), st, cfg.ChainConfig(), vm.Config{NoBaseFee: noFee})
	res, err := core.ApplyMessage(evm, msg, core.NewGasPool(gas))
	if err != nil {
		return nil, wrap(err)
	}
	return res, nil
}

// RevertError is a reverted call's error as geth answers it: code 3,
// the decoded reason in the message, the revert data as hex.
func RevertError(res *core.ExecutionResult) error {
	data := res.Revert()
	msg := "execution reverted"
	if reason, err := abi.UnpackRevert(data); err == nil {
		msg += ": " + reason
	}
	return &Error{Code: CodeRevert, Msg: msg, Data: hexutil.Encode(data)}
}

// EstimateGas finds the least gas limit with which a message succeeds,
// by bisection as geth does.
func EstimateGas(r Reader, args CallArgs) (uint64, error) {
	cfg, ok := ReadConfig(r)
	if !ok {
		return 0, ErrNoChain
	}
	hi := cfg.GasLimit
	if hi > params.MaxTxGas {
		hi = params.MaxTxGas // EIP-7825's cap on one transaction
	}
	if args.Gas != nil && uint64(*args.Gas) >= params.TxGas && uint64(*args.Gas) < hi {
		hi = uint64(*args.Gas)
	}
	res, err := call(r, cfg, args, hi)
	if err != nil {
		return 0, err
	}
	if res.Failed() {
		if errors.Is(res.Err, vm.ErrExecutionReverted) {
			return 0, RevertError(res)
		}
		return 0, invalid("gas required exceeds allowance (%d): %v", hi, res.Err)
	}
	// The used gas (before refunds) is a lower bound; most calls pass
	// with a little more, so try 64/63 of it before bisecting.
	lo := res.MaxUsedGas - 1
	if lo < params.TxGas-1 {
		lo = params.TxGas - 1
	}
	if try := res.MaxUsedGas * 64 / 63; try < hi {
		if r2, err := call(r, cfg, args, try); err == nil && !r2.Failed() {
			hi = try
		} else {
			lo = try
		}
	}
	for lo+1 < hi {
		mid := lo + (hi-lo)/2
		r2, err := call(r, cfg, args, mid)
		if err == nil && !r2.Failed() {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, nil
}

// Balance and friends read the latest state.
func Balance(r Reader, a common.Address) *big.Int { return NewStateDB(r).GetBalance(a).ToBig() }

// Nonce is an account's next nonce in r.
func Nonce(r Reader, a common.Address) uint64 { return NewStateDB(r).GetNonce(a) }

// Code is an account's code.
func Code(r Reader, a common.Address) []byte { return NewStateDB(r).GetCode(a) }

// Storage is a word of an account's storage.
func Storage(r Reader, a common.Address, k common.Hash) common.Hash {
	return NewStateDB(r).GetState(a, k)
}

// Open is the number of the block being filled.
func Open(r Reader) (uint64, error) {
	o, err := readOpen(r)
	if err != nil {
		return 0, err
	}
	return o.Number, nil
}
