// Package acl is the ledger's first app: the API of Azure Confidential
// Ledger — append-only entries in collections, read back by transaction
// ID or by range, receipts, transaction status, users and their roles,
// and the committed ledger files for backup and audit.
//
// Entries are written to the private map acl.entries (encrypted in the
// ledger files); collection names to acl.collections (private too).
package acl

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/ledger/app"
	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/node"
)

// The app's maps.
const (
	MapEntries     = "acl.entries"
	MapCollections = "acl.collections"
)

// DefaultCollection is the collection of entries posted without one.
const DefaultCollection = "subledger:0"

// PageSize bounds the entries of one page of a range read.
const PageSize = 100

// App is the ledger API.
type App struct{}

// Entry is an entry as the API shows it.
type Entry struct {
	Contents     string   `json:"contents"`
	CollectionID string   `json:"collection_id"`
	TxID         string   `json:"transaction_id"`
	Tags         []string `json:"tags,omitempty"`
}

// Maps lists the maps the API writes.
func (App) Maps() []string { return []string{MapEntries, MapCollections, app.MapUsers} }

// Endpoints lists the API.
func (App) Endpoints() []app.Endpoint {
	return []app.Endpoint{
		{Pattern: "POST /app/transactions", Mode: app.ReadWrite, Role: app.Contributor, Prepare: preparePost, Handler: post},
		{Pattern: "GET /app/transactions/current", Mode: app.ReadOnly, Role: app.Reader, Handler: current},
		{Pattern: "GET /app/transactions/{id}", Mode: app.Historical, Role: app.Reader, Handler: get},
		{Pattern: "GET /app/transactions/{id}/receipt", Mode: app.Historical, Role: app.Reader, Handler: getReceipt},
		{Pattern: "GET /app/transactions", Mode: app.Historical, Role: app.Reader, Handler: list},
		{Pattern: "GET /app/tx", Mode: app.ReadOnly, Role: app.Reader, Handler: status},
		{Pattern: "GET /app/commit", Mode: app.ReadOnly, Role: app.Reader, Handler: commit},
		{Pattern: "GET /app/collections", Mode: app.ReadOnly, Role: app.Reader, Handler: collections},
		{Pattern: "GET /app/users", Mode: app.ReadOnly, Role: app.Administrator, Handler: listUsers},
		{Pattern: "GET /app/users/{user_id}", Mode: app.ReadOnly, Role: app.Administrator, Handler: getUser},
		{Pattern: "PATCH /app/users/{user_id}", Mode: app.ReadWrite, Role: app.Administrator, Handler: setUser},
		{Pattern: "DELETE /app/users/{user_id}", Mode: app.ReadWrite, Role: app.Administrator, Handler: deleteUser},
		{Pattern: "GET /app/chunks", Mode: app.Historical, Role: app.Reader, Handler: chunks},
		{Pattern: "GET /node/state", Mode: app.ReadOnly, Role: app.Reader, Handler: state},
		{Pattern: "GET /node/chunks", Mode: app.Historical, NodeOnly: true, Handler: chunks},
		{Pattern: "GET /node/chunks/{name}", Mode: app.Historical, NodeOnly: true, Handler: chunk},
		{Pattern: "GET /app/chunks/{name}", Mode: app.Historical, Role: app.Reader, Handler: chunk},
	}
}

func badRequest(format string, args ...any) error {
	return app.Errorf(http.StatusBadRequest, "InvalidInput", format, args...)
}

func collectionOf(r *app.Request) (string, error) {
	q := r.HTTP.URL.Query()
	c := q.Get("collection_id")
	if c == "" {
		c = q.Get("collectionId")
	}
	if c == "" {
		return DefaultCollection, nil
	}
	if len(c) > 256 || strings.ContainsAny(c, "\x00") {
		return "", badRequest("collection_id: at most 256 bytes, no NUL")
	}
	return c, nil
}

// preparePost parses a POST /app/transactions outside the transaction.
func preparePost(r *app.Request) (any, error) {
	coll, err := collectionOf(r)
	if err != nil {
		return nil, err
	}
	contents, err := ParsePost(r.Body)
	if err != nil {
		return nil, err
	}
	var tags []string
	if t := r.HTTP.URL.Query().Get("tags"); t != "" {
		tags = strings.Split(t, ",")
	}
	return &Entry{Contents: contents, CollectionID: coll, Tags: tags}, nil
}

func post(r *app.Request) (any, error) {
	e := *r.Prepared.(*Entry)
	e.TxID = r.ID.String()
	b, _ := json.Marshal(e)
	coll := []byte(e.CollectionID)
	r.Tx.Put(MapEntries, coll, b)
	if _, ok := r.Tx.Get(MapCollections, coll); !ok {
		r.Tx.Put(MapCollections, coll, nil)
	}
	return map[string]string{"collection_id": e.CollectionID, "transaction_id": e.TxID}, nil
}

// ParsePost reads the body of POST /app/transactions: exactly
// {"contents": string}.
func ParsePost(b []byte) (string, error) {
	var body struct {
		Contents *string `json:"contents"`
	}
	if err := httpx.Unmarshal(b, &body); err != nil || body.Contents == nil {
		return "", badRequest(`the body is {"contents": "…"}`)
	}
	return *body.Contents, nil
}

