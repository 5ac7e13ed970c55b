package jsonrpc

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/confide/confide/ledger/eth"
)

// view is what one caller may see (spec/ledger-eth.md, "Private mode"):
// in the public mode everything; in the private mode the transactions
// its linked addresses sent, their receipts and logs, every log naming
// one of its addresses in a topic, and its addresses' balances and
// nonces.
type view struct {
	cfg  eth.Config
	user string
	all  bool
	mine map[common.Address]bool
	list []common.Address
}

func (a *App) view(u string) (*view, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	v := &view{cfg: cfg, user: u, all: cfg.Mode == eth.Public, mine: map[common.Address]bool{}}
	v.list = eth.Addresses(a.store(), u)
	for _, ad := range v.list {
		v.mine[ad] = true
	}
	return v, nil
}

func (v *view) owns(addr common.Address) bool { return v.all || v.mine[addr] }

func (v *view) sees(t *eth.Tx) bool { return v.all || v.mine[t.From] }

func (v *view) seesLog(t *eth.Tx, l *types.Log) bool {
	if v.sees(t) {
		return true
	}
	for _, topic := range l.Topics {
		if [12]byte(topic[:12]) == [12]byte{} && v.mine[common.BytesToAddress(topic[12:])] {
			return true
		}
	}
	return false
}

func (v *view) refuseAddr(what string, addr common.Address) error {
	return &eth.Error{Code: eth.CodeInvalidInput, Msg: fmt.Sprintf("private mode: the %s of %s is not yours to read (only your linked addresses'; contract state through eth_call)", what, addr.Hex())}
}

func refuseTx(h common.Hash) error {
	return &eth.Error{Code: eth.CodeInvalidInput, Msg: fmt.Sprintf("private mode: transaction %s was sent by another ledger user", h.Hex())}
}

func refuseBlock(n uint64) error {
	return &eth.Error{Code: eth.CodeInvalidInput, Msg: fmt.Sprintf("private mode: block %d holds other users' transactions: ask for its header (full transactions false) or for your transactions by hash", n)}
}

// from fills a call's missing sender with the caller's first linked
// address (as a wallet does) and, in the private mode, checks it.
func (a *App) from(v *view, args *eth.CallArgs) error {
	if args.From == nil {
		if v.all || len(v.list) == 0 {
			if v.all {
				return nil
			}
			return &eth.Error{Code: eth.CodeInvalidInput, Msg: "private mode: a call needs a sender, and your ledger user has no linked address (confide eth link)"}
		}
		f := v.list[0]
		args.From = &f
	}
	return eth.CheckSender(a.store(), v.cfg, *args.From, v.user)
}

// confideAPI is confide's own methods.
type confideAPI struct {
	a     *App
	fixed string // the user of a WebSocket connection
}

func (c *confideAPI) user(ctx context.Context) string {
	if c.fixed != "" {
		return c.fixed
	}
	return userOf(ctx).ID
}

// UserId is the caller's ledger user ID, which a link signature names.
func (c *confideAPI) UserId(ctx context.Context) string { return c.user(ctx) }

// Committed is how far this node has committed (a ledger seqno): a
// backup asks the primary before it answers (App.catchUp).
func (c *confideAPI) Committed() hexutil.Uint64 {
	return hexutil.Uint64(c.a.store().Committed())
}

// LinkedAddresses are the caller's addresses.
func (c *confideAPI) LinkedAddresses(ctx context.Context) []common.Address {
	return append([]common.Address{}, eth.Addresses(c.a.store(), c.user(ctx))...)
}

// LinkAddress links an address to the caller, proven by the address's
// EIP-191 signature of eth.LinkMessage.
func (c *confideAPI) LinkAddress(ctx context.Context, addr common.Address, sig hexutil.Bytes) (bool, error) {
	cfg, err := c.a.config()
	if err != nil {
		return false, err
	}
	user := c.user(ctx)
	if err := eth.VerifyLink(addr, user, cfg.ChainID, sig); err != nil {
		return false, err
	}
	if !c.a.isPrimary() {
		if _, err := c.a.forward(ctx, c.user(ctx), "confide_linkAddress", addr, sig); err != nil {
			return false, err
		}
		return true, nil
	}
	return true, c.a.link(ctx, addr, user)
}
