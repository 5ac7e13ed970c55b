package gov

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/confide/confide/ledger/app"
	"github.com/confide/confide/ledger/kv"
	"github.com/confide/confide/ledger/node"
)

// App serves governance over HTTPS (spec/ledger-governance.md §4), with
// CCF's paths: members' requests are signed (POST, any TLS client: the
// signature authenticates), and governance state is public (GET).
//
//	POST /gov/members/proposals:create
//	POST /gov/members/proposals/{proposalId}/ballots/{memberId}:submit
//	POST /gov/members/proposals/{proposalId}:withdraw
//	POST /gov/members/state-digests/{memberId}:ack
//	GET  /gov/members/proposals, /gov/members/proposals/{proposalId}
//	GET  /gov/members, /gov/service/constitution, /gov/service/info
type App struct {
	// Now is the primary's clock (nil: time.Now).
	Now func() time.Time
	// Keyring gives the ledger's secrets as the recovery material wraps
	// them (nil: no material is made).
	Keyring func() []byte
}

func (a App) secret() []byte {
	if a.Keyring == nil {
		return nil
	}
	return a.Keyring()
}

// Maps is what governance writes.
func (a App) Maps() []string { return Maps() }

func (a App) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Endpoints are governance's.
func (a App) Endpoints() []app.Endpoint {
	signed := func(pattern string, h func(*app.Request) (any, error)) app.Endpoint {
		return app.Endpoint{Pattern: pattern, Mode: app.ReadWrite, Unauthenticated: true, Handler: h}
	}
	public := func(pattern string, h func(*app.Request) (any, error)) app.Endpoint {
		return app.Endpoint{Pattern: pattern, Mode: app.ReadOnly, Unauthenticated: true, Handler: h}
	}
	return []app.Endpoint{
		signed("POST /gov/members/proposals:create", a.create),
		signed("POST /gov/members/proposals/{proposal}/ballots/{action}", a.ballot),
		signed("POST /gov/members/proposals/{action}", a.withdraw),
		signed("POST /gov/members/state-digests/{action}", a.ack),
		public("GET /gov/members/proposals", a.list),
		public("GET /gov/members/proposals/{proposal}", a.show),
		public("GET /gov/members", a.members),
		public("GET /gov/service/constitution", a.constitution),
		public("GET /gov/service/info", a.service),
		public("GET /gov/service/nodes", a.nodes),
		public("GET /gov/recovery/encrypted-shares/{member}", a.share),
	}
}

// share answers a member's encrypted recovery share (public: only the
// member's private key opens it).
func (a App) share(r *app.Request) (any, error) {
	v, ok := read(r).Get(MapRecoveryShares, []byte(r.HTTP.PathValue("member")))
	if !ok {
		return nil, app.Errorf(http.StatusNotFound, "NotFound", "no recovery share for that member")
	}
	return map[string]string{"encryptedShare": string(v)}, nil
}

// ProposalView is a proposal as the endpoints answer it (CCF's names).
type ProposalView struct {
	ID           string            `json:"proposalId"`
	ProposerID   string            `json:"proposerId"`
	State        string            `json:"proposalState"`
	BallotCount  int               `json:"ballotCount"`
	FinalVotes   map[string]bool   `json:"finalVotes,omitempty"`
	VoteFailures map[string]string `json:"voteFailures,omitempty"`
	Failure      string            `json:"failure,omitempty"`
	Actions      json.RawMessage   `json:"actions,omitempty"`
}

func view(id string, info ProposalInfo, body []byte) ProposalView {
	v := ProposalView{ID: id, ProposerID: info.ProposerID, State: info.State, BallotCount: len(info.Ballots),
		FinalVotes: info.FinalVotes, VoteFailures: info.VoteFailures, Failure: info.Failure}
	var p struct {
		Actions json.RawMessage `json:"actions"`
	}
	if json.Unmarshal(body, &p) == nil {
		v.Actions = p.Actions
	}
	return v
}