func current(r *app.Request) (any, error) {
	coll, err := collectionOf(r)
	if err != nil {
		return nil, err
	}
	b, ok := r.Node.Store().Get(MapEntries, []byte(coll))
	if !ok {
		return nil, app.Errorf(http.StatusNotFound, "NotFound", "collection %q holds no entry", coll)
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	return e, nil
}

func txid(s string) (entry.TxID, error) {
	id, err := entry.ParseTxID(s)
	if err != nil {
		return id, badRequest("%q is not a transaction ID (view.seqno)", s)
	}
	return id, nil
}

// committed reads a committed transaction's entry, answering 202 while
// it is pending and 404 when it is not one.
func committed(r *app.Request, id entry.TxID) (*entry.Entry, error) {
	var st node.Status
	var e *entry.Entry
	var err error
	r.Node.With(func(c *node.Core) {
		if st = c.Status(id); st == node.Committed {
			e, _, err = c.Entry(id.Seqno)
		}
	})
	switch st {
	case node.Pending:
		return nil, app.Accepted("transaction %s is not committed yet", id)
	case node.Committed:
		if errors.Is(err, node.ErrHistorical) {
			// This node joined from a snapshot: the chunk comes from a peer.
			r.Node.WantHistorical(id.Seqno)
			return nil, app.Accepted("transaction %s precedes this node's snapshot; its chunk is being fetched from a peer", id)
		}
		return e, err
	}
	return nil, app.Errorf(http.StatusNotFound, "TransactionNotFound", "transaction %s is %s", id, st)
}

func entryOf(e *entry.Entry) (*Entry, bool) {
	w := e.Writes[MapEntries]
	if len(w) != 1 {
		return nil, false
	}
	var out Entry
	if json.Unmarshal(w[0].Value, &out) != nil {
		return nil, false
	}
	return &out, true
}

func get(r *app.Request) (any, error) {
	id, err := txid(r.HTTP.PathValue("id"))
	if err != nil {
		return nil, err
	}
	e, err := committed(r, id)
	if err != nil {
		return nil, err
	}
	out, ok := entryOf(e)
	if !ok {
		return nil, app.Errorf(http.StatusNotFound, "NotAnEntry", "transaction %s holds no ledger entry", id)
	}
	return map[string]any{"entry": out, "state": "Ready"}, nil
}

func getReceipt(r *app.Request) (any, error) {
	id, err := txid(r.HTTP.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if _, err := committed(r, id); err != nil {
		return nil, err
	}
	var rc any
	r.Node.With(func(c *node.Core) {
		var e error
		if rc, e = c.Receipt(id.Seqno); e != nil {
			err = e
		}
	})
	if errors.Is(err, node.ErrNotYet) {
		return nil, app.Accepted("no committed signature covers %s yet", id)
	}
	if errors.Is(err, node.ErrHistorical) {
		r.Node.WantHistorical(id.Seqno)
		return nil, app.Accepted("the receipt of %s needs a chunk that is being fetched from a peer", id)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"receipt": rc, "state": "Ready", "transaction_id": id.String()}, nil
}

// list reads a collection's entries committed in a range of seqnos, a
// page at a time.
func list(r *app.Request) (any, error) {
	coll, err := collectionOf(r)
	if err != nil {
		return nil, err
	}
	q := r.HTTP.URL.Query()
	var commitSeq uint64
	r.Node.With(func(c *node.Core) { commitSeq = c.CommitSeqno() })
	bound := func(name string, def uint64) (uint64, error) {
		v := q.Get(name)
		if v == "" {
			return def, nil
		}
		if id, err := entry.ParseTxID(v); err == nil {
			return id.Seqno, nil
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return 0, badRequest("%s: a seqno or a transaction ID", name)
		}
		return n, nil
	}
	from, err := bound("from", 1)
	if err != nil {
		return nil, err
	}
	to, err := bound("to", commitSeq)
	if err != nil {
		return nil, err
	}
	if to > commitSeq {
		return nil, app.Accepted("the range ends after the last committed seqno %d", commitSeq)
	}
	out := []Entry{}
	s := from
	const scanLimit = 10000 // seqnos read per page, whatever they hold
	for ; s <= to && len(out) < PageSize && s < from+scanLimit; s++ {
		var e *entry.Entry
		r.Node.With(func(c *node.Core) { e, _, err = c.Entry(s) })
		if err != nil {
			return nil, err
		}
		if x, ok := entryOf(e); ok && x.CollectionID == coll {
			out = append(out, *x)
		}
	}
	resp := map[string]any{"entries": out, "state": "Ready"}
	if s <= to {
		resp["next_link"] = "/app/transactions?collection_id=" + coll + "&from=" + strconv.FormatUint(s, 10) + "&to=" + strconv.FormatUint(to, 10)
	}
	return resp, nil
}

func status(r *app.Request) (any, error) {
	id, err := txid(r.HTTP.URL.Query().Get("transaction_id"))
	if err != nil {
		return nil, err
	}
	var st node.Status
	r.Node.With(func(c *node.Core) { st = c.Status(id) })
	return map[string]string{"transaction_id": id.String(), "status": st.String()}, nil
}

func commit(r *app.Request) (any, error) {
	var s uint64
	var e *entry.Entry
	var err error
	r.Node.With(func(c *node.Core) {
		if s = c.CommitSeqno(); s > 0 {
			e, _, err = c.Entry(s)
		}
	})
	if err != nil || e == nil {
		return nil, app.Errorf(http.StatusNotFound, "NothingCommitted", "nothing is committed yet")
	}
	return map[string]string{"transaction_id": e.TxID.String()}, nil
}

func collections(r *app.Request) (any, error) {
	out := []map[string]string{}
	r.Node.Store().Range(MapCollections, func(k, _ []byte) bool {
		out = append(out, map[string]string{"collection_id": string(k)})
		return true
	})
	return map[string]any{"collections": out}, nil
}

func listUsers(r *app.Request) (any, error) {
	out := []app.User{}
	r.Node.Store().Range(app.MapUsers, func(_, v []byte) bool {
		var u app.User
		if json.Unmarshal(v, &u) == nil {
			u.Cert = ""
			out = append(out, u)
		}
		return true
	})
	return map[string]any{"ledger_users": out}, nil
}

func userID(r *app.Request) (string, error) {
	id := strings.ToLower(r.HTTP.PathValue("user_id"))
	if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", badRequest("a user ID is the hex SHA-256 of the user's certificate")
	}
	return id, nil
}

func getUser(r *app.Request) (any, error) {
	id, err := userID(r)
	if err != nil {
		return nil, err
	}
	b, ok := r.Node.Store().Get(app.MapUsers, []byte(id))
	if !ok {
		return nil, app.Errorf(http.StatusNotFound, "UserNotFound", "no user %s", id)
	}
	var u app.User
	return u, json.Unmarshal(b, &u)
}

func admins(r *app.Request) int {
	n := 0
	r.Node.Store().Range(app.MapUsers, func(k, _ []byte) bool {
		if b, ok := r.Tx.Get(app.MapUsers, k); ok {
			var u app.User
			if json.Unmarshal(b, &u) == nil && u.Role == app.Administrator.String() {
				n++
			}
		}
		return true
	})
	return n
}

func setUser(r *app.Request) (any, error) {
	id, err := userID(r)
	if err != nil {
		return nil, err
	}
	var body struct {
		Role string `json:"assigned_role"`
	}
	if err := httpx.Unmarshal(r.Body, &body); err != nil {
		return nil, badRequest(`the body is {"assigned_role": "Reader" | "Contributor" | "Administrator"}`)
	}
	if _, err := app.ParseRole(body.Role); err != nil {
		return nil, badRequest("%v", err)
	}
	u := app.User{ID: id, Role: body.Role}
	b, _ := json.Marshal(u)
	r.Tx.Put(app.MapUsers, []byte(id), b)
	if admins(r) == 0 {
		return nil, app.Errorf(http.StatusConflict, "LastAdministrator", "the ledger would have no Administrator")
	}
	return u, nil
}

func deleteUser(r *app.Request) (any, error) {
	id, err := userID(r)
	if err != nil {
		return nil, err
	}
	if _, ok := r.Tx.Get(app.MapUsers, []byte(id)); !ok {
		return nil, app.Errorf(http.StatusNotFound, "UserNotFound", "no user %s", id)
	}
	r.Tx.Delete(app.MapUsers, []byte(id))
	if admins(r) == 0 {
		return nil, app.Errorf(http.StatusConflict, "LastAdministrator", "the ledger would have no Administrator")
	}
	return nil, nil
}

func chunks(r *app.Request) (any, error) {
	var paths []string
	r.Node.With(func(c *node.Core) { paths = c.CommittedChunks() })
	out := []map[string]any{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		out = append(out, map[string]any{"name": filepath.Base(p), "size": fi.Size()})
	}
	return map[string]any{"chunks": out}, nil
}

func chunk(r *app.Request) (any, error) {
	name := r.HTTP.PathValue("name")
	var paths []string
	r.Node.With(func(c *node.Core) { paths = c.CommittedChunks() })
	i := slices.IndexFunc(paths, func(p string) bool { return filepath.Base(p) == name })
	if i < 0 {
		return nil, app.Errorf(http.StatusNotFound, "ChunkNotFound", "no committed chunk %q", name)
	}
	b, err := os.ReadFile(paths[i])
	if err != nil {
		return nil, err
	}
	return app.Raw{ContentType: "application/octet-stream", Body: b}, nil
}

// state says what this node knows of the network (CCF's /node/state and
// /node/network in one).
func state(r *app.Request) (any, error) {
	out := map[string]any{}
	r.Node.With(func(c *node.Core) {
		out["primary"] = c.IsPrimary()
		out["primary_id"] = c.Primary()
		out["view"] = c.View()
		out["last_seqno"] = c.Last()
		out["commit_seqno"] = c.CommitSeqno()
	})
	return out, nil
}
