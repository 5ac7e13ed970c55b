package recovery

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/gov"
)

// Handler serves a recovery session to the members over HTTPS (the
// governance paths of spec/ledger-governance.md §8):
//
//	GET  /gov/service/info                               {"status": "Recovering" | "Open", "shares", "threshold", "transactions"}
//	POST /gov/members/proposals:create                   a signed proposal: transition_service_to_open only
//	POST /gov/members/proposals/{id}/ballots/{member}:submit  a signed ballot
//	GET  /gov/recovery/encrypted-shares/{memberId}       {"encryptedShare"}
//	POST /gov/recovery/members/{memberId}:recover        a signed recovery_share request, once the vote passed
//
// Once a submission brings the shares to the threshold and they open
// every transaction, done receives the secrets, once.
func (s *Session) Handler(done func([]entry.Epoch)) http.Handler {
	var once sync.Once
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, status int, code string, err error) {
		reply(w, status, map[string]any{"error": map[string]string{"code": code, "message": err.Error()}})
	}
	mux.HandleFunc("GET /gov/service/info", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.shares)
		s.mu.Unlock()
		status := "Recovering"
		if s.opened() {
			status = "Open"
		}
		reply(w, http.StatusOK, map[string]any{"status": status, "shares": n, "threshold": s.Threshold, "transactions": s.Transactions()})
	})
	view := func(id string, info gov.ProposalInfo) map[string]any {
		return map[string]any{"proposalId": id, "proposerId": info.ProposerID, "proposalState": info.State, "ballotCount": len(info.Ballots), "finalVotes": info.FinalVotes}
	}
	govErr := func(w http.ResponseWriter, err error) {
		switch {
		case errors.Is(err, gov.ErrMalformed), errors.Is(err, gov.ErrWrongType), errors.Is(err, gov.ErrInvalid), errors.Is(err, gov.ErrBadBallot), errors.Is(err, gov.ErrScript):
			fail(w, http.StatusBadRequest, "InvalidRequest", err)
		case errors.Is(err, gov.ErrNotActive):
			fail(w, http.StatusForbidden, "Forbidden", err)
		case errors.Is(err, gov.ErrNoProposal):
			fail(w, http.StatusNotFound, "NotFound", err)
		case errors.Is(err, gov.ErrNotOpen):
			fail(w, http.StatusConflict, "Conflict", err)
		default:
			fail(w, http.StatusUnauthorized, "InvalidAuthenticationInfo", err)
		}
	}
	mux.HandleFunc("POST /gov/members/proposals:create", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			fail(w, http.StatusRequestEntityTooLarge, "RequestTooLarge", err)
			return
		}
		id, info, err := s.Propose(body, time.Now())
		if err != nil {
			govErr(w, err)
			return
		}
		reply(w, http.StatusOK, view(id, info))
	})
	mux.HandleFunc("POST /gov/members/proposals/{proposal}/ballots/{action}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			fail(w, http.StatusRequestEntityTooLarge, "RequestTooLarge", err)
			return
		}
		info, err := s.Vote(body, time.Now())
		if err != nil {
			govErr(w, err)
			return
		}
		reply(w, http.StatusOK, view(r.PathValue("proposal"), info))
	})
	mux.HandleFunc("GET /gov/recovery/encrypted-shares/{member}", func(w http.ResponseWriter, r *http.Request) {
		enc, ok := s.EncryptedShare(r.PathValue("member"))
		if !ok {
			fail(w, http.StatusNotFound, "NotFound", errors.New("no recovery share for that member"))
			return
		}
		reply(w, http.StatusOK, map[string]string{"encryptedShare": enc})
	})
	mux.HandleFunc("POST /gov/recovery/members/{action}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
		if err != nil {
			fail(w, http.StatusRequestEntityTooLarge, "RequestTooLarge", err)
			return
		}
		n, err := s.Submit(body, time.Now())
		switch {
		case errors.Is(err, ErrNotOpened):
			fail(w, http.StatusConflict, "ServiceNotOpen", err)
			return
		case errors.Is(err, gov.ErrMalformed), errors.Is(err, gov.ErrWrongType), errors.Is(err, ErrNotShare):
			fail(w, http.StatusBadRequest, "InvalidRequest", err)
			return
		case err != nil:
			fail(w, http.StatusUnauthorized, "InvalidAuthenticationInfo", err)
			return
		}
		out := map[string]any{"shares": n, "threshold": s.Threshold}
		if n >= s.Threshold {
			epochs, err := s.Recover()
			if err != nil {
				// A damaged share: the member sends it again, correct.
				out["recovered"] = false
				out["message"] = err.Error()
				reply(w, http.StatusOK, out)
				return
			}
			out["recovered"] = true
			once.Do(func() { done(epochs) })
		}
		reply(w, http.StatusOK, out)
	})
	return mux
}
