package jsonrpc

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/confide/confide/ledger/eth"
)

// Log queries are bounded, as geth's are.
const (
	MaxLogRange   = 10_000 // blocks in one eth_getLogs
	MaxLogResults = 10_000
	MaxFilters    = 1_000 // installed filters per node
	FilterTimeout = 5 * time.Minute
	maxTopics     = 4
	maxAlternates = 1_000
)

// Query is eth_getLogs's and eth_newFilter's criteria.
type Query struct {
	BlockHash *common.Hash
	From, To  gethrpc.BlockNumber
	Addresses []common.Address
	Topics    [][]common.Hash
}

// UnmarshalJSON reads geth's filter object: address one or many,
// topics positions each null, one hash or alternatives.
func (q *Query) UnmarshalJSON(b []byte) error {
	var raw struct {
		BlockHash *common.Hash         `json:"blockHash"`
		From      *gethrpc.BlockNumber `json:"fromBlock"`
		To        *gethrpc.BlockNumber `json:"toBlock"`
		Address   json.RawMessage      `json:"address"`
		Topics    []json.RawMessage    `json:"topics"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	q.BlockHash, q.From, q.To = raw.BlockHash, gethrpc.LatestBlockNumber, gethrpc.LatestBlockNumber
	if raw.BlockHash != nil && (raw.From != nil || raw.To != nil) {
		return fmt.Errorf("can't specify fromBlock/toBlock with blockHash")
	}
	if raw.From != nil {
		q.From = *raw.From
	}
	if raw.To != nil {
		q.To = *raw.To
	}
	if len(raw.Address) > 0 && string(raw.Address) != "null" {
		var one common.Address
		if err := json.Unmarshal(raw.Address, &one); err == nil {
			q.Addresses = []common.Address{one}
		} else if err := json.Unmarshal(raw.Address, &q.Addresses); err != nil {
			return fmt.Errorf("invalid address: %w", err)
		}
	}
	if len(q.Addresses) > maxAlternates {
		return fmt.Errorf("too many addresses (at most %d)", maxAlternates)
	}
	if len(raw.Topics) > maxTopics {
		return fmt.Errorf("exceed max topics")
	}
	for _, t := range raw.Topics {
		var alts []common.Hash
		if len(t) > 0 && string(t) != "null" {
			var one common.Hash
			if err := json.Unmarshal(t, &one); err == nil {
				alts = []common.Hash{one}
			} else {
				var many []*common.Hash
				if err := json.Unmarshal(t, &many); err != nil {
					return fmt.Errorf("invalid topic(s)")
				}
				for _, h := range many {
					if h == nil {
						alts = nil // a null alternative matches anything
						break
					}
					alts = append(alts, *h)
				}
			}
		}
		if len(alts) > maxAlternates {
			return fmt.Errorf("too many topic alternatives (at most %d)", maxAlternates)
		}
		q.Topics = append(q.Topics, alts)
	}
	return nil
}

func (q *Query) match(l *types.Log) bool {
	if len(q.Addresses) > 0 && !slices.Contains(q.Addresses, l.Address) {
		return false
	}
	if len(q.Topics) > len(l.Topics) {
		return false
	}
	for i, alts := range q.Topics {
		if len(alts) > 0 && !slices.Contains(alts, l.Topics[i]) {
			return false
		}
	}
	return true
}

// logs collects the matching logs of committed blocks from..to that the
// user may see.
func (a *App) logs(v *view, q *Query, from, to uint64) ([]*types.Log, error) {
	out := []*types.Log{}
	for n := from; n <= to; n++ {
		b, ok := eth.ReadBlock(a.store(), n)
		if !ok {
			return nil, fmt.Errorf("block %d is missing", n)
		}
		for _, h := range eth.BlockTxs(a.store(), n, b.Count) {
			t, ok := eth.ReadTx(a.store(), h)
			if !ok {
				return nil, fmt.Errorf("block %d lost a transaction", n)
			}
			for _, l := range t.Receipt.Logs {
				if q.match(l) && v.seesLog(t, l) {
					if len(out) == MaxLogResults {
						return nil, &eth.Error{Code: eth.CodeInvalidInput, Msg: fmt.Sprintf("query returned more than %d results; narrow the block range", MaxLogResults)}
					}
					out = append(out, l)
				}
			}
		}
	}
	return out, nil
}

func (a *App) rangeOf(q *Query) (uint64, uint64, error) {
	if q.BlockHash != nil {
		n, ok := eth.BlockNumber(a.store(), *q.BlockHash)
		if !ok || n > a.Head() {
			return 0, 0, &eth.Error{Code: eth.CodeInvalidInput, Msg: "unknown block"}
		}
		return n, n, nil
	}
	head := a.Head()
	res := func(n gethrpc.BlockNumber) (uint64, error) {
		switch n {
		case gethrpc.LatestBlockNumber, gethrpc.PendingBlockNumber, gethrpc.SafeBlockNumber, gethrpc.FinalizedBlockNumber:
			return head, nil
		case gethrpc.EarliestBlockNumber:
			return 0, nil
		}
		if n < 0 {
			return 0, &eth.Error{Code: eth.CodeInvalidParams, Msg: "invalid block range params"}
		}
		if uint64(n) > head {
			return 0, &eth.Error{Code: eth.CodeInvalidParams, Msg: "block range extends beyond current head block"}
		}
		return uint64(n), nil
	}
	from, err := res(q.From)
	if err != nil {
		return 0, 0, err
	}
	to, err := res(q.To)
	if err != nil {
		return 0, 0, err
	}
	if from > to {
		return 0, 0, &eth.Error{Code: eth.CodeInvalidParams, Msg: "invalid block range params"}
	}
	if to-from >= MaxLogRange {
		return 0, 0, &eth.Error{Code: eth.CodeInvalidInput, Msg: fmt.Sprintf("block range too large: at most %d blocks", MaxLogRange)}
	}
	return from, to, nil
}

func (e *ethAPI) GetLogs(ctx context.Context, q Query) ([]*types.Log, error) {
	from, to, err := e.a.rangeOf(&q)
	if err != nil {
		return nil, err
	}
	v, err := e.a.view(e.user(ctx))
	if err != nil {
		return nil, err
	}
	return e.a.logs(v, &q, from, to)
}

// filters are installed filters (eth_newFilter, eth_newBlockFilter),
// polled with eth_getFilterChanges, per node, forgotten after
// FilterTimeout unpolled.
type filters struct {
	mu sync.Mutex
	m  map[string]*filter
}

type filter struct {
	user   string
	blocks bool
	q      Query
	next   uint64 // the first block not yet reported
	polled time.Time
}

func newFilters() *filters { return &filters{m: map[string]*filter{}} }

func (f *filters) add(x *filter) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for id, old := range f.m {
		if now.Sub(old.polled) > FilterTimeout {
			delete(f.m, id)
		}
	}
	if len(f.m) >= MaxFilters {
		return "", &eth.Error{Code: eth.CodeInvalidInput, Msg: "too many filters installed; uninstall some"}
	}
	var b [16]byte
	rand.Read(b[:])
	id := hexutil.Encode(b[:])
	x.polled = now
	f.m[id] = x
	return id, nil
}

func (f *filters) get(id, user string) (*filter, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	x, ok := f.m[id]
	if !ok || x.user != user || time.Since(x.polled) > FilterTimeout {
		return nil, false
	}
	x.polled = time.Now()
	return x, true
}

var errFilterNotFound = &eth.Error{Code: eth.CodeInvalidInput, Msg: "filter not found"}

func (e *ethAPI) NewFilter(ctx context.Context, q Query) (string, error) {
	if q.BlockHash != nil {
		return "", &eth.Error{Code: eth.CodeInvalidParams, Msg: "a filter cannot name a blockHash"}
	}
	return e.a.filters.add(&filter{user: e.user(ctx), q: q, next: e.a.Head() + 1})
}

func (e *ethAPI) NewBlockFilter(ctx context.Context) (string, error) {
	return e.a.filters.add(&filter{user: e.user(ctx), blocks: true, next: e.a.Head() + 1})
}

func (e *ethAPI) UninstallFilter(ctx context.Context, id string) bool {
	e.a.filters.mu.Lock()
	defer e.a.filters.mu.Unlock()
	x, ok := e.a.filters.m[id]
	if ok && x.user == e.user(ctx) {
		delete(e.a.filters.m, id)
		return true
	}
	return false
}

func (e *ethAPI) GetFilterChanges(ctx context.Context, id string) (any, error) {
	x, ok := e.a.filters.get(id, e.user(ctx))
	if !ok {
		return nil, errFilterNotFound
	}
	head := e.a.Head()
	from := x.next
	if from > head {
		if x.blocks {
			return []common.Hash{}, nil
		}
		return []*types.Log{}, nil
	}
	to := min(head, from+MaxLogRange-1)
	x.next = to + 1
	if x.blocks {
		out := []common.Hash{}
		for n := from; n <= to; n++ {
			if b, ok := eth.ReadBlock(e.a.store(), n); ok {
				out = append(out, b.Header.Hash())
			}
		}
		return out, nil
	}
	q := x.q
	// A filter's own range bounds what it reports.
	if q.From >= 0 && uint64(q.From) > from {
		from = uint64(q.From)
	}
	if q.To >= 0 && uint64(q.To) < to {
		to = uint64(q.To)
	}
	if from > to {
		return []*types.Log{}, nil
	}
	v, err := e.a.view(e.user(ctx))
	if err != nil {
		return nil, err
	}
	return e.a.logs(v, &q, from, to)
}

func (e *ethAPI) GetFilterLogs(ctx context.Context, id string) ([]*types.Log, error) {
	x, ok := e.a.filters.get(id, e.user(ctx))
	if !ok || x.blocks {
		return nil, errFilterNotFound
	}
	q := x.q
	from, to, err := e.a.rangeOf(&q)
	if err != nil {
		return nil, err
	}
	v, err := e.a.view(e.user(ctx))
	if err != nil {
		return nil, err
	}
	return e.a.logs(v, &q, from, to)
}

// pollEvery is how often a subscription looks for new blocks.
const pollEvery = 10 * time.Millisecond

// NewHeads is eth_subscribe("newHeads") over a WebSocket: each new
// committed block's header.
func (e *ethAPI) NewHeads(ctx context.Context) (*gethrpc.Subscription, error) {
	return e.subscribe(ctx, func(n *gethrpc.Notifier, id gethrpc.ID, b *eth.Block, _ uint64) error {
		return n.Notify(id, headerJSON(b.Header))
	})
}

// Logs is eth_subscribe("logs", criteria): the matching logs of each new
// committed block that the user may see (go-ethereum's WatchLogs).
func (e *ethAPI) Logs(ctx context.Context, q Query) (*gethrpc.Subscription, error) {
	if q.BlockHash != nil {
		return nil, &eth.Error{Code: eth.CodeInvalidParams, Msg: "a subscription cannot name a blockHash"}
	}
	user := e.user(ctx)
	return e.subscribe(ctx, func(n *gethrpc.Notifier, id gethrpc.ID, _ *eth.Block, num uint64) error {
		v, err := e.a.view(user)
		if err != nil {
			return err
		}
		logs, err := e.a.logs(v, &q, num, num)
		if err != nil {
			return err
		}
		for _, l := range logs {
			if err := n.Notify(id, l); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *ethAPI) subscribe(ctx context.Context, each func(*gethrpc.Notifier, gethrpc.ID, *eth.Block, uint64) error) (*gethrpc.Subscription, error) {
	n, ok := gethrpc.NotifierFromContext(ctx)
	if !ok {
		return nil, gethrpc.ErrNotificationsUnsupported
	}
	if _, err := e.a.config(); err != nil {
		return nil, err
	}
	sub := n.CreateSubscription()
	next := e.a.Head() + 1
	go func() {
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		for {
			select {
			case <-sub.Err():
				return
			case <-t.C:
			}
			for head := e.a.Head(); next <= head; next++ {
				b, ok := eth.ReadBlock(e.a.store(), next)
				if !ok {
					break
				}
				if err := each(n, sub.ID, b, next); err != nil {
					return
				}
			}
		}
	}()
	return sub, nil
}