// refuse maps governance errors to HTTP answers.
func refuse(err error) error {
	switch {
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrWrongType), errors.Is(err, ErrInvalid), errors.Is(err, ErrBadBallot):
		return app.Errorf(http.StatusBadRequest, "InvalidRequest", "%v", err)
	case errors.Is(err, ErrUnknownMember), errors.Is(err, ErrSignature), errors.Is(err, ErrStale), errors.Is(err, ErrReplay):
		return app.Errorf(http.StatusUnauthorized, "InvalidAuthenticationInfo", "%v", err)
	case errors.Is(err, ErrNotActive), errors.Is(err, ErrNotProposer):
		return app.Errorf(http.StatusForbidden, "Forbidden", "%v", err)
	case errors.Is(err, ErrNoProposal), errors.Is(err, ErrUnknownNoMember):
		return app.Errorf(http.StatusNotFound, "NotFound", "%v", err)
	case errors.Is(err, ErrNotOpen), errors.Is(err, ErrAlreadyActive):
		return app.Errorf(http.StatusConflict, "Conflict", "%v", err)
	case errors.Is(err, ErrScript):
		return app.Errorf(http.StatusBadRequest, "ScriptError", "%v", err)
	}
	return err
}

// verify checks a signed request for an endpoint, and that the path's
// proposal and member agree with the signed header.
func (a App) verify(r *app.Request, typ, proposal, member string) (*Request, error) {
	req, err := Verify(r.Tx, r.Body, typ, a.now())
	if err != nil {
		return nil, refuse(err)
	}
	if proposal != "" && req.ProposalID != proposal {
		return nil, app.Errorf(http.StatusBadRequest, "InvalidRequest", "the signed proposal ID is not the path's")
	}
	if member != "" && req.Member != member {
		return nil, app.Errorf(http.StatusBadRequest, "InvalidRequest", "the signing member is not the path's")
	}
	return req, nil
}

func (a App) create(r *app.Request) (any, error) {
	req, err := a.verify(r, TypeProposal, "", "")
	if err != nil {
		return nil, err
	}
	id, info, err := Propose(r.Tx, req, r.ID.String(), a.secret())
	if err != nil {
		return nil, refuse(err)
	}
	return view(id, info, req.Body), nil
}

// suffix splits "{x}:verb".
func suffix(r *app.Request, verb string) (string, error) {
	x, ok := strings.CutSuffix(r.HTTP.PathValue("action"), ":"+verb)
	if !ok || x == "" {
		return "", app.Errorf(http.StatusNotFound, "NotFound", "no such endpoint")
	}
	return x, nil
}

func (a App) ballot(r *app.Request) (any, error) {
	member, err := suffix(r, "submit")
	if err != nil {
		return nil, err
	}
	proposal := r.HTTP.PathValue("proposal")
	req, err := a.verify(r, TypeBallot, proposal, member)
	if err != nil {
		return nil, err
	}
	info, err := Vote(r.Tx, req, a.secret())
	if err != nil {
		return nil, refuse(err)
	}
	body, _ := r.Tx.Get(MapProposals, []byte(proposal))
	return view(proposal, info, body), nil
}

func (a App) withdraw(r *app.Request) (any, error) {
	proposal, err := suffix(r, "withdraw")
	if err != nil {
		return nil, err
	}
	req, err := a.verify(r, TypeWithdrawal, proposal, "")
	if err != nil {
		return nil, err
	}
	info, err := Withdraw(r.Tx, req)
	if err != nil {
		return nil, refuse(err)
	}
	body, _ := r.Tx.Get(MapProposals, []byte(proposal))
	return view(proposal, info, body), nil
}

func (a App) ack(r *app.Request) (any, error) {
	id, err := suffix(r, "ack")
	if err != nil {
		return nil, err
	}
	req, err := a.verify(r, TypeAck, "", id)
	if err != nil {
		return nil, err
	}
	if err := Ack(r.Tx, req); err != nil {
		return nil, refuse(err)
	}
	mi, err := member(r.Tx, id)
	return map[string]any{"memberId": id, "status": mi.Status}, err
}

