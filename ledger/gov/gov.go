package gov

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	"github.com/confide/confide/ledger/kv"
)

// Errors of the governance operations.
var (
	ErrNotActive       = errors.New("gov: only active members propose and vote")
	ErrInvalid         = errors.New("gov: the constitution finds the proposal invalid")
	ErrNoProposal      = errors.New("gov: no such proposal")
	ErrNotOpen         = errors.New("gov: the proposal is not open")
	ErrNotProposer     = errors.New("gov: only the proposer withdraws a proposal")
	ErrAlreadyActive   = errors.New("gov: the member has acknowledged already")
	ErrBadBallot       = errors.New(`gov: a ballot is {"ballot": "function vote(proposal, proposerId) { … }"}`)
	ErrNoConstitution  = errors.New("gov: the service has no constitution")
	ErrUnknownNoMember = errors.New("gov: no such member")
)

// Genesis is the governance state a new service starts with.
type Genesis struct {
	Members []GenesisMember
	// Constitution is the JavaScript (DefaultConstitution if empty).
	Constitution      string
	RecoveryThreshold int
	// Secret is the ledger secret, for the recovery material (nil: none
	// is made).
	Secret []byte
	// CodeIDs are the node code allowed to join (unique IDs, hex), and
	// AllowSimulated whether simulated evidence may join.
	CodeIDs        []string
	AllowSimulated bool
}

// GenesisMember is a founding member, active from the start.
type GenesisMember struct {
	Cert          *x509.Certificate
	EncryptionKey []byte // PEM, or nil for a member who holds no recovery share
	Data          any
}

// WriteGenesis writes the founding governance state into tx.
func WriteGenesis(tx *kv.Tx, g Genesis) error {
	if len(g.Members) == 0 {
		return fmt.Errorf("gov: a service needs at least one member")
	}
	c := g.Constitution
	if c == "" {
		c = DefaultConstitution
	}
	if err := checkConstitution(tx, c); err != nil {
		return err
	}
	tx.Put(MapConstitution, []byte("constitution"), []byte(c))
	keys := 0
	for _, m := range g.Members {
		id := MemberID(m.Cert)
		tx.Put(MapMemberCerts, []byte(id), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.Cert.Raw}))
		if m.EncryptionKey != nil {
			tx.Put(MapMemberKeys, []byte(id), m.EncryptionKey)
			keys++
		}
		putJSON(tx, MapMemberInfo, id, MemberInfo{Status: MemberActive, MemberData: m.Data})
	}
	t := g.RecoveryThreshold
	if t == 0 {
		t = 1
	}
	if keys > 0 && t > keys {
		return fmt.Errorf("gov: a recovery threshold of %d with %d recovery members", t, keys)
	}
	putJSON(tx, MapConfig, "config", map[string]any{"recovery_threshold": t, "allow_simulated": g.AllowSimulated})
	for _, id := range g.CodeIDs {
		putJSON(tx, MapCodeIDs, id, "AllowedToJoin")
	}
	putJSON(tx, MapService, "service", map[string]any{"status": "Opening"})
	if g.Secret != nil {
		return Reshare(tx, g.Secret)
	}
	return nil
}

func putJSON(tx *kv.Tx, m, k string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own records always marshal
	}
	tx.Put(m, []byte(k), b)
}

func getJSON(tx *kv.Tx, m, k string, v any) (bool, error) {
	b, ok := tx.Get(m, []byte(k))
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(b, v)
}

func member(tx *kv.Tx, id string) (MemberInfo, error) {
	var mi MemberInfo
	ok, err := getJSON(tx, MapMemberInfo, id, &mi)
	if err == nil && !ok {
		err = ErrUnknownNoMember
	}
	return mi, err
}

func constitution(tx *kv.Tx) (string, error) {
	c, ok := tx.Get(MapConstitution, []byte("constitution"))
	if !ok {
		return "", ErrNoConstitution
	}
	return string(c), nil
}

// Propose records a proposal from a verified request (type proposal) as
// transaction txid, and resolves it at once (with one member, or a
// constitution that needs no votes, it may pass immediately).
//
// secret is the ledger secret: when an accepted proposal changes the
// recovery members or the threshold, the recovery material is made anew
// (nil: it is not).
func Propose(tx *kv.Tx, r *Request, txid string, secret []byte) (string, ProposalInfo, error) {
	if mi, err := member(tx, r.Member); err != nil || mi.Status != MemberActive {
		return "", ProposalInfo{}, ErrNotActive
	}
	c, err := constitution(tx)
	if err != nil {
		return "", ProposalInfo{}, err
	}
	out, err := call(tx, "constitution", c, "validate", string(r.Body))
	if err != nil {
		return "", ProposalInfo{}, err
	}
	res, _ := out.(map[string]any)
	if valid, _ := res["valid"].(bool); !valid {
		return "", ProposalInfo{}, fmt.Errorf("%w: %v", ErrInvalid, res["description"])
	}
	sum := sha256.Sum256(append([]byte(txid+"\x00"), r.Body...))
	id := hex.EncodeToString(sum[:])
	tx.Put(MapProposals, []byte(id), r.Body)
	info := ProposalInfo{ProposerID: r.Member, State: Open, Ballots: map[string]string{}}
	info, err = resolveProposal(tx, c, id, info, secret)
	return id, info, err
}

