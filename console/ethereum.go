package console

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The Ethereum app's pages read its JSON-RPC (POST /app/eth on the
// ledger) as the console's ledger user: in the private mode they show
// what that user may see (spec/ledger-eth.md §6), and the app's refusals
// are shown as such.

func (s *Server) ethRoutes(mux *http.ServeMux) {
	if s.cfg.Ledger.URL == "" {
		return
	}
	mux.Handle("GET /ethereum", s.page(s.ethBlocks, true))
	mux.Handle("GET /ethereum/block/{n}", s.page(s.ethBlock, true))
	mux.Handle("GET /ethereum/tx/{hash}", s.page(s.ethTx, true))
}

// rpcError is a JSON-RPC error, shown to the user as the app's answer.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// ethCall makes one JSON-RPC call; an error answer is returned as a
// *rpcError, for pages that show refusals in place.
func (s *Server) ethCall(r *http.Request, sess *session, out any, method string, params ...any) error {
	if params == nil {
		params = []any{}
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	var resp struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	if err := s.ledgerDo(r.Context(), sess, "POST", "/app/eth", "application/json", body, &resp); err != nil {
		return err
	}
	if resp.Error != nil {
		return resp.Error
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(resp.Result, out)
}

func (e *rpcError) Error() string { return fmt.Sprintf("%s (%d)", e.Message, e.Code) }

// hexQty reads a JSON-RPC quantity ("0x…") as a decimal string.
func hexQty(q string) string {
	n, ok := new(big.Int).SetString(strings.TrimPrefix(q, "0x"), 16)
	if !ok {
		return q
	}
	return n.String()
}

// ethBlockView is a block as the pages list it.
type ethBlockView struct {
	Number, Hash, Time, GasUsed, Miner string
	TxCount                            int
	Txs                                []ethTxView
}

type ethTxView struct {
	Hash, From, To, Value, Gas, Nonce, Block string
}

// rpcBlock is eth_getBlockByNumber's answer (hashes or full transactions).
type rpcBlock struct {
	Number       string            `json:"number"`
	Hash         string            `json:"hash"`
	Timestamp    string            `json:"timestamp"`
	GasUsed      string            `json:"gasUsed"`
	Miner        string            `json:"miner"`
	Transactions []json.RawMessage `json:"transactions"`
}

type rpcTx struct {
	Hash        string  `json:"hash"`
	From        string  `json:"from"`
	To          *string `json:"to"`
	Value       string  `json:"value"`
	Gas         string  `json:"gas"`
	Nonce       string  `json:"nonce"`
	BlockNumber string  `json:"blockNumber"`
	Input       string  `json:"input"`
}

func (b rpcBlock) view() ethBlockView {
	v := ethBlockView{Number: hexQty(b.Number), Hash: b.Hash, GasUsed: hexQty(b.GasUsed), Miner: b.Miner, TxCount: len(b.Transactions)}
	if t, err := strconv.ParseInt(strings.TrimPrefix(b.Timestamp, "0x"), 16, 64); err == nil {
		v.Time = time.Unix(t, 0).UTC().Format(time.RFC3339)
	}
	return v
}

func (t rpcTx) view() ethTxView {
	v := ethTxView{Hash: t.Hash, From: t.From, Value: hexQty(t.Value), Gas: hexQty(t.Gas), Nonce: hexQty(t.Nonce), Block: hexQty(t.BlockNumber)}
	if t.To != nil {
		v.To = *t.To
	}
	return v
}

// ethBlocks lists the newest blocks, a page of 20 at a time.
func (s *Server) ethBlocks(w http.ResponseWriter, r *http.Request, sess *session) error {
	var before uint64
	if b := r.URL.Query().Get("before"); b != "" {
		n, err := strconv.ParseUint(b, 10, 63)
		if err != nil || n == 0 {
			return pageError{http.StatusBadRequest, "before is a block number."}
		}
		before = n
	}
	var chainID, head string
	if err := s.ethCall(r, sess, &chainID, "eth_chainId"); err != nil {
		return err
	}
	if err := s.ethCall(r, sess, &head, "eth_blockNumber"); err != nil {
		return err
	}
	top, ok := new(big.Int).SetString(strings.TrimPrefix(head, "0x"), 16)
	if !ok {
		return fmt.Errorf("eth_blockNumber answered %q", head)
	}
	if before > 0 {
		if bn := new(big.Int).SetUint64(before - 1); bn.Cmp(top) < 0 {
			top = bn
		}
	}
	var blocks []ethBlockView
	n := new(big.Int).Set(top)
	for i := 0; i < 20 && n.Sign() >= 0; i++ {
		var b rpcBlock
		if err := s.ethCall(r, sess, &b, "eth_getBlockByNumber", "0x"+n.Text(16), false); err != nil {
			return err
		}
		blocks = append(blocks, b.view())
		n.Sub(n, big.NewInt(1))
	}
	_, mapped := s.cfg.Ledger.Users[sess.name]
	data := map[string]any{"ChainID": hexQty(chainID), "Head": top.String(), "Blocks": blocks, "Mapped": mapped}
	if n.Sign() >= 0 {
		data["Older"] = new(big.Int).Add(n, big.NewInt(1)).String()
	}
	s.render(w, r, sess, "ethereum", data)
	return nil
}

var (
	blockNumRE = regexp.MustCompile(`^[0-9]{1,19}$`)
	txHashRE   = regexp.MustCompile(`^0x[0-9a-fA-F]{64}$`)
)

func (s *Server) ethBlock(w http.ResponseWriter, r *http.Request, sess *session) error {
	num := r.PathValue("n")
	if !blockNumRE.MatchString(num) {
		return pageError{http.StatusBadRequest, "A block number is decimal."}
	}
	n, _ := strconv.ParseUint(num, 10, 64)
	var hdr rpcBlock
	if err := s.ethCall(r, sess, &hdr, "eth_getBlockByNumber", "0x"+strconv.FormatUint(n, 16), false); err != nil {
		return err
	}
	if hdr.Hash == "" {
		return pageError{http.StatusNotFound, "There is no such block yet."}
	}
	data := map[string]any{"Block": hdr.view()}
	// The full list: refused in the private mode unless every
	// transaction in it is the viewer's.
	var full rpcBlock
	err := s.ethCall(r, sess, &full, "eth_getBlockByNumber", "0x"+strconv.FormatUint(n, 16), true)
	if re, ok := err.(*rpcError); ok {
		data["Refused"] = re.Message
	} else if err != nil {
		return err
	} else {
		var txs []ethTxView
		for _, raw := range full.Transactions {
			var t rpcTx
			if json.Unmarshal(raw, &t) == nil {
				txs = append(txs, t.view())
			}
		}
		data["Txs"] = txs
	}
	s.render(w, r, sess, "ethereum-block", data)
	return nil
}

type rpcReceipt struct {
	Status            string            `json:"status"`
	GasUsed           string            `json:"gasUsed"`
	ContractAddress   *string           `json:"contractAddress"`
	Logs              []json.RawMessage `json:"logs"`
	EffectiveGasPrice string            `json:"effectiveGasPrice"`
}

func (s *Server) ethTx(w http.ResponseWriter, r *http.Request, sess *session) error {
	h := r.PathValue("hash")
	if !txHashRE.MatchString(h) {
		return pageError{http.StatusBadRequest, "A transaction hash is 0x and 64 hex digits."}
	}
	data := map[string]any{"Hash": h}
	var t *rpcTx
	err := s.ethCall(r, sess, &t, "eth_getTransactionByHash", h)
	if re, ok := err.(*rpcError); ok {
		data["Refused"] = re.Message
		s.render(w, r, sess, "ethereum-tx", data)
		return nil
	} else if err != nil {
		return err
	}
	if t == nil {
		return pageError{http.StatusNotFound, "There is no such transaction (or it is not committed yet)."}
	}
	data["Tx"] = t.view()
	var rc *rpcReceipt
	if err := s.ethCall(r, sess, &rc, "eth_getTransactionReceipt", h); err != nil {
		if re, ok := err.(*rpcError); ok {
			data["Refused"] = re.Message
		} else {
			return err
		}
	}
	if rc != nil {
		data["Receipt"] = map[string]any{"OK": rc.Status == "0x1", "GasUsed": hexQty(rc.GasUsed), "Logs": len(rc.Logs),
			"Contract": rc.ContractAddress, "Price": hexQty(rc.EffectiveGasPrice)}
	}
	s.render(w, r, sess, "ethereum-tx", data)
	return nil
}