// read is a transaction over the node's state, for the GET endpoints.
func read(r *app.Request) *kv.Tx { return r.Node.Store().Begin() }

func (a App) list(r *app.Request) (any, error) {
	tx := read(r)
	out := []ProposalView{}
	tx.Range(MapProposalInfo, func(k, v []byte) bool {
		var info ProposalInfo
		if json.Unmarshal(v, &info) == nil {
			body, _ := tx.Get(MapProposals, k)
			out = append(out, view(string(k), info, body))
		}
		return true
	})
	return map[string]any{"value": out}, nil
}

func (a App) show(r *app.Request) (any, error) {
	id := r.HTTP.PathValue("proposal")
	body, info, err := Proposal(read(r), id)
	if err != nil {
		return nil, refuse(err)
	}
	return view(id, info, body), nil
}

func (a App) members(r *app.Request) (any, error) {
	tx := read(r)
	type memberView struct {
		ID            string `json:"memberId"`
		Status        string `json:"status"`
		Certificate   string `json:"certificate"`
		EncryptionKey string `json:"publicEncryptionKey,omitempty"`
		MemberData    any    `json:"memberData,omitempty"`
	}
	out := []memberView{}
	tx.Range(MapMemberInfo, func(k, v []byte) bool {
		var mi MemberInfo
		if json.Unmarshal(v, &mi) == nil {
			c, _ := tx.Get(MapMemberCerts, k)
			e, _ := tx.Get(MapMemberKeys, k)
			out = append(out, memberView{ID: string(k), Status: mi.Status, Certificate: string(c), EncryptionKey: string(e), MemberData: mi.MemberData})
		}
		return true
	})
	return map[string]any{"value": out}, nil
}

func (a App) constitution(r *app.Request) (any, error) {
	c, err := constitution(read(r))
	if err != nil {
		return nil, app.Errorf(http.StatusNotFound, "NotFound", "%v", err)
	}
	return app.Raw{ContentType: "text/javascript", Body: []byte(c)}, nil
}

// nodes lists the service's nodes: each one's record in nodes.info (its
// status, raft ID, addresses, and the platform and code ID its evidence
// showed when it joined) and the certificate the service endorsed for it
// (the one its signatures verify with), once it has signed.
func (a App) nodes(r *app.Request) (any, error) {
	tx := read(r)
	type nodeView struct {
		NodeID      string          `json:"nodeId"`
		Info        json.RawMessage `json:"info"`
		Certificate string          `json:"certificate,omitempty"`
	}
	out := []nodeView{}
	seen := map[string]bool{}
	tx.Range(MapNodeInfo, func(k, v []byte) bool {
		c, _ := tx.Get(node.MapNodes, k)
		out = append(out, nodeView{NodeID: string(k), Info: json.RawMessage(append([]byte(nil), v...)), Certificate: string(c)})
		seen[string(k)] = true
		return true
	})
	// The node that started the service joined no one: it has no record
	// in nodes.info, only the certificate it signs with.
	tx.Range(node.MapNodes, func(k, v []byte) bool {
		if !seen[string(k)] {
			out = append(out, nodeView{NodeID: string(k), Info: json.RawMessage(`{"status":"Trusted"}`), Certificate: string(v)})
		}
		return true
	})
	var codeIDs []string
	tx.Range(MapCodeIDs, func(k, _ []byte) bool {
		codeIDs = append(codeIDs, string(k))
		return true
	})
	return map[string]any{"value": out, "codeIds": codeIDs}, nil
}

func (a App) service(r *app.Request) (any, error) {
	tx := read(r)
	var svc, cfg map[string]any
	if _, err := getJSON(tx, MapService, "service", &svc); err != nil {
		return nil, err
	}
	if _, err := getJSON(tx, MapConfig, "config", &cfg); err != nil {
		return nil, err
	}
	return map[string]any{"status": svc["status"], "config": cfg}, nil
}
