package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/confide/confide/ledger/gov"
)

// LedgerBackend is a confidential ledger the console reads: a node's URL,
// a client that opens TLS to it (the service certificate as root, and
// the console's own ledger user certificate — give it the Reader role),
// and the service certificate, offered to browsers as the default to
// verify receipts against.
type LedgerBackend struct {
	URL         string
	HTTP        *http.Client
	ServiceCert []byte // PEM
	// Users maps console principals to clients with their own ledger
	// user certificates: a mapped user reads the ledger (and the Ethereum
	// app, in its private mode) as itself, with its ledger role; others
	// read it as the console's identity.
	Users map[string]*http.Client
}

// ledgerHTTP is the client a session reads the ledger with.
func (s *Server) ledgerHTTP(sess *session) *http.Client {
	if sess != nil {
		if c, ok := s.cfg.Ledger.Users[sess.name]; ok {
			return c
		}
	}
	return s.cfg.Ledger.HTTP
}

func (s *Server) ledgerRoutes(mux *http.ServeMux) {
	if s.cfg.Ledger.URL == "" {
		return
	}
	mux.Handle("GET /ledger", s.page(s.ledger, true))
	mux.Handle("GET /ledger/transactions", s.page(s.ledgerTransactions, true))
	mux.Handle("GET /ledger/tx/{id}", s.page(s.ledgerTx, true))
	mux.Handle("GET /ledger/governance", s.page(s.ledgerGovernance, true))
	mux.Handle("GET /ledger/proposals/{id}", s.page(s.ledgerProposal, true))
	mux.Handle("POST /ledger/proposals/{id}/ballots", s.page(s.ledgerBallot, true))
	mux.Handle("GET /ledger/constitution", s.page(s.ledgerConstitution, true))
	mux.Handle("GET /ledger/service_cert.pem", s.page(func(w http.ResponseWriter, r *http.Request, _ *session) error {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, err := w.Write(s.cfg.Ledger.ServiceCert)
		return err
	}, true))
}

