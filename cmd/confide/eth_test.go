package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"

	"github.com/confide/confide/internal/nodetest"
	"github.com/confide/confide/ledger/eth/contracts"
)

// TestEthSandbox runs `ledger sandbox --eth --private` with its proxy,
// links an address with `eth link`, and kills the primary (kill -9)
// under a closed-loop ERC-20 transfer load: every transaction reported
// mined stays mined with the same receipt, nonces match the mined
// transactions, no transfer applies twice, and the supply is conserved.
func TestEthSandbox(t *testing.T) {
	l := startLedger(t, 3, "--eth", "--private")
	var info ethInfo
	deadline := time.Now().Add(20 * time.Second)
	for info.RPCURL == "" {
		b, _ := os.ReadFile(filepath.Join(l.dir, EthInfoFile))
		json.Unmarshal(b, &info)
		if time.Now().After(deadline) {
			t.Fatal("no eth.json")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if info.Mode != "private" || len(info.Accounts) < 4 || info.Accounts[0].User != "user0" || info.Accounts[1].User != "user0" {
		t.Fatalf("eth.json %+v", info)
	}
	ctx := context.Background()
	c, err := ethclient.Dial(info.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var keys []*ecdsa.PrivateKey
	var addrs []common.Address
	for _, a := range info.Accounts {
		k, err := crypto.HexToECDSA(strings.TrimPrefix(a.PrivateKey, "0x"))
		if err != nil {
			t.Fatal(err)
		}
		keys, addrs = append(keys, k), append(addrs, crypto.PubkeyToAddress(k.PublicKey))
	}
	chain := big.NewInt(int64(info.ChainID))

	// Account 2 is nobody's yet: user0 may not use it until it links it.
	if _, err := c.BalanceAt(ctx, addrs[2], nil); err == nil {
		t.Fatal("an unlinked address's balance was served")
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte(info.Accounts[2].PrivateKey), 0o600)
	link := exec.Command(filepath.Join(binDir, "confide"), "eth", "link", "--rpc", info.RPCURL, "--key-file", keyFile)
	link.Env = l.env
	if out, err := link.CombinedOutput(); err != nil || !strings.Contains(string(out), "linked "+addrs[2].Hex()) {
		t.Fatalf("eth link: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := c.BalanceAt(ctx, addrs[2], nil); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	to := addrs[0]
	unlinked, _ := types.SignNewTx(keys[3], types.LatestSignerForChainID(chain), &types.DynamicFeeTx{ChainID: chain, GasFeeCap: big.NewInt(2 * params.GWei), Gas: 21000, To: &to})
	if err := c.SendTransaction(ctx, unlinked); err == nil || !strings.Contains(err.Error(), "confide eth link") {
		t.Fatalf("an unlinked sender: %v", err)
	}

	// The token, and 1,000 units to each sender.
	token := contracts.NewToken()
	opts := bind.NewKeyedTransactor(keys[0], chain)
	supply := big.NewInt(1_000_000)
	taddr, dtx, err := bind.DeployContract(opts, common.FromHex(contracts.TokenMetaData.Bin), c, token.PackConstructor("T", "T", supply))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bind.WaitDeployed(ctx, c, dtx.Hash()); err != nil {
		t.Fatal(err)
	}
	inst := token.Instance(c, taddr)
	senders := addrs[:3]
	for _, a := range senders[1:] {
		tx, err := bind.Transact(inst, opts, token.PackTransfer(a, big.NewInt(1000)))
		if err != nil {
			t.Fatal(err)
		}
		if rc, err := bind.WaitMined(ctx, c, tx.Hash()); err != nil || rc.Status != 1 {
			t.Fatal(rc, err)
		}
	}
	start := map[common.Address]int64{}
	for _, a := range senders {
		start[a] = balanceOf(t, c, token, taddr, a, a).Int64()
	}
	gas, err := c.EstimateGas(ctx, ethereum.CallMsg{From: senders[1], To: &taddr, Data: token.PackTransfer(senders[2], big.NewInt(1))})
	if err != nil {
		t.Fatal(err)
	}
	gas = gas * 3 / 2

	// The closed loop: each sender sends, waits for the receipt, and
	// resends the same signed transaction when it is lost.
	type sent struct {
		tx   *types.Transaction
		from common.Address
		to   common.Address
	}
	var mu sync.Mutex
	var all []sent
	mined := map[common.Hash]*types.Receipt{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, from := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			nonce, err := c.NonceAt(ctx, from, nil)
			if err != nil {
				t.Error(err)
				return
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				dest := senders[(i+1+rng.IntN(len(senders)-1))%len(senders)]
				tx, _ := types.SignNewTx(keys[i], types.LatestSignerForChainID(chain), &types.DynamicFeeTx{ChainID: chain, Nonce: nonce,
					GasFeeCap: big.NewInt(2 * params.GWei), Gas: gas, To: &taddr, Data: token.PackTransfer(dest, big.NewInt(1))})
				mu.Lock()
				all = append(all, sent{tx, from, dest})
				mu.Unlock()
				rc := sendUntilMined(ctx, c, tx, stop)
				if rc == nil {
					return
				}
				mu.Lock()
				mined[tx.Hash()] = rc
				mu.Unlock()
				nonce++
			}
		}()
	}
	time.Sleep(time.Second)
	victim := l.primary()
	for _, n := range l.nodes() {
		if n.RPCAddress == victim {
			syscall.Kill(n.PID, syscall.SIGKILL)
		}
	}
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(mined) < 10 {
		t.Fatalf("only %d transfers mined", len(mined))
	}
	// Settled: every transaction sent is mined or unknown; the mined
	// keep their receipts; balances follow the mined transfers exactly.
	want := map[common.Address]int64{}
	for a, v := range start {
		want[a] = v
	}
	count := map[common.Address]uint64{}
	for _, s := range all {
		var rc *types.Receipt
		for deadline := time.Now().Add(10 * time.Second); ; {
			rc, err = c.TransactionReceipt(ctx, s.tx.Hash())
			if err == nil || time.Now().After(deadline) {
				break
			}
			if _, _, terr := c.TransactionByHash(ctx, s.tx.Hash()); errors.Is(terr, ethereum.NotFound) {
				break // lost with the primary, never mined
			}
			time.Sleep(50 * time.Millisecond)
		}
		if old, ok := mined[s.tx.Hash()]; ok && (rc == nil || rc.BlockHash != old.BlockHash || rc.Status != old.Status) {
			t.Fatalf("transaction %s was reported mined in %s, now %v", s.tx.Hash(), old.BlockHash, rc)
		}
		if rc == nil {
			continue
		}
		count[s.from]++
		if rc.Status == 1 {
			want[s.from]--
			want[s.to]++
		}
	}
	var total int64
	for _, a := range senders {
		n, err := c.NonceAt(ctx, a, nil)
		if err != nil {
			t.Fatal(err)
		}
		initial := uint64(0)
		if a == senders[0] {
			initial = 3 // the deployment and two funding transfers
		}
		if n != initial+count[a] {
			t.Errorf("%s: nonce %d, %d mined transfers after %d", a, n, count[a], initial)
		}
		got := balanceOf(t, c, token, taddr, a, a).Int64()
		if got != want[a] {
			t.Errorf("%s holds %d, the mined transfers say %d", a, got, want[a])
		}
		total += got
	}
	if total != supply.Int64() {
		t.Errorf("the senders hold %d of a supply of %d", total, supply)
	}
	t.Logf("%d transfers sent, %d mined before the stop, primary %s killed", len(all), len(mined), victim)
}

func balanceOf(t *testing.T, c *ethclient.Client, token *contracts.Token, taddr, from, who common.Address) *big.Int {
	t.Helper()
	out, err := c.CallContract(context.Background(), ethereum.CallMsg{From: from, To: &taddr, Data: token.PackBalanceOf(who)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.UnpackBalanceOf(out)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sendUntilMined sends a signed transaction and waits for its receipt,
// sending it again while the network does not know it (a primary lost
// it, or no primary answered); nil once stop closes.
func sendUntilMined(ctx context.Context, c *ethclient.Client, tx *types.Transaction, stop chan struct{}) *types.Receipt {
	for {
		err := c.SendTransaction(ctx, tx)
		if err != nil && !strings.Contains(err.Error(), "already known") && !strings.Contains(err.Error(), "nonce too low") {
			select {
			case <-stop:
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		for range 150 {
			rc, err := c.TransactionReceipt(ctx, tx.Hash())
			if err == nil {
				return rc
			}
			if _, _, terr := c.TransactionByHash(ctx, tx.Hash()); errors.Is(terr, ethereum.NotFound) {
				break // lost: send it again
			}
			select {
			case <-stop:
				return nil
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// TestEthEthers runs ethers v6 (Node) through the sandbox's proxy.
func TestEthEthers(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed (scripts/test.sh installs it)")
	}
	mods := nodetest.Install(t, "ethers", "ethers@6.17.0")
	l := startLedger(t, 1, "--eth")
	var info ethInfo
	for deadline := time.Now().Add(20 * time.Second); info.RPCURL == ""; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(l.dir, EthInfoFile))
		json.Unmarshal(b, &info)
		if time.Now().After(deadline) {
			t.Fatal("no eth.json")
		}
	}
	root, _ := filepath.Abs("../..")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "ethers_erc20.js"), mods)
	cmd.Env = append(os.Environ(), "RPC_URL="+info.RPCURL, "KEY="+info.Accounts[0].PrivateKey, "KEY2="+info.Accounts[1].PrivateKey,
		"ABI="+filepath.Join(root, "ledger/eth/contracts/build/Token.abi"), "BIN="+filepath.Join(root, "ledger/eth/contracts/build/Token.bin"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ethers: %v\n%s", err, out)
	}
	var res struct {
		ChainID int    `json:"chainId"`
		Reason  string `json:"reason"`
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if json.Unmarshal([]byte(lines[len(lines)-1]), &res) != nil || res.ChainID != 1337 || !strings.Contains(res.Reason, "exceeds balance") {
		t.Fatalf("ethers said:\n%s", out)
	}
}
