// Package trainsvc is the multi-party trainer as an HTTP service (over
// attested TLS when `confide ml serve` runs it): the untrusted host's
// storage for the parties' encrypted files, and the jobs — registered
// with a manifest every party signed, run by package trainer once every
// file is stored, their outputs (encrypted to each recipient) and the
// evidence binding the training report served to anyone: only the
// recipients can open them.
//
//	PUT  /v1/files/{sha256}               an encrypted data set (the name must be its hash)
//	POST /v1/jobs                         {"manifest": base64, "signatures": {…}} → the job's state
//	GET  /v1/jobs                         every job's state, by ID
//	GET  /v1/jobs/{id}                    the state: waiting (for which files), training, done, failed
//	GET  /v1/jobs/{id}/manifest           the manifest and the parties' signatures, as posted
//	GET  /v1/jobs/{id}/outputs/{party}    the party's envelopes and the report's evidence
//	POST /v1/jobs/{id}/predict            a party's signed rows → its predictions, sealed to it
//	                                      (a model the manifest does not release)
//
// A job's ID is its manifest's hash. A failed job (a key not yet in the
// broker, say) runs again when it is posted again.
//
// With a sealer, every job is kept in a record sealed to this trainer's
// own code (enclave.SealUnique), so that a trainer killed and started
// again loses nothing: finished jobs serve their outputs again, a model
// kept inside answers predictions again, and a job that was waiting or
// training waits again, or trains again from its files. A record that
// does not unseal — another trainer's, or one the host altered — is
// reported and left where it is.
package trainsvc

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/manifest"
	"github.com/confide/confide/ml/model"
	"github.com/confide/confide/ml/output"
	"github.com/confide/confide/ml/trainer"
)

// Config configures a service.
type Config struct {
	Storage  string // the host's directory for encrypted files
	Keys     trainer.Keys
	Attester enclave.Attester
	Log      *slog.Logger
	// MaxFile bounds an uploaded file (default 1 GiB).
	MaxFile int64
	// Jobs is the directory for sealed job records, and Sealer seals
	// them; without a Sealer jobs live in memory only.
	Jobs   string
	Sealer Sealer
}

// Sealer seals job records (package seal's Sealer).
type Sealer interface {
	Seal(ctx context.Context, policy enclave.SealPolicy, plaintext, aad []byte) ([]byte, error)
	Unseal(ctx context.Context, blob, aad []byte) ([]byte, error)
}

// States of a job.
const (
	Waiting  = "waiting"
	Training = "training"
	Done     = "done"
	Failed   = "failed"
)

// JobRequest is POST /v1/jobs's body.
type JobRequest struct {
	Manifest   []byte              `json:"manifest"`
	Signatures manifest.Signatures `json:"signatures"`
}

// JobState is a job's state.
type JobState struct {
	ID      string   `json:"id"`
	Job     string   `json:"job"`
	State   string   `json:"state"`
	Missing []string `json:"missing,omitempty"` // parties whose files are not stored yet
	Error   string   `json:"error,omitempty"`
}

// Outputs is one party's share of a finished job.
type Outputs struct {
	Envelopes []*output.Envelope `json:"envelopes"`
	// Evidence is the trainer's, binding the manifest hash (nonce) and
	// the report (runtime data): the party checks it against the
	// manifest's trainer policy and the report it decrypts.
	Evidence []byte `json:"evidence"`
}

type job struct {
	req    JobRequest
	m      *manifest.Manifest
	state  JobState
	result *trainer.Result
	// kept is the model kept inside, read once for its predictions.
	keptOnce sync.Once
	kept     *model.Model
	keptErr  error
}

// Service is a running trainer.
type Service struct {
	cfg  Config
	http *httpx.Server
	mu   sync.Mutex
	jobs map[string]*job
	wg   sync.WaitGroup
}

