package contracts_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/core/vm/runtime"

	"github.com/confide/confide/ledger/eth/contracts"
)

// TestArtifactsCurrent checks that build/ and the Go bindings are what
// build.sh makes from the .sol files. It needs node and the npm solc package
// (installed by build.sh into node_modules); set CONFIDE_SOLC_CHECK=1 to make
// it install solc itself and fail rather than skip when something is missing.
func TestArtifactsCurrent(t *testing.T) {
	force := os.Getenv("CONFIDE_SOLC_CHECK") == "1"
	if _, err := exec.LookPath("node"); err != nil {
		if force {
			t.Fatal("CONFIDE_SOLC_CHECK=1 but node is not on PATH")
		}
		t.Skip("node is not on PATH; the artifacts check needs it (set CONFIDE_SOLC_CHECK=1 to require it)")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "solc", "package.json")); err != nil && !force {
		t.Skip("ledger/eth/contracts/node_modules/solc is missing: run `bash ledger/eth/contracts/build.sh` once, or set CONFIDE_SOLC_CHECK=1 to let the check install it")
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "bash", filepath.Join("ledger", "eth", "contracts", "build.sh"), "--check")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build.sh --check: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestBindingsLoad checks the generated bindings' metadata against build/.
func TestBindingsLoad(t *testing.T) {
	for _, tc := range []struct {
		name   string
		meta   string
		bin    string
		method string
		event  string
	}{
		{"Token", contracts.TokenMetaData.ABI, contracts.TokenMetaData.Bin, "transfer", "Transfer"},
		{"Probe", contracts.ProbeMetaData.ABI, contracts.ProbeMetaData.Bin, "bump", "Bumped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parsed, err := abi.JSON(strings.NewReader(tc.meta))
			if err != nil {
				t.Fatalf("parse ABI from bindings: %v", err)
			}
			if _, ok := parsed.Methods[tc.method]; !ok {
				t.Errorf("ABI has no method %q", tc.method)
			}
			if _, ok := parsed.Events[tc.event]; !ok {
				t.Errorf("ABI has no event %q", tc.event)
			}

			raw, err := os.ReadFile(filepath.Join("build", tc.name+".bin"))
			if err != nil {
				t.Fatal(err)
			}
			code, err := hex.DecodeString(string(raw))
			if err != nil {
				t.Fatalf("build/%s.bin is not plain hex: %v", tc.name, err)
			}
			if len(code) == 0 {
				t.Fatalf("build/%s.bin is empty", tc.name)
			}
			if got := common.FromHex(tc.bin); !bytes.Equal(got, code) {
				t.Errorf("%sMetaData.Bin differs from build/%s.bin", tc.name, tc.name)
			}

			fileABI, err := os.ReadFile(filepath.Join("build", tc.name+".abi"))
			if err != nil {
				t.Fatal(err)
			}
			fromFile, err := abi.JSON(bytes.NewReader(fileABI))
			if err != nil {
				t.Fatalf("parse build/%s.abi: %v", tc.name, err)
			}
			if len(fromFile.Methods) != len(parsed.Methods) || len(fromFile.Events) != len(parsed.Events) || len(fromFile.Errors) != len(parsed.Errors) {
				t.Errorf("build/%s.abi and %sMetaData.ABI disagree", tc.name, tc.name)
			}
		})
	}

	tokenABI, err := contracts.TokenMetaData.ParseABI()
	if err != nil {
		t.Fatal(err)
	}
	if ev := tokenABI.Events["Transfer"]; ev.Sig != "Transfer(address,address,uint256)" {
		t.Errorf("Transfer event signature = %q", ev.Sig)
	}
	if m := tokenABI.Methods["transfer"]; m.Sig != "transfer(address,uint256)" {
		t.Errorf("transfer method signature = %q", m.Sig)
	}

	// Packing a call through the binding yields the ERC-20 selector.
	token := contracts.NewToken()
	data := token.PackTransfer(common.HexToAddress("0x1234"), big.NewInt(5))
	if want := "a9059cbb"; hex.EncodeToString(data[:4]) != want {
		t.Errorf("transfer selector = %x, want %s", data[:4], want)
	}
	if len(data) != 4+64 {
		t.Errorf("transfer calldata is %d bytes, want 68", len(data))
	}
}

