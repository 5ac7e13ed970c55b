package network

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/confide/confide/ledger/files"
	"github.com/confide/confide/ledger/node"
)

// historian fetches committed chunks from peers for a node that joined
// from a snapshot: the node answers 202 until the chunk is here, checked
// against its tree.
type historian struct {
	n      *node.Node
	peers  func() []string // RPC addresses
	client *http.Client
	log    *slog.Logger

	mu       sync.Mutex
	fetching map[uint64]bool // seqnos being fetched
}

const maxChunkDownload = 256 << 20

func (h *historian) want(seqno uint64) {
	h.mu.Lock()
	if h.fetching[seqno] {
		h.mu.Unlock()
		return
	}
	h.fetching[seqno] = true
	h.mu.Unlock()
	go func() {
		defer func() {
			h.mu.Lock()
			delete(h.fetching, seqno)
			h.mu.Unlock()
		}()
		if err := h.fetch(seqno); err != nil {
			h.log.Warn("fetching a historical chunk", "seqno", seqno, "err", err)
		}
	}()
}

func (h *historian) fetch(seqno uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var last error
	for _, addr := range h.peers() {
		var list struct {
			Chunks []struct {
				Name string `json:"name"`
			} `json:"chunks"`
		}
		if err := h.get(ctx, "https://"+addr+"/node/chunks", func(r io.Reader) error { return json.NewDecoder(r).Decode(&list) }); err != nil {
			last = err
			continue
		}
		for _, c := range list.Chunks {
			start, end, committed, ok := files.ParseName(c.Name)
			if !ok || !committed || seqno < start || seqno > end {
				continue
			}
			var b []byte
			err := h.get(ctx, "https://"+addr+"/node/chunks/"+c.Name, func(r io.Reader) error {
				var err error
				b, err = io.ReadAll(io.LimitReader(r, maxChunkDownload))
				return err
			})
			if err == nil {
				h.n.With(func(core *node.Core) { err = core.AddHistorical(c.Name, b) })
			}
			if err == nil {
				return nil
			}
			last = err
		}
	}
	if last == nil {
		last = fmt.Errorf("no peer holds a committed chunk with seqno %d", seqno)
	}
	return last
}

func (h *historian) get(ctx context.Context, url string, read func(io.Reader) error) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return read(resp.Body)
}
