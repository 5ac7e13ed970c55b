package console

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/ml/manifest"
)

// The multi-party trainer's pages: its jobs, each job's manifest with
// every party's signature checked here, and the outputs. Reports and
// models are encrypted to their recipients (HPKE): a party opens its
// report in the browser with its own output key, which never reaches the
// console, and the page checks it against the trainer's evidence.

func (s *Server) mlRoutes(mux *http.ServeMux) {
	if !s.cfg.ML.configured() {
		return
	}
	mux.Handle("GET /ml", s.page(s.mlJobs, true))
	mux.Handle("GET /ml/jobs/{id}", s.page(s.mlJob, true))
}

func (s *Server) mlClient() *httpx.Client {
	return &httpx.Client{BaseURL: s.cfg.ML.URL, HTTP: s.cfg.ML.HTTP}
}

type mlJobState struct {
	ID      string   `json:"id"`
	Job     string   `json:"job"`
	State   string   `json:"state"`
	Missing []string `json:"missing"`
	Error   string   `json:"error"`
}

func (s *Server) mlJobs(w http.ResponseWriter, r *http.Request, sess *session) error {
	var list struct {
		Jobs []mlJobState `json:"jobs"`
	}
	if _, err := s.mlClient().Do(r.Context(), http.MethodGet, "/v1/jobs", nil, &list); err != nil {
		return err
	}
	s.render(w, r, sess, "ml", map[string]any{"Jobs": list.Jobs})
	return nil
}

var mlJobRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// mlOutput is one recipient's share of a finished job, as the page shows
// it: the report's envelope for the browser to open, and the trainer's
// evidence as the console checked it.
type mlOutput struct {
	Party      string
	Report     string // the report envelope (JSON), for console.js
	Evidence   string // "" when it verifies, else why not
	Claims     *enclave.Claims
	ReportHash string // the report hash the evidence binds (hex)
}

func (s *Server) mlJob(w http.ResponseWriter, r *http.Request, sess *session) error {
	id := r.PathValue("id")
	if !mlJobRE.MatchString(id) {
		return pageError{http.StatusBadRequest, "A job ID is its manifest's SHA-256, 64 lower-case hex digits."}
	}
	ctx := r.Context()
	c := s.mlClient()
	var st mlJobState
	if _, err := c.Do(ctx, http.MethodGet, "/v1/jobs/"+id, nil, &st); err != nil {
		return err
	}
	var posted struct {
		Manifest   []byte              `json:"manifest"`
		Signatures manifest.Signatures `json:"signatures"`
	}
	if _, err := c.Do(ctx, http.MethodGet, "/v1/jobs/"+id+"/manifest", nil, &posted); err != nil {
		return err
	}
	m, sigs, err := manifest.SignatureStatus(posted.Manifest, &posted.Signatures)
	if err != nil {
		return pageError{http.StatusBadGateway, fmt.Sprintf("The trainer's copy of the manifest does not check: %v", err)}
	}
	hash := manifest.Hash(posted.Manifest)
	data := map[string]any{"State": st, "M": m, "Sigs": sigs, "Hash": hex.EncodeToString(hash[:]),
		"Params": string(m.Algorithm.Params), "Policy": string(m.Trainer.Policy)}
	if st.State == "done" {
		var outs []mlOutput
		for _, p := range m.Output.Recipients {
			o, err := s.mlOutputs(ctx, c, id, p, m, hash)
			if err != nil {
				return err
			}
			outs = append(outs, o)
		}
		data["Outputs"] = outs
	}
	s.render(w, r, sess, "ml-job", data)
	return nil
}

// mlOutputs reads a recipient's outputs and checks the trainer's
// evidence: it verifies under this deployment's roots, its nonce is the
// manifest's hash, and it meets the manifest's trainer policy (simulated
// or debug evidence only where the manifest allows simulation).
func (s *Server) mlOutputs(ctx context.Context, c *httpx.Client, id, party string, m *manifest.Manifest, hash [32]byte) (mlOutput, error) {
	var out struct {
		Envelopes []json.RawMessage `json:"envelopes"`
		Evidence  []byte            `json:"evidence"`
	}
	o := mlOutput{Party: party}
	if _, err := c.Do(ctx, http.MethodGet, "/v1/jobs/"+id+"/outputs/"+url.PathEscape(party), nil, &out); err != nil {
		return o, err
	}
	for _, e := range out.Envelopes {
		var env struct {
			What string `json:"what"`
		}
		if json.Unmarshal(e, &env) == nil && env.What == "report" {
			o.Report = string(e)
		}
	}
	if s.cfg.Verifier == nil {
		o.Evidence = "this console verifies no evidence"
		return o, nil
	}
	claims, err := manifest.CheckTrainerEvidence(ctx, s.cfg.Verifier, m, hash, nil, out.Evidence)
	if err != nil {
		o.Evidence = err.Error()
		return o, nil
	}
	o.Claims = &claims
	o.ReportHash = hex.EncodeToString(claims.ReportData[32:])
	return o, nil
}
