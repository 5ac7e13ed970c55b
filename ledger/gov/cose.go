package gov

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/veraison/go-cose"

	"github.com/confide/confide/ledger/kv"
)

// Signed member requests (spec/ledger-governance.md §2): a COSE_Sign1
// message whose protected header carries the algorithm, the member ID as
// the key ID, and CCF's governance labels — the message type, its
// creation time and, for ballots and withdrawals, the proposal. The
// payload is the request body.
const (
	LabelType       = "ccf.gov.msg.type"
	LabelCreatedAt  = "ccf.gov.msg.created_at"
	LabelProposalID = "ccf.gov.msg.proposal_id"
)

// Message types.
const (
	TypeProposal   = "proposal"
	TypeBallot     = "ballot"
	TypeWithdrawal = "withdrawal"
	TypeAck        = "ack"
	TypeShare      = "recovery_share"
)

// Window is how far a request's creation time may be from the primary's
// clock; a signature seen within it is a replay.
const Window = 5 * time.Minute

// Errors a request can meet. Each is a clear refusal: nothing is applied.
var (
	ErrMalformed     = errors.New("gov: not a COSE_Sign1 governance request")
	ErrUnknownMember = errors.New("gov: the request is not signed by a member")
	ErrSignature     = errors.New("gov: the request's signature does not verify")
	ErrStale         = errors.New("gov: the request's creation time is outside the accepted window")
	ErrReplay        = errors.New("gov: the request was seen before (replay)")
	ErrWrongType     = errors.New("gov: the request's message type does not fit the endpoint")
)

// Request is a verified signed request.
type Request struct {
	Member     string // member ID: hex SHA-256 of the member's certificate
	Type       string
	CreatedAt  time.Time
	ProposalID string
	Body       []byte
}

// MemberID is a certificate's member ID.
func MemberID(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// algorithm is the COSE algorithm for a key.
func algorithm(pub crypto.PublicKey) (cose.Algorithm, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return 0, fmt.Errorf("gov: member keys are ECDSA, not %T", pub)
	}
	switch k.Curve {
	case elliptic.P256():
		return cose.AlgorithmES256, nil
	case elliptic.P384():
		return cose.AlgorithmES384, nil
	}
	return 0, fmt.Errorf("gov: member keys are on P-256 or P-384")
}

// Sign makes a signed request (the members' CLI uses it).
func Sign(key crypto.Signer, cert *x509.Certificate, typ, proposalID string, createdAt time.Time, body []byte) ([]byte, error) {
	alg, err := algorithm(key.Public())
	if err != nil {
		return nil, err
	}
	signer, err := cose.NewSigner(alg, key)
	if err != nil {
		return nil, err
	}
	h := cose.Headers{Protected: cose.ProtectedHeader{
		cose.HeaderLabelAlgorithm: alg,
		cose.HeaderLabelKeyID:     []byte(MemberID(cert)),
		LabelType:                 typ,
		LabelCreatedAt:            createdAt.Unix(),
	}}
	if proposalID != "" {
		h.Protected[LabelProposalID] = proposalID
	}
	if body == nil {
		body = []byte{} // withdrawals and acks carry an empty payload
	}
	return cose.Sign1(rand.Reader, signer, h, body, nil)
}

// Verify checks a signed request against the members in tx: the
// signer's certificate, the signature, the type the endpoint wants, the
// creation time against now, and that the signature was not seen within
// the window (it records it in tx, so that a replay is refused once the
// request's transaction is in the ledger).
func Verify(tx *kv.Tx, raw []byte, wantType string, now time.Time) (*Request, error) {
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	p := msg.Headers.Protected
	kid, ok1 := p[cose.HeaderLabelKeyID].([]byte)
	typ, ok2 := p[LabelType].(string)
	created, ok3 := asInt(p[LabelCreatedAt])
	if !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("%w: the protected header needs kid, %s and %s", ErrMalformed, LabelType, LabelCreatedAt)
	}
	r := &Request{Member: string(kid), Type: typ, CreatedAt: time.Unix(created, 0), Body: msg.Payload}
	if id, ok := p[LabelProposalID]; ok {
		if r.ProposalID, ok = id.(string); !ok {
			return nil, fmt.Errorf("%w: %s is a string", ErrMalformed, LabelProposalID)
		}
	}
	if typ != wantType {
		return nil, fmt.Errorf("%w: %q, not %q", ErrWrongType, typ, wantType)
	}
	certPEM, ok := tx.Get(MapMemberCerts, []byte(r.Member))
	if !ok {
		return nil, ErrUnknownMember
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	alg, err := algorithm(cert.PublicKey)
	if err != nil {
		return nil, err
	}
	if got, err := p.Algorithm(); err != nil || got != alg {
		return nil, fmt.Errorf("%w: the algorithm is not the member key's", ErrSignature)
	}
	v, err := cose.NewVerifier(alg, cert.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := msg.Verify(nil, v); err != nil {
		return nil, ErrSignature
	}
	if d := now.Sub(r.CreatedAt); d > Window || d < -Window {
		return nil, fmt.Errorf("%w (%s from now; ±%s)", ErrStale, d.Round(time.Second), Window)
	}
	// Replays: the signatures seen within the window, pruned as it moves.
	sig := sha256.Sum256(msg.Signature)
	key := hex.EncodeToString(sig[:])
	if _, seen := tx.Get(MapCOSEHistory, []byte(key)); seen {
		return nil, ErrReplay
	}
	var stale [][]byte
	tx.Range(MapCOSEHistory, func(k, v []byte) bool {
		var at int64
		if json.Unmarshal(v, &at) == nil && now.Sub(time.Unix(at, 0)) > Window {
			stale = append(stale, append([]byte(nil), k...))
		}
		return true
	})
	for _, k := range stale {
		tx.Delete(MapCOSEHistory, k)
	}
	tx.Put(MapCOSEHistory, []byte(key), []byte(fmt.Sprint(created)))
	return r, nil
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case uint64:
		return int64(x), x <= 1<<62
	case int:
		return int64(x), true
	}
	return 0, false
}