// deployer is the sender of every call in TestContractsRun.
var deployer = common.HexToAddress("0x00000000000000000000000000000000000d0d0d")

// evm runs calls against one in-memory state, one "transaction" per call.
type evm struct {
	t   *testing.T
	cfg *runtime.Config
	tx  int
}

func newEVM(t *testing.T) *evm {
	// runtime's default chain config activates Cancun; the contracts are
	// compiled for Prague, which adds no opcode they use.
	cfg := &runtime.Config{Origin: deployer, GasLimit: 10_000_000}
	return &evm{t: t, cfg: cfg}
}

func (e *evm) next() common.Hash {
	e.tx++
	h := common.BigToHash(big.NewInt(int64(e.tx)))
	if e.cfg.State != nil {
		e.cfg.State.SetTxContext(h, e.tx, 0)
	}
	return h
}

func (e *evm) deploy(bin string, args []byte) common.Address {
	e.t.Helper()
	e.next()
	code := append(common.FromHex(bin), args...)
	_, addr, _, err := runtime.Create(code, e.cfg)
	if err != nil {
		e.t.Fatalf("deploy: %v", err)
	}
	return addr
}

// call runs input against addr and returns the output, the error and the
// logs of the call.
func (e *evm) call(addr common.Address, input []byte, gas uint64) ([]byte, []*types.Log, error) {
	h := e.next()
	saved := e.cfg.GasLimit
	if gas != 0 {
		e.cfg.GasLimit = gas
	}
	defer func() { e.cfg.GasLimit = saved }()
	out, _, err := runtime.Call(addr, input, e.cfg)
	return out, e.cfg.State.GetLogs(h, 0, common.Hash{}, 0), err
}

func wantRevert(t *testing.T, what string, out []byte, err error, reason string) {
	t.Helper()
	if !errors.Is(err, vm.ErrExecutionReverted) {
		t.Fatalf("%s: err = %v, want execution reverted", what, err)
	}
	got, uerr := abi.UnpackRevert(out)
	if uerr != nil {
		t.Fatalf("%s: revert data %x: %v", what, out, uerr)
	}
	if got != reason {
		t.Fatalf("%s: revert reason %q, want %q", what, got, reason)
	}
}