// New makes a service.
func New(cfg Config, reg prometheus.Registerer) (*Service, error) {
	if cfg.Storage == "" || cfg.Keys == nil || cfg.Attester == nil {
		return nil, errors.New("trainsvc: storage, keys and an attester are needed")
	}
	if cfg.MaxFile == 0 {
		cfg.MaxFile = 1 << 30
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Storage, 0o700); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, http: httpx.NewServer(cfg.Log, reg, "confide_ml"), jobs: map[string]*job{}}
	if cfg.Sealer != nil {
		if cfg.Jobs == "" {
			return nil, errors.New("trainsvc: a sealer needs a jobs directory")
		}
		if err := os.MkdirAll(cfg.Jobs, 0o700); err != nil {
			return nil, err
		}
		if err := s.load(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// record is a job as it is sealed.
type record struct {
	Request JobRequest      `json:"request"`
	State   JobState        `json:"state"`
	Result  *trainer.Result `json:"result,omitempty"`
}

const recordAAD = "confide ml job record v1\n"

// save seals j's record (s.mu held) and replaces the last one.
func (s *Service) save(j *job) error {
	if s.cfg.Sealer == nil {
		return nil
	}
	b, err := json.Marshal(record{Request: j.req, State: j.state, Result: j.result})
	if err != nil {
		return err
	}
	blob, err := s.cfg.Sealer.Seal(context.Background(), enclave.SealUnique, b, []byte(recordAAD+j.state.ID))
	clear(b)
	if err != nil {
		return err
	}
	path := filepath.Join(s.cfg.Jobs, j.state.ID+".sealed")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, blob, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// load reads every sealed record; jobs that were waiting or training
// wait again (startReady runs those whose files are all stored).
func (s *Service) load() error {
	ents, err := os.ReadDir(s.cfg.Jobs)
	if err != nil {
		return err
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".sealed")
		if !ok || !hashPat.MatchString(id) {
			continue
		}
		j, err := s.loadOne(id)
		if err != nil {
			s.cfg.Log.Error("job record not loaded; left in place", "file", e.Name(), "error", err)
			continue
		}
		s.jobs[id] = j
	}
	s.startReady()
	return nil
}

func (s *Service) loadOne(id string) (*job, error) {
	blob, err := os.ReadFile(filepath.Join(s.cfg.Jobs, id+".sealed"))
	if err != nil {
		return nil, err
	}
	b, err := s.cfg.Sealer.Unseal(context.Background(), blob, []byte(recordAAD+id))
	if err != nil {
		return nil, err
	}
	defer clear(b)
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	m, err := manifest.Verify(r.Request.Manifest, &r.Request.Signatures)
	if err != nil {
		return nil, err
	}
	if h := manifest.Hash(r.Request.Manifest); hex.EncodeToString(h[:]) != id || r.State.ID != id {
		return nil, errors.New("the record is another job's")
	}
	j := &job{req: r.Request, m: m, state: r.State, result: r.Result}
	switch {
	case j.state.State == Done && j.result == nil:
		return nil, errors.New("a finished job without its result")
	case j.state.State == Waiting || j.state.State == Training:
		j.state.State, j.result = Waiting, nil
	}
	return j, nil
}

var hashPat = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Handler serves the API.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	h := s.http
	mux.Handle("PUT /v1/files/{sha256}", h.Handle("PUT /v1/files/{sha256}", s.putFile))
	mux.Handle("POST /v1/jobs", h.Handle("POST /v1/jobs", s.postJob))
	mux.Handle("GET /v1/jobs", h.Handle("GET /v1/jobs", s.listJobs))
	mux.Handle("GET /v1/jobs/{id}", h.Handle("GET /v1/jobs/{id}", s.getJob))
	mux.Handle("GET /v1/jobs/{id}/manifest", h.Handle("GET /v1/jobs/{id}/manifest", s.getManifest))
	mux.Handle("GET /v1/jobs/{id}/outputs/{party}", h.Handle("GET /v1/jobs/{id}/outputs/{party}", s.getOutputs))
	mux.Handle("POST /v1/jobs/{id}/predict", h.Handle("POST /v1/jobs/{id}/predict", s.predict))
	h.Common(mux, "/healthz", "/metrics", nil)
	return mux
}

// Wait waits for the jobs running now (tests, shutdown).
func (s *Service) Wait() { s.wg.Wait() }

func (s *Service) putFile(w http.ResponseWriter, r *http.Request) error {
	want := r.PathValue("sha256")
	if !hashPat.MatchString(want) {
		return httpx.BadRequest("a file is named by its SHA-256, 64 lower-case hex digits")
	}
	tmp, err := os.CreateTemp(s.cfg.Storage, ".upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r.Body, s.cfg.MaxFile+1))
	if err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err != nil {
		return err
	}
	if n > s.cfg.MaxFile {
		return httpx.Errorf(http.StatusRequestEntityTooLarge, "too_large", "a file may hold %d bytes at most", s.cfg.MaxFile)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return httpx.BadRequest("the body's SHA-256 is %s, not %s", got, want)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.cfg.Storage, want)); err != nil {
		return err
	}
	s.startReady()
	httpx.WriteJSON(w, http.StatusCreated, map[string]any{"sha256": want, "bytes": n})
	return nil
}

func (s *Service) postJob(w http.ResponseWriter, r *http.Request) error {
	var req JobRequest
	if err := httpx.DecodeJSON(r, 16<<20, &req); err != nil {
		return err
	}
	m, err := manifest.Verify(req.Manifest, &req.Signatures)
	if err != nil {
		return httpx.BadRequest("%v", err)
	}
	hash := manifest.Hash(req.Manifest)
	id := hex.EncodeToString(hash[:])
	s.mu.Lock()
	j, ok := s.jobs[id]
	if !ok || j.state.State == Failed {
		j = &job{req: req, m: m, state: JobState{ID: id, Job: m.Job, State: Waiting}}
		if err := s.save(j); err != nil {
			s.mu.Unlock()
			return err
		}
		s.jobs[id] = j
	}
	s.mu.Unlock()
	s.startReady()
	s.mu.Lock()
	st := j.state
	s.mu.Unlock()
	httpx.WriteJSON(w, http.StatusAccepted, st)
	return nil
}

// startReady starts every waiting job whose files are all stored.
func (s *Service) startReady() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if j.state.State != Waiting {
			continue
		}
		j.state.Missing = nil
		for _, p := range j.m.Parties {
			if _, err := os.Stat(filepath.Join(s.cfg.Storage, p.Data.SHA256)); err != nil {
				j.state.Missing = append(j.state.Missing, p.Name)
			}
		}
		if len(j.state.Missing) > 0 {
			continue
		}
		j.state.State = Training
		s.wg.Add(1)
		go s.run(j)
	}
}

