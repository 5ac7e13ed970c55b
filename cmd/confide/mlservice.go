package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide/confide/internal/httpx"
	kmsclient "github.com/confide/confide/kms/client"
	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/manifest"
	"github.com/confide/confide/ml/output"
	"github.com/confide/confide/ml/party"
	"github.com/confide/confide/ml/trainer"
	"github.com/confide/confide/ml/trainsvc"
)

// mlServeCmd runs the multi-party trainer.
func mlServeCmd(self *launched) *cobra.Command {
	var b serviceBase
	var attestURL, attestPolicy, kmsURL, kmsPolicy string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the multi-party trainer: host storage for encrypted data sets, jobs, outputs (attested TLS)",
		Long: `serve keeps the parties' encrypted files in --data/files (the untrusted host's
storage), runs each job whose manifest every party signed once all its files are
stored — the parties' data keys released to it by the key broker (--kms) on
tokens from the attestation service (--attest) that name the manifest's hash —
and serves each recipient's encrypted model and report with the evidence that
binds the report (spec/ml-manifest.md). Jobs are kept in --data/jobs, sealed to
this trainer's code: a trainer stopped or killed and started again serves its
finished jobs and predicts with the models it keeps, and trains again the jobs
it had not finished.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			// The services the trainer trusts are its identity's, not
			// the host's choice.
			aph, _, err := fileHash(attestPolicy)
			if err != nil {
				return err
			}
			kph, _, err := fileHash(kmsPolicy)
			if err != nil {
				return err
			}
			for _, p := range [][2]string{{settingAttest, attestURL}, {settingServerPolicy, aph}, {settingKMS, kmsURL}, {settingKMSPolicy, kph}} {
				if err := self.pin(p[0], p[1]); err != nil {
					return err
				}
			}
			r, err := b.start(ctx, self, "ml")
			if err != nil {
				return err
			}
			defer r.Close()
			as, err := attestClient(attestURL, attestPolicy)
			if err != nil {
				return err
			}
			if kmsURL == "" {
				return errors.New("no --kms (or $CONFIDE_KMS_URL)")
			}
			hc, err := httpClient(kmsURL, kmsPolicy)
			if err != nil {
				return err
			}
			// Jobs are kept sealed to this trainer's code: a restart
			// loses none, and a model kept inside predicts again.
			sealer, closeSealer, err := self.sealer(ctx)
			if err != nil {
				return err
			}
			defer closeSealer()
			//confide:ignore false positive: the service holds the sealer beside its logger and storage; what it writes is the sealed record (ciphertext), and its logs carry job names and errors, never key material
			svc, err := trainsvc.New(trainsvc.Config{Storage: filepath.Join(b.data, "files"),
				Keys:     &trainer.BrokerKeys{KMS: kmsclient.New(kmsURL, hc), AS: as, Attester: r.platform},
				Attester: r.platform, Log: r.log, Jobs: filepath.Join(b.data, "jobs"), Sealer: sealer}, r.registry)
			if err != nil {
				return err
			}
			//confide:ignore false positive: the service holds the sealer beside its logger and storage; what it writes is the sealed record (ciphertext), and its logs carry job names and errors, never key material
			fmt.Fprintf(cmd.OutOrStdout(), "trainer %s\n", r.url)
			//confide:ignore false positive: the service holds the sealer beside its logger and storage; what it writes is the sealed record (ciphertext), and its logs carry job names and errors, never key material
			return r.serve(ctx, svc.Handler())
		},
	}
	b.flags(c, "ml", "127.0.0.1:8445")
	c.Flags().StringVar(&attestURL, "attest", os.Getenv("CONFIDE_ATTEST_URL"), "attestation service URL (default $CONFIDE_ATTEST_URL)")
	c.Flags().StringVar(&attestPolicy, "attest-policy", "", "policy the attestation service's attested TLS must satisfy (default $"+serverPolicyEnv+")")
	c.Flags().StringVar(&kmsURL, "kms", os.Getenv("CONFIDE_KMS_URL"), "key broker URL (default $CONFIDE_KMS_URL)")
	c.Flags().StringVar(&kmsPolicy, "kms-policy", "", "policy the key broker's attested TLS must satisfy (default $"+serverPolicyEnv+")")
	return c
}

// mlJob is what the party commands read: the manifest, its signatures,
// and the trainer's client.
type mlJob struct {
	manifestPath, sigsPath, server, serverPolicy string
	bytes                                        []byte
	m                                            *manifest.Manifest
	sigs                                         manifest.Signatures
	hash                                         [32]byte
	c                                            *httpx.Client
}

func (j *mlJob) flags(c *cobra.Command) {
	c.Flags().StringVar(&j.manifestPath, "manifest", "manifest.json", "the job's manifest")
	c.Flags().StringVar(&j.sigsPath, "sigs", "manifest.sigs.json", "its signatures")
	c.Flags().StringVar(&j.server, "server", os.Getenv("CONFIDE_ML_URL"), "the trainer's URL (default $CONFIDE_ML_URL)")
	c.Flags().StringVar(&j.serverPolicy, "server-policy", "", "policy the trainer's attested TLS must satisfy (default $"+serverPolicyEnv+")")
}

func (j *mlJob) load() error {
	var err error
	if j.bytes, err = os.ReadFile(j.manifestPath); err != nil {
		return err
	}
	sb, err := os.ReadFile(j.sigsPath)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(sb, &j.sigs); err != nil {
		return fmt.Errorf("%s: %w", j.sigsPath, err)
	}
	if j.m, err = manifest.Verify(j.bytes, &j.sigs); err != nil {
		return err
	}
	j.hash = manifest.Hash(j.bytes)
	if j.server == "" {
		return errors.New("no --server (or $CONFIDE_ML_URL)")
	}
	hc, err := httpClient(j.server, j.serverPolicy)
	if err != nil {
		return err
	}
	j.c = &httpx.Client{BaseURL: j.server, HTTP: hc}
	return nil
}

func (j *mlJob) id() string { return hex.EncodeToString(j.hash[:]) }

func mlSubmitCmd() *cobra.Command {
	var j mlJob
	var dir, name, dataPath, kmsURL, kmsPolicy, authority string
	c := &cobra.Command{
		Use:   "submit",
		Short: "As a party: store the data key in the key broker for this job, upload the encrypted file, register the job",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := j.load(); err != nil {
				return err
			}
			p, ok := j.m.Party(name)
			if !ok {
				return fmt.Errorf("%q is not a party of job %s", name, j.m.Job)
			}
			k, err := party.Load(dir, name)
			if err != nil {
				return err
			}
			enc, err := os.ReadFile(dataPath)
			if err != nil {
				return err
			}
			if h := sha256.Sum256(enc); hex.EncodeToString(h[:]) != p.Data.SHA256 {
				return fmt.Errorf("%s is not the file the manifest names for %s", dataPath, name)
			}
			if kmsURL == "" || authority == "" {
				return fmt.Errorf("%w: --kms and --attest (the issuer the release policy trusts) are needed", errUsage)
			}
			hc, err := httpClient(kmsURL, kmsPolicy)
			if err != nil {
				return err
			}
			kc := kmsclient.New(kmsURL, hc)
			if kc.Bearer, err = bearer(); err != nil {
				return err
			}
			if err := trainer.StoreDataKey(ctx, kc, j.m, j.hash, authority, k); err != nil {
				return fmt.Errorf("storing the data key: %w", err)
			}
			if _, err := j.c.Do(ctx, http.MethodPut, "/v1/files/"+p.Data.SHA256, enc, nil); err != nil {
				return fmt.Errorf("uploading %s: %w", dataPath, err)
			}
			var st trainsvc.JobState
			if _, err := j.c.Do(ctx, http.MethodPost, "/v1/jobs", trainsvc.JobRequest{Manifest: j.bytes, Signatures: j.sigs}, &st); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s submitted job %s: %s\n", name, j.m.Job, describe(st))
			return nil
		},
	}
	j.flags(c)
	c.Flags().StringVar(&dir, "dir", ".", "directory of the party's key files")
	c.Flags().StringVar(&name, "party", "", "the submitting party")
	c.Flags().StringVar(&dataPath, "data", "", "the party's encrypted file")
	c.Flags().StringVar(&kmsURL, "kms", os.Getenv("CONFIDE_KMS_URL"), "key broker URL (default $CONFIDE_KMS_URL)")
	c.Flags().StringVar(&kmsPolicy, "kms-policy", "", "policy the key broker's attested TLS must satisfy (default $"+serverPolicyEnv+")")
	c.Flags().StringVar(&authority, "attest", os.Getenv("CONFIDE_ATTEST_URL"), "the attestation service whose tokens release the key (default $CONFIDE_ATTEST_URL)")
	c.MarkFlagRequired("party")
	c.MarkFlagRequired("data")
	return c
}

func describe(st trainsvc.JobState) string {
	switch st.State {
	case trainsvc.Waiting:
		return "waiting for the files of " + strings.Join(st.Missing, ", ")
	case trainsvc.Failed:
		return "failed: " + st.Error
	}
	return st.State
}

func mlStatusCmd() *cobra.Command {
	var j mlJob
	c := &cobra.Command{
		Use:   "status",
		Short: "A job's state: waiting (for whose files), training, done, failed (why)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := j.load(); err != nil {
				return err
			}
			var st trainsvc.JobState
			if _, err := j.c.Do(cmd.Context(), http.MethodGet, "/v1/jobs/"+j.id(), nil, &st); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job %s: %s\n", j.m.Job, describe(st))
			return nil
		},
	}
	j.flags(c)
	return c
}

func mlFetchCmd() *cobra.Command {
	var j mlJob
	var dir, name, out string
	var wait time.Duration
	c := &cobra.Command{
		Use:   "fetch",
		Short: "As a recipient: download, check against the trainer's evidence and decrypt the report and the model",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := j.load(); err != nil {
				return err
			}
			k, err := party.Load(dir, name)
			if err != nil {
				return err
			}
			// A job still training is waited for.
			for deadline := time.Now().Add(wait); ; time.Sleep(100 * time.Millisecond) {
				var st trainsvc.JobState
				if _, err := j.c.Do(ctx, http.MethodGet, "/v1/jobs/"+j.id(), nil, &st); err != nil {
					return err
				}
				if st.State == trainsvc.Failed {
					return fmt.Errorf("job %s failed: %s", j.m.Job, st.Error)
				}
				if st.State == trainsvc.Done || time.Now().After(deadline) {
					break
				}
			}
			var o trainsvc.Outputs
			if _, err := j.c.Do(ctx, http.MethodGet, "/v1/jobs/"+j.id()+"/outputs/"+name, nil, &o); err != nil {
				return err
			}
			files := map[string][]byte{}
			for _, e := range o.Envelopes {
				b, err := output.Open(k.Out, j.hash, name, e)
				if err != nil {
					return err
				}
				files[e.What] = b
			}
			rep, ok := files["report"]
			if !ok {
				return errors.New("the trainer sent no report")
			}
			if err := checkReport(ctx, j.m, j.hash, rep, o.Evidence); err != nil {
				return err
			}
			var r trainer.Report
			if err := json.Unmarshal(rep, &r); err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, "report.json"), rep, 0o600); err != nil {
				return err
			}
			if m, ok := files["model"]; ok {
				if h := sha256.Sum256(m); hex.EncodeToString(h[:]) != r.Model {
					return errors.New("the model is not the one the report names")
				}
				if err := os.WriteFile(filepath.Join(out, "model.json"), m, 0o600); err != nil {
					return err
				}
			}
			mb, _ := json.Marshal(r.Metrics)
			fmt.Fprintf(cmd.OutOrStdout(), "job %s: report and model checked against the trainer's evidence, in %s; metrics %s\n", r.Job, out, mb)
			return nil
		},
	}
	j.flags(c)
	c.Flags().StringVar(&dir, "dir", ".", "directory of the party's key files")
	c.Flags().StringVar(&name, "party", "", "the fetching party")
	c.Flags().StringVar(&out, "out", ".", "where to write report.json and model.json")
	c.Flags().DurationVar(&wait, "wait", time.Minute, "how long to wait for a job still training")
	c.MarkFlagRequired("party")
	return c
}

// predictRemote asks the trainer of a job whose model stays inside for
// predictions on rows of a table, as party name, and prints them.
func predictRemote(cmd *cobra.Command, j *mlJob, dir, name, dataPath string) error {
	ctx := cmd.Context()
	if err := j.load(); err != nil {
		return err
	}
	if _, ok := j.m.Party(name); !ok {
		return fmt.Errorf("%q is not a party of job %s", name, j.m.Job)
	}
	k, err := party.Load(dir, name)
	if err != nil {
		return err
	}
	d, err := dataset.Open(dataPath, "")
	if err != nil {
		return err
	}
	// The trainer takes rows in the schema's feature order; the table's
	// columns are matched by name, and any others (the label) ignored.
	pos := map[string]int{}
	for i, f := range d.Features {
		pos[f] = i
	}
	rows := make([][]float64, d.Rows())
	for r, x := range d.X {
		rows[r] = make([]float64, len(j.m.Schema.Features))
		for i, f := range j.m.Schema.Features {
			c, ok := pos[f]
			if !ok {
				return fmt.Errorf("%s: no column %q, which job %s's schema names", dataPath, f, j.m.Job)
			}
			rows[r][i] = x[c]
		}
	}
	req := trainsvc.PredictRequest{Party: name, Time: time.Now().Unix(), Rows: rows}
	req.Sig = ed25519.Sign(k.Sign, trainsvc.PredictMessage(j.hash, &req))
	var env output.Envelope
	if _, err := j.c.Do(ctx, http.MethodPost, "/v1/jobs/"+j.id()+"/predict", req, &env); err != nil {
		return err
	}
	b, err := output.Open(k.Out, j.hash, name, &env)
	if err != nil {
		return fmt.Errorf("the trainer's predictions: %w", err)
	}
	if env.What != "predictions" {
		return fmt.Errorf("the trainer sent %q, not predictions", env.What)
	}
	var ps []float64
	if err := json.Unmarshal(b, &ps); err != nil {
		return fmt.Errorf("the trainer's predictions: %w", err)
	}
	if len(ps) != len(rows) {
		return fmt.Errorf("the trainer sent %d predictions for %d rows", len(ps), len(rows))
	}
	printPredictions(cmd, ps, j.m.Algorithm.Name == "kmeans")
	return nil
}

// checkReport verifies the trainer's evidence: it satisfies the
// manifest's trainer policy (and, unless simulation is allowed, is
// neither simulated nor debug), and binds the manifest and the report.
func checkReport(ctx context.Context, m *manifest.Manifest, hash [32]byte, report, evidence []byte) error {
	v, err := newVerifier("", hardwareOptions{})
	if err != nil {
		return err
	}
	_, err = manifest.CheckTrainerEvidence(ctx, v, m, hash, report, evidence)
	return err
}