// TestContractsRun deploys the compiled contracts on go-ethereum's EVM and
// exercises them through the bindings.
func TestContractsRun(t *testing.T) {
	t.Run("Token", func(t *testing.T) {
		e := newEVM(t)
		token := contracts.NewToken()
		supply := big.NewInt(1_000_000)
		addr := e.deploy(contracts.TokenMetaData.Bin, token.PackConstructor("Test", "TST", supply))
		alice := common.HexToAddress("0xa11ce")

		out, _, err := e.call(addr, token.PackBalanceOf(deployer), 0)
		if err != nil {
			t.Fatal(err)
		}
		if bal, err := token.UnpackBalanceOf(out); err != nil || bal.Cmp(supply) != 0 {
			t.Fatalf("deployer balance = %v, %v; want %v", bal, err, supply)
		}
		out, _, err = e.call(addr, token.PackSymbol(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if sym, err := token.UnpackSymbol(out); err != nil || sym != "TST" {
			t.Fatalf("symbol = %q, %v", sym, err)
		}

		out, logs, err := e.call(addr, token.PackTransfer(alice, big.NewInt(40)), 0)
		if err != nil {
			t.Fatalf("transfer: %v", err)
		}
		if ok, err := token.UnpackTransfer(out); err != nil || !ok {
			t.Fatalf("transfer returned %v, %v", ok, err)
		}
		if len(logs) != 1 {
			t.Fatalf("transfer emitted %d logs, want 1", len(logs))
		}
		ev, err := token.UnpackTransferEvent(logs[0])
		if err != nil {
			t.Fatal(err)
		}
		if ev.From != deployer || ev.To != alice || ev.Value.Int64() != 40 {
			t.Fatalf("Transfer event = %+v", ev)
		}

		out, _, err = e.call(addr, token.PackTransfer(alice, new(big.Int).Add(supply, big.NewInt(1))), 0)
		wantRevert(t, "overdrawn transfer", out, err, "Token: transfer amount exceeds balance")
		out, _, err = e.call(addr, token.PackTransfer(common.Address{}, big.NewInt(1)), 0)
		wantRevert(t, "transfer to zero", out, err, "Token: transfer to the zero address")
		out, _, err = e.call(addr, token.PackTransferFrom(alice, deployer, big.NewInt(1)), 0)
		wantRevert(t, "transferFrom without allowance", out, err, "Token: insufficient allowance")
	})

	t.Run("Probe", func(t *testing.T) {
		e := newEVM(t)
		probe := contracts.NewProbe()
		addr := e.deploy(contracts.ProbeMetaData.Bin, nil)

		out, _, err := e.call(addr, probe.PackFail("because"), 0)
		wantRevert(t, "fail", out, err, "because")

		out, _, err = e.call(addr, probe.PackFailCustom(big.NewInt(7)), 0)
		if !errors.Is(err, vm.ErrExecutionReverted) {
			t.Fatalf("failCustom: err = %v", err)
		}
		if !bytes.Equal(out[:4], contracts.ProbeNopeErrorID().Bytes()[:4]) {
			t.Fatalf("failCustom: revert data %x does not start with Nope's selector", out)
		}
		nope, err := probe.UnpackNopeError(out[4:])
		if err != nil || nope.Code.Int64() != 7 {
			t.Fatalf("Nope = %+v, %v", nope, err)
		}

		out, _, err = e.call(addr, probe.PackPush0AndTransient(big.NewInt(41)), 0)
		if err != nil {
			t.Fatal(err)
		}
		if y, err := probe.UnpackPush0AndTransient(out); err != nil || y.Int64() != 42 {
			t.Fatalf("push0AndTransient(41) = %v, %v", y, err)
		}

		in := bytes.Repeat([]byte("mcopy!"), 20)
		out, _, err = e.call(addr, probe.PackMcopy(in), 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := probe.UnpackMcopy(out); err != nil || !bytes.Equal(got, in) {
			t.Fatalf("mcopy = %q, %v", got, err)
		}

		for want := int64(1); want <= 2; want++ {
			out, logs, err := e.call(addr, probe.PackBump(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := probe.UnpackBump(out); err != nil || v.Int64() != want {
				t.Fatalf("bump = %v, %v; want %d", v, err, want)
			}
			if len(logs) != 1 {
				t.Fatalf("bump emitted %d logs", len(logs))
			}
			ev, err := probe.UnpackBumpedEvent(logs[0])
			if err != nil || ev.By != deployer || ev.Value.Int64() != want {
				t.Fatalf("Bumped = %+v, %v", ev, err)
			}
		}
		out, _, err = e.call(addr, probe.PackCounter(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := probe.UnpackCounter(out); err != nil || c.Int64() != 2 {
			t.Fatalf("counter = %v, %v", c, err)
		}

		if _, _, err := e.call(addr, probe.PackBurnGas(big.NewInt(3)), 0); err != nil {
			t.Fatalf("burnGas(3): %v", err)
		}
		if _, _, err := e.call(addr, probe.PackBurnGas(big.NewInt(1_000_000)), 1_000_000); !errors.Is(err, vm.ErrOutOfGas) {
			t.Fatalf("burnGas(1e6) with 1M gas: err = %v, want out of gas", err)
		}
	})
}