func (s *Service) run(j *job) {
	defer s.wg.Done()
	res, err := trainer.Run(context.Background(), j.req.Manifest, &j.req.Signatures, s.cfg.Keys, trainer.DirStore(s.cfg.Storage), s.cfg.Attester)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		j.state.State, j.state.Error = Failed, err.Error()
	} else {
		j.state.State, j.result = Done, res
	}
	if err := s.save(j); err != nil {
		// Served from memory until the trainer stops; a restart would
		// train it again.
		s.cfg.Log.Error("job record not saved", "job", j.state.Job, "error", err)
	}
}

func (s *Service) lookup(id string) (*job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return nil, httpx.Errorf(http.StatusNotFound, "no_such_job", "no job %.16s…", id)
	}
	return j, nil
}

func (s *Service) getJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.lookup(r.PathValue("id"))
	if err != nil {
		return err
	}
	s.mu.Lock()
	st := j.state
	s.mu.Unlock()
	httpx.WriteJSON(w, http.StatusOK, st)
	return nil
}

// listJobs answers every job's state. Jobs are no secret from the host
// that stores them: a manifest names parties, data set hashes and the
// algorithm, never data.
func (s *Service) listJobs(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	out := make([]JobState, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, j.state)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b JobState) int { return strings.Compare(a.ID, b.ID) })
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"jobs": out})
	return nil
}

// getManifest answers the job's manifest and signatures as posted, for
// anyone to check who signed what.
func (s *Service) getManifest(w http.ResponseWriter, r *http.Request) error {
	j, err := s.lookup(r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, j.req)
	return nil
}

