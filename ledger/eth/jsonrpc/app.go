package jsonrpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/confide/confide/ledger/app"
	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/eth"
	"github.com/confide/confide/ledger/kv"
	"github.com/confide/confide/ledger/merkle"
	"github.com/confide/confide/ledger/node"
)

// Path is where every node serves JSON-RPC (POST) and its WebSocket
// (GET with Upgrade).
const Path = "/app/eth"

// Limits on what one request may ask.
const (
	MaxBody        = 5 << 20 // bytes of one HTTP request
	MaxBatch       = 1000    // calls in one batch
	MaxBatchAnswer = 25 << 20
	MaxHeld        = 64 // future-nonce transactions held per sender
)

// Options configure the app on one node.
type Options struct {
	Node *node.Node
	// TLS and Addr let a backup forward writes to the primary, as the
	// node itself (with the caller's user ID).
	TLS  *tls.Config
	Addr func(id uint64) string
	// BlockInterval: an open block with transactions closes after this
	// long (default 20 ms).
	BlockInterval time.Duration
	Log           *slog.Logger
}

// App is the Ethereum JSON-RPC app of one node.
type App struct {
	opt    Options
	rpc    *gethrpc.Server
	client *http.Client

	mu     sync.Mutex
	head   uint64 // the last committed block seen
	pruned uint64 // state before this block is forgotten
	held   map[common.Address]map[uint64]heldTx
	// dropped remembers, for their senders, why held transactions went
	// (the newest MaxDropped): their receipts answer with the reason.
	dropped   map[common.Hash]droppedTx
	dropOrder []common.Hash

	filters *filters
}

// droppedTx is a held transaction that will never run.
type droppedTx struct {
	user   string
	reason string
}

// MaxDropped bounds the dropped transactions a node remembers.
const MaxDropped = 10_000

// New builds the app; Run closes blocks while the node is primary.
func New(opt Options) *App {
	if opt.BlockInterval == 0 {
		opt.BlockInterval = 20 * time.Millisecond
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	a := &App{opt: opt, held: map[common.Address]map[uint64]heldTx{}, dropped: map[common.Hash]droppedTx{}, filters: newFilters()}
	a.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: opt.TLS, MaxIdleConnsPerHost: 64}}
	a.rpc = a.newServer("")
	opt.Node.Store().KeepHistory(eth.HistoryMaps...)
	return a
}

// prune forgets state older than eth.HistoryBlocks blocks, every 1,000
// blocks.
func (a *App) prune() {
	head := a.Head()
	a.mu.Lock()
	due := head >= a.pruned+1000+eth.HistoryBlocks
	if due {
		a.pruned = head - eth.HistoryBlocks
	}
	floor := a.pruned
	a.mu.Unlock()
	if !due {
		return
	}
	if b, ok := eth.ReadBlock(a.store(), floor); ok {
		a.store().PruneHistory(b.Seqno)
	}
}

// newServer is the JSON-RPC server: one for HTTP, whose calls carry the
// user in their context, and one per WebSocket connection, for its user.
func (a *App) newServer(user string) *gethrpc.Server {
	s := gethrpc.NewServer()
	s.SetHTTPBodyLimit(MaxBody)
	s.SetBatchLimits(MaxBatch, MaxBatchAnswer)
	s.SetWebsocketReadLimit(MaxBody)
	api := &ethAPI{a: a, fixed: user}
	for name, svc := range map[string]any{"eth": api, "net": &netAPI{a: a}, "web3": web3API{}, "confide": &confideAPI{a: a, fixed: user}, "debug": &debugAPI{e: api}} {
		if err := s.RegisterName(name, svc); err != nil {
			panic(err) // our own services' shapes
		}
	}
	return s
}

// Maps are the chain's.
func (a *App) Maps() []string { return eth.Maps }

// Endpoints: JSON-RPC over HTTPS, for the ledger's users.
func (a *App) Endpoints() []app.Endpoint {
	return []app.Endpoint{
		{Pattern: "POST " + Path, Role: app.Reader, Serve: a.serve},
		{Pattern: "GET " + Path, Role: app.Reader, Serve: a.serve},
	}
}

type userKey struct{}

func (a *App) serve(w http.ResponseWriter, r *app.Request) {
	if r.HTTP.Method == http.MethodGet && strings.EqualFold(r.HTTP.Header.Get("Upgrade"), "websocket") {
		if r.User.ID == "" {
			http.Error(w, "no user", http.StatusUnauthorized)
			return
		}
		// Clients authenticate with their certificates, not cookies: any
		// origin may connect.
		s := a.newServer(r.User.ID)
		defer s.Stop()
		s.WebsocketHandler([]string{"*"}).ServeHTTP(w, r.HTTP)
		return
	}
	ctx := context.WithValue(r.HTTP.Context(), userKey{}, r.User)
	if r.HTTP.Header.Get(app.ForwardedUser) == "" && !a.isPrimary() {
		if err := a.catchUp(ctx, r.User.ID); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": nil,
				"error": map[string]any{"code": eth.CodeInvalidInput, "message": err.Error()}})
			return
		}
	}
	a.rpc.ServeHTTP(w, r.HTTP.WithContext(ctx))
}

