package jsonrpc

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/eth/tracers"
	"github.com/ethereum/go-ethereum/eth/tracers/logger"
	_ "github.com/ethereum/go-ethereum/eth/tracers/native" // callTracer, prestateTracer, 4byteTracer…

	"github.com/confide/confide/ledger/eth"
)

// traceTimeout bounds one trace, as geth's default.
const traceTimeout = 5 * time.Second

type debugAPI struct{ e *ethAPI }

// TraceTransaction is debug_traceTransaction with geth's tracers: the
// struct logger by default (Hardhat), or a named native tracer
// (callTracer, as Foundry asks, prestateTracer, 4byteTracer…). In the
// private mode a user traces only its own transactions, and only with
// the call tracer: the others show storage its contracts keep from it.
func (d *debugAPI) TraceTransaction(ctx context.Context, h common.Hash, cfg *tracers.TraceConfig) (json.RawMessage, error) {
	a := d.e.a
	v, err := a.view(d.e.user(ctx))
	if err != nil {
		return nil, err
	}
	t, ok := eth.ReadTx(a.store(), h)
	if !ok || !a.mined(t) {
		return nil, &eth.Error{Code: eth.CodeInvalidInput, Msg: "transaction " + h.Hex() + " not found"}
	}
	if !v.sees(t) {
		return nil, refuseTx(h)
	}
	if cfg == nil {
		cfg = &tracers.TraceConfig{}
	}
	if !v.all && (cfg.Tracer == nil || *cfg.Tracer != "callTracer") {
		return nil, &eth.Error{Code: eth.CodeInvalidInput, Msg: `private mode: only {"tracer": "callTracer"} traces are served`}
	}
	var tr *tracers.Tracer
	if cfg.Tracer == nil || *cfg.Tracer == "" {
		lc := cfg.Config
		if lc == nil {
			lc = &logger.Config{}
		}
		sl := logger.NewStructLogger(lc)
		tr = &tracers.Tracer{Hooks: sl.Hooks(), GetResult: sl.GetResult, Stop: sl.Stop}
	} else {
		tctx := &tracers.Context{BlockHash: t.Receipt.BlockHash, BlockNumber: t.Receipt.BlockNumber, TxIndex: int(t.Receipt.TransactionIndex), TxHash: h}
		if tr, err = tracers.DefaultDirectory.New(*cfg.Tracer, tctx, cfg.TracerConfig, v.cfg.ChainConfig()); err != nil {
			return nil, &eth.Error{Code: eth.CodeInvalidParams, Msg: err.Error()}
		}
	}
	timeout := traceTimeout
	if cfg.Timeout != nil {
		if d, err := time.ParseDuration(*cfg.Timeout); err == nil && d < timeout {
			timeout = d
		}
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(timeout):
			tr.Stop(errors.New("execution timeout"))
		case <-ctx.Done():
			tr.Stop(ctx.Err())
		}
	}()
	if err := eth.Trace(a.store(), t, tr.Hooks); err != nil {
		return nil, err
	}
	return tr.GetResult()
}