func (s *Service) getOutputs(w http.ResponseWriter, r *http.Request) error {
	j, err := s.lookup(r.PathValue("id"))
	if err != nil {
		return err
	}
	s.mu.Lock()
	st, res := j.state, j.result
	s.mu.Unlock()
	if st.State != Done {
		return httpx.Errorf(http.StatusConflict, "not_done", "job %s is %s", st.Job, st.State)
	}
	party := r.PathValue("party")
	envs, ok := res.Outputs[party]
	if !ok {
		return httpx.Errorf(http.StatusNotFound, "not_a_recipient", "%q receives nothing from job %s", party, st.Job)
	}
	httpx.WriteJSON(w, http.StatusOK, Outputs{Envelopes: envs, Evidence: res.Evidence})
	return nil
}

// PredictRequest asks a prediction-only model for predictions: rows in
// the schema's feature order, signed by the party (PredictMessage).
type PredictRequest struct {
	Party string      `json:"party"`
	Time  int64       `json:"time"` // unix seconds: a request is good for MaxSkew
	Rows  [][]float64 `json:"rows"`
	Sig   []byte      `json:"sig"` // Ed25519 by the party's signing key
}

// MaxSkew bounds a prediction request's age.
const MaxSkew = 5 * time.Minute

// PredictMessage is what a party signs: a context string, the manifest
// hash, its name, the time and the rows' hash.
func PredictMessage(manifestHash [32]byte, r *PredictRequest) []byte {
	rows, _ := json.Marshal(r.Rows)
	h := sha256.Sum256(rows)
	msg := append([]byte("confide ml predict v1\n"), manifestHash[:]...)
	msg = append(msg, r.Party...)
	msg = binary.BigEndian.AppendUint64(append(msg, 0), uint64(r.Time))
	return append(msg, h[:]...)
}

func (s *Service) predict(w http.ResponseWriter, r *http.Request) error {
	j, err := s.lookup(r.PathValue("id"))
	if err != nil {
		return err
	}
	var req PredictRequest
	if err := httpx.DecodeJSON(r, 16<<20, &req); err != nil {
		return err
	}
	s.mu.Lock()
	st, res := j.state, j.result
	s.mu.Unlock()
	if st.State != Done {
		return httpx.Errorf(http.StatusConflict, "not_done", "job %s is %s", st.Job, st.State)
	}
	if res.Model == nil {
		return httpx.Errorf(http.StatusConflict, "released", "job %s released its model to its recipients: predict with it there", st.Job)
	}
	p, ok := j.m.Party(req.Party)
	if !ok {
		return httpx.Errorf(http.StatusForbidden, "not_a_party", "%q is not a party of job %s", req.Party, st.Job)
	}
	if d := time.Since(time.Unix(req.Time, 0)); d > MaxSkew || d < -MaxSkew {
		return httpx.Errorf(http.StatusForbidden, "stale", "the request's time is %v away from the trainer's clock", d.Round(time.Second))
	}
	pub, err := p.SigningPublicKey()
	if err != nil {
		return err
	}
	hash := manifest.Hash(j.req.Manifest)
	if !ed25519.Verify(pub, PredictMessage(hash, &req), req.Sig) {
		return httpx.Errorf(http.StatusForbidden, "bad_signature", "the request is not signed by %s", req.Party)
	}
	j.keptOnce.Do(func() { j.kept, j.keptErr = model.Read(res.Model) })
	m, err := j.kept, j.keptErr
	if err != nil {
		return err
	}
	d := &dataset.Dataset{Features: j.m.Schema.Features, X: req.Rows}
	for i, row := range req.Rows {
		if len(row) != len(j.m.Schema.Features) {
			return httpx.BadRequest("row %d has %d values; the schema has %d features", i, len(row), len(j.m.Schema.Features))
		}
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return httpx.BadRequest("row %d holds a value that is not a finite number", i)
			}
		}
	}
	predict := m.Predict
	if j.m.Algorithm.Oblivious {
		predict = m.PredictOblivious
	}
	ps, err := predict(d)
	if err != nil {
		return httpx.BadRequest("%v", err)
	}
	out, _ := json.Marshal(ps)
	outKey, err := p.OutputPublicKey()
	if err != nil {
		return err
	}
	env, err := output.Seal(outKey, hash, req.Party, "predictions", out)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, env)
	return nil
}
