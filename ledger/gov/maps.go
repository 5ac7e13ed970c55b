package gov

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/confide/confide/ledger/app"
)

// The governance maps: public, so that everything governance does is in
// the ledger in clear and auditable (spec/ledger-governance.md §1).
const (
	// MapMemberCerts: member ID → certificate (PEM).
	MapMemberCerts = "public:confide.gov.members.certs"
	// MapMemberKeys: member ID → encryption public key (PEM), for
	// recovery members.
	MapMemberKeys = "public:confide.gov.members.encryption_public_keys"
	// MapMemberInfo: member ID → MemberInfo.
	MapMemberInfo = "public:confide.gov.members.info"
	// MapProposals: proposal ID → the proposal as submitted.
	MapProposals = "public:confide.gov.proposals"
	// MapProposalInfo: proposal ID → ProposalInfo.
	MapProposalInfo = "public:confide.gov.proposals_info"
	// MapConstitution: "constitution" → its JavaScript.
	MapConstitution = "public:confide.gov.constitution"
	// MapCodeIDs: allowed node code (a unique ID, hex) → "AllowedToJoin".
	MapCodeIDs = "public:confide.gov.nodes.code_ids"
	// MapNodeInfo: node ID → {"status": "Pending" | "Trusted" | "Retired"}.
	MapNodeInfo = "public:confide.gov.nodes.info"
	// MapService: "service" → {"status": "Opening" | "Open" | "Recovering"}.
	MapService = "public:confide.gov.service.info"
	// MapConfig: "config" → {"recovery_threshold": n, "allow_simulated": bool}.
	MapConfig = "public:confide.gov.service.config"
	// MapRequests: "rekey" or "snapshot" → the proposal that asked for it.
	MapRequests = "public:confide.gov.requests"
	// MapCOSEHistory: hex SHA-256 of a request's signature → its
	// creation time (Unix seconds), within Window.
	MapCOSEHistory = "public:confide.gov.cose_history"
)

// Maps lists the maps governance writes (an app's Maps), the users map
// included: set_user and remove_user write it.
func Maps() []string {
	return []string{MapMemberCerts, MapMemberKeys, MapMemberInfo, MapProposals, MapProposalInfo, MapConstitution,
		MapCodeIDs, MapNodeInfo, MapService, MapConfig, MapRequests, MapCOSEHistory, MapRecoveryShares, MapWrappedSecret, app.MapUsers}
}

// Member statuses: a member set by a proposal is Accepted and counts
// once it acknowledges (Active).
const (
	MemberAccepted = "Accepted"
	MemberActive   = "Active"
)

// MemberInfo is a members.info record.
type MemberInfo struct {
	Status     string `json:"status"`
	MemberData any    `json:"member_data,omitempty"`
}

// Proposal states.
const (
	Open      = "Open"
	Accepted  = "Accepted"
	Withdrawn = "Withdrawn"
	Rejected  = "Rejected"
	Failed    = "Failed"
)

// ProposalInfo is a proposals_info record.
type ProposalInfo struct {
	ProposerID string            `json:"proposer_id"`
	State      string            `json:"state"`
	Ballots    map[string]string `json:"ballots,omitempty"`
	// FinalVotes are the ballots' votes when the proposal was last
	// resolved; VoteFailures the ballots that threw.
	FinalVotes   map[string]bool   `json:"final_votes,omitempty"`
	VoteFailures map[string]string `json:"vote_failures,omitempty"`
	// Failure is why apply failed (state Failed).
	Failure string `json:"failure,omitempty"`
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("gov: not a PEM certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}