// ledgerError is a ledger's error body.
type ledgerError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ledgerDo sends a request to the ledger and decodes its JSON answer
// into out. A historical read the node is still loading (202,
// Retry-After) is asked again for a few seconds.
func (s *Server) ledgerDo(ctx context.Context, sess *session, method, path, contentType string, body []byte, out any) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(s.cfg.Ledger.URL, "/")+path, rd)
		if err != nil {
			return err
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := s.ledgerHTTP(sess).Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if err != nil {
			return err
		}
		switch {
		case resp.StatusCode == http.StatusAccepted:
			if time.Now().After(deadline) {
				return pageError{http.StatusServiceUnavailable, "The ledger is still loading what this page needs; reload in a moment."}
			}
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			select {
			case <-time.After(time.Duration(min(max(wait, 1), 2)) * 250 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		case resp.StatusCode >= 300:
			var le ledgerError
			if json.Unmarshal(b, &le) == nil && le.Error.Message != "" {
				st := resp.StatusCode
				if st == http.StatusUnauthorized {
					st = http.StatusForbidden
				}
				return pageError{st, fmt.Sprintf("The ledger refused: %s (%s).", le.Error.Message, le.Error.Code)}
			}
			return fmt.Errorf("ledger %s %s: %s", method, path, resp.Status)
		}
		if out == nil {
			return nil
		}
		if raw, ok := out.(*[]byte); ok {
			*raw = b
			return nil
		}
		return json.Unmarshal(b, out)
	}
}

func (s *Server) ledger(w http.ResponseWriter, r *http.Request, sess *session) error {
	ctx := r.Context()
	var info struct {
		Status string         `json:"status"`
		Config map[string]any `json:"config"`
	}
	if err := s.ledgerDo(ctx, sess, "GET", "/gov/service/info", "", nil, &info); err != nil {
		return err
	}
	var state map[string]any
	if err := s.ledgerDo(ctx, sess, "GET", "/node/state", "", nil, &state); err != nil {
		return err
	}
	var cols struct {
		Collections []struct {
			ID string `json:"collection_id"`
		} `json:"collections"`
	}
	if err := s.ledgerDo(ctx, sess, "GET", "/app/collections", "", nil, &cols); err != nil {
		return err
	}
	var nodes struct {
		Value []struct {
			NodeID      string         `json:"nodeId"`
			Info        map[string]any `json:"info"`
			Certificate string         `json:"certificate"`
		} `json:"value"`
		CodeIDs []string `json:"codeIds"`
	}
	if err := s.ledgerDo(ctx, sess, "GET", "/gov/service/nodes", "", nil, &nodes); err != nil {
		return err
	}
	s.render(w, r, sess, "ledger", map[string]any{"Info": info, "State": state, "Collections": cols.Collections,
		"Nodes": nodes.Value, "CodeIDs": nodes.CodeIDs})
	return nil
}

// ledgerEntry is an entry of the ledger's transactions API.
type ledgerEntry struct {
	Contents     string   `json:"contents"`
	CollectionID string   `json:"collection_id"`
	TxID         string   `json:"transaction_id"`
	Tags         []string `json:"tags,omitempty"`
}

var (
	collectionRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{0,128}$`)
	boundRE      = regexp.MustCompile(`^([0-9]{1,19}|[0-9]{1,19}\.[0-9]{1,19})?$`)
)

// ledgerTransactions pages through a collection's transactions, one
// ledger page (its server-side paging) at a time.
func (s *Server) ledgerTransactions(w http.ResponseWriter, r *http.Request, sess *session) error {
	q := r.URL.Query()
	coll, from, to := q.Get("collection_id"), q.Get("from"), q.Get("to")
	if !collectionRE.MatchString(coll) || !boundRE.MatchString(from) || !boundRE.MatchString(to) {
		return pageError{http.StatusBadRequest, "A collection is up to 128 of A-Z a-z 0-9 . _ : -, and a bound a seqno or a transaction ID."}
	}
	v := url.Values{}
	for k, x := range map[string]string{"collection_id": coll, "from": from, "to": to} {
		if x != "" {
			v.Set(k, x)
		}
	}
	var page struct {
		Entries  []ledgerEntry `json:"entries"`
		NextLink string        `json:"next_link"`
	}
	if err := s.ledgerDo(r.Context(), sess, "GET", "/app/transactions?"+v.Encode(), "", nil, &page); err != nil {
		return err
	}
	data := map[string]any{"Entries": page.Entries, "Collection": coll, "From": from, "To": to}
	if page.NextLink != "" {
		if u, err := url.Parse(page.NextLink); err == nil {
			next := url.Values{"collection_id": {coll}, "from": {u.Query().Get("from")}, "to": {u.Query().Get("to")}}
			data["Next"] = "/ledger/transactions?" + next.Encode()
		}
	}
	s.render(w, r, sess, "ledger-transactions", data)
	return nil
}

var txIDRE = regexp.MustCompile(`^[0-9]{1,19}\.[0-9]{1,19}$`)

// ledgerTx shows a transaction, its status and, once committed, its
// receipt, which the page verifies in the browser (console.js).
func (s *Server) ledgerTx(w http.ResponseWriter, r *http.Request, sess *session) error {
	id := r.PathValue("id")
	if !txIDRE.MatchString(id) {
		return pageError{http.StatusBadRequest, "A transaction ID is view.seqno."}
	}
	ctx := r.Context()
	var st struct {
		Status string `json:"status"`
	}
	if err := s.ledgerDo(ctx, sess, "GET", "/app/tx?transaction_id="+id, "", nil, &st); err != nil {
		return err
	}
	data := map[string]any{"ID": id, "Status": st.Status, "ServiceCert": string(s.cfg.Ledger.ServiceCert)}
	if st.Status == "Committed" {
		var e struct {
			Entry ledgerEntry `json:"entry"`
		}
		err := s.ledgerDo(ctx, sess, "GET", "/app/transactions/"+id, "", nil, &e)
		if err == nil {
			data["Entry"] = e.Entry
		} else if pe, ok := err.(pageError); !ok || pe.status != http.StatusNotFound {
			return err
		}
		var rc struct {
			Receipt json.RawMessage `json:"receipt"`
		}
		if err := s.ledgerDo(ctx, sess, "GET", "/app/transactions/"+id+"/receipt", "", nil, &rc); err != nil {
			return err
		}
		var pretty bytes.Buffer
		json.Indent(&pretty, rc.Receipt, "", "  ")
		data["Receipt"] = pretty.String()
	}
	s.render(w, r, sess, "ledger-tx", data)
	return nil
}

type member struct {
	ID          string `json:"memberId"`
	Status      string `json:"status"`
	Certificate string `json:"certificate"`
	MemberData  any    `json:"memberData"`
}

func (s *Server) ledgerGovernance(w http.ResponseWriter, r *http.Request, sess *session) error {
	var members struct {
		Value []member `json:"value"`
	}
	if err := s.ledgerDo(r.Context(), sess, "GET", "/gov/members", "", nil, &members); err != nil {
		return err
	}
	var props struct {
		Value []gov.ProposalView `json:"value"`
	}
	if err := s.ledgerDo(r.Context(), sess, "GET", "/gov/members/proposals", "", nil, &props); err != nil {
		return err
	}
	s.render(w, r, sess, "ledger-governance", map[string]any{"Members": members.Value, "Proposals": props.Value})
	return nil
}

var proposalIDRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (s *Server) ledgerProposal(w http.ResponseWriter, r *http.Request, sess *session) error {
	id := r.PathValue("id")
	if !proposalIDRE.MatchString(id) {
		return pageError{http.StatusBadRequest, "A proposal ID is 64 lower-case hex digits."}
	}
	var p gov.ProposalView
	if err := s.ledgerDo(r.Context(), sess, "GET", "/gov/members/proposals/"+id, "", nil, &p); err != nil {
		return err
	}
	var actions bytes.Buffer
	json.Indent(&actions, p.Actions, "", "  ")
	s.render(w, r, sess, "ledger-proposal", map[string]any{"P": p, "Actions": actions.String(), "Voted": r.URL.Query().Get("voted")})
	return nil
}

// ledgerBallot relays a ballot the member signed in the browser (COSE
// Sign1 with the member's key, which never reaches the console): the
// ledger checks the signature, so the console cannot vote for anyone.
func (s *Server) ledgerBallot(w http.ResponseWriter, r *http.Request, sess *session) error {
	id := r.PathValue("id")
	memberID := r.PostForm.Get("member")
	if !proposalIDRE.MatchString(id) || !proposalIDRE.MatchString(memberID) {
		return pageError{http.StatusBadRequest, "The proposal and member IDs are 64 lower-case hex digits."}
	}
	cose, err := base64.StdEncoding.DecodeString(r.PostForm.Get("cose"))
	if err != nil || len(cose) == 0 || len(cose) > 64<<10 {
		return pageError{http.StatusBadRequest, "The signed ballot is missing or not base64."}
	}
	var p gov.ProposalView
	if err := s.ledgerDo(r.Context(), sess, "POST", "/gov/members/proposals/"+id+"/ballots/"+memberID+":submit?wait=committed",
		"application/cose", cose, &p); err != nil {
		return err
	}
	http.Redirect(w, r, "/ledger/proposals/"+id+"?voted="+url.QueryEscape(p.State), http.StatusSeeOther)
	return nil
}

func (s *Server) ledgerConstitution(w http.ResponseWriter, r *http.Request, sess *session) error {
	var b []byte
	if err := s.ledgerDo(r.Context(), sess, "GET", "/gov/service/constitution", "", nil, &b); err != nil {
		return err
	}
	s.render(w, r, sess, "ledger-constitution", map[string]any{"Constitution": string(b)})
	return nil
}