// Vote records a member's ballot (a request of type ballot naming the
// proposal) and resolves the proposal again. A second ballot replaces
// the first. secret is as for Propose.
func Vote(tx *kv.Tx, r *Request, secret []byte) (ProposalInfo, error) {
	if mi, err := member(tx, r.Member); err != nil || mi.Status != MemberActive {
		return ProposalInfo{}, ErrNotActive
	}
	info, err := openProposal(tx, r.ProposalID)
	if err != nil {
		return info, err
	}
	var b struct {
		Ballot string `json:"ballot"`
	}
	if json.Unmarshal(r.Body, &b) != nil || b.Ballot == "" {
		return info, ErrBadBallot
	}
	if _, err := compile("ballot", b.Ballot); err != nil {
		return info, err
	}
	if info.Ballots == nil {
		info.Ballots = map[string]string{}
	}
	info.Ballots[r.Member] = b.Ballot
	c, err := constitution(tx)
	if err != nil {
		return info, err
	}
	return resolveProposal(tx, c, r.ProposalID, info, secret)
}

// Withdraw ends an open proposal at its proposer's request.
func Withdraw(tx *kv.Tx, r *Request) (ProposalInfo, error) {
	info, err := openProposal(tx, r.ProposalID)
	if err != nil {
		return info, err
	}
	if info.ProposerID != r.Member {
		return info, ErrNotProposer
	}
	info.State = Withdrawn
	putJSON(tx, MapProposalInfo, r.ProposalID, info)
	return info, nil
}

// Ack makes an accepted member active.
func Ack(tx *kv.Tx, r *Request) error {
	mi, err := member(tx, r.Member)
	if err != nil {
		return err
	}
	if mi.Status == MemberActive {
		return ErrAlreadyActive
	}
	mi.Status = MemberActive
	putJSON(tx, MapMemberInfo, r.Member, mi)
	return nil
}

// recoveryState is what the recovery material depends on: the recovery
// members' keys and the threshold.
func recoveryState(tx *kv.Tx) string {
	h := sha256.New()
	tx.Range(MapMemberKeys, func(k, v []byte) bool {
		h.Write(k)
		h.Write([]byte{0})
		h.Write(v)
		h.Write([]byte{0})
		return true
	})
	c, _ := tx.Get(MapConfig, []byte("config"))
	h.Write(c)
	return string(h.Sum(nil))
}

// checkConstitution checks that a constitution compiles and defines
// validate, resolve and apply.
func checkConstitution(tx *kv.Tx, c string) error {
	for _, fn := range []string{"validate", "resolve", "apply"} {
		out, err := call(tx.Scratch(), "constitution", c+"\n;function __confide_has() { return typeof "+fn+" === 'function' }", "__confide_has")
		if err != nil {
			return err
		}
		if ok, _ := out.(bool); !ok {
			return fmt.Errorf("%w: the constitution does not define %s", ErrScript, fn)
		}
	}
	return nil
}

// Proposal reads a proposal and its record.
func Proposal(tx *kv.Tx, id string) ([]byte, ProposalInfo, error) {
	var info ProposalInfo
	body, ok := tx.Get(MapProposals, []byte(id))
	if !ok {
		return nil, info, ErrNoProposal
	}
	_, err := getJSON(tx, MapProposalInfo, id, &info)
	return body, info, err
}

func openProposal(tx *kv.Tx, id string) (ProposalInfo, error) {
	_, info, err := Proposal(tx, id)
	if err != nil {
		return info, err
	}
	if info.State != Open {
		return info, fmt.Errorf("%w (%s)", ErrNotOpen, info.State)
	}
	return info, nil
}

// resolveProposal evaluates the ballots, asks the constitution to
// resolve, applies an accepted proposal, and records the outcome. A
// failing apply leaves the proposal Failed and nothing of its actions
// written.
func resolveProposal(tx *kv.Tx, c, id string, info ProposalInfo, secret []byte) (ProposalInfo, error) {
	body, _ := tx.Get(MapProposals, []byte(id))
	info.FinalVotes, info.VoteFailures = map[string]bool{}, nil
	var votes []map[string]any
	members := make([]string, 0, len(info.Ballots))
	for m := range info.Ballots {
		members = append(members, m)
	}
	slices.Sort(members)
	for _, m := range members {
		out, err := call(tx, "ballot", info.Ballots[m], "vote", string(body), info.ProposerID)
		v, ok := out.(bool)
		if err != nil || !ok {
			if info.VoteFailures == nil {
				info.VoteFailures = map[string]string{}
			}
			if err == nil {
				err = fmt.Errorf("vote returned %T, not a boolean", out)
			}
			info.VoteFailures[m] = err.Error()
			continue
		}
		info.FinalVotes[m] = v
		votes = append(votes, map[string]any{"member_id": m, "vote": v})
	}
	if votes == nil {
		votes = []map[string]any{}
	}
	out, err := call(tx, "constitution", c, "resolve", string(body), info.ProposerID, votes)
	if err != nil {
		return info, err
	}
	state, _ := out.(string)
	switch state {
	case Open, Rejected:
	case Accepted:
		// apply writes through tx; on failure its writes must not stay.
		sp := tx.Savepoint()
		before := recoveryState(tx)
		_, err := call(tx, "constitution", c, "apply", string(body), id)
		if err == nil {
			// A new constitution must be one: governance must not lock
			// itself out.
			if nc, _ := constitution(tx); nc != c {
				err = checkConstitution(tx, nc)
			}
		}
		if err == nil && secret != nil && recoveryState(tx) != before {
			// New recovery members or threshold: new shares, so that
			// removed members' shares no longer open anything.
			err = Reshare(tx, secret)
		}
		if err != nil {
			tx.RollbackTo(sp)
			state, info.Failure = Failed, err.Error()
		}
	default:
		return info, fmt.Errorf("%w: resolve returned %v", ErrScript, out)
	}
	info.State = state
	putJSON(tx, MapProposalInfo, id, info)
	return info, nil
}
