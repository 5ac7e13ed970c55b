// Package gov is the ledger's consortium governance (issue 18,
// spec/ledger-governance.md): members identified by certificates sign
// their requests (COSE_Sign1 with CCF's governance header labels, a
// creation time checked against a window, replays refused); proposals
// are lists of actions; ballots are small JavaScript programs
// vote(proposal, proposerId) evaluated again whenever a proposal is
// resolved; and a constitution — JavaScript stored in the ledger,
// replaceable by proposal, with CCF's validate / resolve / apply — decides
// which proposals are valid, when they pass, and what they do. The
// default constitution passes a proposal once a strict majority of the
// active members votes for it.
//
// Everything lives in public maps (MapProposals, MapProposalInfo, the
// members' maps, MapConstitution…), so the ledger itself is the audit
// trail. The operations here (Verify, Propose, Vote, Withdraw, Ack) run
// on the primary inside one transaction each; a refused request returns
// an error and the transaction writes nothing, and an accepted proposal
// whose actions fail is recorded as Failed with none of its writes.
//
// Scripts run in goja (github.com/dop251/goja) with a time limit, read
// public maps only and write only the governance maps and the users map.
package gov
