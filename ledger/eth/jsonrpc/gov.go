package jsonrpc

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/eth"
	"github.com/confide/confide/ledger/gov"
	"github.com/confide/confide/ledger/kv"
	"github.com/confide/confide/ledger/merkle"
)

// govGenesis is set_eth_genesis's argument.
type govGenesis struct {
	ChainID  uint64            `json:"chain_id"`
	Mode     string            `json:"mode"`
	BaseFee  uint64            `json:"base_fee"`
	GasLimit uint64            `json:"gas_limit"`
	Alloc    map[string]string `json:"alloc"`
	Links    map[string]string `json:"links"`
}

func (g govGenesis) genesis(now time.Time) (eth.Genesis, error) {
	out := eth.Genesis{Config: eth.Config{ChainID: g.ChainID, Mode: g.Mode, BaseFee: g.BaseFee, GasLimit: g.GasLimit},
		Alloc: map[common.Address]*big.Int{}, Links: map[common.Address]string{}, Time: uint64(now.Unix())}
	for a, wei := range g.Alloc {
		v, ok := new(big.Int).SetString(wei, 10)
		if !ok || !common.IsHexAddress(a) {
			return out, fmt.Errorf("eth genesis: %s: %s", a, wei)
		}
		out.Alloc[common.HexToAddress(a)] = v
	}
	for a, u := range g.Links {
		if !common.IsHexAddress(a) {
			return out, fmt.Errorf("eth genesis: %s is not an address", a)
		}
		out.Links[common.HexToAddress(a)] = u
	}
	return out, nil
}

// govRequests applies, on the primary, what governance asked of the
// chain (set_eth_genesis, set_eth_config): each request once, marked
// served with its proposal in the same transaction. A request that
// cannot apply (a second genesis, a bad value) is marked served and
// logged: the proposal passed, and its effect is this refusal.
func (a *App) govRequests(ctx context.Context) {
	for _, kind := range []string{"eth_genesis", "eth_config"} {
		req, ok := a.store().Get(gov.MapRequests, []byte(kind))
		if !ok {
			continue
		}
		done, _ := a.store().Get(gov.MapRequests, []byte(kind+"_done"))
		var r struct {
			Proposal string          `json:"proposal"`
			Genesis  json.RawMessage `json:"genesis"`
			Config   json.RawMessage `json:"config"`
		}
		if json.Unmarshal(req, &r) != nil || string(done) == r.Proposal {
			continue
		}
		var applyErr error
		_, err := a.opt.Node.Execute(ctx, func(tx *kv.Tx, id entry.TxID) (*merkle.Hash, error) {
			tx.Put(gov.MapRequests, []byte(kind+"_done"), []byte(r.Proposal))
			sp := tx.Savepoint()
			if kind == "eth_genesis" {
				var g govGenesis
				if applyErr = json.Unmarshal(r.Genesis, &g); applyErr == nil {
					var gen eth.Genesis
					if gen, applyErr = g.genesis(time.Now()); applyErr == nil {
						applyErr = eth.WriteGenesis(tx, gen, id.Seqno)
					}
				}
			} else {
				var ch eth.ConfigChange
				if applyErr = json.Unmarshal(r.Config, &ch); applyErr == nil {
					applyErr = eth.ChangeConfig(tx, ch)
				}
			}
			if applyErr != nil {
				tx.RollbackTo(sp)
			}
			return nil, nil
		})
		if applyErr != nil {
			a.opt.Log.Warn("eth: a governance request did not apply", "request", kind, "proposal", r.Proposal, "err", applyErr)
		}
		if err != nil && ctx.Err() == nil {
			a.opt.Log.Warn("eth: a governance request", "request", kind, "err", err)
		}
	}
}
