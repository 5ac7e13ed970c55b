// Package ethload is the load generator of the Ethereum benchmark and of
// "Coco Ethereum versus Ethereum" (bench/ethload and `confide demo eth`
// run it): a closed loop of ERC-20 transfers against any Ethereum
// JSON-RPC endpoint, confide's Ethereum app or geth alike. It starts
// nothing.
//
// Setup (untimed): it makes a fresh deployer and Config.Senders fresh
// sender accounts and funds them with ether, from the keys of an accounts
// file, from one dev key, or by eth_sendTransaction from the node's own
// unlocked eth_accounts[0], as geth --dev has. The deployer deploys the
// Token (ledger/eth/contracts) and gives each sender tokens, one transfer
// each, pipelined with explicit nonces. Warm-up (untimed): each sender
// makes one transfer, all at once, so that connections are open before
// the clock starts.
//
// Measured phase: each sender sends a transfer of one token unit to a
// random other sender, waits for its receipt (eth_getTransactionReceipt
// polled every Config.Poll; by default one JSON-RPC batch per poll
// carries the lookups of every transaction in flight) and sends the
// next: a closed loop, with at most Config.Inflight transactions in
// flight overall and one per sender. Nonces are tracked locally; the gas
// limit is one eth_estimateGas per sender ×1.2; transactions are EIP-1559
// with a fee cap of eth_gasPrice ×2 and a tip of
// eth_maxPriorityFeePerGas. A transaction's latency runs from its send to
// its receipt being seen. A send the node refuses, a receipt with status
// 0 and a receipt not seen within Config.ReceiptTimeout are failures,
// counted and reported (the first five logged as they happen); the phase
// ends early once transfers fail and none has committed for Config.Stall
// (a dead endpoint).
//
// Then it verifies conservation: every holder's balanceOf is what the
// successful receipts' Transfer events say, their sum is totalSupply, and
// the successful Transfer receipts number the transfers attempted minus
// the failures (the warm-up's included).
package ethload

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/confide/confide/ledger/eth/contracts"
)

type account struct {
	key  *ecdsa.PrivateKey
	addr common.Address
}

func newAccount() account {
	k, err := crypto.GenerateKey()
	if err != nil {
		panic(err) // crypto/rand failed
	}
	return account{key: k, addr: crypto.PubkeyToAddress(k.PublicKey)}
}

func parseKey(s string) (account, error) {
	k, err := crypto.HexToECDSA(strings.TrimPrefix(strings.TrimSpace(s), "0x"))
	if err != nil {
		return account{}, err
	}
	return account{key: k, addr: crypto.PubkeyToAddress(k.PublicKey)}, nil
}

// Config is one run's.
type Config struct {
	RPC  string // JSON-RPC endpoint, http:// or https://
	Cert string // client certificate PEM (https)
	Key  string // client key PEM (https)
	CA   string // CA or service certificate PEM to trust (https)

	// Funding, exactly one of: a JSON file of funded accounts
	// [{"address","private_key"}], one funded private key (hex), or
	// eth_sendTransaction from the node's eth_accounts[0] (geth --dev).
	AccountsFile string
	DevKey       string
	FundFromNode bool
	FundEther    int64 // ether given to the deployer and to each sender

	Senders   int           // sender accounts (each has at most one transaction in flight)
	Inflight  int           // transactions in flight at most, overall
	Transfers int           // transfers in the measured phase
	Duration  time.Duration // or run the measured phase this long
	Label     string

	Poll           time.Duration // receipt polling interval
	PollEach       bool          // each sender polls its own receipt (else one JSON-RPC batch polls every receipt in flight)
	ReceiptTimeout time.Duration // give up on a receipt after this long
	Stall          time.Duration // end early once transfers fail and none has committed for this long

	Out io.Writer   // the human result line (nil: none)
	Log *log.Logger // progress (nil: none)
}

// Defaults fills what is unset with bench/ethload's defaults.
func (c *Config) Defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.FundEther == 0 {
		c.FundEther = 10
	}
	if c.Senders == 0 {
		c.Senders = 64
	}
	if c.Inflight == 0 {
		c.Inflight = c.Senders
	}
	if c.Transfers == 0 && c.Duration == 0 {
		c.Transfers = 10000
	}
	if c.Label == "" {
		c.Label = "eth"
	}
	def(&c.Poll, 5*time.Millisecond)
	def(&c.ReceiptTimeout, 2*time.Minute)
	def(&c.Stall, time.Minute)
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Log == nil {
		c.Log = log.New(io.Discard, "", 0)
	}
}

