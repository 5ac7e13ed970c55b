// Code generated via abigen V2 - DO NOT EDIT.
// This file is a generated binding and any manual changes will be lost.

package contracts

import (
	"bytes"
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// Reference imports to suppress errors if they are not otherwise used.
var (
	_ = bytes.Equal
	_ = errors.New
	_ = big.NewInt
	_ = common.Big1
	_ = types.BloomLookup
	_ = abi.ConvertType
)

// ProbeMetaData contains all meta data concerning the Probe contract.
var ProbeMetaData = bind.MetaData{
	ABI: "[{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"code\",\"type\":\"uint256\"}],\"name\":\"Nope\",\"type\":\"error\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"address\",\"name\":\"by\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"value\",\"type\":\"uint256\"}],\"name\":\"Bumped\",\"type\":\"event\"},{\"inputs\":[],\"name\":\"bump\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"}],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"n\",\"type\":\"uint256\"}],\"name\":\"burnGas\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"counter\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"string\",\"name\":\"why\",\"type\":\"string\"}],\"name\":\"fail\",\"outputs\":[],\"stateMutability\":\"pure\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"code\",\"type\":\"uint256\"}],\"name\":\"failCustom\",\"outputs\":[],\"stateMutability\":\"pure\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"bytes\",\"name\":\"b\",\"type\":\"bytes\"}],\"name\":\"mcopy\",\"outputs\":[{\"internalType\":\"bytes\",\"name\":\"out\",\"type\":\"bytes\"}],\"stateMutability\":\"pure\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"x\",\"type\":\"uint256\"}],\"name\":\"push0AndTransient\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"y\",\"type\":\"uint256\"}],\"stateMutability\":\"nonpayable\",\"type\":\"function\"}]",
	ID:  "Probe",
	Bin: "0x6080604052348015600e575f5ffd5b506104148061001c5f395ff3fe608060405234801561000f575f5ffd5b506004361061007a575f3560e01c806361bc221a1161005857806361bc221a146100d957806368110b2f146100e157806378122f3a146100e9578063a7b8133a146100fc575f5ffd5b806306c0b4ae1461007e57806328dcfae1146100a45780634ad5d16f146100c4575b5f5ffd5b61009161008c366004610287565b61010f565b6040519081526020015b60405180910390f35b6100b76100b23660046102e3565b61012e565b60405161009b9190610322565b6100d76100d2366004610287565b6101c2565b005b6100915f5481565b6100916101f5565b6100d76100f73660046102e3565b610246565b6100d761010a366004610287565b61026b565b5f8061011c83600161036b565b9050805f5d5f5c91505f5f5d50919050565b60605f83838080601f0160208091040260200160405190810160405280939291908181526020018383808284375f92019190915250508251929350505067ffffffffffffffff81111561018357610183610384565b6040519080825280601f01601f1916602001820160405280156101ad576020820181803683370190505b509150805160208201602084015e5092915050565b5f5b818110156101f1576101d781600161036b565b5f82815260016020819052604090912091909155016101c4565b5050565b5f5f5f5f815461020490610398565b918290555060405181815290915033907f5311a32e1bc07c65f9f3c57e845d29af6c46065a94add70de6af009b370c33899060200160405180910390a2919050565b818160405162461bcd60e51b81526004016102629291906103b0565b60405180910390fd5b6040516363a2a81f60e01b815260048101829052602401610262565b5f60208284031215610297575f5ffd5b5035919050565b5f5f83601f8401126102ae575f5ffd5b50813567ffffffffffffffff8111156102c5575f5ffd5b6020830191508360208285010111156102dc575f5ffd5b9250929050565b5f5f602083850312156102f4575f5ffd5b823567ffffffffffffffff81111561030a575f5ffd5b6103168582860161029e565b90969095509350505050565b602081525f82518060208401528060208501604085015e5f604082850101526040601f19601f83011684010191505092915050565b634e487b7160e01b5f52601160045260245ffd5b8082018082111561037e5761037e610357565b92915050565b634e487b7160e01b5f52604160045260245ffd5b5f600182016103a9576103a9610357565b5060010190565b60208152816020820152818360408301375f818301604090810191909152601f909201601f1916010191905056fea2646970667358221220f7564eef448d8fbd683f37c2fa528185818ae6c845d5ed48fd0cd3ec3d59ad5d64736f6c63430008250033",
}

// Probe is an auto generated Go binding around an Ethereum contract.
type Probe struct {
	abi abi.ABI
}

// GetABI returns the ABI associated with this contract binding.
func (c *Probe) GetABI() abi.ABI {
	return c.abi
}

// NewProbe creates a new instance of Probe.
func NewProbe() *Probe {
	parsed, err := ProbeMetaData.ParseABI()
	if err != nil {
		panic(errors.New("invalid ABI: " + err.Error()))
	}
	return &Probe{abi: *parsed}
}

// Instance creates a wrapper for a deployed contract instance at the given address.
// Use this to create the instance object passed to abigen v2 library functions Call, Transact, etc.
func (c *Probe) Instance(backend bind.ContractBackend, addr common.Address) *bind.BoundContract {
	return bind.NewBoundContract(addr, c.abi, backend, backend, backend)
}