// CatchUpTimeout bounds how long a backup waits to commit what the
// primary has committed before it answers.
const CatchUpTimeout = 5 * time.Second

// catchUp makes a backup's answers include every block any node has
// reported: it asks the primary how far it has committed and waits until
// it has committed as far (a read barrier, as etcd's ReadIndex). A
// receipt is only returned by a node that committed its block, and no
// node commits beyond the primary, so what the primary committed when
// the request arrived covers every receipt returned before it.
// Forwarded calls (the primary's own) skip it.
func (a *App) catchUp(ctx context.Context, user string) error {
	raw, err := a.forward(ctx, user, "confide_committed")
	if err != nil {
		return fmt.Errorf("this node could not learn how far the primary has committed (%v); retry, or ask another node", err)
	}
	var seqno hexutil.Uint64
	if err := json.Unmarshal(raw, &seqno); err != nil {
		return fmt.Errorf("the primary's commit point: %v", err)
	}
	deadline := time.Now().Add(CatchUpTimeout)
	for a.store().Committed() < uint64(seqno) {
		if time.Now().After(deadline) {
			return fmt.Errorf("this node lags the primary by more than %v (committed %d of %d); retry, or ask another node", CatchUpTimeout, a.store().Committed(), seqno)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

func userOf(ctx context.Context) app.User {
	u, _ := ctx.Value(userKey{}).(app.User)
	return u
}

func (a *App) store() *kv.Store { return a.opt.Node.Store() }

// Head is the newest block whose closing ledger transaction this node
// knows committed.
func (a *App) Head() uint64 {
	s := a.store()
	a.mu.Lock()
	defer a.mu.Unlock()
	committed := s.Committed()
	for {
		b, ok := eth.ReadBlock(s, a.head+1)
		if !ok || b.Seqno > committed {
			break
		}
		a.head++
	}
	// A rollback never undoes a committed block, but a node restarted
	// from files starts at 0 and catches up here.
	return a.head
}

// Run closes due blocks while this node is primary, until ctx ends.
func (a *App) Run(ctx context.Context) {
	t := time.NewTicker(a.opt.BlockInterval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !a.isPrimary() {
			a.dropHeld()
			continue
		}
		a.govRequests(ctx)
		if _, err := eth.Open(a.store()); err != nil {
			continue
		}
		if err := a.closeBlock(ctx, a.opt.BlockInterval); err != nil && ctx.Err() == nil {
			a.opt.Log.Warn("eth: closing a block", "err", err)
		}
		a.prune()
	}
}

// heldTx waits for its sender's nonce.
type heldTx struct {
	tx   *types.Transaction
	user string
}

// submit executes a decoded transaction on the primary, or holds it if
// its nonce is ahead of the sender's.
func (a *App) submit(ctx context.Context, tx *types.Transaction, from common.Address, user string) error {
	err := a.execute(ctx, tx, from, user)
	if errors.Is(err, core.ErrNonceTooHigh) {
		a.mu.Lock()
		defer a.mu.Unlock()
		m := a.held[from]
		if m == nil {
			m = map[uint64]heldTx{}
			a.held[from] = m
		}
		if _, ok := m[tx.Nonce()]; len(m) >= MaxHeld && !ok {
			return &eth.Error{Code: eth.CodeInvalidInput, Msg: fmt.Sprintf("txpool is full: %d transactions held for %s waiting for earlier nonces", MaxHeld, from)}
		}
		m[tx.Nonce()] = heldTx{tx: tx, user: user}
		return nil
	}
	if err != nil {
		return err
	}
	// The nonce moved: run what waited for it.
	for next := tx.Nonce() + 1; ; next++ {
		a.mu.Lock()
		h, ok := a.held[from][next]
		delete(a.held[from], next)
		if len(a.held[from]) == 0 {
			delete(a.held, from)
		}
		a.mu.Unlock()
		if !ok {
			return nil
		}
		if err := a.execute(ctx, h.tx, from, h.user); err != nil {
			a.opt.Log.Info("eth: a held transaction failed", "hash", h.tx.Hash(), "err", err)
			a.mu.Lock()
			a.drop(h, fmt.Sprintf("transaction %s was dropped: it waited for nonce %d of %s, and when that came it failed: %v; send it again", h.tx.Hash(), h.tx.Nonce(), from, err))
			// Those after it wait for a nonce that will not come.
			for n, later := range a.held[from] {
				a.drop(later, fmt.Sprintf("transaction %s was dropped: it waited for nonce %d of %s, which failed; send both again", later.tx.Hash(), h.tx.Nonce(), from))
				delete(a.held[from], n)
			}
			delete(a.held, from)
			a.mu.Unlock()
			return nil
		}
	}
}

func (a *App) execute(ctx context.Context, tx *types.Transaction, from common.Address, user string) error {
	for {
		_, err := a.opt.Node.Execute(ctx, func(w *kv.Tx, id entry.TxID) (*merkle.Hash, error) {
			_, err := eth.Apply(w, tx, from, user, time.Now(), a.opt.BlockInterval, id.Seqno, id.String())
			return nil, err
		})
		if !errors.Is(err, eth.ErrCloseFirst) {
			return err
		}
		if err := a.closeBlock(ctx, 0); err != nil {
			return err
		}
	}
}

// closeBlock closes the open block if it is older than interval (0:
// whatever its age), in a ledger transaction of its own.
func (a *App) closeBlock(ctx context.Context, interval time.Duration) error {
	_, err := a.opt.Node.Execute(ctx, func(tx *kv.Tx, id entry.TxID) (*merkle.Hash, error) {
		h, err := eth.CloseDue(tx, time.Now(), interval, id.Seqno)
		if err == nil && h == nil {
			return nil, node.ErrNoWrites
		}
		return nil, err
	})
	if errors.Is(err, node.ErrNoWrites) {
		return nil
	}
	return err
}

func (a *App) link(ctx context.Context, addr common.Address, user string) error {
	_, err := a.opt.Node.Execute(ctx, func(w *kv.Tx, _ entry.TxID) (*merkle.Hash, error) {
		return nil, eth.Link(w, addr, user)
	})
	if errors.Is(err, node.ErrNoWrites) {
		return nil // linked already
	}
	return err
}

// dropHeld forgets held transactions once this node is not primary:
// their senders resend (spec/ledger-eth.md).
func (a *App) dropHeld() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for from, m := range a.held {
		for _, h := range m {
			a.drop(h, fmt.Sprintf("transaction %s was dropped: it waited for an earlier nonce of %s when this node stopped being primary; send it again, with any earlier ones that read as unknown", h.tx.Hash(), from))
		}
	}
	clear(a.held)
}

// drop remembers why a held transaction went; a.mu is held.
func (a *App) drop(h heldTx, reason string) {
	hash := h.tx.Hash()
	if _, ok := a.dropped[hash]; !ok {
		a.dropOrder = append(a.dropOrder, hash)
	}
	a.dropped[hash] = droppedTx{user: h.user, reason: reason}
	if len(a.dropOrder) > MaxDropped {
		delete(a.dropped, a.dropOrder[0])
		a.dropOrder = a.dropOrder[1:]
	}
}

// whyDropped is the reason a transaction the user sent was dropped
// here, or "".
func (a *App) whyDropped(h common.Hash, user string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d, ok := a.dropped[h]; ok && d.user == user {
		return d.reason
	}
	return ""
}

func (a *App) isHeld(h common.Hash, user string) *types.Transaction {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range a.held {
		for _, t := range m {
			if t.tx.Hash() == h && t.user == user {
				return t.tx
			}
		}
	}
	return nil
}

// forward sends one JSON-RPC call to the primary on the user's behalf.
func (a *App) forward(ctx context.Context, user string, method string, params ...any) (json.RawMessage, error) {
	var primary uint64
	a.opt.Node.With(func(c *node.Core) { primary = c.Primary() })
	addr := ""
	if primary != 0 && a.opt.Addr != nil {
		addr = a.opt.Addr(primary)
	}
	if addr == "" {
		return nil, &eth.Error{Code: eth.CodeInvalidInput, Msg: "no primary is known; retry"}
	}
	if user == "" {
		return nil, &eth.Error{Code: eth.CodeInvalidInput, Msg: "a forwarded request lost its user"}
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req, err := http.NewRequestWithContext(ctx, "POST", "https://"+addr+Path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(app.ForwardedUser, user)
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, &eth.Error{Code: eth.CodeInvalidInput, Msg: "the primary did not answer; retry"}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int             `json:"code"`
			Message string          `json:"message"`
			Data    json.RawMessage `json:"data"`
		} `json:"error"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil {
		return nil, &eth.Error{Code: eth.CodeInvalidInput, Msg: fmt.Sprintf("the primary answered %s; retry", resp.Status)}
	}
	if out.Error != nil {
		e := &eth.Error{Code: out.Error.Code, Msg: out.Error.Message}
		if len(out.Error.Data) > 0 {
			var d any
			json.Unmarshal(out.Error.Data, &d)
			e.Data = d
		}
		return nil, e
	}
	return out.Result, nil
}

func (a *App) isPrimary() bool {
	_, p := a.opt.Node.Primary()
	return p
}