// Result is a run's outcome.
type Result struct {
	Label     string  `json:"label"`
	Transfers int     `json:"transfers"`
	Seconds   float64 `json:"seconds"`
	TPS       float64 `json:"tps"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	Failed    int     `json:"failed"`
	Inflight  int     `json:"inflight"`
	Senders   int     `json:"senders"`
	Verified  bool    `json:"verified"`
	Why       string  `json:"why"`
}

// Run sets up (untimed), measures and verifies one run. An error is a
// run that could not be made; a run made whose verification failed
// returns its Result with Verified false.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg.Defaults()
	if cfg.RPC == "" || !(strings.HasPrefix(cfg.RPC, "http://") || strings.HasPrefix(cfg.RPC, "https://")) {
		return Result{}, errors.New("ethload: the endpoint must be http(s)://HOST:PORT/PATH")
	}
	if n := btoi(cfg.AccountsFile != "") + btoi(cfg.DevKey != "") + btoi(cfg.FundFromNode); n != 1 {
		return Result{}, errors.New("ethload: give exactly one of the accounts file, the dev key, funding from the node")
	}
	if cfg.Senders < 2 || cfg.Inflight < 1 {
		return Result{}, errors.New("ethload: at least 2 senders and 1 in flight")
	}
	l := &loader{cfg: cfg}
	if cfg.Inflight > cfg.Senders {
		l.logf("note: inflight %d > senders %d: at most %d transactions are in flight (one per sender)", cfg.Inflight, cfg.Senders, cfg.Senders)
	}
	if err := l.dial(ctx); err != nil {
		return Result{}, err
	}
	defer l.rc.Close()
	if err := l.setup(ctx); err != nil {
		return Result{}, err
	}
	r := l.measure(ctx)
	ok, why := l.verify(ctx, r)
	if r.stalled {
		ok, why = false, "it stalled; "+why
	}
	return l.report(r, ok, why), nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (l *loader) logf(format string, args ...any) { l.cfg.Log.Printf(format, args...) }

// loader is one run against one endpoint.
type loader struct {
	cfg     Config
	rc      *rpc.Client
	ec      *ethclient.Client
	chainID *big.Int
	signer  types.Signer
	token   *contracts.Token
	poll    *poller

	mu          sync.Mutex
	feeCap, tip *big.Int

	deployer  account
	senders   []account
	tokenAddr common.Address
	supply    *big.Int
	perSender *big.Int
	gasReuse  uint64 // a transfer's gas limit, for the budget warning
	lastBlock atomic.Uint64
}

func (l *loader) dial(ctx context.Context) error {
	tr := &http.Transport{MaxIdleConns: 4 * l.cfg.Inflight, MaxIdleConnsPerHost: 2 * l.cfg.Inflight, IdleConnTimeout: time.Minute}
	if strings.HasPrefix(l.cfg.RPC, "https://") {
		cfg := &tls.Config{}
		if l.cfg.CA != "" {
			pem, err := os.ReadFile(l.cfg.CA)
			if err != nil {
				return err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("%s: no certificate", l.cfg.CA)
			}
			cfg.RootCAs = pool
		}
		if l.cfg.Cert != "" || l.cfg.Key != "" {
			c, err := tls.LoadX509KeyPair(l.cfg.Cert, l.cfg.Key)
			if err != nil {
				return err
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		tr.TLSClientConfig = cfg
	}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	rc, err := rpc.DialOptions(ctx, l.cfg.RPC, rpc.WithHTTPClient(hc))
	if err != nil {
		return err
	}
	l.rc, l.ec, l.token = rc, ethclient.NewClient(rc), contracts.NewToken()
	l.poll = newPoller(rc, l.cfg.Poll, !l.cfg.PollEach)
	if l.chainID, err = l.ec.ChainID(ctx); err != nil {
		return fmt.Errorf("eth_chainId: %w", err)
	}
	l.signer = types.LatestSignerForChainID(l.chainID)
	return l.refreshFees(ctx)
}

// refreshFees sets the fee cap to eth_gasPrice ×2 and the tip to
// eth_maxPriorityFeePerGas (at most the cap).
func (l *loader) refreshFees(ctx context.Context) error {
	gp, err := l.ec.SuggestGasPrice(ctx)
	if err != nil {
		return fmt.Errorf("eth_gasPrice: %w", err)
	}
	tip, err := l.ec.SuggestGasTipCap(ctx)
	if err != nil {
		l.logf("eth_maxPriorityFeePerGas: %v; tipping 0", err)
		tip = new(big.Int)
	}
	fc := new(big.Int).Mul(gp, big.NewInt(2))
	if tip.Cmp(fc) > 0 {
		tip = new(big.Int).Set(fc)
	}
	l.mu.Lock()
	l.feeCap, l.tip = fc, tip
	l.mu.Unlock()
	return nil
}

func (l *loader) fees() (feeCap, tip *big.Int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.feeCap, l.tip
}

func (l *loader) sign(from account, nonce, gas uint64, to *common.Address, value *big.Int, data []byte) *types.Transaction {
	fc, tip := l.fees()
	tx, err := types.SignNewTx(from.key, l.signer, &types.DynamicFeeTx{ChainID: l.chainID, Nonce: nonce,
		GasTipCap: tip, GasFeeCap: fc, Gas: gas, To: to, Value: value, Data: data})
	if err != nil {
		panic(err) // our own key and transaction
	}
	return tx
}

// send sends a signed transaction. A transport failure (no JSON-RPC
// answer) is retried with the same transaction; on such a resend "already
// known" and "nonce too low" mean the first send got through. "already
// known" on a first send means the same.
func (l *loader) send(ctx context.Context, tx *types.Transaction) error {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		err = l.ec.SendTransaction(ctx, tx)
		if err == nil || isErr(err, "already known") || (attempt > 0 && isErr(err, "nonce too low")) {
			return nil
		}
		var re rpc.Error
		if errors.As(err, &re) {
			return err // the node answered: no resend
		}
		time.Sleep(time.Duration(50<<attempt) * time.Millisecond)
	}
	return err
}

func isErr(err error, s string) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), s)
}

func isFeeErr(err error) bool {
	return isErr(err, "underpriced") || isErr(err, "base fee") || isErr(err, "fee cap") || isErr(err, "fee too low")
}

func addGas(g uint64) uint64 { return g + g/5 }

// setup funds the deployer and the senders, deploys the token and gives
// each sender tokens.
func (l *loader) setup(ctx context.Context) error {
	start := time.Now()
	l.deployer = newAccount()
	for range l.cfg.Senders {
		l.senders = append(l.senders, newAccount())
	}
	amount := new(big.Int).Mul(big.NewInt(l.cfg.FundEther), big.NewInt(params.Ether))
	to := []common.Address{l.deployer.addr}
	for _, s := range l.senders {
		to = append(to, s.addr)
	}
	if err := l.fund(ctx, to, amount); err != nil {
		return fmt.Errorf("funding: %w", err)
	}
	// The node may answer receipts before its latest state has them.
	last := to[len(to)-1]
	if err := waitFor(ctx, "the funded balances", func() (bool, error) {
		b, err := l.ec.BalanceAt(ctx, last, nil)
		return err == nil && b.Sign() > 0, err
	}); err != nil {
		return err
	}
	l.logf("funded %d accounts with %d ether each (%.1fs)", len(to), l.cfg.FundEther, time.Since(start).Seconds())

	// Deploy.
	t := time.Now()
	l.perSender = new(big.Int).Exp(big.NewInt(10), big.NewInt(24), nil)
	l.supply = new(big.Int).Mul(l.perSender, big.NewInt(int64(l.cfg.Senders)+1))
	code := append(common.FromHex(contracts.TokenMetaData.Bin), l.token.PackConstructor("Bench", "BCH", l.supply)...)
	gas, err := l.ec.EstimateGas(ctx, ethereum.CallMsg{From: l.deployer.addr, Data: code})
	if err != nil {
		return fmt.Errorf("estimating the deployment: %w", err)
	}
	tx := l.sign(l.deployer, 0, addGas(gas), nil, nil, code)
	if err := l.send(ctx, tx); err != nil {
		return fmt.Errorf("deploying: %w", err)
	}
	rcs, err := l.waitAll(ctx, []common.Hash{tx.Hash()})
	if err != nil {
		return fmt.Errorf("deploying: %w", err)
	}
	l.tokenAddr = rcs[0].ContractAddress
	if err := waitFor(ctx, "the token's code", func() (bool, error) {
		c, err := l.ec.CodeAt(ctx, l.tokenAddr, nil)
		return len(c) > 0, err
	}); err != nil {
		return err
	}
	l.logf("deployed the token at %s (gas %d, %.1fs)", l.tokenAddr, rcs[0].GasUsed, time.Since(t).Seconds())

	// Give each sender tokens, pipelined.
	t = time.Now()
	gas, err = l.ec.EstimateGas(ctx, ethereum.CallMsg{From: l.deployer.addr, To: &l.tokenAddr, Data: l.token.PackTransfer(l.senders[0].addr, l.perSender)})
	if err != nil {
		return fmt.Errorf("estimating a token transfer: %w", err)
	}
	var hashes []common.Hash
	for i, s := range l.senders {
		tx := l.sign(l.deployer, uint64(i)+1, addGas(gas), &l.tokenAddr, nil, l.token.PackTransfer(s.addr, l.perSender))
		if err := l.send(ctx, tx); err != nil {
			return fmt.Errorf("giving sender %d tokens: %w", i, err)
		}
		hashes = append(hashes, tx.Hash())
	}
	if _, err := l.waitAll(ctx, hashes); err != nil {
		return fmt.Errorf("giving the senders tokens: %w", err)
	}
	lastSender := l.senders[len(l.senders)-1].addr
	if err := waitFor(ctx, "the senders' tokens", func() (bool, error) {
		b, err := l.balanceOf(ctx, lastSender)
		return err == nil && b.Sign() > 0, err
	}); err != nil {
		return err
	}
	l.logf("gave %d senders tokens (gas %d each, %.1fs)", len(l.senders), gas, time.Since(t).Seconds())
	return nil
}

// fund sends amount of ether to each address.
func (l *loader) fund(ctx context.Context, to []common.Address, amount *big.Int) error {
	var hashes []common.Hash
	if l.cfg.FundFromNode {
		var accts []common.Address
		if err := l.rc.CallContext(ctx, &accts, "eth_accounts"); err != nil {
			return fmt.Errorf("eth_accounts: %w", err)
		}
		if len(accts) == 0 {
			return errors.New("the node has no account (eth_accounts is empty)")
		}
		// Explicit nonces: the node's own choice can repeat one while a
		// block lands (geth: "replacement transaction underpriced").
		nonce, err := l.ec.PendingNonceAt(ctx, accts[0])
		if err != nil {
			return err
		}
		for i, a := range to {
			var h common.Hash
			if err := l.rc.CallContext(ctx, &h, "eth_sendTransaction", map[string]any{
				"from": accts[0], "to": a, "value": (*hexutil.Big)(amount), "nonce": hexutil.Uint64(nonce + uint64(i))}); err != nil {
				return fmt.Errorf("eth_sendTransaction from %s: %w", accts[0], err)
			}
			hashes = append(hashes, h)
		}
	} else {
		var funders []account
		if l.cfg.DevKey != "" {
			a, err := parseKey(l.cfg.DevKey)
			if err != nil {
				return fmt.Errorf("-dev-key: %w", err)
			}
			funders = append(funders, a)
		} else {
			b, err := os.ReadFile(l.cfg.AccountsFile)
			if err != nil {
				return err
			}
			var list []struct {
				Address    string `json:"address"`
				PrivateKey string `json:"private_key"`
			}
			if err := json.Unmarshal(b, &list); err != nil {
				return fmt.Errorf("%s: %w", l.cfg.AccountsFile, err)
			}
			for i, e := range list {
				a, err := parseKey(e.PrivateKey)
				if err != nil {
					return fmt.Errorf("%s: account %d: %w", l.cfg.AccountsFile, i, err)
				}
				if e.Address != "" && common.HexToAddress(e.Address) != a.addr {
					return fmt.Errorf("%s: account %d: the key is %s's, not %s's", l.cfg.AccountsFile, i, a.addr, e.Address)
				}
				funders = append(funders, a)
			}
			if len(funders) == 0 {
				return fmt.Errorf("%s lists no account", l.cfg.AccountsFile)
			}
		}
		// Each funder pays its share, pipelined with explicit nonces.
		var mu sync.Mutex
		var wg sync.WaitGroup
		errs := make([]error, len(funders))
		for fi, f := range funders {
			wg.Go(func() {
				nonce, err := l.ec.PendingNonceAt(ctx, f.addr)
				if err != nil {
					errs[fi] = err
					return
				}
				gas, err := l.ec.EstimateGas(ctx, ethereum.CallMsg{From: f.addr, To: &to[0], Value: amount})
				if err != nil {
					errs[fi] = fmt.Errorf("estimating a payment from %s: %w", f.addr, err)
					return
				}
				for i := fi; i < len(to); i += len(funders) {
					tx := l.sign(f, nonce, gas, &to[i], amount, nil)
					if err := l.send(ctx, tx); err != nil {
						errs[fi] = fmt.Errorf("paying from %s: %w", f.addr, err)
						return
					}
					nonce++
					mu.Lock()
					hashes = append(hashes, tx.Hash())
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	_, err := l.waitAll(ctx, hashes)
	return err
}

// waitAll waits for the receipts of the transactions, all successful.
func (l *loader) waitAll(ctx context.Context, hashes []common.Hash) ([]*types.Receipt, error) {
	rcs := make([]*types.Receipt, len(hashes))
	errs := make([]error, len(hashes))
	var wg sync.WaitGroup
	for i, h := range hashes {
		wg.Go(func() {
			rc, err := l.poll.wait(ctx, h, l.cfg.ReceiptTimeout)
			if err == nil && rc.Status != types.ReceiptStatusSuccessful {
				err = fmt.Errorf("transaction %s failed (status 0, gas used %d)", h, rc.GasUsed)
			}
			if err == nil {
				l.noteBlock(rc)
			}
			rcs[i], errs[i] = rc, err
		})
	}
	wg.Wait()
	return rcs, errors.Join(errs...)
}

func (l *loader) noteBlock(rc *types.Receipt) {
	if rc.BlockNumber == nil {
		return
	}
	b := rc.BlockNumber.Uint64()
	for {
		cur := l.lastBlock.Load()
		if b <= cur || l.lastBlock.CompareAndSwap(cur, b) {
			return
		}
	}
}

// waitFor polls cond for up to 20 s.
func waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: gave up after 20s (last error: %v)", what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (l *loader) balanceOf(ctx context.Context, a common.Address) (*big.Int, error) {
	out, err := l.ec.CallContract(ctx, ethereum.CallMsg{To: &l.tokenAddr, Data: l.token.PackBalanceOf(a)}, nil)
	if err != nil {
		return nil, err
	}
	return l.token.UnpackBalanceOf(out)
}

// sender is one sender's state in the measured phase.
type sender struct {
	i     int
	acct  account
	nonce uint64
	gas   uint64 // 0: estimate each transfer
	rng   *rand.Rand

	latencies []time.Duration
	moves     []move // the successful receipts' Transfer events
	ok        int    // successful receipts
	okEvents  int    // successful receipts with the one expected Transfer event
	attempted int
	failed    int
}

type move struct {
	from, to common.Address
	value    *big.Int
}

type result struct {
	attempted, ok, okEvents, failed int
	seconds                         float64
	latencies                       []time.Duration
	moves                           []move
	errors                          map[string]int
	resyncs                         int64
	stalled                         bool
	// The warm-up's, which only the verification counts.
	warmAttempted, warmOkEvents, warmFailed int
}

// failures counts the send errors by message; the first few are printed
// as they happen.
type failures struct {
	l       *loader
	mu      sync.Mutex
	n       int
	byMsg   map[string]int
	resyncs atomic.Int64

	lastOK   atomic.Int64 // unix nanoseconds of the last committed transfer
	lastFail atomic.Int64 // and of the last failure
	stalled  atomic.Bool
}

// stuck reports whether transfers fail and none has committed for -stall.
func (f *failures) stuck() bool {
	if f.stalled.Load() {
		return true
	}
	ok, fail := f.lastOK.Load(), f.lastFail.Load()
	if fail > ok && time.Since(time.Unix(0, ok)) > f.l.cfg.Stall {
		if f.stalled.CompareAndSwap(false, true) {
			f.l.logf("giving up: transfers fail and none has committed for %s", f.l.cfg.Stall)
		}
		return true
	}
	return false
}

var hashRE = regexp.MustCompile(`0x[0-9a-fA-F]{64}`)

func (f *failures) add(err error) {
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:160] + "…"
	}
	f.lastFail.Store(time.Now().UnixNano())
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.n <= 5 {
		f.l.logf("failure %d: %s", f.n, msg)
	}
	f.byMsg[hashRE.ReplaceAllString(msg, "0x…")]++
}

func (l *loader) measure(ctx context.Context) result {
	senders := make([]*sender, len(l.senders))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	seed := rand.Uint64()
	for i, a := range l.senders {
		s := &sender{i: i, acct: a, nonce: 0, rng: rand.New(rand.NewPCG(seed, uint64(i)))}
		senders[i] = s
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			g, err := l.ec.EstimateGas(ctx, ethereum.CallMsg{From: a.addr, To: &l.tokenAddr, Data: l.token.PackTransfer(l.senders[(i+1)%len(l.senders)].addr, big.NewInt(1))})
			if err != nil {
				l.logf("sender %d: estimating a transfer: %v; estimating each transfer", i, err)
				return
			}
			s.gas = addGas(g)
		})
	}
	wg.Wait()
	l.gasReuse = senders[0].gas
	if fc, _ := l.fees(); l.gasReuse > 0 {
		per := new(big.Int).Mul(fc, new(big.Int).SetUint64(l.gasReuse))
		budget := new(big.Int).Div(new(big.Int).Mul(big.NewInt(l.cfg.FundEther), big.NewInt(params.Ether)), per)
		if l.cfg.Duration == 0 && budget.Cmp(big.NewInt(int64(2*(l.cfg.Transfers)/(l.cfg.Senders)+10))) < 0 {
			l.logf("warning: -fund %d ether pays for about %s transfers per sender at the current fee cap", l.cfg.FundEther, budget)
		}
	}

	fails := &failures{l: l, byMsg: map[string]int{}}
	var tickets atomic.Int64
	tickets.Store(int64(l.cfg.Transfers))
	var deadline time.Time
	slots := make(chan struct{}, l.cfg.Inflight)
	what := fmt.Sprint(l.cfg.Transfers, " transfers")
	if l.cfg.Duration > 0 {
		what = l.cfg.Duration.String()
	}
	l.logf("measuring: %d senders, at most %d in flight, %s; gas limit %d per transfer (0: estimated each time)",
		len(senders), min(l.cfg.Inflight, len(senders)), what, l.gasReuse)
	// Warm-up, untimed: each sender makes one transfer, all at once, so
	// that the connections (a TLS handshake each, where the endpoint
	// speaks TLS) are open before the clock starts, as ledgerload's
	// warm-up second does. Its transfers count in the verification.
	fails.lastOK.Store(time.Now().UnixNano())
	for _, s := range senders {
		wg.Go(func() {
			slots <- struct{}{}
			l.transfer(ctx, s, senders, fails)
			<-slots
		})
	}
	wg.Wait()
	var warm result
	for _, s := range senders {
		warm.attempted += s.attempted
		warm.okEvents += s.okEvents
		warm.failed += s.failed
		s.attempted, s.ok, s.okEvents, s.failed, s.latencies = 0, 0, 0, 0, nil
	}
	start := time.Now()
	fails.lastOK.Store(start.UnixNano())
	if l.cfg.Duration > 0 {
		deadline = start.Add(l.cfg.Duration)
	}
	for _, s := range senders {
		wg.Go(func() {
			for !fails.stuck() {
				if l.cfg.Duration > 0 {
					if time.Now().After(deadline) {
						return
					}
				} else if tickets.Add(-1) < 0 {
					return
				}
				slots <- struct{}{}
				l.transfer(ctx, s, senders, fails)
				<-slots
			}
		})
	}
	wg.Wait()
	r := result{seconds: time.Since(start).Seconds(), errors: fails.byMsg, resyncs: fails.resyncs.Load(), stalled: fails.stalled.Load(),
		warmAttempted: warm.attempted, warmOkEvents: warm.okEvents, warmFailed: warm.failed}
	for _, s := range senders {
		r.attempted += s.attempted
		r.ok += s.ok
		r.okEvents += s.okEvents
		r.failed += s.failed
		r.latencies = append(r.latencies, s.latencies...)
		r.moves = append(r.moves, s.moves...)
	}
	return r
}

// transfer makes one transfer of one unit from s to a random other sender
// and waits for its receipt.
func (l *loader) transfer(ctx context.Context, s *sender, all []*sender, fails *failures) {
	s.attempted++
	j := s.rng.IntN(len(all) - 1)
	if j >= s.i {
		j++
	}
	to := all[j].acct.addr
	one := big.NewInt(1)
	data := l.token.PackTransfer(to, one)
	gas := s.gas
	if gas == 0 {
		g, err := l.ec.EstimateGas(ctx, ethereum.CallMsg{From: s.acct.addr, To: &l.tokenAddr, Data: data})
		if err != nil {
			s.failed++
			fails.add(fmt.Errorf("estimating: %w", err))
			return
		}
		gas = addGas(g)
	}
	var tx *types.Transaction
	var sent time.Time
	for attempt := 0; ; attempt++ {
		tx = l.sign(s.acct, s.nonce, gas, &l.tokenAddr, nil, data)
		sent = time.Now()
		err := l.send(ctx, tx)
		if err == nil {
			break
		}
		if attempt < 3 && isErr(err, "nonce too low") {
			// Our count is behind (a transaction we gave up on went in).
			if n, err2 := l.ec.PendingNonceAt(ctx, s.acct.addr); err2 == nil && n > s.nonce {
				fails.resyncs.Add(1)
				s.nonce = n
				continue
			}
		}
		if attempt < 3 && isFeeErr(err) {
			if l.refreshFees(ctx) == nil {
				continue
			}
		}
		// Refused: the nonce is unused.
		s.failed++
		fails.add(err)
		return
	}
	s.nonce++
	rc, err := l.poll.wait(ctx, tx.Hash(), l.cfg.ReceiptTimeout)
	lat := time.Since(sent)
	if err != nil {
		s.failed++
		fails.add(err)
		// Whether the nonce was used is unknown: ask.
		if n, err := l.ec.PendingNonceAt(ctx, s.acct.addr); err == nil {
			s.nonce = n
		}
		return
	}
	l.noteBlock(rc)
	if rc.Status != types.ReceiptStatusSuccessful {
		s.failed++
		fails.add(fmt.Errorf("transaction %s failed (status 0, gas used %d of %d)", tx.Hash(), rc.GasUsed, gas))
		return
	}
	s.ok++
	fails.lastOK.Store(time.Now().UnixNano())
	s.latencies = append(s.latencies, lat)
	var evs []*contracts.TokenTransfer
	for _, lg := range rc.Logs {
		if lg.Address != l.tokenAddr {
			continue
		}
		if ev, err := l.token.UnpackTransferEvent(lg); err == nil {
			evs = append(evs, ev)
		}
	}
	for _, ev := range evs {
		s.moves = append(s.moves, move{ev.From, ev.To, ev.Value})
	}
	if len(evs) == 1 && evs[0].From == s.acct.addr && evs[0].To == to && evs[0].Value.Cmp(one) == 0 {
		s.okEvents++
	}
}

// verify checks that every holder's balance is what the Transfer events
// say, that they sum to totalSupply, and that every successful receipt
// had its Transfer event.
func (l *loader) verify(ctx context.Context, r result) (bool, string) {
	want := map[common.Address]*big.Int{l.deployer.addr: new(big.Int).Sub(l.supply, new(big.Int).Mul(l.perSender, big.NewInt(int64(len(l.senders)))))}
	holders := []common.Address{l.deployer.addr}
	for _, s := range l.senders {
		want[s.addr] = new(big.Int).Set(l.perSender)
		holders = append(holders, s.addr)
	}
	for _, m := range r.moves {
		if want[m.from] == nil || want[m.to] == nil {
			return false, fmt.Sprintf("a Transfer event between %s and %s, not holders", m.from, m.to)
		}
		want[m.from].Sub(want[m.from], m.value)
		want[m.to].Add(want[m.to], m.value)
	}
	okEvents, attempted, failed := r.okEvents+r.warmOkEvents, r.attempted+r.warmAttempted, r.failed+r.warmFailed
	if okEvents != attempted-failed {
		return false, fmt.Sprintf("%d successful Transfer receipts, but %d attempted − %d failed = %d (with the warm-up's)", okEvents, attempted, failed, attempted-failed)
	}
	// The latest state may lag the receipts: wait for the last block, and
	// read again while the balances disagree.
	last := l.lastBlock.Load()
	_ = waitFor(ctx, "the last block", func() (bool, error) {
		n, err := l.ec.BlockNumber(ctx)
		return err == nil && n >= last, err
	})
	var why string
	for try := 0; try < 20; try++ {
		if try > 0 {
			time.Sleep(250 * time.Millisecond)
		}
		out, err := l.ec.CallContract(ctx, ethereum.CallMsg{To: &l.tokenAddr, Data: l.token.PackTotalSupply()}, nil)
		if err != nil {
			why = fmt.Sprintf("totalSupply: %v", err)
			continue
		}
		ts, err := l.token.UnpackTotalSupply(out)
		if err != nil {
			why = fmt.Sprintf("totalSupply: %v", err)
			continue
		}
		bals := make([]*big.Int, len(holders))
		errs := make([]error, len(holders))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i, h := range holders {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				bals[i], errs[i] = l.balanceOf(ctx, h)
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			why = fmt.Sprintf("balanceOf: %v", err)
			continue
		}
		sum, bad := new(big.Int), 0
		for i, h := range holders {
			sum.Add(sum, bals[i])
			if bals[i].Cmp(want[h]) != 0 {
				bad++
			}
		}
		switch {
		case ts.Cmp(l.supply) != 0:
			why = fmt.Sprintf("totalSupply %s, deployed with %s", ts, l.supply)
		case sum.Cmp(ts) != 0:
			why = fmt.Sprintf("the balances sum to %s, totalSupply is %s", sum, ts)
		case bad > 0:
			why = fmt.Sprintf("%d of %d balances differ from the Transfer events", bad, len(holders))
		default:
			return true, fmt.Sprintf("%d balances sum to totalSupply and match %d Transfer events", len(holders), len(r.moves))
		}
	}
	return false, why
}

func (l *loader) report(r result, ok bool, why string) Result {
	slices.Sort(r.latencies)
	pct := func(p float64) float64 {
		if len(r.latencies) == 0 {
			return 0
		}
		i := int(p * float64(len(r.latencies)))
		i = min(i, len(r.latencies)-1)
		return float64(r.latencies[i].Microseconds()) / 1000
	}
	tps := float64(r.ok) / r.seconds
	if len(r.errors) > 0 {
		type kv struct {
			msg string
			n   int
		}
		var list []kv
		for m, n := range r.errors {
			list = append(list, kv{m, n})
		}
		slices.SortFunc(list, func(a, b kv) int { return b.n - a.n })
		for _, e := range list[:min(len(list), 5)] {
			l.logf("%d× %s", e.n, e.msg)
		}
	}
	if r.resyncs > 0 {
		l.logf("%d nonce resyncs", r.resyncs)
	}
	verdict := "verified: " + why
	if !ok {
		verdict = "VERIFICATION FAILED: " + why
	}
	fmt.Fprintf(l.cfg.Out, "%s: %d transfers (%d failed) in %.1fs: %.1f transfers/s, p50 %.1f ms, p99 %.1f ms, inflight %d, senders %d; %s\n",
		l.cfg.Label, r.attempted, r.failed, r.seconds, tps, pct(0.50), pct(0.99), l.cfg.Inflight, len(l.senders), verdict)
	return Result{Label: l.cfg.Label, Transfers: r.attempted, Seconds: round(r.seconds, 3), TPS: round(tps, 1),
		P50ms: round(pct(0.50), 2), P99ms: round(pct(0.99), 2), Failed: r.failed,
		Inflight: l.cfg.Inflight, Senders: len(l.senders), Verified: ok, Why: why}
}

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}

// poller waits for receipts by polling eth_getTransactionReceipt.
type poller struct {
	rc    *rpc.Client
	every time.Duration
	batch bool

	mu      sync.Mutex
	waiting map[common.Hash]chan *types.Receipt
	lastErr error
	started bool
}

func newPoller(rc *rpc.Client, every time.Duration, batch bool) *poller {
	return &poller{rc: rc, every: every, batch: batch, waiting: map[common.Hash]chan *types.Receipt{}}
}

func (p *poller) wait(ctx context.Context, h common.Hash, timeout time.Duration) (*types.Receipt, error) {
	deadline := time.Now().Add(timeout)
	if !p.batch {
		var lastErr error
		for {
			time.Sleep(p.every)
			var rc *types.Receipt
			err := p.rc.CallContext(ctx, &rc, "eth_getTransactionReceipt", h)
			if err == nil && rc != nil {
				return rc, nil
			}
			if err != nil {
				lastErr = err
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("no receipt for %s after %s (last error: %v)", h, timeout, lastErr)
			}
		}
	}
	ch := make(chan *types.Receipt, 1)
	p.mu.Lock()
	p.waiting[h] = ch
	if !p.started {
		p.started = true
		go p.loop()
	}
	p.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case rc := <-ch:
		return rc, nil
	case <-t.C:
	case <-ctx.Done():
	}
	p.mu.Lock()
	delete(p.waiting, h)
	lastErr := p.lastErr
	p.mu.Unlock()
	select {
	case rc := <-ch: // it came as we gave up
		return rc, nil
	default:
	}
	return nil, fmt.Errorf("no receipt for %s after %s (last error: %v)", h, timeout, lastErr)
}

// loop polls the receipts of every waiting transaction each tick, in
// batches of at most 500 calls, the batches concurrently.
func (p *poller) loop() {
	const chunk = 500
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for range tick.C {
		p.mu.Lock()
		hashes := make([]common.Hash, 0, len(p.waiting))
		for h := range p.waiting {
			hashes = append(hashes, h)
		}
		p.mu.Unlock()
		var wg sync.WaitGroup
		for lo := 0; lo < len(hashes); lo += chunk {
			part := hashes[lo:min(lo+chunk, len(hashes))]
			wg.Go(func() { p.fetch(part) })
		}
		wg.Wait()
	}
}

func (p *poller) fetch(hashes []common.Hash) {
	rcs := make([]*types.Receipt, len(hashes))
	elems := make([]rpc.BatchElem, len(hashes))
	for i, h := range hashes {
		elems[i] = rpc.BatchElem{Method: "eth_getTransactionReceipt", Args: []any{h}, Result: &rcs[i]}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := p.rc.BatchCallContext(ctx, elems)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.lastErr = err
		return
	}
	for i, h := range hashes {
		if elems[i].Error != nil {
			p.lastErr = elems[i].Error
			continue
		}
		if rcs[i] == nil {
			continue
		}
		if ch, ok := p.waiting[h]; ok {
			delete(p.waiting, h)
			ch <- rcs[i]
		}
	}
}