// PackBump is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x68110b2f.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function bump() returns(uint256)
func (probe *Probe) PackBump() []byte {
	enc, err := probe.abi.Pack("bump")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackBump is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x68110b2f.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function bump() returns(uint256)
func (probe *Probe) TryPackBump() ([]byte, error) {
	return probe.abi.Pack("bump")
}

// UnpackBump is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x68110b2f.
//
// Solidity: function bump() returns(uint256)
func (probe *Probe) UnpackBump(data []byte) (*big.Int, error) {
	out, err := probe.abi.Unpack("bump", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackBurnGas is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x4ad5d16f.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function burnGas(uint256 n) returns()
func (probe *Probe) PackBurnGas(n *big.Int) []byte {
	enc, err := probe.abi.Pack("burnGas", n)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackBurnGas is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x4ad5d16f.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function burnGas(uint256 n) returns()
func (probe *Probe) TryPackBurnGas(n *big.Int) ([]byte, error) {
	return probe.abi.Pack("burnGas", n)
}

// PackCounter is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x61bc221a.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function counter() view returns(uint256)
func (probe *Probe) PackCounter() []byte {
	enc, err := probe.abi.Pack("counter")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackCounter is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x61bc221a.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function counter() view returns(uint256)
func (probe *Probe) TryPackCounter() ([]byte, error) {
	return probe.abi.Pack("counter")
}

// UnpackCounter is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x61bc221a.
//
// Solidity: function counter() view returns(uint256)
func (probe *Probe) UnpackCounter(data []byte) (*big.Int, error) {
	out, err := probe.abi.Unpack("counter", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackFail is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x78122f3a.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function fail(string why) pure returns()
func (probe *Probe) PackFail(why string) []byte {
	enc, err := probe.abi.Pack("fail", why)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackFail is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x78122f3a.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function fail(string why) pure returns()
func (probe *Probe) TryPackFail(why string) ([]byte, error) {
	return probe.abi.Pack("fail", why)
}

// PackFailCustom is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xa7b8133a.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function failCustom(uint256 code) pure returns()
func (probe *Probe) PackFailCustom(code *big.Int) []byte {
	enc, err := probe.abi.Pack("failCustom", code)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackFailCustom is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xa7b8133a.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function failCustom(uint256 code) pure returns()
func (probe *Probe) TryPackFailCustom(code *big.Int) ([]byte, error) {
	return probe.abi.Pack("failCustom", code)
}

// PackMcopy is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x28dcfae1.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function mcopy(bytes b) pure returns(bytes out)
func (probe *Probe) PackMcopy(b []byte) []byte {
	enc, err := probe.abi.Pack("mcopy", b)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackMcopy is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x28dcfae1.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function mcopy(bytes b) pure returns(bytes out)
func (probe *Probe) TryPackMcopy(b []byte) ([]byte, error) {
	return probe.abi.Pack("mcopy", b)
}

// UnpackMcopy is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x28dcfae1.
//
// Solidity: function mcopy(bytes b) pure returns(bytes out)
func (probe *Probe) UnpackMcopy(data []byte) ([]byte, error) {
	out, err := probe.abi.Unpack("mcopy", data)
	if err != nil {
		return *new([]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([]byte)).(*[]byte)
	return out0, nil
}

// PackPush0AndTransient is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x06c0b4ae.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function push0AndTransient(uint256 x) returns(uint256 y)
func (probe *Probe) PackPush0AndTransient(x *big.Int) []byte {
	enc, err := probe.abi.Pack("push0AndTransient", x)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackPush0AndTransient is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x06c0b4ae.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function push0AndTransient(uint256 x) returns(uint256 y)
func (probe *Probe) TryPackPush0AndTransient(x *big.Int) ([]byte, error) {
	return probe.abi.Pack("push0AndTransient", x)
}

// UnpackPush0AndTransient is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x06c0b4ae.
//
// Solidity: function push0AndTransient(uint256 x) returns(uint256 y)
func (probe *Probe) UnpackPush0AndTransient(data []byte) (*big.Int, error) {
	out, err := probe.abi.Unpack("push0AndTransient", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// ProbeBumped represents a Bumped event raised by the Probe contract.
type ProbeBumped struct {
	By    common.Address
	Value *big.Int
	Raw   *types.Log // Blockchain specific contextual infos
}

const ProbeBumpedEventName = "Bumped"

// ContractEventName returns the user-defined event name.
func (ProbeBumped) ContractEventName() string {
	return ProbeBumpedEventName
}

// UnpackBumpedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Bumped(address indexed by, uint256 value)
func (probe *Probe) UnpackBumpedEvent(log *types.Log) (*ProbeBumped, error) {
	event := "Bumped"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != probe.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(ProbeBumped)
	if len(log.Data) > 0 {
		if err := probe.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range probe.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// UnpackError attempts to decode the provided error data using user-defined
// error definitions.
func (probe *Probe) UnpackError(raw []byte) (any, error) {
	if bytes.Equal(raw[:4], probe.abi.Errors["Nope"].ID.Bytes()[:4]) {
		return probe.UnpackNopeError(raw[4:])
	}
	return nil, errors.New("Unknown error")
}

// ProbeNope represents a Nope error raised by the Probe contract.
type ProbeNope struct {
	Code *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error Nope(uint256 code)
func ProbeNopeErrorID() common.Hash {
	return common.HexToHash("0x63a2a81f691e849cfcecd983f7d24f9b5a2b84b15e619d54e04d49ab5339b769")
}

// UnpackNopeError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error Nope(uint256 code)
func (probe *Probe) UnpackNopeError(raw []byte) (*ProbeNope, error) {
	out := new(ProbeNope)
	if err := probe.abi.UnpackIntoInterface(out, "Nope", raw); err != nil {
		return nil, err
	}
	return out, nil
}
